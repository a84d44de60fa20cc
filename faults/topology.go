package faults

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/common/expfmt"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/xcally-connector/connector/apiclient"
	"github.com/xcally-connector/connector/devserver"
	"github.com/xcally-connector/connector/internal/freeport"
	"github.com/xcally-connector/connector/internal/sleep"
	"github.com/xcally-connector/connector/models"
	"github.com/xcally-connector/connector/sinch/emulator"
)

// TopologyOptions configures RunTopology. Zero fields take the defaults.
type TopologyOptions struct {
	// Binary is the connector executable run as engine, api and worker.
	Binary string
	// DatabaseURL is a postgres:// URL of a server on this machine: the
	// run creates the connector's database and Temporal's two there and
	// drops them afterwards (unless Keep).
	DatabaseURL string
	// Messages customer messages (default 2000) from Messages/10
	// customers, at Rate per second (default 40).
	Messages int
	Rate     float64
	// SendRate is SINCH_SEND_RATE, the app's messages:send rate shared by
	// both workers (default 10 per second); one reply goes to each
	// conversation.
	SendRate int
	// Timeout bounds the whole run (default 12 min).
	Timeout time.Duration
	// NoKills runs the same load without killing anything: the cost of
	// each component per message (docs/scaling.md) is measured this way.
	NoKills bool
	// Dir holds the run's directory (logs); a failed run keeps it.
	Dir  string
	Keep bool
	// Progress receives a line per step; nil discards them.
	Progress io.Writer
}

// TopologyResult is the outcome of one run of the production shape.
type TopologyResult struct {
	Inbound Result `json:"inbound"`
	Replies Result `json:"replies"`
	// Kills are what was SIGKILLed and restarted, and when.
	Kills []string `json:"kills"`
	// WebhooksPerAPI are the callbacks each API answered 2xx (the load
	// balancer's count); RefusedPerAPI what each refused, dropped or
	// answered 5xx (the balancer then tried the other API).
	WebhooksPerAPI []int `json:"webhooksPerApi"`
	RefusedPerAPI  []int `json:"refusedPerApi"`
	// ActivitiesPerWorker are the activities and local activities each
	// worker process ran (the execution latency counts on its /metrics,
	// every incarnation summed).
	ActivitiesPerWorker []int `json:"activitiesPerWorker"`
	// SendRate is the configured SINCH_SEND_RATE; MaxSendsPerSecond the
	// most messages:send calls the emulator accepted for the app within
	// any one-second window.
	SendRate          int `json:"sendRate"`
	MaxSendsPerSecond int `json:"maxSendsPerSecond"`
	// CPUSeconds is the CPU time (user and system) each role's processes
	// used over the run, start-up and every incarnation included.
	CPUSeconds map[string]float64 `json:"cpuSeconds"`
	// DatabaseBytes is the size of the connector's database and of
	// Temporal's two at the end (pg_database_size); DatabaseBytesBefore
	// the same before the load, so that the difference is the load's.
	DatabaseBytes       map[string]int64 `json:"databaseBytes"`
	DatabaseBytesBefore map[string]int64 `json:"databaseBytesBefore"`
	// DatabaseWork is what the load did in each database
	// (pg_stat_database after minus before): transactions committed and
	// rows inserted, updated and deleted.
	DatabaseWork map[string]DatabaseWork `json:"databaseWork"`
	// Workflows, HistoryNodes and HistoryBytes are Temporal's executions,
	// its stored history batches and their bytes at the end.
	Workflows int64 `json:"workflows"`
	// Conversations and ConversationEvents are the conversation
	// workflows and the history events they hold at the end of the load.
	Conversations      int     `json:"conversations"`
	ConversationEvents int64   `json:"conversationEvents"`
	HistoryNodes       int64   `json:"historyNodes"`
	HistoryBytes       int64   `json:"historyBytes"`
	Seconds            float64 `json:"seconds"`
	Passed             bool    `json:"passed"`
	Error              string  `json:"error,omitempty"`
	Logs               string  `json:"logs,omitempty"`
}

