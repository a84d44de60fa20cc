// Package faults is the connector's zero-loss fault suite: each case runs
// the real connector (the API and the worker as child processes of the
// connector binary, the embedded Temporal engine on a file, a fresh
// Postgres database behind a TCP proxy the suite controls, the Sinch
// emulator), injects one fault during a load of customer messages, and
// counts the messages sent against the messages stored (and, for replies,
// the replies requested against what reached the customer). Every case
// must end with 0 lost and 0 duplicated, within a bounded time.
//
// `connector faults` runs it; `go test -tags faults ./faults/`
// runs a short version. Only loopback addresses are used. It drives the
// connector from outside, as an operator would, and is imported by nothing
// but cmd/connector.
package faults

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"
)

// DefaultDatabaseURL is the Postgres server used when DATABASE_URL is unset.
const DefaultDatabaseURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// Options configures Run. Zero fields take the full suite's defaults.
type Options struct {
	// Binary is the connector executable run as `api` and `worker`.
	Binary string
	// DatabaseURL is a postgres:// URL of a server on this machine; every
	// case creates its own database there and drops it afterwards.
	DatabaseURL string
	// Cases are the names of the cases to run, in this order; empty runs
	// every case.
	Cases []string
	// Messages is the number of customer messages of each inbound case
	// (default 2000).
	Messages int
	// Replies is the number of conversations of reply-kill; each gets two
	// replies (default 10, at most 100).
	Replies int
	// Outage is how long the worker stays dead, the engine stopped and the
	// database cut (default 30 s).
	Outage time.Duration
	// Rate is the load's pace in messages per second (default 100). The
	// outage cases go slower, so that about a third of their messages is
	// made before the outage, a third during it and a third after.
	Rate float64
	// Timeout bounds each case, start-up included (default 10 min): a case
	// that has not converged by then fails with the counts it has.
	Timeout time.Duration
	// Dir holds each case's directory (logs, engine file); empty is the
	// system's temporary directory. A failed case keeps its directory.
	Dir string
	// Keep keeps every case's directory and database, passed or not.
	Keep bool
	// Progress receives a line per step; nil discards them.
	Progress io.Writer
}

// Full-suite defaults.
const (
	DefaultMessages = 2000
	DefaultReplies  = 10
	DefaultOutage   = 30 * time.Second
	DefaultRate     = 100
	DefaultTimeout  = 10 * time.Minute
	maxReplies      = 100 // one agent holds every reply-kill conversation
)

