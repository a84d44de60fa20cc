package faults

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/xcally-connector/connector/api"
	"github.com/xcally-connector/connector/apiclient"
	"github.com/xcally-connector/connector/devserver"
	"github.com/xcally-connector/connector/internal/freeport"
	"github.com/xcally-connector/connector/models"
	"github.com/xcally-connector/connector/sinch/emulator"
	"github.com/xcally-connector/connector/workflows"
)

// The Sinch app and account every case configures.
const (
	appID         = "01FAULTSAPP"
	projectID     = "faults"
	keyID         = "faults-key"
	keySecret     = "faults-key-secret"
	webhookSecret = "faults-webhook-secret"
	namespace     = "default"
)

// Bounds of the stack's own waits.
const (
	startBound    = 3 * time.Minute
	processGrace  = 10 * time.Second
	pollEvery     = 250 * time.Millisecond
	requestBound  = 30 * time.Second
	apiPortTrials = 3
)

// stack is the connector of one case: a fresh Postgres database reached
// through a Proxy, the embedded Temporal engine on a file (so it can be
// stopped and started again on the same port), the Sinch emulator, and the
// API and worker as child processes of the connector binary.
type stack struct {
	opts Options
	dir  string
	log  *slog.Logger
	logf *os.File

	dbName string
	db     *gorm.DB // direct to Postgres, not through the proxy: the counts
	proxy  *Proxy
	appDSN string // through the proxy: the API's and worker's DATABASE_URL

	engine     *devserver.Server
	engineAddr string

	em    *emulator.Server
	emURL string

	adminToken, secretKey string
	// codecKey encrypts the payloads of both processes (PII_CODEC_KEYS).
	codecKey    string
	apiURL      string
	api, worker *process
	admin       *apiclient.Client
	hc          *http.Client

	account uint64
	queue   uint64

	// progress reports a step of the running case.
	progress func(format string, args ...any)
	// count tallies what the running case has sent so far, set once it
	// starts sending, so a case that fails half-way still reports counts.
	count func(ctx context.Context) (tally, error)
	// started is when the case started sending.
	started time.Time
}

// counting records how the case counts, from now.
func (s *stack) counting(count func(ctx context.Context) (tally, error)) {
	s.count, s.started = count, time.Now()
}

