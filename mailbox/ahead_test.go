package mailbox_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/hubfs/hubfs/cache"
	"github.com/hubfs/hubfs/mailbox"
	"github.com/hubfs/hubfs/mailbox/hubmail"
)

// countingSealer is the real sealer, counting the opens of each message;
// with hold set, every open first announces itself on started and waits
// for hold to close.
type countingSealer struct {
	mailbox.Sealer
	hold    chan struct{}
	started chan string

	mu    sync.Mutex // guards opens
	opens map[string]int
}

func (s *countingSealer) Open(m mailbox.Message) ([]byte, error) {
	s.mu.Lock()
	s.opens[m.ID]++
	s.mu.Unlock()
	if s.hold != nil {
		s.started <- m.ID
		<-s.hold
	}
	return s.Sealer.Open(m)
}

func (s *countingSealer) total() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.opens {
		n += c
	}
	return n
}

func (s *countingSealer) count(id string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.opens[id]
}

// aheadModel is alice's model on f's hub as hubmail.New stacks it (the
// cache when cfg asks for one), over a counting sealer.
func aheadModel(t *testing.T, f *fixture, cfg mailbox.Config, hold bool) (*mailbox.Model, *countingSealer) {
	t.Helper()
	mbox, err := f.Alice.Client.GetMailboxID(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	cfg.Now = f.Clock.Now
	s := &countingSealer{Sealer: hubmail.NewSealer(f.Alice.Key), opens: map[string]int{}}
	if hold {
		s.hold, s.started = make(chan struct{}), make(chan string, 64)
	}
	var b mailbox.Backend = hubmail.NewBackend(f.Alice.Client, mbox, cfg)
	if cfg.Caches() {
		b = cache.New(b, cfg)
	}
	m := mailbox.New(b, s, cfg)
	t.Cleanup(m.Close)
	return m, s
}

// sendN sends n messages of 1 KiB from bob to alice, returning their ids
// and bodies in order.
func sendN(t *testing.T, f *fixture, n int) ([]string, map[string][]byte) {
	t.Helper()
	ids := make([]string, n)
	bodies := map[string][]byte{}
	for i := range n {
		body := fmt.Sprintf("%04d %s", i, bytes.Repeat([]byte("x"), 1019))
		m := f.Bob.Send(t, f.Alice, body)
		ids[i], bodies[m.ID] = m.ID, []byte(body)
	}
	return ids, bodies
}

// aheadConfigs are the two ways bodies reach the model: with the listing's
// pages (no cache), or held by the cache, which lists without them.
var aheadConfigs = []struct {
	name string
	cfg  mailbox.Config
}{
	{"no cache", mailbox.Config{}},
	{"cache", mailbox.Config{ListTTL: time.Minute, CiphertextBytes: 8 << 20}},
}

func TestDecryptAheadServesListedMessagesFromPlaintext(t *testing.T) {
	for _, c := range aheadConfigs {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t, mailbox.Config{})
			ids, bodies := sendN(t, f, 24)
			cfg := c.cfg
			cfg.DecryptAhead, cfg.PlaintextBytes = 4, 1<<20
			m, s := aheadModel(t, f, cfg, false)
			ctx := context.Background()
			if _, err := m.List(ctx, mailbox.Inbox); err != nil {
				t.Fatal(err)
			}
			m.WaitAhead()
			if got := s.total(); got != len(ids) {
				t.Fatalf("after the listing, %d opens; want every one of the %d messages opened ahead", got, len(ids))
			}
			before := m.Stats()
			var wg sync.WaitGroup
			for _, id := range ids {
				wg.Go(func() {
					b, err := m.Open(ctx, mailbox.Inbox, id)
					if err != nil || !bytes.Equal(b, bodies[id]) {
						t.Errorf("Open %s = %.10q, %v", id, b, err)
					}
				})
			}
			wg.Wait()
			after := m.Stats()
			for _, id := range ids {
				if n := s.count(id); n != 1 {
					t.Errorf("%s decrypted %d times, want once", id, n)
				}
			}
			if after.HubCalls != before.HubCalls {
				t.Errorf("reads after decrypt-ahead made %d hub calls", after.HubCalls-before.HubCalls)
			}
			if hits := after.PlainHits - before.PlainHits; hits != int64(len(ids)) {
				t.Errorf("plaintext hits = %d, want %d", hits, len(ids))
			}
			if after.DecryptedAhead != int64(len(ids)) {
				t.Errorf("decrypted_ahead = %d, want %d", after.DecryptedAhead, len(ids))
			}
		})
	}
}

