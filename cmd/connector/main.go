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
  engine    Temporal's own server on Postgres (TEMPORAL_DATABASE_URL): all services or
            ENGINE_SERVICES; processes on one database form one cluster
  rekey     re-seal every stored secret under the first key of SECRET_KEYS (after a rotation)
  emulator  only the Sinch emulator, on EMULATOR_ADDR
  bench     measure on this machine against the engine alone: bench [inbound|outbound|all|reports] (-h for flags)
  search-key <identity>  with PII_HASH_IDENTITIES=true: the hashed identity to search for in the Temporal UI
  faults    zero-loss fault suite on Postgres (DATABASE_URL): faults [-cases a,b] [-messages 2000] [-outage 30s] [-json]
            faults topology [-messages 2000] [-rate 40] [-send-rate 10] [-no-kills] [-json]: two engine
            processes, two APIs, two workers; one of each killed under load
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	if err != nil {
		e := &app.ExitError{Code: 1, Msg: "connector: " + err.Error() + "\n"}
		errors.As(err, &e)
		fmt.Fprint(os.Stderr, e.Msg)
		os.Exit(e.Code)
	}
}

// run dispatches args[0]: the harnesses (bench, faults) here, since they
// drive the app from above; every role of the connector in app.Main.
func run(ctx context.Context, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		return &app.ExitError{Code: 2, Msg: usage}
	}
	switch cmd, rest := args[0], args[1:]; cmd {
	case "bench":
		quiet := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
		if err := bench.Main(ctx, rest, os.Stdout, quiet); errors.Is(err, flag.ErrHelp) {
			return nil // the flags were printed
		} else if err != nil {
			return &app.ExitError{Code: 1, Msg: fmt.Sprintf("connector bench: %v\n", err)}
		}
		return nil
	case "faults":
		// The suite runs this same binary as the api and worker processes.
		bin, err := os.Executable()
		if err == nil {
			err = faults.Main(ctx, rest, bin, os.Getenv, os.Stdout, os.Stderr)
		}
		if errors.Is(err, flag.ErrHelp) {
			return nil // the flags were printed
		} else if errors.Is(err, faults.ErrFailed) {
			return &app.ExitError{Code: 1} // the suite has printed its report
		} else if err != nil {
			return &app.ExitError{Code: 1, Msg: fmt.Sprintf("connector faults: %v\n", err)}
		}
		return nil
	default:
		err := app.Main(ctx, config.Role(cmd), rest, os.Getenv, os.Stdout, os.Stderr)
		var e *app.ExitError
		if errors.As(err, &e) && strings.HasPrefix(e.Msg, "connector: unknown command") {
			e.Msg += "\n" + usage
		}
		return err
	}
}