// startStack brings a case's stack up and waits until the API is ready and
// a worker answers. On error whatever started is torn down, and the
// returned stack only names the directory kept with the logs.
func startStack(ctx context.Context, opts Options, name string, emOpts emulator.Options) (s *stack, err error) {
	s = &stack{opts: opts, hc: &http.Client{Timeout: requestBound}}
	defer func() {
		if err != nil {
			s.close(true, s.opts.Keep)
		}
	}()
	ctx, cancel := context.WithTimeout(ctx, startBound)
	defer cancel()
	if s.dir, err = os.MkdirTemp(opts.Dir, "connector-faults-"+name+"-"); err != nil {
		return s, err
	}
	if s.logf, err = os.Create(filepath.Join(s.dir, "harness.log")); err != nil {
		return s, err
	}
	s.log = slog.New(slog.NewTextHandler(s.logf, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if s.adminToken, err = randomHex(24); err != nil {
		return s, err
	}
	if s.secretKey, err = randomHex(32); err != nil {
		return s, err
	}
	if s.codecKey, err = randomHex(32); err != nil {
		return s, err
	}
	if err = s.openDatabase(ctx, name); err != nil {
		return s, err
	}
	if err = s.startEngine(ctx, "127.0.0.1:0"); err != nil {
		return s, err
	}
	s.engineAddr = s.engine.FrontendAddr()
	emOpts.Logger = s.log.With("component", "sinch-emulator")
	s.em = emulator.New(emOpts)
	if s.emURL, err = s.em.Start("127.0.0.1:0"); err != nil {
		return s, err
	}
	if err = s.startAPI(ctx); err != nil {
		return s, err
	}
	s.worker = newProcess(opts.Binary, "worker", s.env(), filepath.Join(s.dir, "worker.log"))
	if err = s.worker.start(); err != nil {
		return s, err
	}
	if _, err = s.waitWorker(ctx); err != nil {
		return s, err
	}
	s.admin = &apiclient.Client{BaseURL: s.apiURL, Token: s.adminToken, HTTP: s.hc}
	return s, nil
}

// openDatabase creates the case's database and the proxy in front of
// Postgres.
func (s *stack) openDatabase(ctx context.Context, name string) error {
	base, err := url.Parse(s.opts.DatabaseURL)
	if err != nil {
		return err
	}
	suffix, err := randomHex(4)
	if err != nil {
		return err
	}
	dbName := fmt.Sprintf("connector_faults_%s_%s", strings.ReplaceAll(name, "-", "_"), suffix)
	if err := adminExec(ctx, s.opts.DatabaseURL, fmt.Sprintf(`CREATE DATABASE %q`, dbName)); err != nil {
		return fmt.Errorf("create database %s: %w", dbName, err)
	}
	s.dbName = dbName
	direct := *base
	direct.Path = "/" + dbName
	if s.db, err = models.Open(models.OpenOptions{Engine: models.Postgres, DSN: direct.String(), MaxOpenConns: 4}); err != nil {
		return err
	}
	if s.proxy, err = NewProxy(base.Host); err != nil {
		return err
	}
	proxied := direct
	proxied.Host = s.proxy.Addr()
	s.appDSN = proxied.String()
	return nil
}

// adminExec runs one statement on the server of dsn (its own database).
func adminExec(ctx context.Context, dsn, stmt string) error {
	db, err := models.Open(models.OpenOptions{Engine: models.Postgres, DSN: dsn, MaxOpenConns: 1})
	if err != nil {
		return err
	}
	defer func() { _ = models.Close(db) }()
	return db.WithContext(ctx).Exec(stmt).Error
}

// startEngine starts the embedded Temporal engine on addr, on the case's
// SQLite file: a restart on the same address finds every workflow again.
func (s *stack) startEngine(ctx context.Context, addr string) error {
	srv, err := devserver.Start(ctx, devserver.Options{
		FrontendAddr: addr, DBPath: filepath.Join(s.dir, "temporal.db"), Namespace: namespace,
		SearchAttributes: workflows.SearchAttributes, Logger: s.log.With("component", "temporal"), LogLevel: slog.LevelError,
	})
	if err != nil {
		return fmt.Errorf("start the Temporal engine on %s: %w", addr, err)
	}
	s.engine = srv
	return nil
}

// env is the environment of the API and worker processes: only what the
// harness sets, so nothing of the caller's configuration leaks in.
func (s *stack) env(extra ...string) []string {
	env := []string{
		"DATABASE_URL=" + s.appDSN,
		"TEMPORAL_ADDRESS=" + s.engineAddr,
		"TEMPORAL_NAMESPACE=" + namespace,
		"DATA_DIR=" + s.dir,
		"ADMIN_TOKEN=" + s.adminToken,
		"SECRET_KEY=" + s.secretKey,
		"PII_CODEC_KEYS=faults:" + s.codecKey,
		"PUBLIC_URL=" + s.apiURL,
		"SHUTDOWN_TIMEOUT=5s",
		"LOG_LEVEL=info",
		// The worker's /metrics on a free port: :9090 may be taken here.
		"METRICS_ADDR=127.0.0.1:0",
		// The account talks to the emulator on loopback.
		"SINCH_ALLOW_CUSTOM_URLS=true",
	}
	return append(append(env, hostEnv()...), extra...)
}

// hostEnv is what a child process takes from the harness's own
// environment: where programs, the home and the temporary directory are.
func hostEnv() []string {
	var env []string
	for _, k := range []string{"PATH", "HOME", "TMPDIR"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return env
}

// startAPI starts `connector api` on a free loopback port and waits until
// /readyz answers 200. A port taken between the pick and the API's listen
// is tried again with another one.
func (s *stack) startAPI(ctx context.Context) error {
	var last error
	for range apiPortTrials {
		port, err := freeport.Pick("127.0.0.1")
		if err != nil {
			return err
		}
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		s.apiURL = "http://" + addr
		s.api = newProcess(s.opts.Binary, "api", s.env("HTTP_ADDR="+addr), filepath.Join(s.dir, "api.log"))
		if err := s.api.start(); err != nil {
			return err
		}
		if _, last = s.waitReady(ctx); last == nil {
			return nil
		}
		if ended, _ := s.api.exited(); !ended {
			return last
		}
	}
	return last
}

// waitReady polls the API's /readyz until 200 and returns how long it took.
func (s *stack) waitReady(ctx context.Context) (time.Duration, error) {
	return s.poll(ctx, "/readyz", "", s.api)
}

// waitWorker polls /api/diagnostics, which runs a workflow on the task
// queue, until a worker answers it; it returns how long that took.
func (s *stack) waitWorker(ctx context.Context) (time.Duration, error) {
	return s.poll(ctx, "/api/diagnostics", s.adminToken, s.worker)
}

// poll GETs path until it answers 200, failing early when proc exits.
func (s *stack) poll(ctx context.Context, path, token string, proc *process) (time.Duration, error) {
	start := time.Now()
	var last string
	for {
		if err := s.api.alive(); err != nil {
			return time.Since(start), err
		}
		if err := proc.alive(); err != nil {
			return time.Since(start), err
		}
		code, body, err := s.get(ctx, path, token)
		if err == nil && code == http.StatusOK {
			return time.Since(start), nil
		}
		last = fmt.Sprintf("%d %s", code, body)
		if err != nil {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return time.Since(start), fmt.Errorf("GET %s never answered 200 (last: %s): %w", path, last, ctx.Err())
		case <-time.After(pollEvery):
		}
	}
}

func (s *stack) get(ctx context.Context, path, token string) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.apiURL+path, nil)
	if err != nil {
		return 0, "", err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := s.hc.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer func() { _ = resp.Body.Close() }()
	var buf [512]byte
	n, _ := resp.Body.Read(buf[:])
	return resp.StatusCode, strings.TrimSpace(string(buf[:n])), nil
}

// configure creates, through the API, the account (bound to the emulator
// app, with a webhook secret), a round-robin queue and agents available
// with the given capacity; the emulator app posts to the account's webhook.
func (s *stack) configure(ctx context.Context, agents, capacity int) ([]api.AgentCreatedResponse, error) {
	acc, err := s.admin.CreateAccount(ctx, map[string]any{
		"name": "Fault suite", "key": "faults", "publicUrl": "https://motion.example.com", "region": "eu",
		"projectId": projectID, "appId": appID, "keyId": keyID, "keySecret": keySecret,
		"webhookSecret": webhookSecret, "phone": "+390200000000",
		"baseUrl": s.emURL, "authUrl": s.emURL + "/oauth2/token",
	})
	if err != nil {
		return nil, err
	}
	s.account = acc.ID
	if err := s.em.CreateApp(emulator.App{AppID: appID, ProjectID: projectID, Region: "eu", ProcessingMode: emulator.ModeConversation,
		WebhookURL: s.webhookURL(), WebhookSecret: webhookSecret, KeyID: keyID, KeySecret: keySecret}); err != nil {
		return nil, err
	}
	q, err := s.admin.CreateQueue(ctx, "faults", "round_robin")
	if err != nil {
		return nil, err
	}
	s.queue = q.ID
	if err := s.admin.LinkQueueAccount(ctx, q.ID, acc.ID); err != nil {
		return nil, err
	}
	out := make([]api.AgentCreatedResponse, 0, agents)
	for i := range agents {
		ag, err := s.admin.AddAgent(ctx, fmt.Sprintf("agent-%d", i), capacity, q.ID, acc.ID)
		if err != nil {
			return nil, err
		}
		out = append(out, ag)
	}
	return out, nil
}

// webhookURL is the account's webhook on the API's loopback address.
func (s *stack) webhookURL() string {
	return fmt.Sprintf("%s/api/whatsapp/accounts/%d/notify", s.apiURL, s.account)
}

// close stops everything in reverse order, then removes the directory
// unless keepDir (a failed case keeps its logs) and drops the database
// unless keepDB.
func (s *stack) close(keepDir, keepDB bool) {
	if s.worker != nil {
		s.worker.stop(processGrace)
	}
	if s.api != nil {
		s.api.stop(processGrace)
	}
	if s.em != nil {
		_ = s.em.Close()
	}
	if s.engine != nil {
		s.engine.Stop()
	}
	if s.proxy != nil {
		s.proxy.Close()
	}
	if s.db != nil {
		_ = models.Close(s.db)
	}
	if s.dbName != "" && !keepDB {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		if err := adminExec(ctx, s.opts.DatabaseURL, fmt.Sprintf(`DROP DATABASE IF EXISTS %q WITH (FORCE)`, s.dbName)); err != nil {
			s.log.Warn("drop the case database", "database", s.dbName, "err", err)
		}
		cancel()
	}
	if s.logf != nil {
		_ = s.logf.Close()
	}
	if s.dir != "" && !keepDir {
		_ = os.RemoveAll(s.dir)
	}
}

func randomHex(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}
