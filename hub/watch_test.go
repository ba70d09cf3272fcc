package hub_test

import (
	"context"
	"errors"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hubfs/hubfs/hub"
	"github.com/hubfs/hubfs/hubd/hubdtest"
	"github.com/hubfs/hubfs/identity"

	_ "modernc.org/sqlite" // to hold the hub store's write lock
)

// events collects a watch's events for a test to wait on.
type events chan hub.MailboxEvent

func (ev events) fn(e hub.MailboxEvent) { ev <- e }

// next waits for the next event, which must be of type want.
func (ev events) next(t *testing.T, want hub.MailboxEventType) hub.MailboxEvent {
	t.Helper()
	select {
	case e := <-ev:
		if e.Type != want {
			t.Fatalf("got a %v event (%+v), want %v", e.Type, e, want)
		}
		return e
	case <-time.After(30 * time.Second):
		t.Fatalf("no %v event", want)
	}
	panic("unreachable")
}

func (ev events) none(t *testing.T) {
	t.Helper()
	select {
	case e := <-ev:
		t.Fatalf("unexpected %v event: %+v", e.Type, e)
	default:
	}
}

// watchInbox watches u's inbox until the test ends, once the hub has
// confirmed the stream.
func watchInbox(t *testing.T, u user) (*hub.Watch, events) {
	t.Helper()
	ev := make(events, 100)
	w, err := u.c.WatchInbox(testCtx(t), u.mailbox, ev.fn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Close)
	ready(t, w)
	return w, ev
}

// ready waits until the hub has confirmed w's stream.
func ready(t *testing.T, w *hub.Watch) {
	t.Helper()
	select {
	case <-w.Ready():
	case <-w.Done():
		t.Fatalf("the watch ended before it was ready: %v", w.Err())
	case <-time.After(30 * time.Second):
		t.Fatal("the watch never became ready")
	}
}

func TestWatch(t *testing.T) {
	h := hubdtest.Start(t)
	ctx := testCtx(t)
	alice, bob := newUser(t, h), newUser(t, h)
	inbox, sentbox := make(events, 100), make(events, 100)
	wi, err := bob.c.WatchInbox(ctx, bob.mailbox, inbox.fn)
	if err != nil {
		t.Fatal(err)
	}
	defer wi.Close()
	ws, err := alice.c.WatchSentbox(ctx, alice.mailbox, sentbox.fn)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	ready(t, wi)
	ready(t, ws)

	m := alice.send(t, bob, "watched")
	e := inbox.next(t, hub.MailboxEventCreate)
	if e.MessageID != m.ID || e.Message == nil || e.Message.ID != m.ID || e.Err != nil {
		t.Fatalf("inbox create event: %+v", e)
	}
	if p, err := e.Message.Open(bob.key); err != nil || string(p) != "watched" {
		t.Fatalf("the event's message opens to %q, %v", p, err)
	}
	e = sentbox.next(t, hub.MailboxEventCreate)
	if e.MessageID != m.ID || e.Message == nil || !e.Message.CreatedAt.Equal(m.CreatedAt) {
		t.Fatalf("sentbox create event: %+v", e)
	}
	if p, err := e.Message.Open(alice.key); err != nil || string(p) != "watched" {
		t.Fatalf("the sentbox event's message opens to %q, %v", p, err)
	}

	at, err := bob.c.ReadInboxMessage(ctx, m.ID)
	if err != nil {
		t.Fatal(err)
	}
	e = inbox.next(t, hub.MailboxEventSave)
	if e.MessageID != m.ID || e.Message == nil || !e.Message.ReadAt.Equal(at) {
		t.Fatalf("save event: %+v (read at %v)", e, at)
	}
	if err := bob.c.DeleteInboxMessage(ctx, m.ID); err != nil {
		t.Fatal(err)
	}
	e = inbox.next(t, hub.MailboxEventDelete)
	if e.MessageID != m.ID || e.Message != nil {
		t.Fatalf("delete event: %+v", e)
	}
	sentbox.none(t) // bob's read and delete touch only his copy

	wi.Close()
	<-wi.Done()
	if wi.Err() != nil {
		t.Errorf("Err after Close: %v", wi.Err())
	}
	alice.send(t, bob, "after close")
	sentbox.next(t, hub.MailboxEventCreate)
	inbox.none(t)
}