func (o Options) withDefaults() (Options, error) {
	if o.Binary == "" {
		return o, errors.New("faults: the connector binary is required")
	}
	if o.DatabaseURL == "" {
		o.DatabaseURL = DefaultDatabaseURL
	}
	u, err := loopbackPostgres(o.DatabaseURL)
	if err != nil {
		return o, err
	}
	o.DatabaseURL = u.String()
	if o.Messages == 0 {
		o.Messages = DefaultMessages
	}
	if o.Replies == 0 {
		o.Replies = DefaultReplies
	}
	if o.Outage == 0 {
		o.Outage = DefaultOutage
	}
	if o.Rate == 0 {
		o.Rate = DefaultRate
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	switch {
	case o.Messages < 3:
		return o, fmt.Errorf("faults: messages must be at least 3, got %d", o.Messages)
	case o.Replies < 1 || o.Replies > maxReplies:
		return o, fmt.Errorf("faults: replies must be 1 to %d, got %d", maxReplies, o.Replies)
	case o.Outage < time.Second:
		return o, fmt.Errorf("faults: outage must be at least 1s, got %s", o.Outage)
	case o.Rate <= 0:
		return o, fmt.Errorf("faults: rate must be positive, got %g", o.Rate)
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	return o, nil
}

// loopbackPostgres checks that dsn is a postgres URL on this machine (the
// suite only uses loopback addresses) and gives it a port.
func loopbackPostgres(dsn string) (*url.URL, error) {
	u, err := url.Parse(dsn)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return nil, fmt.Errorf("faults: DATABASE_URL must be a postgres:// URL, got %q", dsn)
	}
	host, port := u.Hostname(), u.Port()
	if port == "" {
		port = "5432"
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("faults: the suite only uses loopback addresses; DATABASE_URL's host is %q", host)
	}
	if host == "localhost" {
		host = "127.0.0.1"
	}
	u.Host = net.JoinHostPort(host, port)
	return u, nil
}

// Result is the outcome of one case.
type Result struct {
	Case string `json:"case"`
	// Unit says what Sent and Stored count: customer messages stored in
	// the database, or replies at the emulator's customer.
	Unit       string `json:"unit"`
	Sent       int    `json:"sent"`
	Stored     int    `json:"stored"`
	Lost       int    `json:"lost"`
	Duplicated int    `json:"duplicated"`
	// Unexpected counts stored rows (or messages at the customer) that
	// match nothing the case sent.
	Unexpected int           `json:"unexpected"`
	Elapsed    time.Duration `json:"-"`
	Seconds    float64       `json:"seconds"`
	Passed     bool          `json:"passed"`
	// Notes record what the fault did (when it hit, what the webhook
	// answered meanwhile, how long recovery took).
	Notes []string `json:"notes,omitempty"`
	Error string   `json:"error,omitempty"`
	// Logs is the kept directory of a failed case, or of every case with
	// Keep (api.log, worker.log, harness.log).
	Logs string `json:"logs,omitempty"`
	// Database is the case's database, kept with Keep.
	Database string `json:"database,omitempty"`
}

func (r *Result) note(format string, args ...any) {
	r.Notes = append(r.Notes, fmt.Sprintf(format, args...))
}

// set records a count and the time it took.
func (r *Result) set(t tally, elapsed time.Duration) {
	r.Sent, r.Stored, r.Lost, r.Duplicated, r.Unexpected = t.Sent, t.Stored, t.Lost, t.Duplicated, t.Unexpected
	r.Elapsed, r.Seconds = elapsed, elapsed.Round(100*time.Millisecond).Seconds()
}

// passed is the verdict: something was sent, everything arrived once,
// nothing else arrived, and no step failed.
func (r *Result) passed() bool {
	return r.Error == "" && r.Sent > 0 && r.Lost == 0 && r.Duplicated == 0 && r.Unexpected == 0
}

// ErrFailed is returned by Main when a case lost or duplicated a message,
// or did not complete.
var ErrFailed = errors.New("a fault case failed")

// Run runs the selected cases one after the other, each on a fresh stack,
// and returns their results. An error means no case could run.
func Run(ctx context.Context, opts Options) ([]Result, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	list, err := selectCases(opts.Cases)
	if err != nil {
		return nil, err
	}
	results := make([]Result, 0, len(list))
	for _, c := range list {
		if ctx.Err() != nil {
			break
		}
		results = append(results, runCase(ctx, opts, c))
	}
	return results, ctx.Err()
}

// runCase runs one case within opts.Timeout.
func runCase(ctx context.Context, opts Options, c faultCase) Result {
	r := Result{Case: c.name, Unit: c.unit}
	progress := func(format string, args ...any) {
		_, _ = fmt.Fprintf(opts.Progress, "%s %s: %s\n", time.Now().Format("15:04:05"), c.name, fmt.Sprintf(format, args...))
	}
	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	progress("starting a fresh stack")
	s, err := startStack(ctx, opts, c.name, c.emulator)
	if err != nil {
		r.Error = "start the stack: " + err.Error()
		r.Logs = s.dir
		progress("FAIL %s", r.Error)
		return r
	}
	s.progress = progress
	err = c.run(ctx, s, &r)
	cancel() // ends a load still running after a failed step
	if err != nil {
		r.Error = err.Error()
		if r.Sent == 0 && s.count != nil {
			// Failed before its own count: count what it had sent.
			cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			if t, err := s.count(cctx); err == nil {
				r.set(t, time.Since(s.started))
			}
			cancel()
		}
	}
	r.Passed = r.passed()
	keep := !r.Passed || opts.Keep
	if keep {
		r.Logs = s.dir
	}
	if opts.Keep {
		r.Database = s.dbName
	}
	s.close(keep, opts.Keep)
	verdict := "PASS"
	if !r.Passed {
		verdict = "FAIL"
	}
	progress("%s sent %d, stored %d, lost %d, duplicated %d in %s", verdict, r.Sent, r.Stored, r.Lost, r.Duplicated, r.Elapsed.Round(100*time.Millisecond))
	return r
}

// CaseNames lists every case in the order Run runs them.
func CaseNames() []string {
	names := make([]string, len(cases))
	for i, c := range cases {
		names[i] = c.name
	}
	return names
}

func selectCases(names []string) ([]faultCase, error) {
	if len(names) == 0 {
		return cases, nil
	}
	out := make([]faultCase, 0, len(names))
	for _, n := range names {
		i := slices.IndexFunc(cases, func(c faultCase) bool { return c.name == n })
		if i < 0 {
			return nil, fmt.Errorf("faults: unknown case %q (cases: %s)", n, strings.Join(CaseNames(), ", "))
		}
		out = append(out, cases[i])
	}
	return out, nil
}

// PrintTable writes the results as a Markdown table, then each case's
// notes and failures.
func PrintTable(w io.Writer, results []Result) {
	rows := [][]string{{"case", "sent", "stored", "lost", "duplicated", "time"}}
	for _, r := range results {
		rows = append(rows, []string{r.Case, fmt.Sprint(r.Sent), fmt.Sprint(r.Stored), fmt.Sprint(r.Lost),
			fmt.Sprint(r.Duplicated), r.Elapsed.Round(100 * time.Millisecond).String()})
	}
	width := make([]int, len(rows[0]))
	for _, row := range rows {
		for i, cell := range row {
			width[i] = max(width[i], len(cell))
		}
	}
	line := func(cells []string, pad func(string, int, int) string) {
		var b strings.Builder
		for i, cell := range cells {
			b.WriteString("| " + pad(cell, width[i], i) + " ")
		}
		b.WriteString("|\n")
		_, _ = io.WriteString(w, b.String())
	}
	align := func(cell string, n, col int) string {
		if col == 0 {
			return cell + strings.Repeat(" ", n-len(cell))
		}
		return strings.Repeat(" ", n-len(cell)) + cell
	}
	line(rows[0], align)
	rule := make([]string, len(width))
	for i, n := range width {
		rule[i] = strings.Repeat("-", n)
		if i > 0 {
			rule[i] = rule[i][:n-1] + ":"
		}
	}
	line(rule, func(cell string, _, _ int) string { return cell })
	for _, row := range rows[1:] {
		line(row, align)
	}
	for _, r := range results {
		_, _ = fmt.Fprintf(w, "\n%s (%s):\n", r.Case, r.Unit)
		for _, n := range r.Notes {
			_, _ = fmt.Fprintf(w, "  - %s\n", n)
		}
		if r.Unexpected > 0 {
			_, _ = fmt.Fprintf(w, "  - %d stored that nothing sent\n", r.Unexpected)
		}
		if r.Error != "" {
			_, _ = fmt.Fprintf(w, "  FAIL: %s\n", r.Error)
		} else if !r.Passed {
			_, _ = fmt.Fprintf(w, "  FAIL: %d lost, %d duplicated\n", r.Lost, r.Duplicated)
		}
		if r.Logs != "" {
			_, _ = fmt.Fprintf(w, "  logs: %s\n", r.Logs)
		}
		if r.Database != "" {
			_, _ = fmt.Fprintf(w, "  database (kept): %s\n", r.Database)
		}
	}
}

// Report is the JSON form of a run.
type Report struct {
	Messages int      `json:"messages"`
	Replies  int      `json:"replies"`
	Outage   string   `json:"outage"`
	Rate     float64  `json:"rate"`
	Cases    []Result `json:"cases"`
	Passed   bool     `json:"passed"`
}

// Main runs `connector faults [flags]`: binary is the connector executable
// (the running one), getenv reads DATABASE_URL. It prints the table (or
// JSON) on stdout and progress on stderr, and returns ErrFailed when a
// case failed.
func Main(ctx context.Context, args []string, binary string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "topology" {
		return mainTopology(ctx, args[1:], binary, getenv, stdout, stderr)
	}
	fs := flag.NewFlagSet("faults", flag.ContinueOnError)
	fs.SetOutput(stderr)
	caseList := fs.String("cases", "", "comma-separated cases to run (default all: "+strings.Join(CaseNames(), ",")+")")
	messages := fs.Int("messages", DefaultMessages, "customer messages of each inbound case")
	replies := fs.Int("replies", DefaultReplies, "conversations of reply-kill, two replies each")
	outage := fs.Duration("outage", DefaultOutage, "how long the worker stays dead, the engine stopped, the database cut")
	rate := fs.Float64("rate", DefaultRate, "load pace in messages per second (the outage cases spread theirs over three outages)")
	timeout := fs.Duration("timeout", DefaultTimeout, "bound of each case; one that has not converged by then fails")
	asJSON := fs.Bool("json", false, "print the results as JSON instead of a table")
	keep := fs.Bool("keep", false, "keep every case's directory (logs, engine file) and database, not only a failed one's directory")
	if err := fs.Parse(args); err != nil {
		return err
	}
	opts := Options{Binary: binary, DatabaseURL: getenv("DATABASE_URL"), Messages: *messages, Replies: *replies,
		Outage: *outage, Rate: *rate, Timeout: *timeout, Keep: *keep, Progress: stderr}
	if *caseList != "" {
		opts.Cases = strings.Split(*caseList, ",")
	}
	results, err := Run(ctx, opts)
	if len(results) == 0 && err != nil {
		return err
	}
	passed := err == nil && len(results) > 0
	for _, r := range results {
		passed = passed && r.Passed
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		rep := Report{Messages: *messages, Replies: *replies, Outage: outage.String(), Rate: *rate, Cases: results, Passed: passed}
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else {
		PrintTable(stdout, results)
	}
	if err != nil {
		return err
	}
	if !passed {
		return ErrFailed
	}
	return nil
}

// mainTopology runs `connector faults topology [flags]`: the production
// shape (two engine processes, two APIs, two workers) under load with an
// engine process, a worker and an API killed, or with -no-kills to measure
// what each component costs per message.
func mainTopology(ctx context.Context, args []string, binary string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("faults topology", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o TopologyOptions
	fs.IntVar(&o.Messages, "messages", 2000, "customer messages, ten per conversation; one agent reply per conversation")
	fs.Float64Var(&o.Rate, "rate", 40, "customer messages per second")
	fs.IntVar(&o.SendRate, "send-rate", 10, "SINCH_SEND_RATE of both workers: messages:send calls per second for the app")
	fs.BoolVar(&o.NoKills, "no-kills", false, "kill nothing: measure the cost of each component per message")
	fs.DurationVar(&o.Timeout, "timeout", 12*time.Minute, "bound of the run")
	asJSON := fs.Bool("json", false, "print the result as JSON instead of a table")
	fs.BoolVar(&o.Keep, "keep", false, "keep the run's directory and databases")
	if err := fs.Parse(args); err != nil {
		return err
	}
	o.Binary, o.DatabaseURL, o.Progress = binary, getenv("DATABASE_URL"), stderr
	if o.DatabaseURL == "" {
		o.DatabaseURL = DefaultDatabaseURL
	}
	res, err := RunTopology(ctx, o)
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if jerr := enc.Encode(res); jerr != nil {
			return jerr
		}
	} else {
		PrintTopology(stdout, res)
	}
	if err != nil && res.Logs == "" && res.Inbound.Sent == 0 {
		return err
	}
	if !res.Passed {
		return ErrFailed
	}
	return nil
}