// topology is the production shape on one machine: two `connector engine`
// processes forming one Temporal cluster on Postgres behind a TCP
// balancer, two `connector api` behind an HTTP balancer (the webhook and
// the agents' API), two `connector worker`, the Sinch emulator.
type topology struct {
	*stack
	temporalURL string
	engines     []*process
	enginePorts []int
	apis        []*process
	apiURLs     []string
	workers     []*process
	workerAddrs []string
	tcpLB       *tcpBalancer
	httpLB      *httpBalancer
	activities  *activityCounter
	workBefore  map[string]DatabaseWork
}

// RunTopology runs the topology test: Messages customer messages into
// Messages/10 conversations through both APIs and one agent reply per
// conversation, while one engine process, one worker and one API are
// SIGKILLed (and restarted) at different moments. It passes when every
// message is stored once, every reply is at its customer once, both
// workers and both APIs did work, and the app's send rate was never
// exceeded in any one-second window.
func RunTopology(ctx context.Context, opts TopologyOptions) (res TopologyResult, err error) {
	opts = opts.withDefaults()
	if opts.Binary == "" || opts.DatabaseURL == "" {
		return res, errors.New("faults: the connector binary and a Postgres URL are required")
	}
	progress := func(format string, args ...any) {
		if opts.Progress != nil {
			_, _ = fmt.Fprintf(opts.Progress, "%s topology: %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
		}
	}
	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	res.SendRate = opts.SendRate
	res.Inbound = Result{Case: "topology inbound", Unit: "customer messages stored"}
	res.Replies = Result{Case: "topology replies", Unit: "replies at the customer"}
	t := &topology{stack: &stack{opts: Options{Binary: opts.Binary, DatabaseURL: opts.DatabaseURL}, hc: &http.Client{Timeout: requestBound}, progress: progress}}
	start := time.Now()
	defer func() {
		res.Seconds = time.Since(start).Round(100 * time.Millisecond).Seconds()
		if err != nil {
			res.Error = err.Error()
		}
		t.stopAll()
		t.measure(&res)
		res.Inbound.Passed, res.Replies.Passed = res.Inbound.passed(), res.Replies.passed()
		res.Passed = err == nil && res.Inbound.Passed && res.Replies.Passed
		keep := !res.Passed || opts.Keep
		if keep {
			res.Logs = t.dir
		}
		t.close(keep, opts.Keep)
	}()
	if err := t.start(ctx, opts); err != nil {
		return res, fmt.Errorf("start the topology: %w", err)
	}
	progress("2 engines, 2 APIs, 2 workers up; logs in %s", t.dir)
	err = t.run(ctx, opts, &res)
	return res, err
}

func (o TopologyOptions) withDefaults() TopologyOptions {
	if o.Messages <= 0 {
		o.Messages = 2000
	}
	if o.Rate <= 0 {
		o.Rate = 40
	}
	if o.SendRate <= 0 {
		o.SendRate = 10
	}
	if o.Timeout <= 0 {
		o.Timeout = 12 * time.Minute
	}
	return o
}

// start brings every process up, in the order a deployment would.
func (t *topology) start(ctx context.Context, opts TopologyOptions) error {
	s := t.stack
	var err error
	if s.dir, err = os.MkdirTemp(opts.Dir, "connector-topology-"); err != nil {
		return err
	}
	if s.logf, err = os.Create(filepath.Join(s.dir, "harness.log")); err != nil {
		return err
	}
	s.log = slog.New(slog.NewTextHandler(s.logf, &slog.HandlerOptions{Level: slog.LevelWarn}))
	for _, dst := range []*string{&s.adminToken, &s.secretKey, &s.codecKey} {
		if *dst, err = randomHex(32); err != nil {
			return err
		}
	}
	if err := s.openDatabase(ctx, "topology"); err != nil {
		return err
	}
	// The connector's processes go straight to Postgres (no cut proxy).
	direct, _ := url.Parse(s.opts.DatabaseURL)
	direct.Path = "/" + s.dbName
	s.appDSN = direct.String()
	suffix, err := randomHex(4)
	if err != nil {
		return err
	}
	temporalDB := "temporal_topology_" + suffix
	direct.Path = "/" + temporalDB
	t.temporalURL = direct.String()
	if err := t.startEngines(ctx); err != nil {
		return err
	}
	if t.tcpLB, err = newTCPBalancer(t.engineAddrs()...); err != nil {
		return err
	}
	s.engineAddr = t.tcpLB.Addr()
	s.em = emulator.New(emulator.Options{Logger: s.log.With("component", "sinch-emulator")})
	if s.emURL, err = s.em.Start("127.0.0.1:0"); err != nil {
		return err
	}
	if t.httpLB, err = newHTTPBalancer(); err != nil {
		return err
	}
	s.apiURL = t.httpLB.URL()
	for i := range 2 {
		port, err := freeport.Pick("127.0.0.1")
		if err != nil {
			return err
		}
		addr := loopback(port)
		t.apiURLs = append(t.apiURLs, "http://"+addr)
		p := newProcess(s.opts.Binary, "api", s.env("HTTP_ADDR="+addr, "DATABASE_MAX_CONNS=8"), filepath.Join(s.dir, fmt.Sprintf("api-%d.log", i+1)))
		if err := p.start(); err != nil {
			return err
		}
		t.apis = append(t.apis, p)
	}
	for i := range t.apis {
		if err := t.waitAPI(ctx, i); err != nil {
			return err
		}
	}
	t.httpLB.setBackends(t.apiURLs...)
	t.activities = newActivityCounter()
	for i := range 2 {
		port, err := freeport.Pick("127.0.0.1")
		if err != nil {
			return err
		}
		t.workerAddrs = append(t.workerAddrs, loopback(port))
		p := newProcess(s.opts.Binary, "worker", s.env("METRICS_ADDR="+loopback(port), "DATABASE_MAX_CONNS=8",
			"SINCH_SEND_RATE="+strconv.Itoa(opts.SendRate)), filepath.Join(s.dir, fmt.Sprintf("worker-%d.log", i+1)))
		if err := p.start(); err != nil {
			return err
		}
		t.workers = append(t.workers, p)
	}
	go t.activities.watch(ctx, t.workerAddrs)
	s.admin = &apiclient.Client{BaseURL: s.apiURL, Token: s.adminToken, HTTP: s.hc}
	_, err = s.poll(ctx, "/api/diagnostics", s.adminToken, nil)
	return err
}

func loopback(port int) string { return "127.0.0.1:" + strconv.Itoa(port) }

// startEngines starts the two engine processes one after the other (the
// first creates Temporal's databases and schema), each on its own ports,
// both recording the first one's address as the cluster's.
func (t *topology) startEngines(ctx context.Context) error {
	for i := range 2 {
		port, err := devserver.PickClusterPort("127.0.0.1")
		for err == nil && i > 0 && abs(port-t.enginePorts[0]) < 20 {
			port, err = devserver.PickClusterPort("127.0.0.1")
		}
		if err != nil {
			return err
		}
		t.enginePorts = append(t.enginePorts, port)
		env := []string{
			"TEMPORAL_DATABASE_URL=" + t.temporalURL,
			"TEMPORAL_ADDRESS=" + loopback(port),
			"ENGINE_CLUSTER_ADDRESS=" + loopback(t.enginePorts[0]),
			"TEMPORAL_NAMESPACE=" + namespace,
			"TEMPORAL_HISTORY_SHARDS=8",
			"TEMPORAL_DATABASE_MAX_CONNS=3",
			"LOG_LEVEL=warn",
		}
		env = append(env, hostEnv()...)
		p := newProcess(t.opts.Binary, "engine", env, filepath.Join(t.dir, fmt.Sprintf("engine-%d.log", i+1)))
		if err := p.start(); err != nil {
			return err
		}
		t.engines = append(t.engines, p)
		if err := t.waitEngine(ctx, i); err != nil {
			return err
		}
	}
	return nil
}

func abs(n int) int { return max(n, -n) }

func (t *topology) engineAddrs() []string {
	out := make([]string, len(t.enginePorts))
	for i, p := range t.enginePorts {
		out[i] = loopback(p)
	}
	return out
}

// waitEngine waits until engine i's frontend serves the namespace.
func (t *topology) waitEngine(ctx context.Context, i int) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	for {
		if err := t.engines[i].alive(); err != nil {
			return err
		}
		c, err := client.DialContext(ctx, client.Options{HostPort: loopback(t.enginePorts[i]), Namespace: namespace, Logger: quiet{}})
		if err == nil {
			_, err = c.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: namespace})
			c.Close()
			if err == nil {
				return nil
			}
		}
		if !sleep.For(ctx, pollEvery) {
			return fmt.Errorf("engine %d never served namespace %q: %w", i+1, namespace, err)
		}
	}
}

