package mailbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/hubfs/hubfs/identity"
	"github.com/hubfs/hubfs/internal/sizedlru"
	"github.com/hubfs/hubfs/wire"
)

// Model is one identity's mailbox as the filesystem sees it, over a Backend
// (the hub, maybe behind a cache): it opens and seals messages with the
// identity's Sealer, keeps plaintext in a bounded RAM LRU (never on disk),
// and keeps the last listing of each box as the base of its change feed.
//
// Every change the model learns of (a local operation, a difference seen by
// a listing, a watch event) is reported once to the one OnChange callback,
// which the filesystem turns into kernel invalidations and event lines.
// Follow (live.go) keeps it in step with the hub's watch and falls back to
// polling while the watch is down. Whether a listing reaches the hub is the
// backend's business: with no cache every List does, and changes are found
// all the same. Model is safe for concurrent use.
type Model struct {
	b      Backend
	sealer Sealer
	cfg    Config
	log    *slog.Logger
	sf     singleflight.Group
	ahead  ahead    // decrypt-ahead (ahead.go)
	docs   docState // thread DBs' collections and documents (docs_model.go)

	onChange func(Change) // set once, before use

	mu        sync.Mutex // guards the fields below
	mode      Mode
	boxes     [2]listing
	forcing   [2]chan struct{} // closed when the box's forced listing (Refresh) in flight ends
	seq       uint64           // orders local changes against listings in flight
	started   uint64           // counts listings started, to order their results
	threads   []Thread
	threadsOK bool
	plain     *sizedlru.LRU[opened]
	stats     Stats        // the model's own figures: plaintext, mode, events, resyncs
	aheadRuns [2]*aheadRun // each box's decrypt-ahead run, superseded by its next listing
	reserved  int64        // plaintext bytes the decrypt-ahead is decrypting now, held against the budget
	closed    bool         // Close was called: no more decrypt-ahead
}

// listing is a box as the last listing saw it, with local changes applied.
type listing struct {
	valid   bool
	byID    map[string]Entry
	ids     []string // ascending
	version uint64   // the backend's version of the listing landed last
	// started is the listing that filled it (Model.started when it
	// began): the result of one that began earlier is older and is dropped.
	started uint64
	// local changes made since a listing that may still be in flight;
	// they are replayed on top of its result so it cannot undo them.
	local []localOp
}

type localOp struct {
	seq   uint64
	kind  ChangeKind
	entry Entry
}

// opened is a decryption result: plaintext, or the permanent reason there is
// none (a bad signature or box never gets better).
type opened struct {
	plain []byte
	err   error
}

// New makes the model over b for the identity of s. Of cfg it reads
// PlaintextBytes, DecryptAhead, CiphertextBytes (the heap bound of
// decrypt-ahead), PollInterval, Now and Logger. Close ends its
// decrypt-ahead workers.
func New(b Backend, s Sealer, cfg Config) *Model {
	cfg = cfg.withDefaults()
	m := &Model{b: b, sealer: s, cfg: cfg, log: cfg.Logger, onChange: func(Change) {}}
	m.plain = sizedlru.New(cfg.PlaintextBytes, func(o opened) int64 { return plainCost(int64(len(o.plain))) })
	m.ahead.init(cfg.DecryptAhead)
	return m
}

// plainCost is what n bytes of plaintext weigh in the plaintext budget.
func plainCost(n int64) int64 { return n + 64 }

// OnChange sets the callback that hears of every change. Set it before the
// model is used; it runs with no model lock held.
func (m *Model) OnChange(f func(Change)) { m.onChange = f }

// Stats returns the figures of the model and of every layer below it.
func (m *Model) Stats() Stats {
	s := Stats{HubCallsByOp: map[string]int64{}, Online: true}
	m.b.Figures(&s)
	m.mu.Lock()
	defer m.mu.Unlock()
	s.PlainHits, s.PlainMisses = m.stats.PlainHits, m.stats.PlainMisses
	s.PlaintextBytes = m.plain.Bytes()
	s.DecryptedAhead, s.AheadStops = m.stats.DecryptedAhead, m.stats.AheadStops
	s.WatchEvents, s.Resyncs = m.stats.WatchEvents, m.stats.Resyncs
	s.Mode = m.mode.String()
	return s
}

