// Package devserver embeds Temporal's own server (frontend, history,
// matching and worker services) and, optionally, the Temporal Web UI, in
// the connector's own process. `connector dev`, `connector engine` and the
// end-to-end tests use it; production runs Temporal's official deployment
// or Temporal Cloud. It knows nothing of the connector's workflows,
// database or API.
//
// On SQLite (the default) it is one process with static membership, as
// Temporal's CLI does for `temporal server start-dev`. On Postgres
// (Options.DatabaseURL) it creates or upgrades Temporal's schema with
// Temporal's own schema tool and joins the cluster recorded in the
// database: several processes on one database, each running some or all
// services, form one cluster (membership through the database).
package devserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	uiserver "github.com/temporalio/ui-server/v2/server"
	uiconfig "github.com/temporalio/ui-server/v2/server/config"
	uiserveroptions "github.com/temporalio/ui-server/v2/server/server_options"
	"github.com/xcally-connector/connector/internal/freeport"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	sdkclient "go.temporal.io/sdk/client"
	"go.temporal.io/server/common/authorization"
	"go.temporal.io/server/common/cluster"
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/dynamicconfig"
	"go.temporal.io/server/common/log"
	"go.temporal.io/server/common/log/tag"
	"go.temporal.io/server/common/membership/static"
	sqliteplugin "go.temporal.io/server/common/persistence/sql/sqlplugin/sqlite"
	"go.temporal.io/server/common/primitives"
	sqliteschema "go.temporal.io/server/schema/sqlite"
	"go.temporal.io/server/temporal"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/durationpb"
)

// clusterName is the name of the single embedded cluster. It is stored in the
// SQLite file, so it must stay the same across restarts.
const clusterName = "active"

// Options configures the embedded engine.
type Options struct {
	// FrontendAddr is the gRPC address clients dial, e.g. 127.0.0.1:7233.
	// Port 0 picks a free port (tests).
	FrontendAddr string
	// UIAddr serves the Web UI when non-empty, e.g. 127.0.0.1:8233; port 0
	// picks a free port.
	UIAddr string
	// DBPath is the SQLite file; empty keeps everything in memory.
	DBPath string
	// Namespace is created at start if missing.
	Namespace string
	// SearchAttributes are registered on Namespace at start if missing.
	SearchAttributes map[string]enumspb.IndexedValueType
	// Logger receives the server's logs at LogLevel and above.
	Logger   *slog.Logger
	LogLevel slog.Level
	// Retention of closed workflows; 0 means 72h.
	Retention time.Duration
	// CodecEndpoint is the codec server the UI's browser calls to decode
	// payloads (POST {endpoint}/decode); empty shows them encoded.
	CodecEndpoint string

	// DatabaseURL, when set, keeps the engine on Postgres
	// (postgres://user:pass@host:5432/temporal?sslmode=disable) instead of
	// SQLite: persistence in that database, visibility in
	// VisibilityDatabase (empty: "<db>_visibility"). Both are created when
	// missing and their schemas upgraded at start.
	DatabaseURL        string
	VisibilityDatabase string
	// MaxConns bounds each service's connection pool to the main database
	// (visibility: half); 0 means 10.
	MaxConns int
	// HistoryShards is the shard count of a new Postgres cluster (0: 4);
	// an existing cluster keeps its own.
	HistoryShards int
	// Services run in this process (Postgres only; empty: all of
	// frontend, history, matching and worker).
	Services []string
	// ClusterAddr is the cluster's frontend address recorded in its
	// metadata; every member must give the same (empty: this process's
	// FrontendAddr).
	ClusterAddr string
	// BroadcastAddr is the IP the other members reach this one on (empty:
	// FrontendAddr's host, which must then be an IP, not 0.0.0.0).
	BroadcastAddr string
	// TLS, when set, serves the frontend over TLS (Postgres only).
	TLS *TLS
	// FrontendInterceptors run on every call the frontend receives
	// (tests: checking the clients' credentials).
	FrontendInterceptors []grpc.UnaryServerInterceptor
}