// waitAPI waits until API i answers /readyz itself (not through the
// balancer).
func (t *topology) waitAPI(ctx context.Context, i int) error {
	for {
		if err := t.apis[i].alive(); err != nil {
			return err
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, t.apiURLs[i]+"/readyz", nil)
		resp, err := t.hc.Do(req)
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if !sleep.For(ctx, pollEvery) {
			return fmt.Errorf("api %d never ready: %w", i+1, ctx.Err())
		}
	}
}

// alive fails when a process the run did not kill has exited.
func (t *topology) alive() error {
	for _, p := range slices.Concat(t.engines, t.apis, t.workers) {
		if err := p.alive(); err != nil {
			return err
		}
	}
	return nil
}

// killAndRestart SIGKILLs p, waits down, and starts it again; wait (if
// set) then waits until it serves again.
func (t *topology) killAndRestart(ctx context.Context, res *TopologyResult, name string, p *process, down time.Duration, wait func(context.Context) error) error {
	at := time.Now()
	if err := p.kill(); err != nil {
		return err
	}
	t.progress("%s SIGKILLed", name)
	if !sleep.For(ctx, down) {
		return ctx.Err()
	}
	if err := p.start(); err != nil {
		return err
	}
	if wait != nil {
		if err := wait(ctx); err != nil {
			return fmt.Errorf("%s after its restart: %w", name, err)
		}
	}
	res.Kills = append(res.Kills, fmt.Sprintf("%s SIGKILLed at %s, restarted after %s, serving again %s after the kill",
		name, at.Format("15:04:05.000"), down, time.Since(at).Round(100*time.Millisecond)))
	t.progress("%s restarted", name)
	return nil
}

