package bench

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/xcally-connector/connector/app"
	"github.com/xcally-connector/connector/config"
)

// workerProcess is `connector worker` run as its own OS process against the
// bench's stack, so that its memory is the worker's alone.
type workerProcess struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited; err is then set
	err  error
}

// startWorkerProcess stops the stack's in-process worker and starts bin
// (the connector binary) as the worker, on the same engine, task queue and
// database.
func startWorkerProcess(bin string, d *app.Dev, cfg *config.Config) (*workerProcess, error) {
	d.StopWorker()
	cmd := exec.Command(bin, "worker")
	cmd.Env = append(os.Environ(),
		"DATABASE_URL="+cfg.DatabaseURL, "DATA_DIR="+cfg.DataDir,
		"TEMPORAL_ADDRESS="+d.Temporal.FrontendAddr(), "TEMPORAL_NAMESPACE="+cfg.TemporalNamespace,
		"TEMPORAL_TASK_QUEUE="+cfg.TemporalTaskQueue, "LOG_LEVEL=error",
		// The stack's keys and identity mode: the worker must read what the
		// bench's starter writes into Temporal and the database, and hash
		// identities alike. SECRET_KEY is emptied so that one of the two
		// reaches the worker whatever the caller's environment holds.
		"SECRET_KEY=", "SECRET_KEYS="+config.FormatCodecKeys(cfg.SecretKeyRing()),
		"PII_HASH_KEY_ID="+cfg.HashKeyID,
		"PII_CODEC_KEYS="+config.FormatCodecKeys(cfg.CodecKeys),
		"PII_HASH_IDENTITIES="+strconv.FormatBool(cfg.HashIdentities),
		// Its /metrics on a free port: :9090 may be taken on this machine.
		"METRICS_ADDR=127.0.0.1:0",
		// The bench's accounts talk to the emulator on loopback.
		"SINCH_ALLOW_CUSTOM_URLS="+strconv.FormatBool(cfg.SinchAllowCustomURLs),
	)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start worker process %s: %w", bin, err)
	}
	w := &workerProcess{cmd: cmd, done: make(chan struct{})}
	go func() { w.err = cmd.Wait(); close(w.done) }()
	return w, nil
}

// alive fails once the worker process has exited, with how it ended.
func (w *workerProcess) alive() error {
	select {
	case <-w.done:
		return fmt.Errorf("the worker process exited (%v); its stderr is above", w.err)
	default:
		return nil
	}
}

// rss is the worker process's resident set size.
func (w *workerProcess) rss() (uint64, error) {
	if err := w.alive(); err != nil {
		return 0, err
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(w.cmd.Process.Pid) + "/status")
	if err != nil {
		return 0, fmt.Errorf("read the worker's memory: %w", err)
	}
	return parseVmRSS(string(b)), nil
}

// stop asks the worker to stop (SIGTERM), then kills it after 15 s.
func (w *workerProcess) stop() {
	_ = w.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-w.done:
	case <-time.After(15 * time.Second):
		_ = w.cmd.Process.Kill()
		<-w.done
	}
}

// parseVmRSS reads VmRSS (in kB) from a /proc/*/status text, in bytes.
func parseVmRSS(status string) uint64 {
	for _, line := range strings.Split(status, "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseUint(f[1], 10, 64)
			return kb * 1024
		}
	}
	return 0
}
