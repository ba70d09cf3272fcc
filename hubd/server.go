// Package hubd is the self-hosted hub: a server that speaks the Textile Hub
// Users wire protocol (api.usersd.pb.APIService and the part of
// threads.pb.API that Users clients call) over native gRPC and over the
// grpc-web websockets the JavaScript client uses, both on one address. State
// lives in a store.Store (SQLite in the data directory by default; see
// OpenStore).
//
// docs/protocol.md in the repository says where this server follows the
// Textile hub and where it deliberately differs.
package hubd

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	"google.golang.org/grpc/keepalive"

	"github.com/hubfs/hubfs/identity"
	"github.com/hubfs/hubfs/wire"
	hubpb "github.com/hubfs/hubfs/wire/pb"
)

// Defaults for Config's zero values.
const (
	DefaultListen         = "127.0.0.1:3006"
	DefaultMaxMessageSize = 1 << 20
	// MaxMaxMessageSize is the largest MaxMessageSize: the limit every
	// client's receive limit (wire.MaxReceiveSize) is derived from, so that
	// whatever a hub stores, every client can list and watch.
	MaxMaxMessageSize = wire.MaxMessageSize
	// DefaultKeyRecheck is how often an open Listen stream checks that its
	// API key is still valid, so that revoking a key ends its streams too.
	DefaultKeyRecheck = 30 * time.Second
	// DefaultChallengeTimeout is how long GetToken waits for the signed
	// challenge, as go-threads does.
	DefaultChallengeTimeout = time.Minute

	// Keepalive defaults (Config's zero values). Clients may ping every
	// DefaultKeepaliveMinTime at most (ours ping every 15 s, whether or not
	// a call is open); a connection silent for DefaultKeepaliveTime gets a
	// ping, and one that does not answer within DefaultKeepaliveTimeout is
	// closed, so a vanished client does not pin its streams.
	DefaultKeepaliveMinTime = 10 * time.Second
	DefaultKeepaliveTime    = 30 * time.Second
	DefaultKeepaliveTimeout = 10 * time.Second

	// MaxStreamsPerConn bounds the calls open at once on one native gRPC
	// connection, so one connection cannot open thousands of streams.
	MaxStreamsPerConn = 64
)

// SendKeyRetention is how long a send's idempotency key is remembered: a
// repeat within it is answered with the first message, a later one is
// stored anew. A week outlasts any client's retry of a queued send.
const SendKeyRetention = 7 * 24 * time.Hour

// pruneEvery is how often old idempotency keys are forgotten while the
// hub runs (and once at start).
const pruneEvery = time.Hour

// maxHeaderBytes bounds a call's metadata, which is read before the API key
// can be checked: an API key, a signature and a token are well under 8 KiB
// (grpc's default would be 16 MiB per stream).
const maxHeaderBytes = 64 << 10

// Config configures a Server. Only DataDir is required, unless the store
// keeps the host key.
type Config struct {
	Listen string // "127.0.0.1:3006" default; "127.0.0.1:0" in tests
	// DataDir holds the host key, and the store unless Store or StoreURL
	// says otherwise (sqlite:DataDir/hub.db). A store that keeps the host
	// key itself (PostgreSQL, store.HostKeyStore) needs no DataDir: it is
	// not used, nor created.
	DataDir string
	// Store, if set, is the store to serve; the caller opened it and
	// closes it after Shutdown. Otherwise New opens StoreURL (see
	// OpenStore), or the data directory's store if that is empty too,
	// and Shutdown closes it.
	Store          Store
	StoreURL       string
	MaxMessageSize int // ciphertext bytes per copy; 0 = 1 MiB
	// TLSCertFile and TLSKeyFile, both or neither, serve TLS on Listen.
	TLSCertFile, TLSKeyFile string
	// AllowInsecure allows plaintext on a non-loopback address, and
	// non-signing API keys (NewInsecureKey) there.
	AllowInsecure bool
	Logger        *slog.Logger // nil = discard

	// ChallengeTimeout bounds the GetToken exchange; 0 = one minute.
	ChallengeTimeout time.Duration
	// KeyRecheck is how often an open Listen stream rechecks its API key;
	// 0 = DefaultKeyRecheck.
	KeyRecheck time.Duration

	// KeepaliveMinTime, KeepaliveTime and KeepaliveTimeout shorten the
	// keepalive defaults in tests; 0 = the Default values. grpc raises
	// KeepaliveTime to at least one second.
	KeepaliveMinTime, KeepaliveTime, KeepaliveTimeout time.Duration

	// MetricsListen, if set, serves Prometheus metrics at MetricsPath on
	// this address, under Listen's rules (TLS if configured, else
	// plaintext only on loopback unless AllowInsecure).
	MetricsListen string
	// Quotas are the free quotas and grace allowances GetUsage reports
	// (enforced nowhere); zero fields are DefaultQuotas'.
	Quotas Quotas

	// StoreCheckEvery is how often a store that can be pinged
	// (StorePinger) is; 0 = DefaultStoreCheckEvery.
	StoreCheckEvery time.Duration
}