// stopAll stops the connector's processes, then the engines.
func (t *topology) stopAll() {
	for _, p := range slices.Concat(t.workers, t.apis, t.engines) {
		p.stop(processGrace)
	}
}

// measure records what the run cost: CPU per role, database sizes,
// Temporal's executions and history. A figure that cannot be read is
// left out.
func (t *topology) measure(res *TopologyResult) {
	res.CPUSeconds = map[string]float64{}
	for role, ps := range map[string][]*process{"engine": t.engines, "api": t.apis, "worker": t.workers} {
		for _, p := range ps {
			res.CPUSeconds[role] += p.cpuTime().Seconds()
		}
	}
	if t.temporalURL == "" || t.dbName == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res.DatabaseBytes = t.databaseSizes(ctx)
	// The statistics collector reports with a delay of up to a second.
	time.Sleep(1500 * time.Millisecond)
	after := t.databaseWork(ctx)
	res.DatabaseWork = map[string]DatabaseWork{}
	for name, a := range after {
		b := t.workBefore[name]
		res.DatabaseWork[name] = DatabaseWork{Commits: a.Commits - b.Commits, Inserted: a.Inserted - b.Inserted, Updated: a.Updated - b.Updated, Deleted: a.Deleted - b.Deleted}
	}
	tdb, err := models.Open(models.OpenOptions{Engine: models.Postgres, DSN: t.temporalURL, MaxOpenConns: 1})
	if err != nil {
		return
	}
	defer func() { _ = models.Close(tdb) }()
	_ = tdb.WithContext(ctx).Raw("SELECT count(*) FROM executions").Scan(&res.Workflows).Error
	var h struct{ Nodes, Bytes int64 }
	if tdb.WithContext(ctx).Raw("SELECT count(*) AS nodes, coalesce(sum(octet_length(data)), 0) AS bytes FROM history_node").Scan(&h).Error == nil {
		res.HistoryNodes, res.HistoryBytes = h.Nodes, h.Bytes
	}
}

// DatabaseWork is one database's activity counters (pg_stat_database).
type DatabaseWork struct {
	Commits  int64 `json:"commits"`
	Inserted int64 `json:"inserted"`
	Updated  int64 `json:"updated"`
	Deleted  int64 `json:"deleted"`
}

