package devserver

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"slices"
	"strconv"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	sdkclient "go.temporal.io/sdk/client"
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/temporal"
	"google.golang.org/protobuf/types/known/durationpb"
)

// Services are the engine's services, as ENGINE_SERVICES names them.
var Services = []string{"frontend", "history", "matching", "worker"}

// TLS is the frontend's TLS: clients (and the engine's own system worker,
// which calls the frontend like any client) must use TLS to reach it.
type TLS struct {
	// CertFile and KeyFile are the frontend's certificate and key (PEM).
	CertFile, KeyFile string
	// CAFile is the CA bundle that signed CertFile, which the engine's own
	// clients trust; empty: the system's roots.
	CAFile string
	// ServerName is the name the engine's own clients expect in CertFile
	// (they dial addresses, not names); empty: the frontend's host.
	ServerName string
	// ClientCAFile, when set, makes the frontend require a client
	// certificate signed by it (mutual TLS). The engine's system worker then
	// presents CertFile, which must allow client authentication too.
	ClientCAFile string
}

// ports is where one engine process listens. Each service has a gRPC port
// and a membership port (ringpop, recorded in the cluster_membership table
// as a SMALLINT, hence at most 32767); the frontend also serves HTTP.
type ports struct {
	frontend, frontendHTTP, history, matching, worker int
}

// layoutFor derives a process's ports from its frontend port the way
// Temporal lays out its own defaults (frontend 7233, history 7234, matching
// 7235, worker 7239, HTTP 7243, each membership port 300 below its gRPC
// port), so that a second process whose frontend is on another port (7333)
// takes other ports (7334…, 7033…) and both form one cluster.
func layoutFor(frontend int) (ports, error) {
	p := ports{frontend: frontend, frontendHTTP: frontend + 10, history: frontend + 1, matching: frontend + 2, worker: frontend + 6}
	if frontend < 301 || p.worker-membershipOffset > 32767 {
		return p, fmt.Errorf("frontend port %d: a cluster member's frontend port must be 301–%d (membership ports are the gRPC ports minus %d and must fit 1–32767)", frontend, 32767+membershipOffset-6, membershipOffset)
	}
	return p, nil
}

const membershipOffset = 300

func (p ports) grpc(service string) int {
	switch service {
	case "frontend":
		return p.frontend
	case "history":
		return p.history
	case "matching":
		return p.matching
	default:
		return p.worker
	}
}

// all lists every port the layout binds, for a free-port check.
func (p ports) all() []int {
	out := []int{p.frontendHTTP}
	for _, s := range Services {
		out = append(out, p.grpc(s), p.grpc(s)-membershipOffset)
	}
	return out
}

// pickLayout finds a frontend port whose whole layout is free on host, for
// tests that ask for port 0.
func pickLayout(host string) (ports, error) {
	for range 50 {
		p, _ := layoutFor(10_301 + rand.IntN(20_000))
		free := true
		for _, port := range p.all() {
			if checkFree(host, port) != nil {
				free = false
				break
			}
		}
		if free {
			return p, nil
		}
	}
	return ports{}, errors.New("devserver: no free set of ports for a cluster member")
}

func checkFree(host string, port int) error {
	l, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		return err
	}
	return l.Close()
}

// clusterConfig is the configuration of one member of a Postgres-backed
// cluster: membership through the database (ringpop, no static hosts), all
// four services listed even when this process runs only some (the others'
// addresses come from the ring), and cluster metadata that every member
// shares (ClusterAddress).
func (s *Server) clusterConfig(host string, p ports, store *pgStore) (*config.Config, error) {
	conf := &config.Config{}
	conf.Global.Membership.MaxJoinDuration = 30 * time.Second
	conf.Global.Membership.BroadcastAddress = s.opts.BroadcastAddr
	if conf.Global.Membership.BroadcastAddress == "" {
		conf.Global.Membership.BroadcastAddress = host
	}
	if ip := net.ParseIP(conf.Global.Membership.BroadcastAddress); ip == nil || ip.IsUnspecified() {
		return nil, fmt.Errorf("devserver: the broadcast address must be an IP the other members reach, got %q (set it when binding all interfaces)", conf.Global.Membership.BroadcastAddress)
	}
	shards := s.opts.HistoryShards
	if shards <= 0 {
		shards = postgresHistoryShards
	}
	conf.Persistence.DefaultStore = "postgres-default"
	conf.Persistence.VisibilityStore = "postgres-visibility"
	conf.Persistence.NumHistoryShards = int32(shards)
	conf.Persistence.DataStores = map[string]config.DataStore{
		"postgres-default":    {SQL: &store.main},
		"postgres-visibility": {SQL: &store.vis},
	}
	clusterAddr := s.opts.ClusterAddr
	if clusterAddr == "" {
		clusterAddr = net.JoinHostPort(host, strconv.Itoa(p.frontend))
	}
	ch, cp, err := net.SplitHostPort(clusterAddr)
	if err != nil {
		return nil, fmt.Errorf("devserver: cluster address %q: %w", clusterAddr, err)
	}
	cport, err := strconv.Atoi(cp)
	if err != nil {
		return nil, fmt.Errorf("devserver: cluster address %q: bad port", clusterAddr)
	}
	conf.ClusterMetadata = clusterMetadata(clusterAddr, net.JoinHostPort(ch, strconv.Itoa(cport+10)), "")
	conf.DCRedirectionPolicy.Policy = "noop"
	conf.Services = map[string]config.Service{}
	for _, name := range Services {
		var svc config.Service
		svc.RPC.BindOnIP = host
		svc.RPC.GRPCPort = p.grpc(name)
		svc.RPC.MembershipPort = p.grpc(name) - membershipOffset
		if name == "frontend" {
			svc.RPC.HTTPPort = p.frontendHTTP
		}
		conf.Services[name] = svc
	}
	disableArchival(conf)
	// PublicClient stays empty: the system worker finds a frontend through
	// the ring, so a process without one still works.
	if s.opts.TLS != nil {
		s.applyTLS(conf, host)
	}
	return conf, nil
}