// Server is a running hub. New binds the address; Serve serves until
// Shutdown.
type Server struct {
	cfg      Config
	log      *slog.Logger
	store    Store
	ownStore bool   // New opened store, so Shutdown closes it
	unsub    func() // ends the subscription to the store's events
	hostKey  *identity.PrivateKey
	hostPub  string // iss of the tokens we issue
	tokens   *tokenIssuer
	events   *broker
	inflight *inflight
	keys     *keyCache           // the tap's view of the API keys
	methods  map[string]struct{} // every method served, "/service/Method"; set once in New
	// insecureKeysOK: non-signing API keys are accepted, because the hub
	// listens on loopback or AllowInsecure says so.
	insecureKeysOK bool
	limits         limits
	reads          readTally // instance reads not yet in the store (usage.go)

	// testHookSend, if set, runs inside SendMessage before the store
	// write, so tests can hold a call in flight.
	testHookSend func()

	ln    net.Listener // the one bound address, TLS-wrapped if configured
	mux   *connMux
	grpc  *grpc.Server
	http  *http.Server
	ready chan struct{} // closed when Serve has started the servers

	// Operating the hub (health.go, metrics.go).
	health        *health.Server
	draining      chan struct{} // closed when Shutdown begins
	pinger        StorePinger   // nil: the store cannot be pinged
	storeUp       atomic.Bool   // the store answered its last ping
	storeMu       sync.Mutex    // guards storeLost and loseStore
	storeLost     context.Context
	loseStore     context.CancelCauseFunc // cancels storeLost when the store is found down
	checkStoreNow chan struct{}           // a call found the store unreachable
	metrics       *metrics
	metricsLn     net.Listener // nil without Config.MetricsListen
	metricsHTTP   *http.Server

	mu       sync.Mutex // guards the fields below
	serving  bool
	shutdown bool
	done     chan struct{} // closed when Shutdown has finished
	serveErr chan error    // Serve's fatal errors, buffered
}

