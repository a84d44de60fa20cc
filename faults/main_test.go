//go:build faults || topology

package faults_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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

// TestBinaryRunsEveryRole: the binary the suites start as engine, api
// and worker is the connector of this tree and knows those roles (and the
// topology command), so a failing case is never a stale or foreign build.
func TestBinaryRunsEveryRole(t *testing.T) {
	out, err := exec.Command(binary, "help").CombinedOutput()
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit, "help exits with the usage status")
	assert.Equal(t, 2, exit.ExitCode())
	for _, role := range []string{"engine", "api", "worker", "faults topology"} {
		assert.Contains(t, string(out), role, "the usage names %q", role)
	}
}

// logWriter turns the suite's progress lines into test logs.
type logWriter struct{ t *testing.T }

func (w logWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
