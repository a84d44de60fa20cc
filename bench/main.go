package bench

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/xcally-connector/connector/config"
	"github.com/xcally-connector/connector/models"
)

const usage = `usage: connector bench [inbound|outbound|all|reports] [flags]   (no command: all)
  inbound   [-n 500] [-messages 4] [-agents 10] [-rate 0] [-concurrency 1] [-history-sample 50] [-in-process-worker]
  outbound  [-conversations 20] [-replies 10] [-rate 0] [-send-rate 0]
  all       both, one after the other (the outbound rate is -reply-rate)
` + usageReports + `
  every one [-database-url URL] [-temporal-database-url URL] [-timeout 5m] [-json]   (reports: neither -timeout nor -temporal-database-url)
  the production shape: both URLs on Postgres; the worker then runs as its own process`

// Main runs `connector bench [inbound|outbound|all|reports] [flags]` and
// prints the result. -database-url (default DATABASE_URL) selects the app
// database: a postgres:// URL gets a fresh schema per bench, dropped
// afterwards; anything else is SQLite in a temporary directory (reports
// runs on Postgres only).
func Main(ctx context.Context, args []string, stdout io.Writer, log *slog.Logger) error {
	cmd := "all"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	if cmd == "reports" {
		return mainReports(ctx, args, stdout, log)
	}
	if cmd != "inbound" && cmd != "outbound" && cmd != "all" {
		return fmt.Errorf("unknown bench %q\n%s", cmd, usage)
	}
	fs := flag.NewFlagSet("bench "+cmd, flag.ContinueOnError)
	dbURL := fs.String("database-url", os.Getenv("DATABASE_URL"), "app database: a postgres:// URL (a fresh schema there per bench), else SQLite in a temp dir")
	temporalURL := fs.String("temporal-database-url", os.Getenv("TEMPORAL_DATABASE_URL"), "the engine's Postgres (a fresh database there per bench, dropped after): the production shape; empty: SQLite")
	asJSON := fs.Bool("json", false, "print the result as JSON instead of a table")
	timeout := fs.Duration("timeout", 5*time.Minute, "wait at most this long for assignments, stored messages and accepts")
	var in *InboundOptions
	var inProcess *bool
	if cmd != "outbound" {
		in = &InboundOptions{}
		fs.IntVar(&in.Messages, "n", 500, "new conversations: one signed webhook each, from a new contact")
		fs.IntVar(&in.FollowUps, "messages", 4, "follow-up messages into each open conversation, in rounds")
		fs.IntVar(&in.HistorySample, "history-sample", 50, "conversations whose histories are read to count events per follow-up")
		fs.IntVar(&in.Agents, "agents", 10, "available agents sharing the interactions")
		fs.Float64Var(&in.Rate, "rate", 0, "webhooks per second (0: next one as soon as one is answered)")
		fs.IntVar(&in.Concurrency, "concurrency", 1, "webhooks in flight at once (and SignalWithStart calls in the engine baseline)")
		inProcess = fs.Bool("in-process-worker", false, "on Postgres, keep the worker in the bench process instead of a `connector worker` process (memory is then the whole process's); on SQLite it always is")
	}
	var out *OutboundOptions
	if cmd != "inbound" {
		out = &OutboundOptions{}
		rateFlag := "rate"
		if cmd == "all" {
			rateFlag = "reply-rate"
		}
		fs.IntVar(&out.Conversations, "conversations", 20, "customers who write first, each assigned to the replying agent")
		fs.IntVar(&out.Replies, "replies", 10, "replies per conversation")
		fs.Float64Var(&out.Rate, rateFlag, 0, "replies per second (0: next one as soon as the previous is answered)")
		fs.Float64Var(&out.SendRate, "send-rate", 0, "the account's sendRatePerSecond (0: SINCH_SEND_RATE, 20/s)")
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q\n%s", fs.Args(), usage)
	}
	if in != nil {
		if in.Messages < 1 || in.Agents < 1 || in.Concurrency < 1 || in.FollowUps < 0 || in.HistorySample < 1 {
			return fmt.Errorf("-n, -agents, -concurrency and -history-sample must be positive, -messages not negative")
		}
		in.Timeout = *timeout
	}
	if out != nil {
		if out.Conversations < 1 || out.Replies < 1 || out.SendRate < 0 {
			return fmt.Errorf("-conversations and -replies must be positive, -send-rate not negative")
		}
		out.Timeout = *timeout
	}

	var summary struct {
		Inbound  *InboundSummary  `json:"inbound,omitempty"`
		Outbound *OutboundSummary `json:"outbound,omitempty"`
	}
	if in != nil {
		dsn, engine, cleanup, err := benchDatabase(*dbURL)
		if err != nil {
			return err
		}
		in.DatabaseURL = dsn
		tdb, dropTemporal, err := freshTemporalDatabase(*temporalURL)
		if err != nil {
			cleanup()
			return err
		}
		in.TemporalDatabaseURL = tdb
		defer dropTemporal()
		// SQLite is one process's database (as in dev): two processes
		// writing it would measure SQLite's file locks, not the connector.
		if engine == "postgres" && !*inProcess {
			bin, err := os.Executable()
			if err != nil {
				cleanup()
				return fmt.Errorf("find the connector binary for the worker process: %w", err)
			}
			in.WorkerBinary = bin
		}
		res, err := RunInbound(ctx, *in, log)
		cleanup()
		if err != nil {
			return fmt.Errorf("inbound: %w", err)
		}
		if *asJSON {
			s := res.Summary(*in, engine)
			summary.Inbound = &s
		} else {
			res.Print(stdout, *in, engine)
		}
	}
	if out != nil {
		dsn, engine, cleanup, err := benchDatabase(*dbURL)
		if err != nil {
			return err
		}
		out.DatabaseURL = dsn
		tdb, dropTemporal, err := freshTemporalDatabase(*temporalURL)
		if err != nil {
			cleanup()
			return err
		}
		out.TemporalDatabaseURL = tdb
		defer dropTemporal()
		res, err := RunOutbound(ctx, *out, log)
		cleanup()
		if err != nil {
			return fmt.Errorf("outbound: %w", err)
		}
		if *asJSON {
			s := res.Summary(*out, engine)
			summary.Outbound = &s
		} else {
			if in != nil {
				_, _ = fmt.Fprintln(stdout)
			}
			res.Print(stdout, *out, engine)
		}
	}
	if *asJSON {
		return writeJSON(stdout, summary)
	}
	return nil
}

