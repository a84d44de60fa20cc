package emulator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Defaults applied by New to zero Options fields.
var (
	// DefaultRetrySchedule follows the SMS API's documented callback
	// schedule (5 s, doubling); the Conversation API's own is not published.
	DefaultRetrySchedule = []time.Duration{
		5 * time.Second, 10 * time.Second, 20 * time.Second, 40 * time.Second,
		80 * time.Second, 160 * time.Second, 320 * time.Second,
	}
	// DefaultDeliveryDelays are the offsets, from an accepted send, of the
	// QUEUED_ON_CHANNEL, DELIVERED and READ callbacks.
	DefaultDeliveryDelays = [3]time.Duration{50 * time.Millisecond, 150 * time.Millisecond, 400 * time.Millisecond}
)

// Default timeouts and lifetimes.
const (
	DefaultCallbackTimeout = 10 * time.Second
	DefaultTokenTTL        = time.Hour
	// mediaFetchTimeout bounds one media download of a send.
	mediaFetchTimeout = 30 * time.Second
	// maxJSONBody bounds request bodies of every JSON endpoint.
	maxJSONBody = 1 << 20
)

// Options configure a Server. The zero value is usable.
type Options struct {
	// RetrySchedule is the list of delays between callback attempts after a
	// non-2xx answer, a timeout or a connection error. nil selects
	// DefaultRetrySchedule; an empty non-nil slice disables retries.
	RetrySchedule []time.Duration
	// CallbackTimeout bounds each callback attempt (default 10 s).
	CallbackTimeout time.Duration
	// DeliveryDelays are the offsets from an accepted send of its QUEUED_ON_CHANNEL,
	// DELIVERED and READ callbacks (QUEUED_ON_CHANNEL and FAILED on failure).
	// All zero selects DefaultDeliveryDelays.
	DeliveryDelays [3]time.Duration
	// OutOfOrder sends the delivery callbacks of a message in a shuffled
	// order (never the natural one), to exercise monotonic status handling.
	OutOfOrder bool
	// TokenTTL is the lifetime of issued OAuth2 tokens (default 1 h).
	TokenTTL time.Duration
	// MediaBaseURL is the origin under which /emulator/media/{name} is
	// reachable; relative inbound media URLs are resolved against it. By
	// default the listener of Start, else the Host of the request.
	MediaBaseURL string
	// HTTPClient sends callbacks and fetches media (default: dial and
	// header timeouts, proxies from the environment).
	HTTPClient *http.Client
	// Logger receives debug traces and warnings (default: discarded).
	Logger *slog.Logger
	// Now is the clock of timestamps and token expiry (default time.Now).
	// Delays and retries always use real timers.
	Now func() time.Time
	// StateFile, when set, keeps apps, access keys, webhooks, contacts,
	// conversations and stored messages across restarts: loaded by Open (or
	// New) and rewritten atomically after each change, before the API call
	// that made it answers. Tokens are not kept: clients fetch new ones.
	StateFile string
}

// Server is an in-memory Sinch Conversation API. Build it with New, serve
// Handler (or Start) and Close it when done.
type Server struct {
	opts       Options
	log        *slog.Logger
	client     *http.Client
	ownsClient bool
	mux        *http.ServeMux

	// ctx is cancelled by Close; every background goroutine watches it.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	closed  bool
	httpSrv *http.Server
	baseURL string
	state

	// persist writes Options.StateFile (nil without one, or when it could
	// not be loaded); loadErr is why it could not be loaded.
	persist *persister
	loadErr error
}

// Open returns a Server with the defaults applied to opts and the state of
// opts.StateFile loaded. An unreadable or corrupt state file is an error
// naming the file; a missing one is an empty state.
func Open(opts Options) (*Server, error) {
	s := newServer(opts)
	if err := s.loadErr; err != nil {
		_ = s.Close()
		return nil, err
	}
	return s, nil
}

// New returns a Server with the defaults applied to opts. With a
// StateFile that cannot be loaded (see Open, which reports it), the server
// starts empty, never writes the file and Start fails with the error.
func New(opts Options) *Server {
	s := newServer(opts)
	if s.loadErr != nil {
		s.log.Error("sinch emulator: state not loaded", "err", s.loadErr)
	}
	return s
}

