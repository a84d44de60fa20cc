// Command connector is the WhatsApp/Instagram connector for contact centers:
// `dev` runs everything in one process; `api`, `worker` and `migrate` are the
// production roles. Configuration comes from the environment (see README).
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

	"github.com/xcally-connector/connector/config"
	"github.com/xcally-connector/connector/internal/app"
	"github.com/xcally-connector/connector/internal/bench"
	"github.com/xcally-connector/connector/internal/faults"
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
	if len(os.Args) < 2 || os.Args[1] == "-h" || os.Args[1] == "--help" || os.Args[1] == "help" {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	role := config.Role(os.Args[1])
	if role == "bench" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		if err := bench.Main(ctx, os.Args[2:], os.Stdout, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))); err != nil {
			fmt.Fprintln(os.Stderr, "connector bench:", err)
			os.Exit(1)
		}
		return
	}
	if role == "faults" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		// The suite runs this same binary as the api and worker processes.
		bin, err := os.Executable()
		if err == nil {
			err = faults.Main(ctx, os.Args[2:], bin, os.Getenv, os.Stdout, os.Stderr)
		}
		if err != nil {
			if !errors.Is(err, faults.ErrFailed) {
				fmt.Fprintln(os.Stderr, "connector faults:", err)
			}
			os.Exit(1)
		}
		return
	}
	if role == "search-key" {
		cfg, err := config.Load(os.Getenv)
		if err == nil {
			err = app.SearchKey(cfg, strings.Join(os.Args[2:], " "), os.Stdout)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "connector search-key:", err)
			os.Exit(2)
		}
		return
	}
	cfg, err := config.Load(os.Getenv)
	if err == nil {
		err = cfg.Validate(role)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "connector %s: configuration error: %v\n", role, err)
		os.Exit(2)
	}
	log := cfg.NewLogger(os.Stderr).With("role", string(role))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	switch role {
	case config.RoleDev:
		fs := flag.NewFlagSet("dev", flag.ExitOnError)
		demo := fs.Bool("demo", false, "configure a demo account, queue and agent on the Sinch emulator")
		_ = fs.Parse(os.Args[2:])
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
		fmt.Fprintf(os.Stderr, "connector: unknown command %q\n\n%s", role, usage)
		os.Exit(2)
	}
	if err != nil {
		log.Error("exiting", "err", err)
		os.Exit(1)
	}
}
