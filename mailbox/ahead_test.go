package mailbox_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
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

// aheadConfigs are the two stacks bodies reach the model through: the hub
// backend alone (its prefetch buffer), or the cache over it (which keeps
// what a batch brought). Either way listings are metadata only.
var aheadConfigs = []struct {
	name string
	cfg  mailbox.Config
}{
	{"no cache", mailbox.Config{}},
	{"cache", mailbox.Config{ListTTL: time.Minute, CiphertextBytes: 8 << 20}},
}

// listAndRead lists the inbox and reads its first message, which starts
// the decrypt-ahead of the rest (a listing alone starts nothing, against
// our hub: it brings no bodies).
func listAndRead(t *testing.T, m *mailbox.Model, first string) {
	t.Helper()
	ctx := context.Background()
	if _, err := m.List(ctx, mailbox.Inbox); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Open(ctx, mailbox.Inbox, first); err != nil {
		t.Fatal(err)
	}
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
			listAndRead(t, m, ids[0])
			m.WaitAhead()
			if got := s.total(); got != len(ids) {
				t.Fatalf("after the first read, %d opens; want every one of the %d messages opened ahead", got, len(ids))
			}
			before := m.Stats()
			if got := before.HubCallsByOp["ListInboxMessages"]; got != 2 {
				t.Errorf("%d inbox calls for the listing and 24 bodies, want 2 (one listing, one batch)", got)
			}
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
			if after.DecryptedAhead != int64(len(ids)-1) {
				t.Errorf("decrypted_ahead = %d, want %d (all but the one read)", after.DecryptedAhead, len(ids)-1)
			}
		})
	}
}