// New opens (and migrates) the store unless given one, loads or creates
// the host key and binds the listener. Nothing is served until Serve.
func New(cfg Config) (*Server, error) {
	if cfg.Listen == "" {
		cfg.Listen = DefaultListen
	}
	if cfg.MaxMessageSize == 0 {
		cfg.MaxMessageSize = DefaultMaxMessageSize
	}
	if cfg.MaxMessageSize < 0 || cfg.MaxMessageSize > MaxMaxMessageSize {
		return nil, fmt.Errorf("max message size must be between 1 and %d bytes, got %d", MaxMaxMessageSize, cfg.MaxMessageSize)
	}
	if cfg.ChallengeTimeout <= 0 {
		cfg.ChallengeTimeout = DefaultChallengeTimeout
	}
	if cfg.KeyRecheck <= 0 {
		cfg.KeyRecheck = DefaultKeyRecheck
	}
	if cfg.KeepaliveMinTime <= 0 {
		cfg.KeepaliveMinTime = DefaultKeepaliveMinTime
	}
	if cfg.KeepaliveTime <= 0 {
		cfg.KeepaliveTime = DefaultKeepaliveTime
	}
	if cfg.KeepaliveTimeout <= 0 {
		cfg.KeepaliveTimeout = DefaultKeepaliveTimeout
	}
	cfg.Quotas = cfg.Quotas.withDefaults()
	if cfg.StoreCheckEvery <= 0 {
		cfg.StoreCheckEvery = DefaultStoreCheckEvery
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if (cfg.TLSCertFile == "") != (cfg.TLSKeyFile == "") {
		return nil, errors.New("TLS needs both a certificate and a key file")
	}
	loopback, err := isLoopback(cfg.Listen)
	if err != nil {
		return nil, err
	}
	var tlsConfig *tls.Config
	if cfg.TLSCertFile != "" {
		cert, err := tls.LoadX509KeyPair(cfg.TLSCertFile, cfg.TLSKeyFile)
		if err != nil {
			return nil, fmt.Errorf("load TLS certificate: %w", err)
		}
		tlsConfig = &tls.Config{
			Certificates: []tls.Certificate{cert},
			// h2 for native gRPC, http/1.1 for websockets; the mux tells
			// them apart after the handshake either way.
			NextProtos: []string{"h2", "http/1.1"},
			MinVersion: tls.VersionTLS12,
		}
	} else if !cfg.AllowInsecure {
		if !loopback {
			return nil, fmt.Errorf("refusing to serve plaintext on non-loopback address %s: give a TLS certificate and key, or allow insecure serving explicitly", cfg.Listen)
		}
	}

	ctx := context.Background()
	store, ownStore := cfg.Store, false
	if store == nil {
		url := cfg.StoreURL
		if url == "" {
			if err := prepareDataDir(cfg.DataDir); err != nil {
				return nil, err
			}
			url = DataDirStore(cfg.DataDir)
		}
		st, err := OpenStore(ctx, url)
		if err != nil {
			return nil, err
		}
		store, ownStore = st, true
	}
	closeStore := func() {
		if ownStore {
			store.Close()
		}
	}
	hostKey, err := hostKeyOf(ctx, store, cfg.DataDir)
	if err != nil {
		closeStore()
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		closeStore()
		if errors.Is(err, syscall.EADDRINUSE) {
			return nil, fmt.Errorf("listen on %s: address already in use (is another hub running?)", cfg.Listen)
		}
		return nil, fmt.Errorf("listen on %s: %w", cfg.Listen, err)
	}
	var metricsLn net.Listener
	if cfg.MetricsListen != "" {
		if metricsLn, err = listenMetrics(cfg.MetricsListen, tlsConfig, cfg.AllowInsecure); err != nil {
			ln.Close()
			closeStore()
			return nil, err
		}
	}

	s := &Server{
		cfg:      cfg,
		log:      logger,
		store:    store,
		ownStore: ownStore,
		hostKey:  hostKey,
		hostPub:  hostKey.Public().String(),
		inflight: newInflight(),
		ln:       ln,
		ready:    make(chan struct{}),
		done:     make(chan struct{}),
		serveErr: make(chan error, 4),

		draining:      make(chan struct{}),
		checkStoreNow: make(chan struct{}, 1),
		metrics:       newMetrics(store),
		metricsLn:     metricsLn,

		insecureKeysOK: loopback || cfg.AllowInsecure,
	}
	s.tokens = newTokenIssuer(hostKey)
	s.keys = newKeyCache(store)
	s.pruneSendKeys(time.Now())
	lim := limitsFor(cfg.MaxMessageSize)
	s.limits = lim
	s.events = newBroker(lim.listenerBytes)
	// Listen streams are fed from the store's feed, which orders events
	// as their commits, for every process sharing the store.
	s.unsub = store.Subscribe(s.publish)
	s.mux = newConnMux(ln, tlsConfig, logger)
	s.grpc = grpc.NewServer(
		grpc.MaxRecvMsgSize(lim.maxRecv),
		grpc.MaxSendMsgSize(wire.MaxReceiveSize),
		grpc.InTapHandle(s.tapHandle),
		grpc.MaxConcurrentStreams(MaxStreamsPerConn),
		grpc.MaxHeaderListSize(maxHeaderBytes),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: cfg.KeepaliveMinTime, PermitWithoutStream: true}),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: cfg.KeepaliveTime, Timeout: cfg.KeepaliveTimeout}),
		// Health calls pass only metrics and logging: no API key, and
		// answered while draining or while the store is down.
		grpc.ChainUnaryInterceptor(s.metrics.unary, s.logUnary, exceptHealthUnary(s.trackUnary), exceptHealthUnary(s.gateUnary), exceptHealthUnary(s.authUnary)),
		grpc.ChainStreamInterceptor(s.metrics.stream, s.logStream, exceptHealthStream(s.trackStream), exceptHealthStream(s.gateStream), exceptHealthStream(s.authStream)),
	)
	hubpb.RegisterAPIServiceServer(s.grpc, &usersService{s: s})
	hubpb.RegisterAPIServer(s.grpc, &threadsService{s: s, schemas: newSchemaCache()})
	s.setupHealth()
	s.methods = servedMethods(s.grpc)
	s.metricsHTTP = s.metricsServer()
	s.http = &http.Server{
		Handler:           s.webHandler(),
		ReadHeaderTimeout: 30 * time.Second,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelDebug),
	}
	return s, nil
}

