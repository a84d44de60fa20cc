package app

import (
	"context"
	"log/slog"

	"github.com/xcally-connector/connector/config"
	"github.com/xcally-connector/connector/sinch/emulator"
)

// startEmulator serves the Sinch emulator on EMULATOR_ADDR.
func startEmulator(cfg *config.Config, log *slog.Logger) (*emulator.Server, string, error) {
	em := emulator.New(emulator.Options{Logger: log.With("component", "sinch-emulator")})
	url, err := em.Start(cfg.EmulatorAddr)
	if err != nil {
		return nil, "", &config.Error{Var: "EMULATOR_ADDR", Msg: err.Error()}
	}
	return em, url, nil
}

// RunEmulator serves only the Sinch emulator until ctx is done.
func RunEmulator(ctx context.Context, cfg *config.Config, log *slog.Logger) error {
	em, url, err := startEmulator(cfg, log)
	if err != nil {
		return err
	}
	log.Info("sinch emulator listening", "url", url)
	<-ctx.Done()
	return em.Close()
}