// applyTLS serves the frontend over TLS and makes the engine's own clients
// of it (system worker, search attribute registration) use TLS too.
func (s *Server) applyTLS(conf *config.Config, host string) {
	t := s.opts.TLS
	name := t.ServerName
	if name == "" {
		name = host
	}
	conf.Global.TLS.Frontend.Server = config.ServerTLS{CertFile: t.CertFile, KeyFile: t.KeyFile}
	if t.ClientCAFile != "" {
		conf.Global.TLS.Frontend.Server.RequireClientAuth = true
		conf.Global.TLS.Frontend.Server.ClientCAFiles = []string{t.ClientCAFile}
	}
	client := config.ClientTLS{ServerName: name, ForceTLS: true}
	if t.CAFile != "" {
		client.RootCAFiles = []string{t.CAFile}
	}
	conf.Global.TLS.Frontend.Client = client
	conf.Global.TLS.SystemWorker.Client = client
	if t.ClientCAFile != "" {
		conf.Global.TLS.SystemWorker.CertFile = t.CertFile
		conf.Global.TLS.SystemWorker.KeyFile = t.KeyFile
	}
}

// clientTLS is the TLS configuration the engine's setup client dials its
// own frontend with (nil without TLS).
func (s *Server) clientTLS(host string) (*tls.Config, error) {
	t := s.opts.TLS
	if t == nil {
		return nil, nil
	}
	c := &tls.Config{ServerName: t.ServerName, MinVersion: tls.VersionTLS12}
	if c.ServerName == "" {
		c.ServerName = host
	}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("devserver: TLS CA: %w", err)
		}
		c.RootCAs = x509.NewCertPool()
		if !c.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("devserver: TLS CA %s holds no PEM certificate", t.CAFile)
		}
	}
	if t.ClientCAFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("devserver: TLS certificate: %w", err)
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c, nil
}

// servicesToRun are the services this process runs (all by default).
func (s *Server) servicesToRun() ([]string, error) {
	if len(s.opts.Services) == 0 {
		return slices.Clone(temporal.DefaultServices), nil
	}
	for _, name := range s.opts.Services {
		if !slices.Contains(Services, name) {
			return nil, fmt.Errorf("devserver: unknown service %q (want some of %v)", name, Services)
		}
	}
	return slices.Clone(s.opts.Services), nil
}