// limits are the byte budgets of a hub, all derived from its per-copy
// message size, so that any message it stores can be listed in a page of
// one and delivered in a watch event, both within the client's receive
// limit (wire.MaxReceiveSize).
type limits struct {
	// maxRecv is the largest gRPC request accepted. A send carries two
	// copies plus small fields; the headroom (twice the copies) lets a
	// request well over the limit reach SendMessage, whose error names the
	// limit, instead of grpc's generic one.
	maxRecv int
	// wsReadLimit bounds one websocket message, which carries one whole
	// gRPC request. Over it, the websocket library can only drop the
	// connection (the JS client then reports "Response closed without
	// headers"), so it is twice maxRecv: requests between the two get
	// grpc's ResourceExhausted instead. Before a call's API key is checked
	// far less may be read (preAuthBytes).
	wsReadLimit int64
	// pageBytes bounds one list reply: 64 largest messages, capped so the
	// reply stays within the client's receive limit, and always room for
	// one, since a limit of 1 must always work. Over it a list fails with
	// ResourceExhausted instead of building a reply of gigabytes (10,000
	// messages of 1 MiB); it cannot return a shorter page, since clients
	// take a short page for the end of the box. The Go client halves its
	// page on ResourceExhausted.
	pageBytes int
	// eventBytes bounds one watch event: the body base64-encoded in JSON
	// (4/3 of it) with the signature, keys and times (eventSlack); with
	// the reply's framing it stays within wire.MaxReceiveSize.
	eventBytes int
	// listenerBytes bounds the events one Listen stream may have waiting,
	// so a stalled listener pins at most 16 largest events, at most 64 MiB
	// unless one event is larger, rather than maxQueue of them.
	listenerBytes int
}

// eventSlack is what a watch event's JSON holds besides the body: the
// signature in base64, both keys, the id, the times and the field names
// (about 400 bytes), rounded up.
const eventSlack = 1 << 10

// limitsFor derives every budget from size, a per-copy ciphertext limit
// of at most wire.MaxMessageSize.
func limitsFor(size int) limits {
	event := (size+2)/3*4 + eventSlack
	recv := 4*size + wire.ReplySlack
	return limits{
		maxRecv:       recv,
		wsReadLimit:   2 * int64(recv),
		pageBytes:     max(min(64*size, wire.MaxReceiveSize-wire.ReplySlack), size+wire.ReplySlack),
		eventBytes:    event,
		listenerBytes: max(min(16*event, 64<<20), event),
	}
}

// Addr is the bound host:port, useful with port 0.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// HostKey is the public-key string of the key that signs this hub's tokens
// (the tokens' iss claim).
func (s *Server) HostKey() string { return s.hostPub }

// Serve serves native gRPC and grpc-web websockets on the bound address
// until Shutdown, and then returns nil. It returns an error if serving fails
// or Serve was already called.
func (s *Server) Serve() error {
	s.mu.Lock()
	if s.serving {
		s.mu.Unlock()
		return errors.New("hubd: Serve called twice")
	}
	s.serving = true
	if s.shutdown {
		s.mu.Unlock()
		return nil
	}
	s.mu.Unlock()

	s.log.Info("hub serving", "addr", s.Addr(), "host_key", s.hostPub, "tls", s.cfg.TLSCertFile != "")
	go func() {
		// grpc returns an error only if its listener fails; the mux's
		// listeners end with net.ErrClosed at shutdown.
		if err := s.grpc.Serve(s.mux.grpc); err != nil && !errors.Is(err, net.ErrClosed) && !errors.Is(err, grpc.ErrServerStopped) {
			s.serveErr <- fmt.Errorf("serve grpc: %w", err)
		}
	}()
	go func() {
		if err := s.http.Serve(s.mux.http); err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
			s.serveErr <- fmt.Errorf("serve websockets: %w", err)
		}
	}()
	go func() {
		if err := s.mux.serve(); err != nil {
			s.serveErr <- err
		}
	}()
	go s.pruneLoop()
	go s.flushReadsLoop()
	go s.watchStore()
	go s.serveMetrics()
	close(s.ready)

	select {
	case <-s.done:
		return nil
	case err := <-s.serveErr:
		s.log.Error("hub failed", "err", err)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.Shutdown(ctx)
		return err
	}
}

