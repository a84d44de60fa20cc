package app

import (
	"context"
	"log/slog"
	"path/filepath"

	"github.com/xcally-connector/connector/config"
	"github.com/xcally-connector/connector/sinch/emulator"
)

// emulatorStateFile is where the emulator keeps its apps, keys, webhooks,
// contacts and messages, under DATA_DIR.
const emulatorStateFile = "emulator-state.json"

// startEmulator serves dev's Sinch emulator on EMULATOR_ADDR, its state
// kept in DATA_DIR so that a restarted dev still serves the apps made
// before.
func startEmulator(cfg *config.Config, log *slog.Logger) (*emulator.Server, string, error) {
	return serveEmulator(cfg, log, filepath.Join(cfg.DataDir, emulatorStateFile))
}

// serveEmulator serves the Sinch emulator on EMULATOR_ADDR with its state
// in stateFile ("": in memory only). A state file that cannot be read is a
// DATA_DIR configuration error.
func serveEmulator(cfg *config.Config, log *slog.Logger, stateFile string) (*emulator.Server, string, error) {
	em, err := emulator.Open(emulator.Options{Logger: log.With("component", "sinch-emulator"), StateFile: stateFile})
	if err != nil {
		return nil, "", &config.Error{Var: "DATA_DIR", Msg: err.Error()}
	}
	url, err := em.Start(cfg.EmulatorAddr)
	if err != nil {
		_ = em.Close()
		return nil, "", &config.Error{Var: "EMULATOR_ADDR", Msg: err.Error()}
	}
	return em, url, nil
}

// RunEmulator serves only the Sinch emulator until ctx is done. It keeps
// its state in DATA_DIR when DATA_DIR is set (to other than the default,
// which the standalone emulator never wrote to); else in memory.
func RunEmulator(ctx context.Context, cfg *config.Config, log *slog.Logger) error {
	stateFile := ""
	if cfg.DataDir != "" && cfg.DataDir != config.DefaultDataDir {
		stateFile = filepath.Join(cfg.DataDir, emulatorStateFile)
	}
	em, url, err := serveEmulator(cfg, log, stateFile)
	if err != nil {
		return err
	}
	log.Info("sinch emulator listening", "url", url, "state", stateFile)
	<-ctx.Done()
	return em.Close()
}
