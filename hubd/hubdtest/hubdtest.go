// Package hubdtest runs a real hubd server on loopback for tests: a temporary
// data directory, one API key, and helpers to restart the server or corrupt
// a stored message.
package hubdtest

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	_ "modernc.org/sqlite" // the hub's store driver, for TamperMessage

	"github.com/hubfs/hubfs/hubd"
)

// Hub is a running test hub.
type Hub struct {
	Addr, Key, Secret, DataDir string
	Server                     *hubd.Server

	cfg     hubd.Config
	mu      sync.Mutex // guards the fields below
	serveCh chan error // Serve's result; nil when stopped
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
	srv, err := hubd.New(h.cfg)
	if err != nil {
		t.Fatalf("hubdtest: start hub: %v", err)
	}
	ch := make(chan error, 1)
	go func() { ch <- srv.Serve() }()
	h.mu.Lock()
	h.Server, h.Addr, h.serveCh = srv, srv.Addr(), ch
	// Later starts reuse the address, so clients can reconnect.
	h.cfg.Listen = srv.Addr()
	h.mu.Unlock()
}

// Stop shuts the hub down gracefully; it is idempotent.
func (h *Hub) Stop(t testing.TB) {
	t.Helper()
	h.mu.Lock()
	srv, ch := h.Server, h.serveCh
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
// hub: the store is SQLite in WAL mode.
func (h *Hub) TamperMessage(t testing.TB, box, id string) {
	t.Helper()
	var boxNum int
	switch box {
	case "inbox":
		boxNum = int(hubd.Inbox)
	case "sentbox":
		boxNum = int(hubd.Sentbox)
	default:
		t.Fatalf("hubdtest: TamperMessage: box %q is neither inbox nor sentbox", box)
	}
	db, err := sql.Open("sqlite", "file:"+filepath.Join(h.DataDir, "hub.db")+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatalf("hubdtest: TamperMessage: %v", err)
	}
	defer db.Close()
	if err := tamper(db, boxNum, id); err != nil {
		t.Fatalf("hubdtest: TamperMessage %s/%s: %v", box, id, err)
	}
}

func tamper(db *sql.DB, box int, id string) error {
	rows, err := db.Query(`SELECT rowid, body FROM messages WHERE box = ? AND id = ?`, box, id)
	if err != nil {
		return err
	}
	type row struct {
		rowid int64
		body  []byte
	}
	var found []row
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.rowid, &r.body); err != nil {
			rows.Close()
			return err
		}
		found = append(found, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	if len(found) == 0 {
		return fmt.Errorf("no such message")
	}
	for _, r := range found {
		if len(r.body) == 0 {
			return fmt.Errorf("message has an empty body")
		}
		// The middle byte is inside the ciphertext proper, whatever the
		// layout: the signature fails and so would decryption.
		r.body[len(r.body)/2] ^= 0x01
		if _, err := db.Exec(`UPDATE messages SET body = ? WHERE rowid = ?`, r.body, r.rowid); err != nil {
			return err
		}
	}
	return nil
}

// Endpoint is where the hub listens and its API key and secret: what a
// client's test helper (hub/hubtest) needs, without importing this package.
func (h *Hub) Endpoint() (addr, key, secret string) { return h.Addr, h.Key, h.Secret }