// Shutdown stops accepting connections and calls, lets calls in flight
// finish (ending Listen streams and pending token challenges at once, since
// they would never end on their own) until ctx is done, then closes the
// store. Calling it again waits for the first call to finish.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if s.shutdown {
		s.mu.Unlock()
		select {
		case <-s.done:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	s.shutdown = true
	serving := s.serving
	s.mu.Unlock()
	defer close(s.done)

	s.log.Info("hub shutting down")
	// Health first, so that balancers stop sending calls here; its Watch
	// streams end with the Listen streams.
	s.health.Shutdown()
	close(s.draining)
	s.mux.close() // no new connections
	s.inflight.drain()
	s.events.close()

	var errs []error
	if err := s.inflight.wait(ctx); err != nil {
		errs = append(errs, fmt.Errorf("calls still running at shutdown: %w", err))
	}
	s.flushReads(ctx)
	if serving {
		<-s.ready
		stopped := make(chan struct{})
		go func() {
			s.grpc.GracefulStop()
			close(stopped)
		}()
		select {
		case <-stopped:
		case <-ctx.Done():
			s.grpc.Stop()
			<-stopped
		}
		if err := s.http.Shutdown(ctx); err != nil {
			s.http.Close()
		}
	} else {
		s.grpc.Stop()
	}
	s.unsub()
	if s.ownStore {
		if err := s.store.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close store: %w", err))
		}
	}
	// Metrics last: the drain is worth watching.
	if s.metricsLn != nil {
		s.metricsHTTP.Close()
		s.metricsLn.Close() // if Serve never ran
	}
	s.log.Info("hub stopped")
	return errors.Join(errs...)
}

// pruneSendKeys forgets the idempotency keys older than SendKeyRetention
// at now. A failure only keeps them longer, so it is logged, not fatal.
func (s *Server) pruneSendKeys(now time.Time) {
	n, err := s.store.PruneSendKeys(context.Background(), now.Add(-SendKeyRetention).UnixNano())
	if err != nil {
		s.log.Warn("forget old idempotency keys", "err", err)
		return
	}
	if n > 0 {
		s.log.Debug("forgot old idempotency keys", "count", n)
	}
}

// pruneLoop prunes every pruneEvery until shutdown, which closes the
// store only after calls (and so this) are done.
func (s *Server) pruneLoop() {
	t := time.NewTicker(pruneEvery)
	defer t.Stop()
	for {
		select {
		case now := <-t.C:
			if !s.inflight.enter() {
				return
			}
			s.pruneSendKeys(now)
			s.inflight.leave()
		case <-s.events.done:
			return
		}
	}
}

// isLoopback reports whether a listen address can only be reached from this
// machine. An empty host means every interface.
func isLoopback(addr string) (bool, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false, fmt.Errorf("listen address %q: %w", addr, err)
	}
	if host == "localhost" {
		return true, nil
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback(), nil
}

// inflight counts calls being served so Shutdown can wait for them, and
// refuses new ones once draining. (A sync.WaitGroup cannot be used: calls
// keep arriving on open connections while Shutdown waits.)
type inflight struct {
	mu       sync.Mutex // guards the fields below
	n        int
	draining bool
	idle     chan struct{} // closed when draining and n reaches 0
}

func newInflight() *inflight { return &inflight{idle: make(chan struct{})} }

func (f *inflight) enter() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.draining {
		return false
	}
	f.n++
	return true
}

func (f *inflight) leave() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n--
	if f.draining && f.n == 0 {
		close(f.idle)
	}
}

func (f *inflight) drain() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.draining {
		return
	}
	f.draining = true
	if f.n == 0 {
		close(f.idle)
	}
}

func (f *inflight) wait(ctx context.Context) error {
	select {
	case <-f.idle:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