func TestWatchErrors(t *testing.T) {
	h := hubdtest.Start(t)
	ctx := testCtx(t)
	alice, bob := newUser(t, h), newUser(t, h)

	if _, err := bob.c.WatchInbox(ctx, bob.mailbox, nil); !errors.Is(err, hub.ErrInvalid) {
		t.Errorf("nil callback: got %v", err)
	}
	if _, err := bob.c.WatchInbox(ctx, identity.ThreadID{}, func(hub.MailboxEvent) {}); !errors.Is(err, hub.ErrInvalid) {
		t.Errorf("zero mailbox id: got %v", err)
	}

	// Someone else's mailbox: refused for good, reported once, not retried.
	ev := make(events, 10)
	w, err := bob.c.WatchInbox(ctx, alice.mailbox, ev.fn)
	if err != nil {
		t.Fatal(err)
	}
	e := ev.next(t, hub.MailboxEventStopped)
	if !errors.Is(e.Err, hub.ErrPermission) {
		t.Fatalf("stopped with %v, want ErrPermission", e.Err)
	}
	<-w.Done()
	if !errors.Is(w.Err(), hub.ErrPermission) {
		t.Errorf("Err: %v", w.Err())
	}
	ev.none(t)
	w.Close() // after the end, Close is harmless

	// Closing the client ends the watch instead of leaving it retrying.
	other := dial(t, h)
	if err := other.SetToken(bob.c.Token()); err != nil {
		t.Fatal(err)
	}
	ev = make(events, 10)
	w, err = other.WatchInbox(ctx, bob.mailbox, ev.fn)
	if err != nil {
		t.Fatal(err)
	}
	ready(t, w)
	other.Close()
	if e := ev.next(t, hub.MailboxEventStopped); !errors.Is(e.Err, context.Canceled) {
		t.Errorf("stopped by Close of the client with %v, want context.Canceled", e.Err)
	}
	<-w.Done()

	// The watch ends with its context, quietly.
	cctx, cancel := context.WithCancel(ctx)
	ev = make(events, 10)
	w, err = bob.c.WatchInbox(cctx, bob.mailbox, ev.fn)
	if err != nil {
		t.Fatal(err)
	}
	ready(t, w)
	cancel()
	<-w.Done()
	if w.Err() != nil {
		t.Errorf("Err after the context ended: %v", w.Err())
	}
	ev.none(t)
}

// TestWatchSurvivesRestart: the hub goes away and comes back; the watch
// says so, reconnects by itself, and delivers what happens afterwards.
func TestWatchSurvivesRestart(t *testing.T) {
	h := hubdtest.Start(t)
	alice, bob := newUser(t, h), newUser(t, h)
	_, ev := watchInbox(t, bob)

	for round := range 2 {
		h.Restart(t)
		e := ev.next(t, hub.MailboxEventDisconnected)
		if !errors.Is(e.Err, hub.ErrUnavailable) {
			t.Errorf("round %d: disconnected with %v, want ErrUnavailable", round, e.Err)
		}
		ev.next(t, hub.MailboxEventReconnected)
		m := alice.send(t, bob, "after the restart")
		if e := ev.next(t, hub.MailboxEventCreate); e.MessageID != m.ID {
			t.Fatalf("round %d: create event for %s, want %s", round, e.MessageID, m.ID)
		}
	}
}