// Readers racing the workers share their decryptions: each message is
// decrypted once, whoever asks first.
func TestDecryptAheadAndReadersDecryptEachMessageOnce(t *testing.T) {
	for _, c := range aheadConfigs {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t, mailbox.Config{})
			ids, bodies := sendN(t, f, 40)
			cfg := c.cfg
			cfg.DecryptAhead, cfg.PlaintextBytes = 3, 1<<20
			m, s := aheadModel(t, f, cfg, false)
			ctx := context.Background()
			if _, err := m.List(ctx, mailbox.Inbox); err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			for r := range 4 {
				wg.Go(func() {
					// Readers from both ends, while the workers go up.
					for i := range ids {
						id := ids[i]
						if r%2 == 1 {
							id = ids[len(ids)-1-i]
						}
						b, err := m.Open(ctx, mailbox.Inbox, id)
						if err != nil || !bytes.Equal(b, bodies[id]) {
							t.Errorf("Open %s = %.10q, %v", id, b, err)
						}
					}
				})
			}
			wg.Wait()
			m.WaitAhead()
			for _, id := range ids {
				if n := s.count(id); n != 1 {
					t.Errorf("%s decrypted %d times, want once", id, n)
				}
			}
		})
	}
}

// The workers fill only free room in the plaintext budget: they stop when
// it is full and never evict what a reader used.
func TestDecryptAheadStopsAtTheBudget(t *testing.T) {
	f := newFixture(t, mailbox.Config{})
	ids, bodies := sendN(t, f, 10)
	per := int64(len(bodies[ids[0]])) + 64 // a message's weight in the budget
	m, s := aheadModel(t, f, mailbox.Config{DecryptAhead: 2, PlaintextBytes: 5 * per}, false)
	ctx := context.Background()
	last := ids[len(ids)-1]
	if _, err := m.Open(ctx, mailbox.Inbox, last); err != nil { // a reader first
		t.Fatal(err)
	}
	if _, err := m.List(ctx, mailbox.Inbox); err != nil {
		t.Fatal(err)
	}
	m.WaitAhead()
	st := m.Stats()
	if st.DecryptedAhead != 4 || s.total() != 5 {
		t.Errorf("decrypted ahead %d (opens %d), want the 4 that fit beside the one read", st.DecryptedAhead, s.total())
	}
	if st.PlaintextBytes != 5*per || st.AheadStops == 0 {
		t.Errorf("plaintext %d bytes of %d, %d stops: want the budget full and the run stopped", st.PlaintextBytes, 5*per, st.AheadStops)
	}
	for _, id := range append([]string{last}, ids[:4]...) {
		if _, err := m.Open(ctx, mailbox.Inbox, id); err != nil {
			t.Fatal(err)
		}
		if n := s.count(id); n != 1 {
			t.Errorf("%s decrypted %d times: evicted by the decrypt-ahead", id, n)
		}
	}
}