// Server is a running embedded engine.
type Server struct {
	opts         Options
	server       temporal.Server
	ui           *uiserver.Server
	frontendAddr string
	uiAddr       string
	stopOnce     sync.Once
	// ready closes once the namespace is set up (Postgres); cancelSetup
	// ends a setup still running in the background.
	ready       chan struct{}
	cancelSetup context.CancelFunc
	logger      *slogAdapter
}

// FrontendAddr is the gRPC host:port of the running frontend.
func (s *Server) FrontendAddr() string { return s.frontendAddr }

// UIURL is the Web UI URL, or "" when the UI is off.
func (s *Server) UIURL() string {
	if s.uiAddr == "" {
		return ""
	}
	return "http://" + displayAddr(s.uiAddr)
}

// UIOrigins are the browser origins the Web UI is served from (the
// localhost and loopback-IP spellings of its address), or nil when the UI
// is off: a codec server allows them (CORS).
func (s *Server) UIOrigins() []string {
	if s.uiAddr == "" {
		return nil
	}
	host, port, err := net.SplitHostPort(s.uiAddr)
	if err != nil {
		return nil
	}
	out := []string{"http://" + displayAddr(s.uiAddr)}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		out = append(out, "http://"+net.JoinHostPort(host, port))
	} else if ip != nil && ip.IsUnspecified() {
		out = append(out, "http://localhost:"+port, "http://127.0.0.1:"+port)
	}
	return out
}