// TestWatchOpenDeadline: opening a watch is bounded by the call timeout
// even when the auth callback, asked again near expiry, never answers.
func TestWatchOpenDeadline(t *testing.T) {
	h := hubdtest.Start(t)
	clock := newClock()
	hang := make(chan struct{}) // closed: the callback hangs
	done := make(chan struct{})
	defer close(done)
	cb := func(cbCtx context.Context) (hub.UserAuth, error) {
		select {
		case <-hang:
			select {
			case <-cbCtx.Done():
				return hub.UserAuth{}, cbCtx.Err()
			case <-done:
				return hub.UserAuth{}, errors.New("test over")
			}
		default:
		}
		return signedAuth(h, clock.Now().Add(5*time.Minute))
	}
	c, mailbox := userAuthUser(t, h, cb, hub.WithClock(clock.Now), hub.WithTimeout(500*time.Millisecond))
	clock.step(4*time.Minute + 30*time.Second)
	close(hang)

	res := make(chan error, 1)
	go func() {
		w, err := c.WatchInbox(context.Background(), mailbox, func(hub.MailboxEvent) {})
		if w != nil {
			w.Close()
		}
		res <- err
	}()
	select {
	case err := <-res:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("got %v, want context.DeadlineExceeded", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("WatchInbox waits on a hanging auth callback past its timeout")
	}
}

// TestWatchNoLeak: after a reconnect, closing the watch and the client
// leaves no goroutine of theirs behind.
func TestWatchNoLeak(t *testing.T) {
	h := hubdtest.Start(t)
	u := newUser(t, h)
	w, ev := watchInbox(t, u)
	h.Restart(t)
	ev.next(t, hub.MailboxEventDisconnected)
	ev.next(t, hub.MailboxEventReconnected)
	w.Close()
	u.c.Close()

	// The hub serves in this process too: look only for client frames.
	var left []string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		left = left[:0]
		buf := make([]byte, 1<<20)
		for _, g := range strings.Split(string(buf[:runtime.Stack(buf, true)]), "\n\n") {
			if strings.Contains(g, "hubfs/hub.") || strings.Contains(g, "(*http2Client)") || strings.Contains(g, "grpc.(*addrConn)") {
				left = append(left, g)
			}
		}
		if len(left) == 0 {
			return
		}
	}
	t.Fatalf("%d goroutines left after Close:\n%s", len(left), strings.Join(left, "\n\n"))
}

// lineCounter counts the log lines that contain a string.
type lineCounter struct {
	mu    sync.Mutex
	match string
	n     int
}

func (lc *lineCounter) Write(p []byte) (int, error) {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	lc.n += strings.Count(string(p), lc.match)
	return len(p), nil
}

func (lc *lineCounter) count() int {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	return lc.n
}

// TestWatchRefusedStreams: a hub that drains for a restart accepts new
// streams and refuses them on the first read. A watch then backs off more
// and more, reports the outage once, and once the hub is back it says so
// (Reconnected) and a watch whose first stream was refused becomes Ready.
func TestWatchRefusedStreams(t *testing.T) {
	listens := &lineCounter{match: "/Listen"}
	h := hubdtest.Start(t, hubdtest.WithLogger(slog.New(slog.NewTextHandler(listens, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	ctx := testCtx(t)
	alice, bob := newUser(t, h), newUser(t, h)
	_, ev := watchInbox(t, bob)

	// A send waiting on the store's write lock keeps the hub draining.
	release := h.HoldWriteLock(t)
	sent := make(chan error, 1)
	go func() {
		_, err := alice.c.SendMessage(ctx, alice.key, bob.pub(), []byte("held"))
		sent <- err
	}()
	time.Sleep(200 * time.Millisecond) // let it reach the lock
	restarted := make(chan struct{})
	go func() { defer close(restarted); h.Restart(t) }()

	ev.next(t, hub.MailboxEventDisconnected)
	late := make(events, 100)
	w2, err := alice.c.WatchInbox(ctx, alice.mailbox, late.fn)
	if err != nil {
		t.Fatal(err)
	}
	defer w2.Close()
	late.next(t, hub.MailboxEventDisconnected)
	start := listens.count()
	time.Sleep(2 * time.Second)
	// Backing off from 200 ms, two watches try about 3 times each in 2 s;
	// without the backoff they would try about 10 times each.
	n := listens.count() - start
	t.Logf("%d refused streams in 2 s", n)
	if n > 12 {
		t.Errorf("%d refused streams in 2 s: the backoff does not grow", n)
	}
	ev.none(t)
	late.none(t)

	release()
	if err := <-sent; err != nil {
		t.Fatalf("the held send: %v", err)
	}
	<-restarted
	ev.next(t, hub.MailboxEventReconnected)
	late.next(t, hub.MailboxEventReconnected)
	select {
	case <-w2.Ready():
	case <-time.After(5 * time.Second):
		t.Fatal("a watch whose first stream was refused never became ready")
	}
	m := alice.send(t, bob, "after the drain")
	if e := ev.next(t, hub.MailboxEventCreate); e.MessageID != m.ID {
		t.Fatalf("create event for %s, want %s", e.MessageID, m.ID)
	}
}
