// Package hubd is the self-hosted hub: a server that speaks the Textile Hub
// Users wire protocol (api.usersd.pb.APIService and the part of
// threads.pb.API that Users clients call) over native gRPC and over the
// grpc-web websockets the JavaScript client uses, both on one address. State
// lives in a Store (SQLite in the data directory by default).
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
	"syscall"
	"time"

	"google.golang.org/grpc"

	hubpb "github.com/hubfs/hubfs/wire/pb"
	"github.com/hubfs/hubfs/identity"
)

// Defaults for Config's zero values.
const (
	DefaultListen         = "127.0.0.1:3006"
	DefaultMaxMessageSize = 1 << 20
	// MaxMaxMessageSize is the largest MaxMessageSize: grpc's receive
	// limit (8x it, see maxRecv) must stay within the uint32 a gRPC frame
	// length holds, and SQLite refuses blobs of a gigabyte.
	MaxMaxMessageSize = 128 << 20
	// DefaultKeyRecheck is how often an open Listen stream checks that its
	// API key is still valid, so that revoking a key ends its streams too.
	DefaultKeyRecheck = 30 * time.Second
	// DefaultChallengeTimeout is how long GetToken waits for the signed
	// challenge, as go-threads does.
	DefaultChallengeTimeout = time.Minute
)

// Config configures a Server. Only DataDir is required.
type Config struct {
	Listen         string // "127.0.0.1:3006" default; "127.0.0.1:0" in tests
	DataDir        string
	MaxMessageSize int // ciphertext bytes per copy; 0 = 1 MiB
	// TLSCertFile and TLSKeyFile, both or neither, serve TLS on Listen.
	TLSCertFile, TLSKeyFile string
	AllowInsecure           bool         // plaintext on a non-loopback address
	Logger                  *slog.Logger // nil = discard

	// ChallengeTimeout bounds the GetToken exchange; 0 = one minute.
	ChallengeTimeout time.Duration
	// KeyRecheck is how often an open Listen stream rechecks its API key;
	// 0 = DefaultKeyRecheck.
	KeyRecheck time.Duration
}

// Server is a running hub. New binds the address; Serve serves until
// Shutdown.
type Server struct {
	cfg      Config
	log      *slog.Logger
	store    Store
	hostKey  *identity.PrivateKey
	hostPub  string // iss of the tokens we issue
	tokens   *tokenIssuer
	events   *broker
	ids      *idSource
	inflight *inflight

	// testHookSend, if set, runs inside SendMessage before the store
	// write, so tests can hold a call in flight.
	testHookSend func()

	// writeMu orders each store write with the event it publishes, so
	// listeners see events in commit order.
	writeMu sync.Mutex

	ln    net.Listener // the one bound address, TLS-wrapped if configured
	mux   *connMux
	grpc  *grpc.Server
	http  *http.Server
	ready chan struct{} // closed when Serve has started the servers

	mu       sync.Mutex // guards the fields below
	serving  bool
	shutdown bool
	done     chan struct{} // closed when Shutdown has finished
	serveErr chan error    // Serve's fatal errors, buffered
}

// New opens (and migrates) the store, loads or creates the host key and
// binds the listener. Nothing is served until Serve.
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
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if (cfg.TLSCertFile == "") != (cfg.TLSKeyFile == "") {
		return nil, errors.New("TLS needs both a certificate and a key file")
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
		loop, err := isLoopback(cfg.Listen)
		if err != nil {
			return nil, err
		}
		if !loop {
			return nil, fmt.Errorf("refusing to serve plaintext on non-loopback address %s: give a TLS certificate and key, or allow insecure serving explicitly", cfg.Listen)
		}
	}

	ctx := context.Background()
	store, err := openDataDir(ctx, cfg.DataDir)
	if err != nil {
		return nil, err
	}
	hostKey, err := loadHostKey(cfg.DataDir)
	if err != nil {
		store.Close()
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		store.Close()
		if errors.Is(err, syscall.EADDRINUSE) {
			return nil, fmt.Errorf("listen on %s: address already in use (is another hub running?)", cfg.Listen)
		}
		return nil, fmt.Errorf("listen on %s: %w", cfg.Listen, err)
	}

	s := &Server{
		cfg:      cfg,
		log:      logger,
		store:    store,
		hostKey:  hostKey,
		hostPub:  hostKey.Public().String(),
		ids:      newIDSource(),
		inflight: newInflight(),
		ln:       ln,
		ready:    make(chan struct{}),
		done:     make(chan struct{}),
		serveErr: make(chan error, 4),
	}
	s.tokens = newTokenIssuer(hostKey)
	s.events = newBroker(s.listenerBytes())
	s.mux = newConnMux(ln, tlsConfig, logger)
	s.grpc = grpc.NewServer(
		grpc.MaxRecvMsgSize(s.maxRecv()),
		grpc.ChainUnaryInterceptor(s.logUnary, s.trackUnary, s.authUnary),
		grpc.ChainStreamInterceptor(s.logStream, s.trackStream, s.authStream),
	)
	hubpb.RegisterAPIServiceServer(s.grpc, &usersService{s: s})
	hubpb.RegisterAPIServer(s.grpc, &threadsService{s: s})
	s.http = &http.Server{
		Handler:           s.webHandler(),
		ReadHeaderTimeout: 30 * time.Second,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelDebug),
	}
	return s, nil
}

// maxRecv is the largest gRPC request accepted. A send carries two copies
// plus small fields; the headroom (4x the limit per copy) lets a request
// well over the limit reach SendMessage, whose error names the limit,
// instead of grpc's generic one.
func (s *Server) maxRecv() int {
	return 8*s.cfg.MaxMessageSize + 64<<10
}

// wsReadLimit bounds one websocket message, which carries one whole gRPC
// request. Over it, the websocket library can only drop the connection (the
// JS client then reports "Response closed without headers"), so it is twice
// maxRecv: requests between the two get grpc's ResourceExhausted instead.
func (s *Server) wsReadLimit() int64 {
	return 2 * int64(s.maxRecv())
}

// pageBytes bounds one list reply. It is 64 largest messages, capped at
// 64 MiB (the Go client's receive limit, so at the default 1 MiB limit both
// agree), and always room for one: a limit of 1 must always work. Over it a
// list fails with ResourceExhausted instead of building a reply of
// gigabytes (10,000 messages of 1 MiB); it cannot return a shorter page,
// since clients take a short page for the end of the box. The Go client
// halves its page on ResourceExhausted.
func (s *Server) pageBytes() int {
	return max(min(64*s.cfg.MaxMessageSize, 64<<20), s.cfg.MaxMessageSize+64<<10)
}

// listenerBytes bounds the events one Listen stream may have waiting, so a
// stalled listener pins at most 16 largest events (about 21 MiB at the 1
// MiB default: an event carries the body base64-encoded, 4/3 of its size)
// rather than maxQueue of them (5 GiB).
func (s *Server) listenerBytes() int {
	return 16 * (s.cfg.MaxMessageSize*4/3 + 1<<10)
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
	s.mux.close() // no new connections
	s.inflight.drain()
	s.events.close()

	var errs []error
	if err := s.inflight.wait(ctx); err != nil {
		errs = append(errs, fmt.Errorf("calls still running at shutdown: %w", err))
	}
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
	if err := s.store.Close(); err != nil {
		errs = append(errs, fmt.Errorf("close store: %w", err))
	}
	s.log.Info("hub stopped")
	return errors.Join(errs...)
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