// Start boots the engine and waits until the frontend answers and the
// namespace and search attributes are in place.
func Start(ctx context.Context, opts Options) (*Server, error) {
	if opts.Namespace == "" {
		return nil, errors.New("devserver: namespace is required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Retention == 0 {
		opts.Retention = 72 * time.Hour
	}
	host, port, err := splitAddr(opts.FrontendAddr)
	if err != nil {
		return nil, fmt.Errorf("devserver: frontend address: %w", err)
	}
	if opts.TLS != nil && opts.DatabaseURL == "" {
		return nil, errors.New("devserver: TLS needs the Postgres engine (DatabaseURL)")
	}
	if len(opts.Services) > 0 && opts.DatabaseURL == "" {
		return nil, errors.New("devserver: running only some services needs a Postgres database (the members of a cluster meet there)")
	}
	if opts.DatabaseURL != "" {
		return startPostgres(ctx, opts, host, port)
	}
	if port != 0 {
		if err := freeport.Check(host, port); err != nil {
			return nil, fmt.Errorf("devserver: frontend port %d is taken (is another Temporal running?): %w", port, err)
		}
		// No retry: a failed start-up may keep the frontend's listener.
		return start(ctx, opts, host, port)
	}
	// The services bind the ports the config names, so they are picked
	// before they are bound; another process may bind one in between and
	// the engine then fails to start. Try again on new ports.
	for attempt := 1; ; attempt++ {
		if port, err = freeport.Pick(host); err != nil {
			return nil, err
		}
		s, err := start(ctx, opts, host, port)
		if err == nil || attempt == 5 || ctx.Err() != nil {
			return s, err
		}
		opts.Logger.Warn("embedded Temporal did not start, retrying on other ports", "attempt", attempt, "err", err)
	}
}

// start builds and starts the engine on the given frontend port, turning a
// panic of the engine's start-up (the engine's Fatal, see slogAdapter) into
// an error.
func start(ctx context.Context, opts Options, host string, port int) (_ *Server, err error) {
	s := &Server{opts: opts, frontendAddr: net.JoinHostPort(host, strconv.Itoa(port))}
	defer func() {
		if r := recover(); r != nil {
			s.Stop()
			err = fmt.Errorf("devserver: engine start-up panicked (a port taken meanwhile?): %v", r)
		}
	}()

	conf, err := s.buildConfig(host, port)
	if err != nil {
		return nil, err
	}
	logger := &slogAdapter{log: opts.Logger, min: opts.LogLevel}
	s.logger = logger
	logger.starting.Store(true)
	defer logger.starting.Store(false)
	serverOpts, err := authOptions(conf, logger)
	if err != nil {
		return nil, err
	}
	hosts := map[primitives.ServiceName]static.Hosts{}
	for _, svc := range []primitives.ServiceName{primitives.FrontendService, primitives.HistoryService, primitives.MatchingService, primitives.WorkerService} {
		hosts[svc] = static.SingleLocalHost(net.JoinHostPort(host, strconv.Itoa(conf.Services[string(svc)].RPC.GRPCPort)))
	}
	s.server, err = temporal.NewServer(append(serverOpts,
		temporal.WithConfig(conf),
		temporal.ForServices(temporal.DefaultServices),
		temporal.WithStaticHosts(hosts),
		temporal.WithLogger(logger),
		temporal.WithDynamicConfigClient(dynamicConfig()),
	)...)
	if err != nil {
		return nil, fmt.Errorf("devserver: build server: %w", err)
	}
	if err := s.server.Start(); err != nil {
		return nil, fmt.Errorf("devserver: start server: %w", err)
	}
	c, err := s.dial(ctx)
	if err != nil {
		s.Stop()
		return nil, err
	}
	defer c.Close()
	if err := s.ensureSearchAttributes(ctx, c); err != nil {
		s.Stop()
		return nil, err
	}
	if opts.UIAddr != "" {
		if err := s.startUI(); err != nil {
			s.Stop()
			return nil, err
		}
	}
	return s, nil
}

// Stop shuts the UI and the engine down. It is safe to call more than once.
func (s *Server) Stop() {
	s.stopOnce.Do(func() {
		if s.cancelSetup != nil {
			s.cancelSetup()
		}
		if s.logger != nil {
			s.logger.stopping.Store(true)
		}
		if s.ui != nil {
			s.ui.Stop()
		}
		if s.server != nil {
			_ = s.server.Stop()
		}
	})
}

func (s *Server) buildConfig(host string, port int) (*config.Config, error) {
	httpPort, err := freeport.Pick(host)
	if err != nil {
		return nil, err
	}
	conf := &config.Config{}
	conf.Global.Membership.MaxJoinDuration = 30 * time.Second
	conf.Global.Membership.BroadcastAddress = host
	conf.Persistence.DefaultStore = "sqlite-default"
	conf.Persistence.VisibilityStore = "sqlite-default"
	conf.Persistence.NumHistoryShards = 1
	sqlConf, err := s.sqlConfig()
	if err != nil {
		return nil, err
	}
	conf.Persistence.DataStores = map[string]config.DataStore{"sqlite-default": {SQL: sqlConf}}
	conf.ClusterMetadata = clusterMetadata(net.JoinHostPort(host, strconv.Itoa(port)), net.JoinHostPort(host, strconv.Itoa(httpPort)), "connector-dev")
	conf.DCRedirectionPolicy.Policy = "noop"
	conf.Services = map[string]config.Service{}
	for _, name := range []string{"frontend", "history", "matching", "worker"} {
		var svc config.Service
		svc.RPC.BindOnIP = host
		if name == "frontend" {
			svc.RPC.GRPCPort, svc.RPC.HTTPPort = port, httpPort
		} else if svc.RPC.GRPCPort, err = freeport.Pick(host); err != nil {
			return nil, err
		}
		conf.Services[name] = svc
	}
	disableArchival(conf)
	conf.PublicClient.HostPort = net.JoinHostPort(host, strconv.Itoa(port))
	return conf, nil
}

// clusterMetadata describes the one cluster (no replication). Its
// addresses are stored in the database, so every member gives the same.
// An empty id lets a new cluster take a random UUID.
func clusterMetadata(rpcAddr, httpAddr, id string) *cluster.Config {
	return &cluster.Config{
		FailoverVersionIncrement: 10,
		MasterClusterName:        clusterName,
		CurrentClusterName:       clusterName,
		ClusterInformation: map[string]cluster.ClusterInformation{
			clusterName: {
				Enabled:                true,
				InitialFailoverVersion: 1,
				RPCAddress:             rpcAddr,
				HTTPAddress:            httpAddr,
				ClusterID:              id,
			},
		},
	}
}

func disableArchival(conf *config.Config) {
	conf.Archival.History.State = "disabled"
	conf.Archival.Visibility.State = "disabled"
	conf.NamespaceDefaults.Archival.History.State = "disabled"
	conf.NamespaceDefaults.Archival.Visibility.State = "disabled"
}

// sqlConfig prepares the SQLite store: creates the schema for a new file and
// the namespace (with our search attributes) when it is missing.
func (s *Server) sqlConfig() (*config.SQL, error) {
	conf := &config.SQL{PluginName: sqliteplugin.PluginName}
	if s.opts.DBPath == "" {
		conf.DatabaseName = "connector-" + strconv.Itoa(rand.IntN(1<<30))
		conf.ConnectAttributes = map[string]string{"mode": "memory", "cache": "shared"}
	} else {
		conf.DatabaseName = s.opts.DBPath
		// WAL + synchronous=NORMAL: about 5x the throughput of the defaults on
		// this engine, and still crash-safe for the database (a power loss may
		// drop the last transactions, never corrupt the file).
		conf.ConnectAttributes = map[string]string{
			"mode":         "rwc",
			"journal_mode": "wal",
			"synchronous":  "NORMAL",
			"busy_timeout": "10000",
		}
		if err := os.MkdirAll(filepath.Dir(s.opts.DBPath), 0o700); err != nil {
			return nil, fmt.Errorf("devserver: create directory for %s: %w", s.opts.DBPath, err)
		}
		if _, err := os.Stat(s.opts.DBPath); errors.Is(err, os.ErrNotExist) {
			if err := sqliteschema.SetupSchema(conf); err != nil {
				return nil, fmt.Errorf("devserver: create Temporal schema in %s: %w", s.opts.DBPath, err)
			}
		}
	}
	ns, err := sqliteschema.NewNamespaceConfig(clusterName, s.opts.Namespace, false, s.opts.SearchAttributes)
	if err != nil {
		return nil, fmt.Errorf("devserver: namespace config: %w", err)
	}
	ns.Detail.Config.Retention = durationpb.New(s.opts.Retention)
	if err := sqliteschema.CreateNamespaces(conf, ns); err != nil {
		return nil, fmt.Errorf("devserver: create namespace %q: %w", s.opts.Namespace, err)
	}
	return conf, nil
}

// ensureSearchAttributes registers the search attributes missing on the
// namespace (a new Postgres cluster, or a database created by an older
// version of the connector). Two members registering at once may collide
// (the engine then asks to retry): it tries again for up to a minute.
func (s *Server) ensureSearchAttributes(ctx context.Context, c sdkclient.Client) error {
	if len(s.opts.SearchAttributes) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for {
		err := s.addMissingSearchAttributes(ctx, c)
		if err == nil || ctx.Err() != nil {
			return err
		}
		s.opts.Logger.Debug("search attributes not registered yet, retrying", "err", err)
		time.Sleep(200 * time.Millisecond)
	}
}

func (s *Server) addMissingSearchAttributes(ctx context.Context, c sdkclient.Client) error {
	resp, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: s.opts.Namespace})
	if err != nil {
		return fmt.Errorf("devserver: list search attributes: %w", err)
	}
	missing := map[string]enumspb.IndexedValueType{}
	names := make([]string, 0, len(s.opts.SearchAttributes))
	for name := range s.opts.SearchAttributes {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if _, ok := resp.GetCustomAttributes()[name]; !ok {
			missing[name] = s.opts.SearchAttributes[name]
		}
	}
	if len(missing) == 0 {
		return nil
	}
	_, err = c.OperatorService().AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{Namespace: s.opts.Namespace, SearchAttributes: missing})
	if err != nil {
		return fmt.Errorf("devserver: add search attributes %v: %w", names, err)
	}
	return nil
}