func newServer(opts Options) *Server {
	if opts.RetrySchedule == nil {
		opts.RetrySchedule = DefaultRetrySchedule
	}
	opts.RetrySchedule = append([]time.Duration(nil), opts.RetrySchedule...)
	if opts.CallbackTimeout <= 0 {
		opts.CallbackTimeout = DefaultCallbackTimeout
	}
	if opts.DeliveryDelays == [3]time.Duration{} {
		opts.DeliveryDelays = DefaultDeliveryDelays
	}
	if opts.TokenTTL <= 0 {
		opts.TokenTTL = DefaultTokenTTL
	}
	opts.MediaBaseURL = strings.TrimRight(opts.MediaBaseURL, "/")
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Server{opts: opts, log: opts.Logger, client: opts.HTTPClient, state: newState()}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.client == nil {
		s.client, s.ownsClient = defaultHTTPClient(), true
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.routes()
	if opts.StateFile != "" {
		if err := s.loadState(opts.StateFile); err != nil {
			s.state, s.loadErr = newState(), err
		} else {
			s.persist = &persister{path: opts.StateFile, kick: make(chan struct{}, 1)}
			s.wg.Go(s.flusher)
		}
	}
	return s
}

// defaultHTTPClient bounds dialing and waiting for headers; whole requests
// are bounded by per-call contexts.
func defaultHTTPClient() *http.Client {
	return &http.Client{Transport: &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout:   5 * time.Second,
		ResponseHeaderTimeout: 30 * time.Second,
		MaxIdleConnsPerHost:   16,
		IdleConnTimeout:       90 * time.Second,
	}}
}

func (s *Server) routes() {
	m := http.NewServeMux()
	m.HandleFunc("POST /oauth2/token", s.handleToken)
	m.HandleFunc("POST /v1/projects/{projectId}/messages:send", s.handleSend)
	m.HandleFunc("POST /{region}/v1/projects/{projectId}/messages:send", s.handleSend)
	m.HandleFunc("GET /v1/projects/{projectId}/messages", s.handleList)
	m.HandleFunc("GET /{region}/v1/projects/{projectId}/messages", s.handleList)
	for _, prefix := range []string{"", "/{region}"} {
		p := prefix + "/v1/projects/{projectId}"
		m.HandleFunc("GET "+p+"/apps/{appId}", s.handleGetSinchApp)
		m.HandleFunc("GET "+p+"/apps/{appId}/webhooks", s.handleListWebhooks)
		m.HandleFunc("POST "+p+"/webhooks", s.handleCreateWebhook)
		m.HandleFunc("GET "+p+"/webhooks/{webhookId}", s.handleGetWebhook)
		m.HandleFunc("PATCH "+p+"/webhooks/{webhookId}", s.handleUpdateWebhook)
		m.HandleFunc("DELETE "+p+"/webhooks/{webhookId}", s.handleDeleteWebhook)
	}
	m.HandleFunc("POST /emulator/apps", s.handleCreateApp)
	m.HandleFunc("GET /emulator/apps/{appId}", s.handleGetApp)
	m.HandleFunc("PATCH /emulator/apps/{appId}", s.handleUpdateApp)
	m.HandleFunc("POST /emulator/apps/{appId}/inbound", s.handleInbound)
	m.HandleFunc("GET /emulator/apps/{appId}/outbox", s.handleOutbox)
	m.HandleFunc("POST /emulator/apps/{appId}/faults", s.handleFaults)
	m.HandleFunc("GET /emulator/media/{name}", s.handleMedia)
	m.HandleFunc("GET /emulator/healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	s.mux = m
}

// Handler returns the HTTP handler of every endpoint, for callers that
// serve it themselves (httptest.NewServer, an existing mux).
func (s *Server) Handler() http.Handler { return s.mux }

// Start listens on addr (":0" and "127.0.0.1:0" pick a free port), serves
// in the background and returns the base URL, e.g. http://127.0.0.1:8090.
func (s *Server) Start(addr string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return "", errors.New("emulator: server is closed")
	}
	if s.loadErr != nil {
		return "", s.loadErr
	}
	if s.httpSrv != nil {
		return "", errors.New("emulator: server already started")
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", fmt.Errorf("emulator: listen %s: %w", addr, err)
	}
	host := ln.Addr().String()
	if tcp, ok := ln.Addr().(*net.TCPAddr); ok && tcp.IP.IsUnspecified() {
		host = net.JoinHostPort("127.0.0.1", fmt.Sprint(tcp.Port))
	}
	s.baseURL = "http://" + host
	s.httpSrv = &http.Server{Handler: s.mux, ReadHeaderTimeout: 10 * time.Second}
	srv := s.httpSrv
	s.wg.Go(func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("emulator: serve", "err", err)
		}
	})
	s.log.Debug("sinch emulator listening", "url", s.baseURL)
	return s.baseURL, nil
}