// databases are the connector's database and Temporal's two.
func (t *topology) databases() []string {
	temporalDB := strings.TrimPrefix(mustPath(t.temporalURL), "/")
	return []string{t.dbName, temporalDB, temporalDB + "_visibility"}
}

// databaseSizes are the sizes of the databases, by name.
func (t *topology) databaseSizes(ctx context.Context) map[string]int64 {
	out := map[string]int64{}
	for _, name := range t.databases() {
		var n int64
		if err := t.db.WithContext(ctx).Raw("SELECT pg_database_size(?)", name).Scan(&n).Error; err == nil {
			out[name] = n
		}
	}
	return out
}

// databaseWork reads the databases' activity counters, by name.
func (t *topology) databaseWork(ctx context.Context) map[string]DatabaseWork {
	out := map[string]DatabaseWork{}
	for _, name := range t.databases() {
		var w DatabaseWork
		if err := t.db.WithContext(ctx).Raw(`SELECT xact_commit AS commits, tup_inserted AS inserted, tup_updated AS updated, tup_deleted AS deleted
			FROM pg_stat_database WHERE datname = ?`, name).Scan(&w).Error; err == nil {
			out[name] = w
		}
	}
	return out
}

func (t *topology) close(keepDir, keepDB bool) {
	t.stopAll()
	if t.httpLB != nil {
		t.httpLB.Close()
	}
	if t.tcpLB != nil {
		t.tcpLB.Close()
	}
	if t.temporalURL != "" && !keepDB {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		for _, db := range []string{"", "_visibility"} {
			name := strings.TrimPrefix(mustPath(t.temporalURL), "/") + db
			if err := adminExec(ctx, t.opts.DatabaseURL, fmt.Sprintf(`DROP DATABASE IF EXISTS %q WITH (FORCE)`, name)); err != nil && t.log != nil {
				t.log.Warn("drop Temporal's database", "database", name, "err", err)
			}
		}
		cancel()
	}
	t.stack.close(keepDir, keepDB)
}

func mustPath(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return u.Path
}

// quiet silences the SDK clients the harness dials.
type quiet struct{}

func (quiet) Debug(string, ...any) {}
func (quiet) Info(string, ...any)  {}
func (quiet) Warn(string, ...any)  {}
func (quiet) Error(string, ...any) {}

// activityCounter scrapes each worker's /metrics and keeps, per worker,
// the activities run by every incarnation of it: a restarted worker
// counts from zero, so the counter keeps the sum of the previous
// incarnations' last values.
type activityCounter struct {
	mu       sync.Mutex
	previous []int // finished incarnations' totals
	current  []int
}

func newActivityCounter() *activityCounter { return &activityCounter{} }

func (a *activityCounter) watch(ctx context.Context, addrs []string) {
	a.mu.Lock()
	a.previous, a.current = make([]int, len(addrs)), make([]int, len(addrs))
	a.mu.Unlock()
	hc := &http.Client{Timeout: 2 * time.Second}
	for ctx.Err() == nil {
		for i, addr := range addrs {
			n, err := scrapeActivities(ctx, hc, addr)
			if err != nil {
				continue
			}
			a.mu.Lock()
			if n < a.current[i] { // a new incarnation
				a.previous[i] += a.current[i]
			}
			a.current[i] = n
			a.mu.Unlock()
		}
		sleep.For(ctx, 500*time.Millisecond)
	}
}

func (a *activityCounter) totals() []int {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]int, len(a.current))
	for i := range out {
		out[i] = a.previous[i] + a.current[i]
	}
	return out
}

// scrapeActivities sums the executions recorded by the activity and
// local activity latency histograms (temporal_activity_execution_latency…,
// temporal_local_activity_execution_latency…) of one worker's /metrics.
func scrapeActivities(ctx context.Context, hc *http.Client, addr string) (int, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metrics", nil)
	resp, err := hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer func() { _ = resp.Body.Close() }()
	var p expfmt.TextParser
	families, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		return 0, err
	}
	total := uint64(0)
	for name, f := range families {
		if !strings.HasPrefix(name, "temporal_activity_execution_latency") && !strings.HasPrefix(name, "temporal_local_activity_execution_latency") {
			continue
		}
		for _, m := range f.GetMetric() {
			total += m.GetHistogram().GetSampleCount()
		}
	}
	return int(total), nil
}