// authOptions are the server's authorizer and claim mapper from its
// configuration (none configured: everything allowed, as in Temporal's
// development server).
func authOptions(conf *config.Config, logger log.Logger) ([]temporal.ServerOption, error) {
	authorizer, err := authorization.GetAuthorizerFromConfig(&conf.Global.Authorization)
	if err != nil {
		return nil, fmt.Errorf("devserver: authorizer: %w", err)
	}
	claimMapper, err := authorization.GetClaimMapperFromConfig(&conf.Global.Authorization, logger)
	if err != nil {
		return nil, fmt.Errorf("devserver: claim mapper: %w", err)
	}
	return []temporal.ServerOption{
		temporal.WithAuthorizer(authorizer),
		temporal.WithClaimMapper(func(*config.Config) authorization.ClaimMapper { return claimMapper }),
	}, nil
}

func (s *Server) startUI() error {
	host, port, err := splitAddr(s.opts.UIAddr)
	if err != nil {
		return fmt.Errorf("devserver: UI address: %w", err)
	}
	if port == 0 {
		if port, err = freeport.Pick(host); err != nil {
			return err
		}
	}
	// The UI server exits the process if it cannot listen, so check first.
	if err := freeport.Check(host, port); err != nil {
		return fmt.Errorf("devserver: UI port %d is taken: %w", port, err)
	}
	s.uiAddr = net.JoinHostPort(host, strconv.Itoa(port))
	s.ui = uiserver.NewServer(uiserveroptions.WithConfigProvider(&uiconfig.Config{
		Host:                host,
		Port:                port,
		TemporalGRPCAddress: s.frontendAddr,
		EnableUI:            true,
		DefaultNamespace:    s.opts.Namespace,
		CORS:                uiconfig.CORS{CookieInsecure: true},
		HideLogs:            true,
		DisableNewsFetch:    true,
		// The browser calls the codec itself; no token can be configured
		// here (passAccessToken sends only an OIDC login's token).
		Codec: uiconfig.Codec{Endpoint: s.opts.CodecEndpoint},
		TLS:   s.uiTLS(),
	}))
	go func() {
		if err := s.ui.Start(); err != nil {
			s.opts.Logger.Error("temporal UI stopped", "err", err)
		}
	}()
	return waitListening(s.uiAddr, 10*time.Second)
}

