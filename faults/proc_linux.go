//go:build linux

package faults

import (
	"os/exec"
	"runtime"
	"sync"
	"syscall"
)

// spawner starts every child from one goroutine locked to its OS thread
// for the life of the process: the children get SIGKILL when the harness
// dies (Pdeathsig), and Linux sends that signal when the thread that forked
// the child exits, not the process, so that thread must never exit.
var spawner struct {
	once sync.Once
	reqs chan spawnRequest
}

type spawnRequest struct {
	cmd *exec.Cmd
	err chan error
}

// startChild starts cmd so that it dies with the harness.
func startChild(cmd *exec.Cmd) error {
	spawner.once.Do(func() {
		spawner.reqs = make(chan spawnRequest)
		go func() {
			runtime.LockOSThread()
			for r := range spawner.reqs {
				r.err <- r.cmd.Start()
			}
		}()
	})
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	errc := make(chan error, 1)
	spawner.reqs <- spawnRequest{cmd: cmd, err: errc}
	return <-errc
}