// Mode says how the model follows the hub right now.
func (m *Model) Mode() Mode {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.mode
}

// setMode switches the mode and reports the switch; err says why the watch
// went down.
func (m *Model) setMode(mode Mode, err error) {
	m.mu.Lock()
	changed := m.mode != mode
	m.mode = mode
	m.mu.Unlock()
	if changed {
		m.onChange(Change{Kind: ModeChanged, Mode: mode, Err: err})
	}
}

func bodyKey(box Box, id string) string { return box.String() + "/" + id }

// shared runs fn once for all concurrent callers with the same key. The
// call itself is detached from any one caller's cancellation (another
// caller may still want the answer) but keeps the first caller's deadline;
// each caller stops waiting when its own context ends.
func (m *Model) shared(ctx context.Context, key string, fn func(ctx context.Context) (any, error)) (any, error) {
	ch := m.sf.DoChan(key, func() (any, error) {
		cctx := context.WithoutCancel(ctx)
		if dl, ok := ctx.Deadline(); ok {
			var cancel context.CancelFunc
			cctx, cancel = context.WithDeadline(cctx, dl)
			defer cancel()
		}
		return fn(cctx)
	})
	select {
	case r := <-ch:
		return r.Val, r.Err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// List returns a box's entries in ascending id order.
func (m *Model) List(ctx context.Context, box Box) ([]Entry, error) {
	if err := m.ensure(ctx, box); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	l := &m.boxes[box]
	out := make([]Entry, len(l.ids))
	for i, id := range l.ids {
		out[i] = l.byID[id]
	}
	return out, nil
}

// Lookup returns one entry of a box, or an error wrapping ErrNotFound.
func (m *Model) Lookup(ctx context.Context, box Box, id string) (Entry, error) {
	if err := m.ensure(ctx, box); err != nil {
		return Entry{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.boxes[box].byID[id]
	if !ok {
		return Entry{}, fmt.Errorf("%s/%s: %w", box, id, ErrNotFound)
	}
	return e, nil
}

// ensure lists the box (the backend decides whether that reaches the hub).
func (m *Model) ensure(ctx context.Context, box Box) error {
	m.mu.Lock()
	if ch := m.forcing[box]; ch != nil && !m.boxes[box].valid {
		// The first listing is a forced one on its way (the one at
		// mount): wait for it rather than start another.
		m.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	} else {
		m.mu.Unlock()
	}
	_, err := m.shared(ctx, "list/"+box.String(), func(ctx context.Context) (any, error) {
		return nil, m.refresh(ctx, box, false)
	})
	return err
}

// refresh lists a whole box, swaps the result in, replays local changes made
// meanwhile, and reports what differs from before.
func (m *Model) refresh(ctx context.Context, box Box, fresh bool) error {
	m.mu.Lock()
	startSeq := m.seq
	m.started++
	started := m.started
	var have uint64
	if l := &m.boxes[box]; l.valid {
		have = l.version
	}
	m.mu.Unlock()

	lst, err := m.b.List(ctx, box, ListOptions{Fresh: fresh, Version: have})
	if err != nil {
		return err
	}
	if lst.Unchanged {
		return nil // what we hold is still the backend's listing
	}

	byID := make(map[string]Entry, len(lst.Messages))
	ids := make([]string, 0, len(lst.Messages))
	var bodies map[string]Message // the bodies that came with the listing, for the decrypt-ahead
	for _, msg := range lst.Messages {
		if _, dup := byID[msg.ID]; dup {
			continue
		}
		if len(msg.Body) > 0 && m.ahead.slots != nil {
			if bodies == nil {
				bodies = make(map[string]Message, len(lst.Messages))
			}
			bodies[msg.ID] = msg
		}
		e := msg.Entry
		e.Box = box
		byID[msg.ID] = e
		ids = append(ids, msg.ID)
	}
	if !sort.StringsAreSorted(ids) {
		sort.Strings(ids)
	}
	m.mu.Lock()
	l := &m.boxes[box]
	if l.started > started {
		// Two listings overlapped (a poll and an ls) and the later one
		// has landed: ours would take back what it saw arrive.
		m.mu.Unlock()
		return nil
	}
	old, wasValid := l.byID, l.valid
	l.byID, l.ids, l.valid, l.started, l.version = byID, ids, true, started, lst.Version
	var keep []localOp
	for _, op := range l.local {
		if op.seq > startSeq {
			l.applyLocked(op.kind, op.entry)
			keep = append(keep, op)
		}
	}
	l.local = keep
	var changes []Change
	if wasValid {
		changes = diff(box, old, l.byID)
	}
	for _, ch := range changes {
		if ch.Kind == Removed {
			m.plain.Remove(bodyKey(box, ch.ID))
		}
	}
	if m.ahead.slots != nil {
		m.startAheadLocked(box, m.aheadItemsLocked(box, "", bodies), false)
	}
	m.mu.Unlock()
	for _, ch := range changes {
		m.onChange(ch)
	}
	return nil
}

// diff reports how a box changed between two listings.
func diff(box Box, old, cur map[string]Entry) []Change {
	var out []Change
	for id, e := range cur {
		o, ok := old[id]
		switch {
		case !ok:
			out = append(out, Change{Kind: Added, Box: box, ID: id, Entry: e})
		case !o.ReadAt.Equal(e.ReadAt):
			out = append(out, Change{Kind: Read, Box: box, ID: id, Entry: e})
		}
	}
	for id, e := range old {
		if _, ok := cur[id]; !ok {
			out = append(out, Change{Kind: Removed, Box: box, ID: id, Entry: e})
		}
	}
	slices.SortFunc(out, func(a, b Change) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// applyLocked applies one change to the listing.
func (l *listing) applyLocked(kind ChangeKind, e Entry) {
	if !l.valid {
		return
	}
	i, found := slices.BinarySearch(l.ids, e.ID)
	switch kind {
	case Added, Read:
		if kind == Read && !found {
			return
		}
		l.byID[e.ID] = e
		if !found {
			l.ids = slices.Insert(l.ids, i, e.ID)
		}
	case Removed:
		delete(l.byID, e.ID)
		if found {
			l.ids = slices.Delete(l.ids, i, i+1)
		}
	}
}

// localLocked records and applies a change this process made.
func (m *Model) localLocked(box Box, kind ChangeKind, e Entry) {
	m.seq++
	l := &m.boxes[box]
	l.applyLocked(kind, e)
	l.local = append(l.local, localOp{seq: m.seq, kind: kind, entry: e})
	// Only listings that started before now can need these; keep the
	// list short when none runs for a long time.
	if len(l.local) > 4096 {
		l.local = l.local[len(l.local)-4096:]
	}
}

// Open returns a message's plaintext, its signature verified. A bad
// signature or box is an error wrapping ErrBadSignature or ErrDecrypt, for
// that message only.
func (m *Model) Open(ctx context.Context, box Box, id string) ([]byte, error) {
	k := bodyKey(box, id)
	m.mu.Lock()
	if o, ok := m.plain.Get(k); ok {
		m.stats.PlainHits++
		m.mu.Unlock()
		return o.plain, o.err
	}
	m.stats.PlainMisses++
	m.mu.Unlock()
	v, err := m.shared(ctx, "open/"+k, func(ctx context.Context) (any, error) {
		m.mu.Lock()
		if o, ok := m.plain.Get(k); ok {
			// The decrypt-ahead's flight ended after our miss above.
			m.mu.Unlock()
			return o.plain, o.err
		}
		m.mu.Unlock()
		msg, ok := m.aheadBody(ctx, box, id)
		if !ok {
			var err error
			if msg, err = m.b.Message(ctx, box, id); err != nil {
				return nil, err
			}
		}
		o, err := m.open(box, msg)
		if err != nil {
			return nil, err
		}
		m.mu.Lock()
		m.plain.Add(k, o)
		m.mu.Unlock()
		return o.plain, o.err
	})
	if err != nil && !isPermanent(err) {
		return nil, err
	}
	plain, _ := v.([]byte)
	m.mu.Lock()
	if !m.plain.Contains(k) {
		// We joined the decrypt-ahead's flight, which keeps only what fits
		// in free room: what a reader asked for is kept like any read.
		m.plain.Add(k, opened{plain: plain, err: err})
	}
	m.mu.Unlock()
	return plain, err
}

// open decrypts and verifies msg: plaintext, or the permanent reason there
// is none (logged once, here); an error is one that may pass (no result).
func (m *Model) open(box Box, msg Message) (opened, error) {
	plain, err := m.sealer.Open(msg)
	if err != nil && !isPermanent(err) {
		return opened{}, err
	}
	if err != nil {
		m.log.Warn("message does not open", "box", box.String(), "id", msg.ID, "err", err)
	}
	return opened{plain: plain, err: err}, nil
}

func isPermanent(err error) bool {
	return errors.Is(err, ErrBadSignature) || errors.Is(err, ErrDecrypt)
}

// MarkRead marks an inbox message read on the hub and in the listing.
func (m *Model) MarkRead(ctx context.Context, id string) (time.Time, error) {
	at, err := m.b.MarkRead(ctx, id)
	if err != nil {
		return time.Time{}, err
	}
	m.mu.Lock()
	e, ok := m.boxes[Inbox].byID[id]
	// The watch may have brought the change already: report it once.
	report := ok && !e.ReadAt.Equal(at)
	if ok {
		e.ReadAt = at
		m.localLocked(Inbox, Read, e)
	}
	m.mu.Unlock()
	if report {
		m.onChange(Change{Kind: Read, Box: Inbox, ID: id, Entry: e})
	}
	return at, nil
}

// Delete deletes a message on the hub, then from the listing and memory.
func (m *Model) Delete(ctx context.Context, box Box, id string) error {
	if err := m.b.Delete(ctx, box, id); err != nil {
		return err
	}
	m.removed(box, id)
	return nil
}

// removed records that a message left box (deleted here, or a watch's
// delete event) and reports it once.
func (m *Model) removed(box Box, id string) {
	m.mu.Lock()
	l := &m.boxes[box]
	e, known := l.byID[id]
	// The watch's echo of this delete may have removed it already; with no
	// listing we cannot tell, and the kernel may still know the name.
	report := known || !l.valid
	e.Box, e.ID = box, id
	m.localLocked(box, Removed, e)
	m.plain.Remove(bodyKey(box, id))
	m.mu.Unlock()
	if report {
		m.onChange(Change{Kind: Removed, Box: box, ID: id, Entry: e})
	}
}

// Send seals body to the recipient, sends it and files the sender's copy
// in the sentbox listing at once.
func (m *Model) Send(ctx context.Context, to *identity.PublicKey, body []byte) (Entry, error) {
	s, err := m.sealer.Seal(to, body)
	if err != nil {
		return Entry{}, err
	}
	return m.sendSealed(ctx, s, m.sealer.NewIdempotencyKey(), body)
}

// SendSealed sends a message sealed earlier (the outbox queue's) under its
// idempotency key and files the sender's copy like Send. plain, when not
// nil, is kept in the plaintext cache so that reading the copy back costs
// no decryption.
func (m *Model) SendSealed(ctx context.Context, s Sealed, key string, plain []byte) (string, error) {
	e, err := m.sendSealed(ctx, s, key, plain)
	return e.ID, err
}

func (m *Model) sendSealed(ctx context.Context, s Sealed, key string, plain []byte) (Entry, error) {
	msg, err := m.b.Send(ctx, s, key)
	if err != nil {
		return Entry{}, err
	}
	e := msg.Entry
	e.Box = Sentbox
	m.mu.Lock()
	// The watch may have filed the copy before the reply came: report once.
	_, known := m.boxes[Sentbox].byID[msg.ID]
	m.localLocked(Sentbox, Added, e)
	if plain != nil {
		m.plain.Add(bodyKey(Sentbox, msg.ID), opened{plain: append([]byte(nil), plain...)})
	}
	m.mu.Unlock()
	if !known {
		m.onChange(Change{Kind: Added, Box: Sentbox, ID: msg.ID, Entry: e})
	}
	return e, nil
}

// Threads returns the user's threads, the mailbox among them, and reports
// ThreadsChanged when they differ from the last seen.
func (m *Model) Threads(ctx context.Context) ([]Thread, error) {
	v, err := m.shared(ctx, "threads", func(ctx context.Context) (any, error) {
		ts, err := m.b.Threads(ctx)
		if err != nil {
			return nil, err
		}
		out := slices.Clone(ts)
		SortThreads(out)
		m.mu.Lock()
		changed := m.threadsOK && !slices.Equal(m.threads, out)
		m.threads, m.threadsOK = out, true
		m.mu.Unlock()
		if changed {
			m.onChange(Change{Kind: ThreadsChanged})
		}
		return slices.Clone(out), nil
	})
	if err != nil {
		return nil, err
	}
	return v.([]Thread), nil
}

// SortThreads orders threads by name, then id: how ls lists them, and the
// order in which every layer keeps them, so a thread made here sits where
// the hub's next listing puts it.
func SortThreads(ts []Thread) {
	slices.SortFunc(ts, func(a, b Thread) int { return strings.Compare(a.Name+"\x00"+a.ID, b.Name+"\x00"+b.ID) })
}

// NewThread creates a thread DB called name.
func (m *Model) NewThread(ctx context.Context, name string) (Thread, error) {
	t, err := m.b.NewThread(ctx, name)
	if err != nil {
		return Thread{}, err
	}
	m.mu.Lock()
	if m.threadsOK {
		// In the hub's order, so the next listing sees no change.
		m.threads = append(m.threads, t)
		SortThreads(m.threads)
	}
	m.mu.Unlock()
	return t, nil
}

// DeleteThread deletes a thread DB; the mailbox's own thread is refused.
func (m *Model) DeleteThread(ctx context.Context, t Thread) error {
	if t.Mailbox {
		return fmt.Errorf("the mailbox thread %s cannot be deleted: %w", t.ID, ErrPermission)
	}
	if err := m.b.DeleteThread(ctx, t); err != nil {
		return err
	}
	m.mu.Lock()
	m.threads = slices.DeleteFunc(m.threads, func(x Thread) bool { return x.ID == t.ID })
	m.mu.Unlock()
	return nil
}

// Usage returns the hub's usage figures for this user. It is never cached:
// it is read by people, rarely.
func (m *Model) Usage(ctx context.Context) (Usage, error) { return m.b.Usage(ctx) }

// Apply folds a watch event for box into the listing and reports the
// change, exactly as a listing that saw it would: the seam for live
// updates. An event that says nothing new (the echo of a change this
// process made, or one a listing already saw) reports nothing. One that
// cannot be applied precisely (a record that did not decode) is left to the
// next listing; a cache below, which sees the same event, drops its copy.
func (m *Model) Apply(box Box, ev Event) {
	switch ev.Kind {
	case EventCreate, EventSave:
		if ev.Message == nil || !wire.ValidMessageID(ev.Message.ID) {
			return
		}
		e := ev.Message.Entry
		e.Box = box
		m.mu.Lock()
		m.stats.WatchEvents++
		l := &m.boxes[box]
		kind := Added
		if old, known := l.byID[e.ID]; known {
			if old.ReadAt.Equal(e.ReadAt) {
				m.mu.Unlock()
				return // nothing a reader can see changed
			}
			kind = Read
		} else if !l.valid && ev.Kind == EventSave {
			kind = Read // no listing to tell: a save is a change of read state
		}
		m.localLocked(box, kind, e)
		m.mu.Unlock()
		m.onChange(Change{Kind: kind, Box: box, ID: e.ID, Entry: e})
	case EventDelete:
		m.mu.Lock()
		m.stats.WatchEvents++
		m.mu.Unlock()
		m.removed(box, ev.ID)
	}
}
