// Package hubdtest runs a real hubd server on loopback for tests: a temporary
// data directory, one API key, and helpers to restart the server or corrupt
// a stored message.
package hubdtest

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/hubfs/hubfs/hubd"
	"github.com/hubfs/hubfs/hubd/store/sqlite"
)

// Hub is a running test hub.
type Hub struct {
	Addr, Key, Secret, DataDir string
	Server                     *hubd.Server

	cfg     hubd.Config
	mu      sync.Mutex    // guards the fields below
	serveCh chan error    // Serve's result; nil when stopped
	store   *sqlite.Store // the one open of the data directory's store
}

// Option changes how Start configures the hub.
type Option func(*hubd.Config)

// WithMaxMessageSize sets the per-copy ciphertext limit.
func WithMaxMessageSize(n int) Option {
	return func(c *hubd.Config) { c.MaxMessageSize = n }
}

// WithLogger sends the hub's logs to l (the default discards them).
func WithLogger(l *slog.Logger) Option {
	return func(c *hubd.Config) { c.Logger = l }
}

// WithChallengeTimeout shortens GetToken's one-minute deadline.
func WithChallengeTimeout(d time.Duration) Option {
	return func(c *hubd.Config) { c.ChallengeTimeout = d }
}

// WithKeepalive shortens the server's keepalive: the least time between a
// client's pings, the idle time before the server pings, and how long it
// waits for the answer. A zero keeps the default.
func WithKeepalive(minTime, pingAfter, timeout time.Duration) Option {
	return func(c *hubd.Config) {
		c.KeepaliveMinTime, c.KeepaliveTime, c.KeepaliveTimeout = minTime, pingAfter, timeout
	}
}

// WithDataDir serves an existing data directory instead of a new temporary
// one (the caller owns it).
func WithDataDir(dir string) Option {
	return func(c *hubd.Config) { c.DataDir = dir }
}

// Start runs a hub on 127.0.0.1:0 with a fresh data directory and one API
// key, and stops it when the test ends.
func Start(t testing.TB, opts ...Option) *Hub {
	t.Helper()
	cfg := hubd.Config{Listen: "127.0.0.1:0"}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.DataDir == "" {
		cfg.DataDir = t.TempDir()
	}
	h := &Hub{DataDir: cfg.DataDir, cfg: cfg}
	h.start(t)
	t.Cleanup(func() { h.Stop(t) })
	// Through the server's open store: the store is opened once per
	// process.
	key, err := h.Server.CreateKey(context.Background())
	if err != nil {
		t.Fatalf("hubdtest: create API key: %v", err)
	}
	h.Key, h.Secret = key.Key, key.Secret
	return h
}

func (h *Hub) start(t testing.TB) {
	t.Helper()
	// The hub is given its store (hubd.Config.Store), opened here, so
	// that TamperMessage and HoldWriteLock can reach past the Store
	// contract through the same open.
	if err := os.MkdirAll(h.DataDir, 0o700); err != nil {
		t.Fatalf("hubdtest: %v", err)
	}
	st, err := sqlite.Open(context.Background(), filepath.Join(h.DataDir, "hub.db"))
	if err != nil {
		t.Fatalf("hubdtest: open store: %v", err)
	}
	cfg := h.cfg
	cfg.Store = st
	srv, err := hubd.New(cfg)
	if err != nil {
		st.Close()
		t.Fatalf("hubdtest: start hub: %v", err)
	}
	ch := make(chan error, 1)
	go func() { ch <- srv.Serve() }()
	h.mu.Lock()
	h.Server, h.Addr, h.serveCh, h.store = srv, srv.Addr(), ch, st
	// Later starts reuse the address, so clients can reconnect.
	h.cfg.Listen = srv.Addr()
	h.mu.Unlock()
}

// Stop shuts the hub down gracefully; it is idempotent.
func (h *Hub) Stop(t testing.TB) {
	t.Helper()
	h.mu.Lock()
	srv, ch, st := h.Server, h.serveCh, h.store
	h.serveCh = nil
	h.mu.Unlock()
	if ch == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Errorf("hubdtest: shutdown: %v", err)
	}
	if err := <-ch; err != nil {
		t.Errorf("hubdtest: serve: %v", err)
	}
	if err := st.Close(); err != nil {
		t.Errorf("hubdtest: close store: %v", err)
	}
}

// Restart stops the hub and starts it again on the same data directory and
// address.
func (h *Hub) Restart(t testing.TB) {
	t.Helper()
	h.Stop(t)
	h.start(t)
}

// TamperMessage flips a byte of the body of message id in box ("inbox" or
// "sentbox"), so its signature no longer verifies. It works on a running
// hub, through the hub's own open of its store.
func (h *Hub) TamperMessage(t testing.TB, box, id string) {
	t.Helper()
	var b hubd.Box
	switch box {
	case "inbox":
		b = hubd.Inbox
	case "sentbox":
		b = hubd.Sentbox
	default:
		t.Fatalf("hubdtest: TamperMessage: box %q is neither inbox nor sentbox", box)
	}
	if err := h.sqlite(t).TamperBody(context.Background(), b, id); err != nil {
		t.Fatalf("hubdtest: TamperMessage %s/%s: %v", box, id, err)
	}
}

// HoldWriteLock takes the hub store's write lock, as a writer in another
// process would, so that a write call waits inside the hub until the
// returned function (also run when the test ends) gives it back.
func (h *Hub) HoldWriteLock(t testing.TB) (release func()) {
	t.Helper()
	rel, err := h.sqlite(t).HoldWriteLock(context.Background())
	if err != nil {
		t.Fatalf("hubdtest: HoldWriteLock: %v", err)
	}
	var once sync.Once
	release = func() { once.Do(rel) }
	t.Cleanup(release)
	return release
}

func (h *Hub) sqlite(t testing.TB) *sqlite.Store {
	t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.serveCh == nil {
		t.Fatal("hubdtest: the hub is stopped")
	}
	return h.store
}

// Endpoint is where the hub listens and its API key and secret: what a
// client's test helper (hub/hubtest) needs, without importing this package.
func (h *Hub) Endpoint() (addr, key, secret string) { return h.Addr, h.Key, h.Secret }
