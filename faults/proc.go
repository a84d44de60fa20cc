package faults

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// process is one connector role (`connector api`, `connector worker`) run
// by the harness as a child process from the connector binary, its output
// appended to a log file across restarts.
type process struct {
	role    string
	bin     string
	env     []string
	logPath string

	mu      sync.Mutex
	cmd     *exec.Cmd
	done    chan struct{}
	waitErr error
	// cpu is the user and system CPU time of every incarnation that ended.
	cpu time.Duration
}

func newProcess(bin, role string, env []string, logPath string) *process {
	return &process{role: role, bin: bin, env: env, logPath: logPath}
}

// start runs `bin role` with the process's environment.
func (p *process) start() error {
	f, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	_, _ = fmt.Fprintf(f, "\n--- %s: the fault harness starts `connector %s` ---\n", time.Now().Format(time.RFC3339Nano), p.role)
	cmd := exec.Command(p.bin, p.role)
	cmd.Env = p.env
	cmd.Stdout, cmd.Stderr = f, f
	if err := startChild(cmd); err != nil {
		_ = f.Close()
		return fmt.Errorf("start connector %s: %w", p.role, err)
	}
	done := make(chan struct{})
	go func() {
		err := cmd.Wait()
		_ = f.Close()
		p.mu.Lock()
		p.waitErr = err
		if st := cmd.ProcessState; st != nil {
			p.cpu += st.UserTime() + st.SystemTime()
		}
		p.mu.Unlock()
		close(done)
	}()
	p.mu.Lock()
	p.cmd, p.done, p.waitErr = cmd, done, nil
	p.mu.Unlock()
	return nil
}

// running is the current child and its done channel (nil when never
// started).
func (p *process) running() (*exec.Cmd, chan struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cmd, p.done
}

// exited reports whether the child has ended, with Wait's error.
func (p *process) exited() (bool, error) {
	_, done := p.running()
	if done == nil {
		return false, nil
	}
	select {
	case <-done:
		p.mu.Lock()
		defer p.mu.Unlock()
		return true, p.waitErr
	default:
		return false, nil
	}
}

// cpuTime is the CPU time (user and system) of the incarnations that have
// ended; a running one is counted once it ends.
func (p *process) cpuTime() time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cpu
}

// alive returns an error naming the log when the child has ended.
func (p *process) alive() error {
	if p == nil {
		return nil
	}
	if ended, err := p.exited(); ended {
		return fmt.Errorf("connector %s exited (%v); see %s", p.role, err, p.logPath)
	}
	return nil
}

// kill sends SIGKILL and waits until the child is gone; it fails unless the
// signal is what ended it.
func (p *process) kill() error {
	cmd, done := p.running()
	if cmd == nil {
		return errors.New("not started")
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		return fmt.Errorf("SIGKILL connector %s: %w", p.role, err)
	}
	<-done
	ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		return fmt.Errorf("connector %s ended with %s before SIGKILL reached it", p.role, cmd.ProcessState)
	}
	return nil
}

// stop asks the child to shut down (SIGTERM) and kills it after grace.
func (p *process) stop(grace time.Duration) {
	cmd, done := p.running()
	if cmd == nil {
		return
	}
	select {
	case <-done:
		return
	default:
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(grace):
		_ = cmd.Process.Kill()
		<-done
	}
}
