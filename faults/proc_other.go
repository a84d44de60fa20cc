//go:build !linux

package faults

import "os/exec"

// startChild starts cmd. Outside Linux there is no parent-death signal: a
// harness killed with SIGKILL leaves its children running.
func startChild(cmd *exec.Cmd) error { return cmd.Start() }
