package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hubfs/hubfs/hubd/store"
	"github.com/hubfs/hubfs/hubd/store/postgres"
	"github.com/hubfs/hubfs/hubd/store/postgres/pgtest"
)

var ctx = context.Background()

// events collects what a subscription delivers.
type events struct {
	mu  sync.Mutex
	got []store.Event
}

func (e *events) add(ev store.Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.got = append(e.got, ev)
}

// waitFor returns the events once pred holds for them, or fails after a
// generous deadline.
func (e *events) waitFor(t *testing.T, what string, pred func([]store.Event) bool) []store.Event {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		e.mu.Lock()
		got := append([]store.Event(nil), e.got...)
		e.mu.Unlock()
		if pred(got) {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: %d events: %+v", what, len(got), got)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func send(from, to string, n int) store.Send {
	return store.Send{From: from, To: to,
		ToBody: []byte(fmt.Sprintf("to %d", n)), ToSignature: []byte("ts"),
		FromBody: []byte(fmt.Sprintf("from %d", n)), FromSignature: []byte("fs")}
}

func creates(evs []store.Event, owner string, box store.Box) []store.Event {
	var out []store.Event
	for _, e := range evs {
		if e.Action == store.Create && e.Message.Owner == owner && e.Message.Box == box {
			out = append(out, e)
		}
	}
	return out
}

// TestTwoStoresOneDatabase: two opens of one database, as two hub
// processes, writing at once to one mailbox: each one's subscribers get
// every commit of both, whole (bodies read back for the other's), and each
// mailbox's ids increase in the order its creates are delivered.
func TestTwoStoresOneDatabase(t *testing.T) {
	u := pgtest.NewDatabase(t)
	// Both open a new database at once: the migration runs once.
	stores := make([]*postgres.Store, 2)
	var wg sync.WaitGroup
	for i := range stores {
		wg.Add(1)
		go func() { defer wg.Done(); stores[i] = open(t, u) }()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	seen := make([]*events, len(stores))
	for i, st := range stores {
		seen[i] = &events{}
		defer st.Subscribe(seen[i].add)()
	}

	const senders, each = 8, 20
	to := "recipient"
	errs := make(chan error, senders)
	for w := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st := stores[w%2]
			for i := range each {
				if _, err := st.AddMessage(ctx, send(fmt.Sprintf("sender-%d", w), to, i)); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	listed, err := stores[0].ListMessages(ctx, store.Query{Box: store.Inbox, Owner: to, Limit: 1000, Ascending: true})
	if err != nil || len(listed) != senders*each {
		t.Fatalf("inbox lists %d messages, %v; want %d", len(listed), err, senders*each)
	}
	for i, ev := range seen {
		got := creates(ev.waitFor(t, fmt.Sprintf("store %d's inbox creates", i), func(evs []store.Event) bool {
			return len(creates(evs, to, store.Inbox)) >= senders*each
		}), to, store.Inbox)
		if len(got) != senders*each {
			t.Fatalf("store %d: %d inbox creates, want %d", i, len(got), senders*each)
		}
		for j, e := range got {
			if e.Message.ID != listed[j].ID || string(e.Message.Body) != string(listed[j].Body) || e.Message.CreatedAt != listed[j].CreatedAt {
				t.Fatalf("store %d: create %d is %s %q, want the %d-th listed, %s %q: not in id order, or not whole",
					i, j, e.Message.ID, e.Message.Body, j, listed[j].ID, listed[j].Body)
			}
		}
	}
	// The sentboxes too, one sender's at least.
	out := creates(seen[1].waitFor(t, "a sentbox's creates", func(evs []store.Event) bool {
		return len(creates(evs, "sender-0", store.Sentbox)) >= each
	}), "sender-0", store.Sentbox)
	if !sort.SliceIsSorted(out, func(i, j int) bool { return out[i].Message.ID < out[j].Message.ID }) {
		t.Fatal("a sentbox's creates are not in id order")
	}

	// A read and a delete on one store reach the other's subscribers, the
	// read with the copy as read.
	id := listed[0].ID
	at := time.Now().UnixNano()
	if _, err := stores[0].MarkRead(ctx, to, id, at); err != nil {
		t.Fatal(err)
	}
	if ok, err := stores[0].DeleteMessage(ctx, store.Inbox, to, listed[1].ID); err != nil || !ok {
		t.Fatalf("delete = %v, %v", ok, err)
	}
	evs := seen[1].waitFor(t, "the save and the delete", func(evs []store.Event) bool {
		return len(evs) > 0 && evs[len(evs)-1].Action == store.Delete
	})
	save := evs[len(evs)-2]
	if save.Action != store.Save || save.Message.ID != id || save.Message.ReadAt != at || len(save.Message.Body) == 0 {
		t.Fatalf("the other store's save event: %+v", save)
	}

	// Both serve one host key, the first one stored.
	k1, err := stores[0].HostKey(ctx, "key-one")
	if err != nil {
		t.Fatal(err)
	}
	if k2, err := stores[1].HostKey(ctx, "key-two"); err != nil || k2 != k1 || k1 != "key-one" {
		t.Fatalf("host keys %q, %q (%v); want the first stored for both", k1, k2, err)
	}
}

// TestListenerLost: when the listener's connection is cut, the store
// reconnects and tells its subscribers with a Lost event, after which
// events flow again.
func TestListenerLost(t *testing.T) {
	u := pgtest.NewDatabase(t)
	st := open(t, u)
	var seen events
	defer st.Subscribe(seen.add)()
	admin, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	var n int
	if err := admin.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = current_database() AND application_name = 'hubfs-listener'`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("terminated %d listeners, %v; want 1", n, err)
	}
	seen.waitFor(t, "a Lost event", func(evs []store.Event) bool { return len(evs) == 1 && evs[0].Action == store.Lost })
	sent, err := st.AddMessage(ctx, send("a", "b", 1))
	if err != nil {
		t.Fatal(err)
	}
	seen.waitFor(t, "the next send's events", func(evs []store.Event) bool {
		return len(evs) == 3 && evs[1].Message.ID == sent.ID && evs[2].Message.ID == sent.ID
	})
}

// TestDatabaseDown: while the database cannot be reached, calls fail with
// ErrUnavailable instead of hanging, and once it is back they succeed, the
// subscribers told to resync.
func TestDatabaseDown(t *testing.T) {
	u := pgtest.NewDatabase(t)
	p, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	px := newProxy(t, p.Host)
	p.Host = px.addr
	st := open(t, p.String())
	var seen events
	defer st.Subscribe(seen.add)()
	if _, err := st.AddMessage(ctx, send("a", "b", 1)); err != nil {
		t.Fatal(err)
	}
	seen.waitFor(t, "the first send's events", func(evs []store.Event) bool { return len(evs) == 2 })

	px.down()
	cctx, cancel := context.WithTimeout(ctx, time.Minute) // a hang fails as DeadlineExceeded
	defer cancel()
	if _, err := st.AddMessage(cctx, send("a", "b", 2)); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("a send with the database down: %v, want ErrUnavailable", err)
	}
	if _, err := st.ListMessages(cctx, store.Query{Box: store.Inbox, Owner: "b", Limit: 10}); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("a list with the database down: %v, want ErrUnavailable", err)
	}
	if _, err := st.GetKey(cctx, "k"); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("a key lookup with the database down: %v, want ErrUnavailable", err)
	}
	// The hub's health check asks Ping (hubd.StorePinger).
	if err := st.Ping(cctx); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Ping with the database down: %v, want ErrUnavailable", err)
	}

	px.up(t)
	seen.waitFor(t, "a Lost event once listening again", func(evs []store.Event) bool {
		return len(evs) == 3 && evs[2].Action == store.Lost
	})
	if err := st.Ping(ctx); err != nil {
		t.Fatalf("Ping once the database is back: %v", err)
	}
	if ps := st.PoolStats(); ps["max_open_connections"] < 1 {
		t.Errorf("PoolStats = %v", ps)
	}
	sent, err := st.AddMessage(ctx, send("a", "b", 3))
	if err != nil {
		t.Fatalf("a send once the database is back: %v", err)
	}
	seen.waitFor(t, "events once the database is back", func(evs []store.Event) bool {
		return len(evs) == 5 && evs[3].Message.ID == sent.ID
	})
}

// proxy forwards TCP connections to a server until down, which closes its
// listener and every connection, as a database going away would.
type proxy struct {
	addr, target string
	mu           sync.Mutex // guards the fields below
	ln           net.Listener
	conns        []net.Conn
}

func newProxy(t *testing.T, target string) *proxy {
	p := &proxy{target: target}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.addr = ln.Addr().String()
	p.serve(ln)
	t.Cleanup(p.down)
	return p
}

func (p *proxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, s)
			p.mu.Unlock()
			go func() { io.Copy(s, c); s.Close() }()
			go func() { io.Copy(c, s); c.Close() }()
		}
	}()
}

func (p *proxy) down() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

func (p *proxy) up(t *testing.T) {
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		t.Fatal(err)
	}
	p.serve(ln)
}
