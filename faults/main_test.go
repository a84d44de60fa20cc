//go:build faults || topology

package faults_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// binary is the connector built by TestMain: the suite runs it as the api
// and worker processes.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "connector-faults-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "connector")
	build := exec.Command("go", "build", "-o", binary, "github.com/xcally-connector/connector/cmd/connector")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	code := 1
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build the connector:", err)
	} else {
		code = m.Run()
	}
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// logWriter turns the suite's progress lines into test logs.
type logWriter struct{ t *testing.T }

func (w logWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