// postgresDynamicConfig is dynamicConfig for a Postgres cluster: ids are
// limited to the columns' 255 characters, and search attributes are read
// from the namespace cache (refreshed every 2 s) rather than the database
// on every read.
func postgresDynamicConfig() dynamicconfig.StaticClient {
	c := dynamicConfig()
	delete(c, dynamicconfig.ForceSearchAttributesCacheRefreshOnRead.Key())
	c[dynamicconfig.MaxIDLengthLimit.Key()] = 255
	return c
}

func dynamicConfig() dynamicconfig.StaticClient {
	return dynamicconfig.StaticClient{
		// Search attributes created at start are visible at once rather than
		// after the cache refresh interval.
		dynamicconfig.ForceSearchAttributesCacheRefreshOnRead.Key():      true,
		dynamicconfig.FrontendMaxNamespaceVisibilityRPSPerInstance.Key(): 100,
		dynamicconfig.HistoryCacheHostLevelMaxSize.Key():                 8192,
		dynamicconfig.FrontendPersistenceMaxQPS.Key():                    10000,
		dynamicconfig.HistoryPersistenceMaxQPS.Key():                     45000,
	}
}

func splitAddr(addr string) (string, int, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	if host == "" || host == "localhost" {
		// The server needs an IP to bind and broadcast.
		host = "127.0.0.1"
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("invalid port in %q", addr)
	}
	return host, port, nil
}

