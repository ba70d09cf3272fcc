package queue

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hubfs/hubfs/hub"
	"github.com/hubfs/hubfs/identity"
	"github.com/hubfs/hubfs/mailbox"
)

// The queue's own logic (order, persistence, what is retried, locking)
// against a scripted sender; the real path through the hub client and a
// real hub is tested in mailfs/ and integration/.

// scriptedSender answers sends with the errors it is given, then succeeds,
// and records every attempt.
type scriptedSender struct {
	mu       sync.Mutex
	errs     []error // answers for the next attempts; nil entries succeed
	down     bool    // every attempt fails Unavailable
	attempts []attempt
	n        int
	// gate, when set, holds every attempt until it is closed; entered is
	// told each time an attempt waits there.
	gate    chan struct{}
	entered chan struct{}
}

type attempt struct {
	key    string
	to     string
	plain  []byte
	result error
}

func (s *scriptedSender) SendSealed(ctx context.Context, sealed mailbox.Sealed, key string, plain []byte) (string, error) {
	s.mu.Lock()
	gate, entered := s.gate, s.entered
	s.mu.Unlock()
	if gate != nil {
		entered <- struct{}{}
		<-gate
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var err error
	switch {
	case s.down:
		err = fmt.Errorf("send message: %w", hub.ErrUnavailable)
	case len(s.errs) > 0:
		err, s.errs = s.errs[0], s.errs[1:]
	}
	s.attempts = append(s.attempts, attempt{key: key, to: sealed.To, plain: plain, result: err})
	if err != nil {
		return "", err
	}
	s.n++
	return fmt.Sprintf("id%d", s.n), nil
}

func (s *scriptedSender) setDown(down bool) {
	s.mu.Lock()
	s.down = down
	s.mu.Unlock()
}

func (s *scriptedSender) delivered() []attempt {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []attempt
	for _, a := range s.attempts {
		if a.result == nil {
			out = append(out, a)
		}
	}
	return out
}

func newKey(t *testing.T) *identity.PrivateKey {
	t.Helper()
	k, err := identity.NewPrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

type fixture struct {
	dir    *Dir
	sender *scriptedSender
	key    *identity.PrivateKey
	events chan Event
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	d, err := OpenDir(filepath.Join(t.TempDir(), "q"))
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{dir: d, sender: &scriptedSender{}, key: newKey(t), events: make(chan Event, 100)}
}

func (f *fixture) outbox(t *testing.T) *Outbox {
	t.Helper()
	o, err := New(Config{Dir: f.dir, Sender: f.sender, Key: f.key, Hub: "hub:1", MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond,
		OnEvent: func(e Event) { f.events <- e }})
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func run(t *testing.T, o *Outbox) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { o.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestSendWhileUpQueuesNothing(t *testing.T) {
	f := newFixture(t)
	o := f.outbox(t)
	to := newKey(t).Public()
	if err := o.Send(context.Background(), to, []byte("hi")); err != nil {
		t.Fatal(err)
	}
	if o.Len() != 0 {
		t.Errorf("queue length %d after a send the hub took", o.Len())
	}
	d := f.sender.delivered()
	if len(d) != 1 || string(d[0].plain) != "hi" || d[0].key == "" || d[0].to != to.String() {
		t.Errorf("delivered %+v", d)
	}
}

// TestQueuedWhileDown: a send the hub cannot take is on disk when Send
// returns, as ciphertext only, and a new Outbox over the same directory
// (the mount started again) delivers it under the first attempt's key.
func TestQueuedWhileDown(t *testing.T) {
	f := newFixture(t)
	f.sender.setDown(true)
	o := f.outbox(t)
	to := newKey(t).Public()
	secret := []byte("the plaintext must never reach the disk")
	if err := o.Send(context.Background(), to, secret); err != nil {
		t.Fatalf("send while the hub is down: %v, want it queued", err)
	}
	items, bad, err := f.dir.Load()
	if err != nil || len(bad) != 0 || len(items) != 1 {
		t.Fatalf("on disk: %v %v %v", items, bad, err)
	}
	it := items[0]
	if it.To != to.String() || it.Size != len(secret) || it.Attempts != 1 || it.LastError == "" || it.Failed {
		t.Errorf("queued item %+v", it)
	}
	files, _ := os.ReadDir(f.dir.Path())
	for _, e := range files {
		b, _ := os.ReadFile(filepath.Join(f.dir.Path(), e.Name()))
		if bytes.Contains(b, secret) {
			t.Errorf("%s holds the plaintext", e.Name())
		}
		if fi, _ := e.Info(); fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", e.Name(), fi.Mode().Perm())
		}
	}
	if fi, _ := os.Stat(f.dir.Path()); fi.Mode().Perm() != 0o700 {
		t.Errorf("queue dir mode %v, want 0700", fi.Mode().Perm())
	}
	firstKey := f.sender.attempts[0].key

	// The process "dies"; a new one starts over the same directory.
	f.sender.setDown(false)
	o2 := f.outbox(t)
	if o2.Len() != 1 {
		t.Fatalf("reopened queue has %d items, want 1", o2.Len())
	}
	run(t, o2)
	waitUntil(t, "delivery", func() bool { return o2.Len() == 0 })
	d := f.sender.delivered()
	if len(d) != 1 || d[0].key != firstKey {
		t.Errorf("delivered %+v, want one delivery under the first attempt's key %s", d, firstKey)
	}
	if d[0].plain != nil {
		t.Errorf("a queued delivery carried plaintext")
	}
	if items, _, _ := f.dir.Load(); len(items) != 0 {
		t.Errorf("delivered item still on disk: %+v", items)
	}
}

// TestOrderKept: while messages wait, a new one waits behind them, and the
// queue is delivered oldest first.
func TestOrderKept(t *testing.T) {
	f := newFixture(t)
	f.sender.setDown(true)
	o := f.outbox(t)
	to := newKey(t).Public()
	for i := range 5 {
		if err := o.Send(context.Background(), to, fmt.Appendf(nil, "m%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	f.sender.setDown(false)
	// The hub is back, but a new send must not overtake the five.
	if err := o.Send(context.Background(), to, []byte("m5")); err != nil {
		t.Fatal(err)
	}
	if n := len(f.sender.delivered()); n != 0 {
		t.Fatalf("a send overtook the queue: %d delivered before the loop ran", n)
	}
	run(t, o)
	waitUntil(t, "delivery", func() bool { return o.Len() == 0 })
	var keys []string
	for _, a := range f.sender.delivered() {
		keys = append(keys, a.key)
	}
	if len(keys) != 6 {
		t.Fatalf("%d delivered, want 6", len(keys))
	}
	// Each item's key was sent once, and in queue order.
	var queuedKeys []string
	for _, a := range f.sender.attempts {
		if !slices.Contains(queuedKeys, a.key) {
			queuedKeys = append(queuedKeys, a.key)
		}
	}
	if !slices.Equal(keys, queuedKeys) {
		t.Errorf("delivery order %v differs from queue order %v", keys, queuedKeys)
	}
}

// TestPermanentRefusal: a refusal at the first attempt is returned and the
// message is kept, marked failed; in the background it is marked failed and
// the items behind it still go.
func TestPermanentRefusal(t *testing.T) {
	f := newFixture(t)
	o := f.outbox(t)
	to := newKey(t).Public()
	f.sender.errs = []error{fmt.Errorf("send message: %w", hub.ErrNoMailbox)}
	err := o.Send(context.Background(), to, []byte("nobody home"))
	if !errors.Is(err, hub.ErrNoMailbox) {
		t.Fatalf("send refused for good: %v, want ErrNoMailbox", err)
	}
	items := o.Items()
	if len(items) != 1 || !items[0].Failed {
		t.Fatalf("refused message not kept as failed: %+v", items)
	}
	if ev := <-f.events; ev.Kind != Failed {
		t.Errorf("event %v, want failed", ev.Kind)
	}

	// Background: the first queued item is refused, the second goes.
	f.sender.setDown(true)
	o.Send(context.Background(), to, []byte("a"))
	o.Send(context.Background(), to, []byte("b"))
	f.sender.setDown(false)
	f.sender.mu.Lock()
	f.sender.errs = []error{fmt.Errorf("send message: %w", hub.ErrTooLarge)}
	f.sender.mu.Unlock()
	run(t, o)
	waitUntil(t, "b delivered", func() bool { return len(f.sender.delivered()) == 1 })
	waitUntil(t, "the queue to settle", func() bool { return o.Stats().Failed == 2 && o.Len() == 2 })
	// A failed item is never tried again.
	before := len(f.sender.attempts)
	o.Kick()
	time.Sleep(20 * time.Millisecond)
	if after := len(f.sender.attempts); after != before {
		t.Errorf("failed items were retried: %d attempts, then %d", before, after)
	}
}

// TestRefusalOfCredentials: after a revoked key refused a send, the next
// send is refused before anything is sealed or sent.
func TestRefusalOfCredentials(t *testing.T) {
	f := newFixture(t)
	o := f.outbox(t)
	f.sender.errs = []error{fmt.Errorf("send message: %w", hub.ErrUnauthenticated)}
	to := newKey(t).Public()
	if err := o.Send(context.Background(), to, []byte("x")); !errors.Is(err, hub.ErrUnauthenticated) {
		t.Fatalf("first send: %v", err)
	}
	if err := o.Refusal(); !errors.Is(err, hub.ErrUnauthenticated) {
		t.Errorf("Refusal() = %v after the credentials were refused", err)
	}
	n := len(f.sender.attempts)
	if err := o.Send(context.Background(), to, []byte("y")); !errors.Is(err, hub.ErrUnauthenticated) {
		t.Errorf("second send: %v", err)
	}
	if len(f.sender.attempts) != n {
		t.Errorf("the second send reached the hub")
	}
}

func TestCancel(t *testing.T) {
	f := newFixture(t)
	f.sender.setDown(true)
	o := f.outbox(t)
	to := newKey(t).Public()
	o.Send(context.Background(), to, []byte("oops"))
	id := o.Items()[0].ID
	if err := o.Cancel(id); err != nil {
		t.Fatal(err)
	}
	if err := o.Cancel(id); !errors.Is(err, ErrNotQueued) {
		t.Errorf("second cancel: %v, want ErrNotQueued", err)
	}
	f.sender.setDown(false)
	run(t, o)
	o.Send(context.Background(), to, []byte("after"))
	if d := f.sender.delivered(); len(d) != 1 || string(d[0].plain) != "after" {
		t.Errorf("delivered %+v, want only the later message", d)
	}
}

// TestTwoProcessesOneQueue: two outboxes over one directory (two mounts of
// one identity) deliver each item once.
func TestTwoProcessesOneQueue(t *testing.T) {
	f := newFixture(t)
	f.sender.setDown(true)
	o1 := f.outbox(t)
	to := newKey(t).Public()
	for i := range 20 {
		o1.Send(context.Background(), to, fmt.Appendf(nil, "m%d", i))
	}
	o2 := f.outbox(t)
	f.sender.setDown(false)
	run(t, o1)
	run(t, o2)
	waitUntil(t, "delivery", func() bool {
		items, _, _ := f.dir.Load()
		return len(items) == 0
	})
	// Each forgets what the other delivered once it meets the gap.
	o1.Kick()
	o2.Kick()
	waitUntil(t, "both to forget", func() bool { return o1.Len() == 0 && o2.Len() == 0 })
	seen := map[string]int{}
	for _, a := range f.sender.delivered() {
		seen[a.key]++
	}
	if len(seen) != 20 {
		t.Errorf("%d distinct messages delivered, want 20", len(seen))
	}
	for k, n := range seen {
		if n != 1 {
			t.Errorf("message %s delivered %d times", k, n)
		}
	}
}

func TestPermanent(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{hub.ErrUnavailable, false},
		{context.DeadlineExceeded, false},
		{fmt.Errorf("x: %w: %w", hub.ErrUnknownOutcome, hub.ErrUnavailable), false},
		{hub.ErrNoSpace, false},
		{hub.ErrBadAPIKey, true},
		{fmt.Errorf("x: %w", hub.ErrNoMailbox), true},
		{hub.ErrTooLarge, true},
		{hub.ErrUnauthenticated, true},
		{hub.ErrInvalid, true},
		{errors.New("something else"), false},
	} {
		if got := Permanent(c.err); got != c.want {
			t.Errorf("Permanent(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}

func TestLoadSkipsJunk(t *testing.T) {
	f := newFixture(t)
	os.WriteFile(filepath.Join(f.dir.Path(), "01arz3ndektsv4rrffq69g5fav.json"), []byte("{not json"), 0o600)
	os.WriteFile(filepath.Join(f.dir.Path(), ".tmp-x"), []byte("half"), 0o600)
	os.WriteFile(filepath.Join(f.dir.Path(), "README"), []byte("hello"), 0o600)
	items, bad, err := f.dir.Load()
	if err != nil || len(items) != 0 || len(bad) != 1 {
		t.Errorf("Load = %v %v %v, want one bad file and no items", items, bad, err)
	}
	if _, err := OpenDir(f.dir.Path()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(f.dir.Path(), ".tmp-x")); !os.IsNotExist(err) {
		t.Errorf("a crash's temporary file was left: %v", err)
	}
}

// TestCancelWaitsForAnAttempt: rm of a message whose delivery attempt is in
// flight waits for that attempt: if it failed, the message is cancelled
// and never sent; if it delivered, Cancel says it is no longer queued.
func TestCancelWaitsForAnAttempt(t *testing.T) {
	for _, delivers := range []bool{false, true} {
		t.Run(fmt.Sprintf("delivers=%v", delivers), func(t *testing.T) {
			f := newFixture(t)
			f.sender.setDown(true)
			o := f.outbox(t)
			to := newKey(t).Public()
			o.Send(context.Background(), to, []byte("hold on"))
			id := o.Items()[0].ID
			f.sender.mu.Lock()
			f.sender.gate, f.sender.entered = make(chan struct{}), make(chan struct{}, 10)
			f.sender.down = !delivers
			f.sender.mu.Unlock()
			run(t, o)
			<-f.sender.entered // an attempt is in flight
			cancelled := make(chan error, 1)
			go func() { cancelled <- o.Cancel(id) }()
			time.Sleep(20 * time.Millisecond) // let Cancel reach the wait
			f.sender.mu.Lock()
			close(f.sender.gate)
			f.sender.gate = nil
			f.sender.mu.Unlock()
			err := <-cancelled
			if delivers {
				if !errors.Is(err, ErrNotQueued) {
					t.Errorf("cancel of a message the attempt delivered: %v, want ErrNotQueued", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("cancel during a failing attempt: %v", err)
			}
			f.sender.setDown(false)
			o.Send(context.Background(), to, []byte("after"))
			if d := f.sender.delivered(); len(d) != 1 || string(d[0].plain) != "after" {
				t.Errorf("delivered %+v, want only the later message", d)
			}
			if items, _, _ := f.dir.Load(); len(items) != 0 {
				t.Errorf("cancelled item still on disk: %+v", items)
			}
		})
	}
}
