package hub_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/hubfs/hubfs/hub"
	"github.com/hubfs/hubfs/hubd/hubdtest"
	"github.com/hubfs/hubfs/identity"
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
	ctx := testCtx(t)
	alice, bob := newUser(t, h), newUser(t, h)
	ev := make(events, 100)
	w, err := bob.c.WatchInbox(ctx, bob.mailbox, ev.fn)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	ready(t, w)

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