// A listing moves no bodies and decrypts nothing; a cold read of the box
// in order then fetches the bodies in batches, one hub call per 64, while
// the workers decrypt ahead of the reader.
func TestDecryptAheadListingMovesNoBodiesReadsFetchInBatches(t *testing.T) {
	for _, c := range aheadConfigs {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t, mailbox.Config{})
			const n = 200
			ids, bodies := sendN(t, f, n)
			cfg := c.cfg
			cfg.DecryptAhead, cfg.PlaintextBytes = 2, 1<<20
			m, s := aheadModel(t, f, cfg, false)
			ctx := context.Background()
			if _, err := m.List(ctx, mailbox.Inbox); err != nil {
				t.Fatal(err)
			}
			m.WaitAhead()
			st := m.Stats()
			listCalls := st.HubCallsByOp["ListInboxMessages"]
			if s.total() != 0 || st.CiphertextBytes != 0 || st.HubCalls != listCalls {
				t.Fatalf("a listing: %d opens, %d ciphertext bytes kept, %d hub calls besides its %d pages; want 0, 0, 0", s.total(), st.CiphertextBytes, st.HubCalls-listCalls, listCalls)
			}
			for _, id := range ids {
				b, err := m.Open(ctx, mailbox.Inbox, id)
				if err != nil || !bytes.Equal(b, bodies[id]) {
					t.Fatalf("Open %s = %.10q, %v", id, b, err)
				}
			}
			m.WaitAhead()
			st = m.Stats()
			// 200 bodies are 4 batches; a reader that overtakes the
			// workers may fetch one of its own.
			if calls := st.HubCallsByOp["ListInboxMessages"] - listCalls; calls > 5 {
				t.Errorf("%d body fetches for %d messages read in order, want at most 5", calls, n)
			}
			if st.DecryptedAhead == 0 {
				t.Errorf("nothing decrypted ahead of the reader")
			}
			for _, id := range ids {
				if k := s.count(id); k != 1 {
					t.Errorf("%s decrypted %d times, want once", id, k)
				}
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
	listAndRead(t, m, ids[0])
	m.WaitAhead()
	st := m.Stats()
	if st.DecryptedAhead != 4 || s.total() != 5 {
		t.Errorf("decrypted ahead %d (opens %d), want the 4 that fit beside the one read", st.DecryptedAhead, s.total())
	}
	if st.PlaintextBytes != 5*per || st.AheadStops == 0 {
		t.Errorf("plaintext %d bytes of %d, %d stops: want the budget full and the run stopped", st.PlaintextBytes, 5*per, st.AheadStops)
	}
	for _, id := range ids[:5] {
		if _, err := m.Open(ctx, mailbox.Inbox, id); err != nil {
			t.Fatal(err)
		}
		if n := s.count(id); n != 1 {
			t.Errorf("%s decrypted %d times: evicted by the decrypt-ahead", id, n)
		}
	}
	// Full, the budget starts no run per read (each would open one and
	// stop): the reads go on one at a time, evicting as always.
	stops := m.Stats().AheadStops
	for _, id := range ids[5:] {
		if _, err := m.Open(ctx, mailbox.Inbox, id); err != nil {
			t.Fatal(err)
		}
	}
	m.WaitAhead()
	if st := m.Stats(); st.AheadStops != stops || st.DecryptedAhead != 4 {
		t.Errorf("reads into a full budget: %d more stops, %d decrypted ahead; want no run", st.AheadStops-stops, st.DecryptedAhead)
	}
}

// readHeld opens id in the background (the sealer holds every open) and
// returns when the open has begun; wait ends once it has returned.
func readHeld(t *testing.T, m *mailbox.Model, s *countingSealer, id string) (wait func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		if _, err := m.Open(context.Background(), mailbox.Inbox, id); err != nil {
			t.Errorf("Open %s: %v", id, err)
		}
	}()
	if got := <-s.started; got != id {
		t.Fatalf("first open: %s, want the reader's %s", got, id)
	}
	return func() { <-done }
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
	wait := readHeld(t, m, s, ids[0])
	// The run holds the bodies of all five; the hub now has two others.
	for _, id := range ids[1:] {
		if err := f.Alice.Client.DeleteInboxMessage(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	f.Bob.Send(t, f.Alice, "after")
	if err := m.Refresh(ctx, mailbox.Inbox); err != nil {
		t.Fatal(err)
	}
	close(s.hold)
	wait()
	m.WaitAhead()
	if s.total() != 1 || s.count(ids[0]) != 1 {
		t.Errorf("opens %v: want only %s (the reader's); the new listing brought no bodies to open", s.opens, ids[0])
	}
}

// Close (the mount stopping) ends the runs: the message in flight
// finishes, the rest are left.
func TestDecryptAheadEndsWithClose(t *testing.T) {
	f := newFixture(t, mailbox.Config{})
	ids, _ := sendN(t, f, 5)
	m, s := aheadModel(t, f, mailbox.Config{DecryptAhead: 1, PlaintextBytes: 1 << 20}, true)
	ctx := context.Background()
	if _, err := m.List(ctx, mailbox.Inbox); err != nil {
		t.Fatal(err)
	}
	wait := readHeld(t, m, s, ids[0])
	closed := make(chan struct{})
	go func() { m.Close(); close(closed) }()
	for !m.Closing() {
		runtime.Gosched() // Close cancels the runs before it waits for them
	}
	close(s.hold)
	<-closed
	wait()
	if s.total() != 1 {
		t.Errorf("%d opens after Close, want the 1 in flight: %v (ids %v)", s.total(), s.opens, ids)
	}
	f.Bob.Send(t, f.Alice, "after close")
	if _, err := m.List(ctx, mailbox.Inbox); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Open(ctx, mailbox.Inbox, ids[1]); err != nil {
		t.Fatal(err)
	}
	m.WaitAhead()
	if s.total() != 2 {
		t.Errorf("a read after Close decrypted ahead (%d opens, want the 2 read)", s.total())
	}
}

// Memory pressure: with the heap past its bound the workers do nothing.
func TestDecryptAheadYieldsToMemoryPressure(t *testing.T) {
	f := newFixture(t, mailbox.Config{})
	ids, _ := sendN(t, f, 5)
	m, s := aheadModel(t, f, mailbox.Config{DecryptAhead: 2, PlaintextBytes: 1 << 20}, false)
	m.SetHeapProbe(func() uint64 { return math.MaxUint64 })
	listAndRead(t, m, ids[0])
	m.WaitAhead()
	if st := m.Stats(); s.total() != 1 || st.AheadStops == 0 {
		t.Errorf("under memory pressure: %d opens, %d stops; want only the one read and a stop", s.total(), st.AheadStops)
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
			listAndRead(t, m, ids[0])
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

// A box far larger than the plaintext budget read in order: the runs stop
// at the budget, the reads go on (and start runs again while there is
// room), and every read returns.
func TestDecryptAheadBoxLargerThanTheBudget(t *testing.T) {
	for _, c := range aheadConfigs {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t, mailbox.Config{})
			const n = 600
			ids, bodies := sendN(t, f, n)
			per := int64(len(bodies[ids[0]])) + 64
			cfg := c.cfg
			cfg.DecryptAhead, cfg.PlaintextBytes = 2, 100*per
			m, _ := aheadModel(t, f, cfg, false)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if _, err := m.List(ctx, mailbox.Inbox); err != nil {
				t.Fatal(err)
			}
			for i, id := range ids {
				b, err := m.Open(ctx, mailbox.Inbox, id)
				if err != nil || !bytes.Equal(b, bodies[id]) {
					t.Fatalf("Open %d %s = %.10q, %v", i, id, b, err)
				}
			}
			m.WaitAhead()
		})
	}
}
