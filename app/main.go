package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/xcally-connector/connector/config"
)

// ExitError ends the process with Code after printing Msg (often empty:
// what failed was printed or logged already) to stderr.
type ExitError struct {
	Code int
	Msg  string
}

func (e *ExitError) Error() string { return e.Msg }

// exit is an ExitError with a formatted message.
func exit(code int, format string, args ...any) error {
	return &ExitError{Code: code, Msg: fmt.Sprintf(format, args...)}
}

// Main runs one of the connector's roles (dev, api, worker, migrate, rekey,
// emulator, search-key) with its configuration read through getenv, until
// ctx ends. A usage or configuration error is an ExitError with code 2, a
// failed role an ExitError with code 1 (the cause is logged).
func Main(ctx context.Context, role config.Role, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	switch role {
	case config.RoleDev, config.RoleEmulator, config.RoleAPI, config.RoleWorker, config.RoleMigrate, config.RoleRekey, config.RoleEngine, "search-key":
	default:
		return exit(2, "connector: unknown command %q\n", role)
	}
	cfg, err := config.Load(getenv)
	if role == "search-key" {
		if err == nil {
			err = SearchKey(cfg, strings.Join(args, " "), stdout)
		}
		if err != nil {
			return exit(2, "connector search-key: %v\n", err)
		}
		return nil
	}
	if err == nil {
		err = cfg.Validate(role)
	}
	if err != nil {
		return exit(2, "connector %s: configuration error: %v\n", role, err)
	}
	log := cfg.NewLogger(stderr).With("role", string(role))
	switch role {
	case config.RoleDev:
		fs := flag.NewFlagSet("dev", flag.ContinueOnError)
		fs.SetOutput(stderr)
		demo := fs.Bool("demo", false, "configure a demo account, queue and agent on the Sinch emulator")
		if err := fs.Parse(args); errors.Is(err, flag.ErrHelp) {
			return nil // fs has printed the flags, as flag.ExitOnError does (status 0)
		} else if err != nil {
			return exit(2, "") // fs has printed the error and the flags
		}
		err = RunDev(ctx, cfg, log, stdout, DevOptions{Demo: *demo})
	case config.RoleEmulator:
		err = RunEmulator(ctx, cfg, log)
	case config.RoleAPI:
		err = RunAPI(ctx, cfg, log)
	case config.RoleWorker:
		err = RunWorker(ctx, cfg, log)
	case config.RoleMigrate:
		err = Migrate(cfg, log)
	case config.RoleEngine:
		err = RunEngine(ctx, cfg, log)
	case config.RoleRekey:
		err = RunRekey(ctx, cfg, log, stdout)
	}
	if err != nil {
		log.Error("exiting", "err", err)
		return exit(1, "")
	}
	return nil
}