// A new listing of the box supersedes the run over the old one.
func TestDecryptAheadIsCancelledByANewListing(t *testing.T) {
	f := newFixture(t, mailbox.Config{})
	ids, _ := sendN(t, f, 5)
	m, s := aheadModel(t, f, mailbox.Config{DecryptAhead: 1, PlaintextBytes: 1 << 20}, true)
	ctx := context.Background()
	if _, err := m.List(ctx, mailbox.Inbox); err != nil {
		t.Fatal(err)
	}
	if got := <-s.started; got != ids[0] {
		t.Fatalf("first open ahead: %s, want %s", got, ids[0])
	}
	// The run holds the bodies of all five; the hub now has two others.
	for _, id := range ids[1:] {
		if err := f.Alice.Client.DeleteInboxMessage(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	fresh := f.Bob.Send(t, f.Alice, "after")
	if err := m.Refresh(ctx, mailbox.Inbox); err != nil {
		t.Fatal(err)
	}
	close(s.hold)
	m.WaitAhead()
	if s.total() != 2 || s.count(ids[0]) != 1 || s.count(fresh.ID) != 1 {
		t.Errorf("opens %v: want only %s (in flight) and %s (the new listing's)", s.opens, ids[0], fresh.ID)
	}
}

// Close (the mount stopping) ends the runs: the message in flight
// finishes, the rest are left.
func TestDecryptAheadEndsWithClose(t *testing.T) {
	f := newFixture(t, mailbox.Config{})
	sendN(t, f, 5)
	m, s := aheadModel(t, f, mailbox.Config{DecryptAhead: 1, PlaintextBytes: 1 << 20}, true)
	ctx := context.Background()
	if _, err := m.List(ctx, mailbox.Inbox); err != nil {
		t.Fatal(err)
	}
	<-s.started
	closed := make(chan struct{})
	go func() { m.Close(); close(closed) }()
	// Release the message in flight only once Close has cancelled the run:
	// released earlier, the worker may fairly go on to the next message.
	for !m.Closed() {
		time.Sleep(time.Millisecond)
	}
	close(s.hold)
	<-closed
	if s.total() != 1 {
		t.Errorf("%d opens after Close, want the 1 in flight", s.total())
	}
	f.Bob.Send(t, f.Alice, "after close")
	if _, err := m.List(ctx, mailbox.Inbox); err != nil {
		t.Fatal(err)
	}
	m.WaitAhead()
	if s.total() != 1 {
		t.Errorf("a listing after Close decrypted ahead (%d opens)", s.total())
	}
}

// Memory pressure: with the heap past its bound the workers do nothing.
func TestDecryptAheadYieldsToMemoryPressure(t *testing.T) {
	f := newFixture(t, mailbox.Config{})
	sendN(t, f, 5)
	m, s := aheadModel(t, f, mailbox.Config{DecryptAhead: 2, PlaintextBytes: 1 << 20}, false)
	m.SetHeapProbe(func() uint64 { return math.MaxUint64 })
	if _, err := m.List(context.Background(), mailbox.Inbox); err != nil {
		t.Fatal(err)
	}
	m.WaitAhead()
	if st := m.Stats(); s.total() != 0 || st.AheadStops == 0 {
		t.Errorf("under memory pressure: %d opens, %d stops; want none and a stop", s.total(), st.AheadStops)
	}
}

// A message that does not open is remembered as bad and does not stop the
// others.
func TestDecryptAheadBadMessageAmongGood(t *testing.T) {
	for _, c := range aheadConfigs {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t, mailbox.Config{})
			ids, bodies := sendN(t, f, 6)
			bad := ids[2]
			f.hub.TamperMessage(t, "inbox", bad)
			cfg := c.cfg
			cfg.DecryptAhead, cfg.PlaintextBytes = 2, 1<<20
			m, s := aheadModel(t, f, cfg, false)
			ctx := context.Background()
			if _, err := m.List(ctx, mailbox.Inbox); err != nil {
				t.Fatal(err)
			}
			m.WaitAhead()
			if s.total() != len(ids) {
				t.Fatalf("%d opens ahead, want all %d, the bad one included", s.total(), len(ids))
			}
			before := m.Stats()
			for _, id := range ids {
				b, err := m.Open(ctx, mailbox.Inbox, id)
				if id == bad {
					if !errors.Is(err, mailbox.ErrBadSignature) {
						t.Errorf("Open tampered = %v, want ErrBadSignature", err)
					}
					continue
				}
				if err != nil || !bytes.Equal(b, bodies[id]) {
					t.Errorf("Open %s = %.10q, %v", id, b, err)
				}
			}
			if after := m.Stats(); s.total() != len(ids) || after.HubCalls != before.HubCalls {
				t.Errorf("reads opened or fetched again: %d opens, %d hub calls", s.total(), after.HubCalls-before.HubCalls)
			}
		})
	}
}
