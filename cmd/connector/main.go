// Command connector is the WhatsApp/Instagram connector for contact centers:
// `dev` runs everything in one process; `api`, `worker` and `migrate` are the
// production roles. Configuration comes from the environment (see docs/operating.md).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/xcally-connector/connector/app"
	"github.com/xcally-connector/connector/bench"
	"github.com/xcally-connector/connector/config"
	"github.com/xcally-connector/connector/faults"
)

const usage = `usage: connector <command>

commands:
  dev       embedded Temporal (+ Web UI), SQLite, Sinch emulator, API and worker
            in one process; --demo adds a demo account, queue and agent
  api       HTTP API (webhook, admin and agent routes) against external Temporal
  worker    Temporal worker running the connector's workflows and activities
  migrate   apply the database schema and exit
  rekey     re-seal every stored secret under the first key of SECRET_KEYS (after a rotation)
  emulator  only the Sinch emulator, on EMULATOR_ADDR
  bench     measure on this machine against the engine alone: bench [inbound|outbound|all] (-h for flags)
  search-key <identity>  with PII_HASH_IDENTITIES=true: the hashed identity to search for in the Temporal UI
  faults    zero-loss fault suite on Postgres (DATABASE_URL): faults [-cases a,b] [-messages 2000] [-outage 30s] [-json]
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	if err != nil {
		e := &exitError{code: 1, msg: "connector: " + err.Error() + "\n"}
		errors.As(err, &e)
		fmt.Fprint(os.Stderr, e.msg)
		os.Exit(e.code)
	}
}

// exitError ends the process with code after printing msg (often empty) to
// stderr.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

// exit is an exitError with a formatted message.
func exit(code int, format string, args ...any) error {
	return &exitError{code: code, msg: fmt.Sprintf(format, args...)}
}

// run dispatches args[0] to its subcommand. Usage and configuration errors
// exit 2, a failed subcommand 1.
func run(ctx context.Context, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		return exit(2, "%s", usage)
	}
	role, rest := config.Role(args[0]), args[1:]
	switch role {
	case "bench":
		quiet := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
		if err := bench.Main(ctx, rest, os.Stdout, quiet); err != nil {
			return exit(1, "connector bench: %v\n", err)
		}
		return nil
	case "faults":
		// The suite runs this same binary as the api and worker processes.
		bin, err := os.Executable()
		if err == nil {
			err = faults.Main(ctx, rest, bin, os.Getenv, os.Stdout, os.Stderr)
		}
		if errors.Is(err, faults.ErrFailed) {
			return exit(1, "") // the suite has printed its report
		} else if err != nil {
			return exit(1, "connector faults: %v\n", err)
		}
		return nil
	}
	cfg, err := config.Load(os.Getenv)
	if role == "search-key" {
		if err == nil {
			err = app.SearchKey(cfg, strings.Join(rest, " "), os.Stdout)
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
	log := cfg.NewLogger(os.Stderr).With("role", string(role))
	switch role {
	case config.RoleDev:
		fs := flag.NewFlagSet("dev", flag.ContinueOnError)
		demo := fs.Bool("demo", false, "configure a demo account, queue and agent on the Sinch emulator")
		if err := fs.Parse(rest); errors.Is(err, flag.ErrHelp) {
			return nil // fs has printed the flags, as flag.ExitOnError does (status 0)
		} else if err != nil {
			return exit(2, "") // fs has printed the error and the flags
		}
		err = app.RunDev(ctx, cfg, log, os.Stdout, app.DevOptions{Demo: *demo})
	case config.RoleEmulator:
		err = app.RunEmulator(ctx, cfg, log)
	case config.RoleAPI:
		err = app.RunAPI(ctx, cfg, log)
	case config.RoleWorker:
		err = app.RunWorker(ctx, cfg, log)
	case config.RoleMigrate:
		err = app.Migrate(cfg, log)
	case config.RoleRekey:
		err = app.RunRekey(ctx, cfg, log, os.Stdout)
	default:
		return exit(2, "connector: unknown command %q\n\n%s", role, usage)
	}
	if err != nil {
		log.Error("exiting", "err", err)
		return exit(1, "")
	}
	return nil
}