// Close stops serving and cancels every pending callback, retry and media
// fetch; it returns once all of them have ended and the state file (if
// any) holds the last changes.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	srv := s.httpSrv
	s.mu.Unlock()
	s.cancel()
	var err error
	if srv != nil {
		err = srv.Close()
	}
	s.wg.Wait()
	s.closePersist()
	if s.ownsClient {
		s.client.CloseIdleConnections()
	}
	return err
}

// spawn runs f in a goroutine that Close waits for; it reports false (and
// does not run f) once the server is closed.
func (s *Server) spawn(f func()) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.wg.Go(f)
	return true
}

func (s *Server) now() time.Time { return s.opts.Now() }

// mediaBase is the origin of /emulator/media: the option, the listener of
// Start, or the Host of r (nil r: "").
func (s *Server) mediaBase(r *http.Request) string {
	if s.opts.MediaBaseURL != "" {
		return s.opts.MediaBaseURL
	}
	s.mu.Lock()
	base := s.baseURL
	s.mu.Unlock()
	if base == "" && r != nil && r.Host != "" {
		base = "http://" + r.Host
	}
	return base
}

// timestamp formats t like Sinch: RFC 3339 in UTC with up to nanoseconds.
func timestamp(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// timestampNano formats t with all nine fractional digits.
func timestampNano(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000000000Z07:00") }

// Errors of the Go API; the HTTP API maps them to 400, 404 and 409.
var (
	// ErrInvalid wraps every validation error; the message names the field.
	ErrInvalid = errors.New("emulator: invalid request")
	// ErrAppNotFound: no app has that id.
	ErrAppNotFound = errors.New("emulator: app not found")
	// ErrAppExists: CreateApp was given an app id already registered.
	ErrAppExists = errors.New("emulator: app already exists")
)

func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// grpcStatus names HTTP statuses the way Sinch's error bodies do.
var grpcStatus = map[int]string{
	400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED",
	404: "NOT_FOUND", 409: "ALREADY_EXISTS", 429: "RESOURCE_EXHAUSTED",
	500: "INTERNAL", 501: "UNIMPLEMENTED", 503: "UNAVAILABLE",
}

// apiError is the error object of both Sinch's and the emulator's bodies;
// Details is non-nil (rendered as []) only on Sinch endpoints.
type apiError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Status  string `json:"status"`
	Details []any  `json:"details,omitempty"`
}

// writeSinchError writes Sinch's error body, details included.
func writeSinchError(w http.ResponseWriter, code int, msg string) {
	b, _ := json.Marshal(map[string]any{"error": apiError{Code: code, Message: msg, Status: grpcStatus[code]}})
	// omitempty drops an empty slice, so splice in the "details":[] Sinch sends.
	b = append(b[:len(b)-2], []byte(`,"details":[]}}`)...)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write(b)
}

// writeEmulatorError maps a Go API error to the emulator's error body.
func writeEmulatorError(w http.ResponseWriter, err error) {
	code := http.StatusInternalServerError
	switch {
	case errors.Is(err, ErrInvalid):
		code = http.StatusBadRequest
	case errors.Is(err, ErrAppNotFound), errors.Is(err, ErrWebhookNotFound):
		code = http.StatusNotFound
	case errors.Is(err, ErrAppExists):
		code = http.StatusConflict
	}
	msg := err.Error()
	for _, e := range []error{ErrInvalid, ErrAppNotFound, ErrAppExists, ErrWebhookNotFound} {
		msg = strings.TrimPrefix(msg, e.Error()+": ")
	}
	writeStatus(w, code, msg)
}

// writeStatus writes the emulator's error body.
func writeStatus(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]any{"error": apiError{Code: code, Message: msg, Status: grpcStatus[code]}})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// decodeStrict decodes an emulator API body, rejecting unknown fields so
// that a misspelt fault option is an error rather than a no-op.
func decodeStrict(r *http.Request, w http.ResponseWriter, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxJSONBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return invalidf("malformed JSON body: %v", err)
	}
	return nil
}