func displayAddr(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err == nil && (host == "127.0.0.1" || host == "::1") {
		return "localhost:" + port
	}
	return addr
}

func waitListening(addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			return c.Close()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("devserver: %s not listening after %s: %w", addr, timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// slogAdapter feeds the server's logger interface into slog.
//
// The engine's Fatal means "cannot go on" (its own zap logger exits the
// process). While the engine starts, Fatal and Panic panic, so start turns
// them into an error and Start retries: a service that could not bind its
// port would otherwise go on with a nil listener and crash the process from
// a goroutine nobody can recover. Once started, they log at error level and
// the process stays up, as the connector's worker and API must.
type slogAdapter struct {
	log      *slog.Logger
	min      slog.Level
	starting atomic.Bool
	// stopping silences the engine while it stops: its services then
	// complain about each other leaving (matching's "Not enough hosts to
	// serve the request"), which says nothing to the operator.
	stopping atomic.Bool
}

var _ log.Logger = (*slogAdapter)(nil)

func (a *slogAdapter) emit(level slog.Level, msg string, tags []tag.Tag) {
	if level < a.min || a.stopping.Load() || !a.log.Enabled(context.Background(), level) {
		return
	}
	attrs := make([]slog.Attr, 0, len(tags)+1)
	attrs = append(attrs, slog.String("component", "temporal"))
	for _, t := range tags {
		attrs = append(attrs, slog.Any(t.Key(), t.Value()))
	}
	a.log.LogAttrs(context.Background(), level, msg, attrs...)
}

func (a *slogAdapter) Debug(msg string, tags ...tag.Tag)  { a.emit(slog.LevelDebug, msg, tags) }
func (a *slogAdapter) Info(msg string, tags ...tag.Tag)   { a.emit(slog.LevelInfo, msg, tags) }
func (a *slogAdapter) Warn(msg string, tags ...tag.Tag)   { a.emit(slog.LevelWarn, msg, tags) }
func (a *slogAdapter) Error(msg string, tags ...tag.Tag)  { a.emit(slog.LevelError, msg, tags) }
func (a *slogAdapter) DPanic(msg string, tags ...tag.Tag) { a.emit(slog.LevelError, msg, tags) }
func (a *slogAdapter) Panic(msg string, tags ...tag.Tag)  { a.fatal(msg, tags) }
func (a *slogAdapter) Fatal(msg string, tags ...tag.Tag)  { a.fatal(msg, tags) }

func (a *slogAdapter) fatal(msg string, tags []tag.Tag) {
	a.emit(slog.LevelError, msg, tags)
	if a.starting.Load() {
		parts := []string{msg}
		for _, t := range tags {
			parts = append(parts, fmt.Sprintf("%s=%v", t.Key(), t.Value()))
		}
		panic(strings.Join(parts, " "))
	}
}

// quietLogger silences the SDK client used only for setup.
type quietLogger struct{}

func (quietLogger) Debug(string, ...any) {}
func (quietLogger) Info(string, ...any)  {}
func (quietLogger) Warn(string, ...any)  {}
func (quietLogger) Error(string, ...any) {}

// uiTLS is how the UI server reaches a frontend that serves TLS.
func (s *Server) uiTLS() uiconfig.TLS {
	t := s.opts.TLS
	if t == nil {
		return uiconfig.TLS{}
	}
	host, _, _ := net.SplitHostPort(s.frontendAddr)
	out := uiconfig.TLS{CaFile: t.CAFile, ServerName: t.ServerName, EnableHostVerification: true}
	if out.ServerName == "" {
		out.ServerName = host
	}
	if t.ClientCAFile != "" {
		out.CertFile, out.KeyFile = t.CertFile, t.KeyFile
	}
	return out
}