// benchDatabase is the app database of one bench: a fresh schema in a
// Postgres URL's database, else SQLite ("").
func benchDatabase(url string) (dsn, engine string, cleanup func(), err error) {
	if url == "" {
		return "", "sqlite", func() {}, nil
	}
	t, err := config.ParseDatabaseURL(url)
	if err != nil {
		return "", "", nil, fmt.Errorf("-database-url: %w", err)
	}
	if t.Engine != config.Postgres {
		return "", "sqlite", func() {}, nil
	}
	fresh, drop, err := freshSchema(url)
	if err != nil {
		return "", "", nil, err
	}
	return fresh, "postgres", drop, nil
}

// freshTemporalDatabase names a new database for the engine on the server
// of raw (the engine creates it and its visibility database), and drops
// both afterwards; "" keeps the engine on SQLite.
func freshTemporalDatabase(raw string) (string, func(), error) {
	if raw == "" {
		return "", func() {}, nil
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return "", nil, fmt.Errorf("-temporal-database-url: want a postgres:// URL, got %q", raw)
	}
	name := fmt.Sprintf("bench_temporal_%d", time.Now().UnixNano())
	fresh := *u
	fresh.Path = "/" + name
	return fresh.String(), func() {
		admin, err := models.Open(models.OpenOptions{Engine: models.Postgres, DSN: raw, MaxOpenConns: 1})
		if err != nil {
			return
		}
		defer func() { _ = models.Close(admin) }()
		for _, db := range []string{name, name + "_visibility"} {
			_ = admin.Exec(fmt.Sprintf(`DROP DATABASE IF EXISTS %q WITH (FORCE)`, db)).Error
		}
	}, nil
}

// shapeOf says where the engine and the worker ran, for the bench's header.
func shapeOf(temporalURL, workerBinary string) string {
	engine := "engine on SQLite"
	if temporalURL != "" {
		engine = "engine on Postgres"
	}
	if workerBinary != "" {
		return engine + ", worker in its own process"
	}
	return engine + ", worker in the bench process"
}

const usageReports = `  reports   [-interactions 100000] [-messages 1000000] [-calls 20] [-max-p95 1s] [-max-ratio 10] [-keep]
            (Postgres only, not part of all: 20 accounts, 50 queues, 300 agents, 90 days)`

// mainReports is `connector bench reports`: it prints the table (or JSON)
// and fails naming every case over a limit.
func mainReports(ctx context.Context, args []string, stdout io.Writer, log *slog.Logger) error {
	fs := flag.NewFlagSet("bench reports", flag.ContinueOnError)
	o := ReportsOptions{}
	fs.StringVar(&o.DatabaseURL, "database-url", os.Getenv("DATABASE_URL"), "a postgres:// URL: the bench seeds a fresh schema there")
	asJSON := fs.Bool("json", false, "print the result as JSON instead of a table")
	fs.IntVar(&o.Interactions, "interactions", 100_000, "interactions to seed")
	fs.IntVar(&o.Messages, "messages", 1_000_000, "messages to seed (at least one per interaction)")
	fs.IntVar(&o.Calls, "calls", 20, "timed calls of each case")
	fs.BoolVar(&o.Keep, "keep", false, "keep the schema (its name is printed)")
	fs.DurationVar(&o.MaxP95, "max-p95", time.Second, "fail a case whose p95 is over this")
	fs.Float64Var(&o.MaxRatio, "max-ratio", 10, "fail a case whose p95 is over this many times its baseline's p95")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q\n%s", fs.Args(), usageReports)
	}
	res, err := RunReports(ctx, o, log)
	if err != nil {
		return fmt.Errorf("reports: %w", err)
	}
	if *asJSON {
		if err := writeJSON(stdout, res); err != nil {
			return err
		}
	} else {
		res.Print(stdout)
	}
	if len(res.Failures) > 0 {
		return fmt.Errorf("reports: %d over the limits:\n  %s", len(res.Failures), strings.Join(res.Failures, "\n  "))
	}
	return nil
}