// registerNamespace creates the namespace through the frontend (a
// Postgres cluster has no offline helper as SQLite has); another member
// creating it first is success. A namespace just created may not resolve
// for a moment, and a frontend just started may not answer yet: both are
// retried until ctx or a minute runs out.
func registerNamespace(ctx context.Context, c sdkclient.Client, ns string, retention time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	req := &workflowservice.RegisterNamespaceRequest{Namespace: ns, WorkflowExecutionRetentionPeriod: durationpb.New(retention)}
	for {
		_, err := c.WorkflowService().RegisterNamespace(ctx, req)
		var exists *serviceerror.NamespaceAlreadyExists
		if err == nil || errors.As(err, &exists) {
			break
		}
		if ctx.Err() != nil {
			return fmt.Errorf("devserver: register namespace %q: %w", ns, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	for {
		_, err := c.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: ns})
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("devserver: namespace %q registered but not visible: %w", ns, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// startPostgres starts one member of a Postgres-backed cluster: the schema
// first (the server checks its version when it is built), then the
// services this process runs, then, where a frontend runs, the namespace
// and search attributes and the UI. Its ports are fixed by its frontend
// port (layoutFor); port 0 picks a free layout (tests).
func startPostgres(ctx context.Context, opts Options, host string, port int) (_ *Server, err error) {
	store, err := parsePostgresURL(opts.DatabaseURL, opts.VisibilityDatabase, opts.MaxConns)
	if err != nil {
		return nil, fmt.Errorf("devserver: Temporal database URL: %w", err)
	}
	var p ports
	if port == 0 {
		p, err = pickLayout(host)
	} else {
		p, err = layoutFor(port)
	}
	if err != nil {
		return nil, err
	}
	s := &Server{opts: opts, frontendAddr: net.JoinHostPort(host, strconv.Itoa(p.frontend))}
	services, err := s.servicesToRun()
	if err != nil {
		return nil, err
	}
	for _, name := range services {
		bound := []int{p.grpc(name), p.grpc(name) - membershipOffset}
		if name == "frontend" {
			bound = append(bound, p.frontendHTTP)
		}
		for _, port := range bound {
			if err := checkFree(host, port); err != nil {
				return nil, fmt.Errorf("devserver: port %d of the %s service is taken (another engine with the same frontend port?): %w", port, name, err)
			}
		}
	}
	defer func() {
		if r := recover(); r != nil {
			s.Stop()
			err = fmt.Errorf("devserver: engine start-up failed: %v", r)
		}
	}()
	logger := &slogAdapter{log: opts.Logger, min: opts.LogLevel}
	s.logger = logger
	logger.starting.Store(true)
	defer logger.starting.Store(false)
	if err := store.ensureSchema(ctx, logger); err != nil {
		return nil, fmt.Errorf("devserver: Temporal schema on Postgres: %w", err)
	}
	conf, err := s.clusterConfig(host, p, store)
	if err != nil {
		return nil, err
	}
	serverOpts, err := authOptions(conf, logger)
	if err != nil {
		return nil, err
	}
	serverOpts = append(serverOpts,
		temporal.WithConfig(conf),
		temporal.ForServices(services),
		temporal.WithLogger(logger),
		temporal.WithDynamicConfigClient(postgresDynamicConfig()),
	)
	if len(opts.FrontendInterceptors) > 0 {
		serverOpts = append(serverOpts, temporal.WithChainedFrontendGrpcInterceptors(opts.FrontendInterceptors...))
	}
	if s.server, err = temporal.NewServer(serverOpts...); err != nil {
		return nil, fmt.Errorf("devserver: build server: %w", err)
	}
	if err := s.server.Start(); err != nil {
		return nil, fmt.Errorf("devserver: start server: %w", err)
	}
	s.ready = make(chan struct{})
	if !slices.Contains(services, "frontend") {
		s.frontendAddr = ""
		close(s.ready)
		return s, nil
	}
	if len(services) < len(Services) {
		// The frontend answers once the whole cluster is up, which may need
		// processes that start after this one: set up in the background.
		setupCtx, cancel := context.WithCancel(context.Background())
		s.cancelSetup = cancel
		go func() {
			for setupCtx.Err() == nil {
				err := s.setup(setupCtx)
				if err == nil {
					return
				}
				opts.Logger.Warn("engine: namespace not set up yet (are the other services of the cluster running?)", "err", err)
			}
		}()
		return s, nil
	}
	if err := s.setup(ctx); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

// setup registers the namespace and the search attributes through this
// process's frontend, starts the UI, and marks the server ready.
func (s *Server) setup(ctx context.Context) error {
	c, err := s.dial(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := registerNamespace(ctx, c, s.opts.Namespace, s.opts.Retention); err != nil {
		return err
	}
	if err := s.ensureSearchAttributes(ctx, c); err != nil {
		return err
	}
	if s.opts.UIAddr != "" {
		if err := s.startUI(); err != nil {
			return err
		}
	}
	close(s.ready)
	return nil
}

// WaitReady waits until the namespace and search attributes are in place:
// at once when Start returned for a process running every service, and
// once the cluster is complete for a process running only some.
func (s *Server) WaitReady(ctx context.Context) error {
	if s.ready == nil {
		return nil
	}
	select {
	case <-s.ready:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("devserver: namespace %q not set up: %w", s.opts.Namespace, ctx.Err())
	}
}

// dial connects to this process's frontend for setup, over TLS when it
// serves TLS.
func (s *Server) dial(ctx context.Context) (sdkclient.Client, error) {
	host, _, _ := net.SplitHostPort(s.frontendAddr)
	tlsConf, err := s.clientTLS(host)
	if err != nil {
		return nil, err
	}
	// A frontend answers its health check once history and matching are
	// in the ring, which takes a moment after the start.
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for {
		c, err := sdkclient.DialContext(ctx, sdkclient.Options{HostPort: s.frontendAddr, Namespace: s.opts.Namespace, Logger: quietLogger{},
			ConnectionOptions: sdkclient.ConnectionOptions{TLS: tlsConf}})
		if err == nil {
			return c, nil
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("devserver: dial the engine's frontend %s: %w", s.frontendAddr, err)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// PickClusterPort returns a frontend port on host whose whole layout
// (layoutFor: the services' gRPC and membership ports, the frontend's
// HTTP port) is free now, for harnesses that start engine processes.
func PickClusterPort(host string) (int, error) {
	p, err := pickLayout(host)
	return p.frontend, err
}
