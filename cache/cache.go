// Package cache fronts the hub client for the filesystem: listings kept for
// a short TTL, ciphertexts kept by bytes (they never change), and plaintext
// in RAM only, bounded, never written anywhere. Concurrent misses for one
// key make one hub call, and local sends, deletes and reads update the
// cached state at once, so the next listing in any process shows them.
//
// Every change the cache learns of (a local operation, a difference seen by
// a refresh, a watch event fed in through Apply) is reported once to one
// OnChange callback, which the filesystem turns into kernel invalidations
// and event lines. Follow (live.go) keeps the cache in step with the hub's
// watch and falls back to polling while the watch is down.
package cache

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/hubfs/hubfs/hub"
	"github.com/hubfs/hubfs/identity"
)

// Backend is the part of *hub.Client the cache fronts.
type Backend interface {
	ListInboxMessages(ctx context.Context, opts hub.InboxListOptions) ([]hub.UserMessage, error)
	ListSentboxMessages(ctx context.Context, opts hub.SentboxListOptions) ([]hub.UserMessage, error)
	Message(ctx context.Context, box hub.Box, id string) (hub.UserMessage, error)
	ReadInboxMessage(ctx context.Context, id string) (time.Time, error)
	DeleteInboxMessage(ctx context.Context, id string) error
	DeleteSentboxMessage(ctx context.Context, id string) error
	SendSealed(ctx context.Context, s hub.Sealed, key string) (hub.UserMessage, error)
	ListThreads(ctx context.Context) ([]hub.GetThreadResponse, error)
	NewDB(ctx context.Context, name string) (identity.ThreadID, error)
	DeleteDB(ctx context.Context, id identity.ThreadID) error
	GetUsage(ctx context.Context, opts hub.UsageOptions) (hub.GetUsageResponse, error)
}

var _ Backend = (*hub.Client)(nil)

// Config sizes the cache. The zero Config caches nothing (every call reaches
// the hub, still deduplicated), which is the "uncached" configuration.
type Config struct {
	// ListTTL is how long a box or thread listing is served without asking
	// the hub again. It bounds how stale ls is after a change made elsewhere.
	ListTTL time.Duration
	// WatchTTL replaces ListTTL for the boxes while a watch delivers
	// every change (Follow): the listing is kept up to date by events, and
	// is listed again after WatchTTL only in case an event was lost.
	WatchTTL time.Duration
	// CiphertextBytes bounds the message bodies kept; they never change, so
	// a body kept is a fetch saved.
	CiphertextBytes int64
	// PlaintextBytes bounds the decrypted bodies kept in RAM; a body kept
	// is a decryption (and maybe a fetch) saved.
	PlaintextBytes int64
	// PageSize is the listing page size; 0 means the largest a Textile hub
	// serves.
	PageSize int
	// Now is the clock; tests step it instead of sleeping.
	Now    func() time.Time
	Logger *slog.Logger
}

// DefaultConfig is the mount's default (docs/semantics.md explains each).
func DefaultConfig() Config {
	return Config{ListTTL: 2 * time.Second, WatchTTL: time.Hour, CiphertextBytes: 64 << 20, PlaintextBytes: 32 << 20}
}

// Cache is safe for concurrent use.
type Cache struct {
	hub Backend
	key *identity.PrivateKey
	cfg Config
	log *slog.Logger
	sf  singleflight.Group

	onChange func(Change) // set once, before use

	mu        sync.Mutex // guards the fields below
	mode      Mode
	boxes     [2]listing
	forcing   [2]chan struct{} // closed when the box's forced listing (Refresh) in flight ends
	seq       uint64           // orders local changes against refreshes in flight
	started   uint64           // counts refreshes started, to order their results
	threads   []Thread
	threadsAt time.Time
	threadsOK bool
	bodies    *sizedLRU[hub.UserMessage]
	plain     *sizedLRU[opened]
	stats     Stats
}

// listing is a box as the last refresh saw it, with local changes applied.
type listing struct {
	valid     bool
	fetchedAt time.Time
	byID      map[string]Entry
	ids       []string // ascending
	// started is the refresh that filled the listing (Cache.started when it
	// began): the result of one that began earlier is older and is dropped.
	started uint64
	// local changes made since a refresh that may still be in flight; they
	// are replayed on top of its result so it cannot undo them.
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

// New makes a cache in front of h for the user key (which signs sends and
// opens bodies).
func New(h Backend, key *identity.PrivateKey, cfg Config) *Cache {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.PageSize <= 0 || cfg.PageSize >= hub.MaxPageSize {
		cfg.PageSize = hub.MaxPageSize - 1 // room for the repeated seek message
	}
	c := &Cache{hub: h, key: key, cfg: cfg, log: cfg.Logger, onChange: func(Change) {}}
	c.bodies = newSizedLRU(cfg.CiphertextBytes, func(m hub.UserMessage) int64 {
		return int64(len(m.Body) + len(m.Signature) + len(m.From) + len(m.To) + 96)
	})
	c.plain = newSizedLRU(cfg.PlaintextBytes, func(o opened) int64 { return int64(len(o.plain)) + 64 })
	c.stats.HubCallsByOp = map[string]int64{}
	c.stats.Online = true
	return c
}

// OnChange sets the callback that hears of every change. Set it before the
// cache is used; it runs with no cache lock held.
func (c *Cache) OnChange(f func(Change)) { c.onChange = f }

// Stats returns a copy of the figures.
func (c *Cache) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.stats
	s.HubCallsByOp = make(map[string]int64, len(c.stats.HubCallsByOp))
	for k, v := range c.stats.HubCallsByOp {
		s.HubCallsByOp[k] = v
	}
	s.CiphertextBytes = c.bodies.bytes
	s.PlaintextBytes = c.plain.bytes
	s.Mode = c.mode.String()
	return s
}

// Mode says how the cache follows the hub right now.
func (c *Cache) Mode() Mode {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mode
}

// setMode switches the mode and reports the switch; err says why the watch
// went down.
func (c *Cache) setMode(m Mode, err error) {
	c.mu.Lock()
	changed := c.mode != m
	c.mode = m
	c.mu.Unlock()
	if changed {
		c.onChange(Change{Kind: ModeChanged, Mode: m, Err: err})
	}
}

// called records one hub call and what it says about the hub being online.
func (c *Cache) called(op string, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stats.HubCalls++
	c.stats.HubCallsByOp[op]++
	switch {
	case err == nil:
		c.stats.Online = true
	case errors.Is(err, hub.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded):
		c.stats.Online = false
		fallthrough
	default:
		c.stats.LastError = err.Error()
		at := c.cfg.Now()
		c.stats.LastErrorAt = &at
	}
}

// freshLocked reports whether a listing fetched at at may still be used. A
// box listing is kept for WatchTTL while the watch is up; anything else, and
// everything in the other modes, for ListTTL.
func (c *Cache) freshLocked(at time.Time, watched bool) bool {
	ttl := c.cfg.ListTTL
	if watched && c.mode == ModeWatch {
		ttl = c.cfg.WatchTTL
	}
	return ttl > 0 && c.cfg.Now().Sub(at) < ttl
}

func entryOf(box Box, m hub.UserMessage) Entry {
	return Entry{Box: box, ID: m.ID, From: m.From, To: m.To, Size: m.Size(), CreatedAt: m.CreatedAt, ReadAt: m.ReadAt}
}

func bodyKey(box Box, id string) string { return box.String() + "/" + id }

// shared runs fn once for all concurrent callers with the same key. The
// call itself is detached from any one caller's cancellation (another
// caller may still want the answer) but keeps the first caller's deadline;
// each caller stops waiting when its own context ends.
func (c *Cache) shared(ctx context.Context, key string, fn func(ctx context.Context) (any, error)) (any, error) {
	ch := c.sf.DoChan(key, func() (any, error) {
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
func (c *Cache) List(ctx context.Context, box Box) ([]Entry, error) {
	if err := c.ensure(ctx, box); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	l := &c.boxes[box]
	out := make([]Entry, len(l.ids))
	for i, id := range l.ids {
		out[i] = l.byID[id]
	}
	return out, nil
}

// Lookup returns one entry of a box, or an error wrapping hub.ErrNotFound.
func (c *Cache) Lookup(ctx context.Context, box Box, id string) (Entry, error) {
	if err := c.ensure(ctx, box); err != nil {
		return Entry{}, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.boxes[box].byID[id]
	if !ok {
		return Entry{}, fmt.Errorf("%s/%s: %w", box, id, hub.ErrNotFound)
	}
	return e, nil
}

// ensure makes the box's listing fresh, refreshing it if the TTL ran out.
func (c *Cache) ensure(ctx context.Context, box Box) error {
	c.mu.Lock()
	l := &c.boxes[box]
	if ch := c.forcing[box]; ch != nil && !(l.valid && c.freshLocked(l.fetchedAt, true)) {
		// A forced listing is on its way (the one at mount, a resync):
		// it is at least as fresh as one we would start, so wait for it.
		c.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
		c.mu.Lock()
	}
	if l.valid && c.freshLocked(l.fetchedAt, true) {
		c.stats.ListHits++
		c.mu.Unlock()
		return nil
	}
	c.stats.ListMisses++
	c.mu.Unlock()
	_, err := c.shared(ctx, "list/"+box.String(), func(ctx context.Context) (any, error) {
		return nil, c.refresh(ctx, box)
	})
	return err
}

// refresh lists a whole box, swaps the result in, replays local changes made
// meanwhile, and reports what differs from before.
func (c *Cache) refresh(ctx context.Context, box Box) error {
	c.mu.Lock()
	startSeq := c.seq
	c.started++
	started := c.started
	c.mu.Unlock()
	start := c.cfg.Now()

	msgs, err := c.fetchAll(ctx, box)
	if err != nil {
		return err
	}

	byID := make(map[string]Entry, len(msgs))
	ids := make([]string, 0, len(msgs))
	c.mu.Lock()
	for _, m := range msgs {
		if _, dup := byID[m.ID]; dup {
			continue
		}
		byID[m.ID] = entryOf(box, m)
		ids = append(ids, m.ID)
		k := bodyKey(box, m.ID)
		if !c.bodies.contains(k) {
			c.bodies.add(k, m)
		}
	}
	if !sort.StringsAreSorted(ids) {
		sort.Strings(ids)
	}
	l := &c.boxes[box]
	if l.started > started {
		// Two listings overlapped (a poll and an ls) and the later one
		// has landed: ours would take back what it saw arrive.
		c.mu.Unlock()
		return nil
	}
	old, wasValid := l.byID, l.valid
	l.byID, l.ids, l.valid, l.fetchedAt, l.started = byID, ids, true, start, started
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
			c.bodies.remove(bodyKey(box, ch.ID))
			c.plain.remove(bodyKey(box, ch.ID))
		}
	}
	c.mu.Unlock()
	for _, ch := range changes {
		c.onChange(ch)
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
	slices.SortFunc(out, func(a, b Change) int { return compareStrings(a.ID, b.ID) })
	return out
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
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
func (c *Cache) localLocked(box Box, kind ChangeKind, e Entry) {
	c.seq++
	l := &c.boxes[box]
	l.applyLocked(kind, e)
	l.local = append(l.local, localOp{seq: c.seq, kind: kind, entry: e})
	// Only refreshes that started before now can need these; keep the
	// list short when no refresh is running for a long time.
	if len(l.local) > 4096 {
		l.local = l.local[len(l.local)-4096:]
	}
}

// fetchAll lists a whole box, oldest first, with hub's pager (which halves
// a page the hub refuses as too large) over this cache's page calls.
func (c *Cache) fetchAll(ctx context.Context, box Box) ([]hub.UserMessage, error) {
	var all []hub.UserMessage
	for m, err := range hub.Pages(hub.ListOptions{Limit: c.cfg.PageSize, Ascending: true}, func(seek string, limit int) ([]hub.UserMessage, error) {
		return c.page(ctx, box, seek, limit)
	}) {
		if err != nil {
			return nil, err
		}
		all = append(all, m)
	}
	return all, nil
}

func (c *Cache) page(ctx context.Context, box Box, seek string, limit int) ([]hub.UserMessage, error) {
	var (
		page []hub.UserMessage
		err  error
	)
	if box == Inbox {
		page, err = c.hub.ListInboxMessages(ctx, hub.InboxListOptions{Seek: seek, Limit: limit, Ascending: true})
	} else {
		page, err = c.hub.ListSentboxMessages(ctx, hub.SentboxListOptions{Seek: seek, Limit: limit, Ascending: true})
	}
	c.called(listOp(box), err)
	return page, err
}

// listOp names the hub call that lists box, for the call counts.
func listOp(box Box) string {
	if box == Inbox {
		return "ListInboxMessages"
	}
	return "ListSentboxMessages"
}

// hubBox is box as the hub client names it.
func hubBox(box Box) hub.Box {
	if box == Inbox {
		return hub.Inbox
	}
	return hub.Sentbox
}

// Open returns a message's plaintext, its signature verified. A bad
// signature or box is an error wrapping hub.ErrBadSignature or
// hub.ErrDecrypt, for that message only.
func (c *Cache) Open(ctx context.Context, box Box, id string) ([]byte, error) {
	k := bodyKey(box, id)
	c.mu.Lock()
	if o, ok := c.plain.get(k); ok {
		c.stats.PlainHits++
		c.mu.Unlock()
		return o.plain, o.err
	}
	c.stats.PlainMisses++
	c.mu.Unlock()
	v, err := c.shared(ctx, "open/"+k, func(ctx context.Context) (any, error) {
		m, err := c.message(ctx, box, id)
		if err != nil {
			return nil, err
		}
		plain, err := m.Open(c.key)
		if err != nil && !isPermanent(err) {
			return nil, err
		}
		c.mu.Lock()
		c.plain.add(k, opened{plain: plain, err: err})
		c.mu.Unlock()
		if err != nil {
			c.log.Warn("message does not open", "box", box.String(), "id", id, "err", err)
		}
		return plain, err
	})
	if err != nil {
		return nil, err
	}
	return v.([]byte), nil
}

func isPermanent(err error) bool {
	return errors.Is(err, hub.ErrBadSignature) || errors.Is(err, hub.ErrDecrypt)
}

// message returns a message with its body, from the cache or from the hub.
func (c *Cache) message(ctx context.Context, box Box, id string) (hub.UserMessage, error) {
	k := bodyKey(box, id)
	c.mu.Lock()
	if m, ok := c.bodies.get(k); ok {
		c.stats.BodyHits++
		c.mu.Unlock()
		return m, nil
	}
	c.stats.BodyMisses++
	c.mu.Unlock()
	m, err := c.hub.Message(ctx, hubBox(box), id)
	callErr := err
	if errors.Is(err, hub.ErrNotFound) && hub.Code(err) == "" {
		callErr = nil // the page came back without the message: the call worked
	}
	c.called(listOp(box), callErr) // a one-message page is one list call
	if err != nil {
		return hub.UserMessage{}, err
	}
	c.mu.Lock()
	c.bodies.add(k, m)
	c.mu.Unlock()
	return m, nil
}

// MarkRead marks an inbox message read on the hub and in the cache.
func (c *Cache) MarkRead(ctx context.Context, id string) (time.Time, error) {
	at, err := c.hub.ReadInboxMessage(ctx, id)
	c.called("ReadInboxMessage", err)
	if err != nil {
		return time.Time{}, err
	}
	c.mu.Lock()
	e, ok := c.boxes[Inbox].byID[id]
	// The watch may have brought the change already: report it once.
	report := ok && !e.ReadAt.Equal(at)
	if ok {
		e.ReadAt = at
		c.localLocked(Inbox, Read, e)
	}
	c.mu.Unlock()
	if report {
		c.onChange(Change{Kind: Read, Box: Inbox, ID: id, Entry: e})
	}
	return at, nil
}

// Delete deletes a message on the hub, then everywhere in the cache.
func (c *Cache) Delete(ctx context.Context, box Box, id string) error {
	var err error
	if box == Inbox {
		err = c.hub.DeleteInboxMessage(ctx, id)
		c.called("DeleteInboxMessage", err)
	} else {
		err = c.hub.DeleteSentboxMessage(ctx, id)
		c.called("DeleteSentboxMessage", err)
	}
	if err != nil {
		return err
	}
	c.mu.Lock()
	l := &c.boxes[box]
	e, known := l.byID[id]
	// The watch's echo of this delete may have removed it already; with no
	// listing we cannot tell, and the kernel may still know the name.
	report := known || !l.valid
	e.Box, e.ID = box, id
	c.localLocked(box, Removed, e)
	c.bodies.remove(bodyKey(box, id))
	c.plain.remove(bodyKey(box, id))
	c.mu.Unlock()
	if report {
		c.onChange(Change{Kind: Removed, Box: box, ID: id, Entry: e})
	}
	return nil
}

// Send seals body to the recipient, sends it and files the sender's copy
// in the sentbox listing at once.
func (c *Cache) Send(ctx context.Context, to *identity.PublicKey, body []byte) (Entry, error) {
	s, err := hub.Seal(c.key, to, body)
	if err != nil {
		return Entry{}, err
	}
	return c.sendSealed(ctx, s, hub.NewIdempotencyKey(), body)
}

// SendSealed sends a message sealed earlier (the outbox queue's) under its
// idempotency key and files the sender's copy like Send. plain, when not
// nil, is kept in the plaintext cache so that reading the copy back costs
// no decryption.
func (c *Cache) SendSealed(ctx context.Context, s hub.Sealed, key string, plain []byte) (string, error) {
	e, err := c.sendSealed(ctx, s, key, plain)
	return e.ID, err
}

func (c *Cache) sendSealed(ctx context.Context, s hub.Sealed, key string, plain []byte) (Entry, error) {
	m, err := c.hub.SendSealed(ctx, s, key)
	c.called("SendMessage", err)
	if err != nil {
		return Entry{}, err
	}
	e := entryOf(Sentbox, m)
	k := bodyKey(Sentbox, m.ID)
	c.mu.Lock()
	// The watch may have filed the copy before the reply came: report once.
	_, known := c.boxes[Sentbox].byID[m.ID]
	c.localLocked(Sentbox, Added, e)
	c.bodies.add(k, m)
	if plain != nil {
		c.plain.add(k, opened{plain: append([]byte(nil), plain...)})
	}
	toSelf := s.To == c.key.Public().String()
	if toSelf {
		c.boxes[Inbox].fetchedAt = time.Time{}
	}
	c.mu.Unlock()
	if !known {
		c.onChange(Change{Kind: Added, Box: Sentbox, ID: m.ID, Entry: e})
	}
	return e, nil
}

// Invalidate makes a box's listing stale, so the next use asks the hub.
func (c *Cache) Invalidate(box Box) {
	c.mu.Lock()
	c.boxes[box].fetchedAt = time.Time{}
	c.mu.Unlock()
}

// Threads returns the user's threads, the mailbox among them.
func (c *Cache) Threads(ctx context.Context) ([]Thread, error) {
	c.mu.Lock()
	if c.threadsOK && c.freshLocked(c.threadsAt, false) {
		out := slices.Clone(c.threads)
		c.stats.ListHits++
		c.mu.Unlock()
		return out, nil
	}
	c.stats.ListMisses++
	c.mu.Unlock()
	v, err := c.shared(ctx, "threads", func(ctx context.Context) (any, error) {
		start := c.cfg.Now()
		ts, err := c.hub.ListThreads(ctx)
		c.called("ListThreads", err)
		if err != nil {
			return nil, err
		}
		out := make([]Thread, 0, len(ts))
		for _, t := range ts {
			out = append(out, Thread{ID: t.ID.String(), Name: t.Name, IsDB: t.IsDB, Mailbox: t.Name == hub.MailboxName})
		}
		slices.SortFunc(out, compareThreads)
		c.mu.Lock()
		changed := c.threadsOK && !slices.Equal(c.threads, out)
		c.threads, c.threadsAt, c.threadsOK = out, start, true
		c.mu.Unlock()
		if changed {
			c.onChange(Change{Kind: ThreadsChanged})
		}
		return slices.Clone(out), nil
	})
	if err != nil {
		return nil, err
	}
	return v.([]Thread), nil
}

// compareThreads orders threads by name, then id: how ls lists them.
func compareThreads(a, b Thread) int {
	return compareStrings(a.Name+"\x00"+a.ID, b.Name+"\x00"+b.ID)
}

// NewThread creates a thread DB called name.
func (c *Cache) NewThread(ctx context.Context, name string) (Thread, error) {
	id, err := c.hub.NewDB(ctx, name)
	c.called("NewDB", err)
	if err != nil {
		return Thread{}, err
	}
	t := Thread{ID: id.String(), Name: name, IsDB: true}
	c.mu.Lock()
	if c.threadsOK {
		// In the hub's order, so the next refresh sees no change.
		c.threads = append(c.threads, t)
		slices.SortFunc(c.threads, compareThreads)
	}
	c.mu.Unlock()
	return t, nil
}

// DeleteThread deletes a thread DB.
func (c *Cache) DeleteThread(ctx context.Context, t Thread) error {
	if t.Mailbox {
		return fmt.Errorf("the mailbox thread %s cannot be deleted: %w", t.ID, hub.ErrPermission)
	}
	id, err := identity.ParseThreadID(t.ID)
	if err != nil {
		return fmt.Errorf("thread %q: %w", t.ID, hub.ErrInvalid)
	}
	err = c.hub.DeleteDB(ctx, id)
	c.called("DeleteDB", err)
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.threads = slices.DeleteFunc(c.threads, func(x Thread) bool { return x.ID == t.ID })
	c.mu.Unlock()
	return nil
}

// Usage returns the hub's GetUsage answer for this user, as JSON. It is never
// cached: it is read by people, rarely.
func (c *Cache) Usage(ctx context.Context) (json.RawMessage, error) {
	u, err := c.hub.GetUsage(ctx, hub.UsageOptions{})
	c.called("GetUsage", err)
	if err != nil {
		return nil, err
	}
	return json.MarshalIndent(toUsageJSON(u), "", "  ")
}

// Apply folds a watch event for box into the cache and reports the change,
// exactly as a refresh that saw it would: the seam for live updates. An event
// that says nothing new (the echo of a change this process made, or one a
// refresh already saw) reports nothing. An event that cannot be applied
// precisely (a record that did not decode, a stream that broke or came
// back) makes the listing stale instead, so the next use lists the box
// again.
func (c *Cache) Apply(box Box, ev hub.MailboxEvent) {
	switch ev.Type {
	case hub.MailboxEventCreate, hub.MailboxEventSave:
		if ev.Message == nil || hub.CheckMessageID(ev.Message.ID) != nil {
			c.Invalidate(box)
			return
		}
		m := *ev.Message
		e := entryOf(box, m)
		c.mu.Lock()
		c.stats.WatchEvents++
		l := &c.boxes[box]
		kind := Added
		if old, known := l.byID[m.ID]; known {
			if old.ReadAt.Equal(e.ReadAt) {
				c.mu.Unlock()
				return // nothing a reader can see changed
			}
			kind = Read
		} else if !l.valid && ev.Type == hub.MailboxEventSave {
			kind = Read // no listing to tell: a save is a change of read state
		}
		c.localLocked(box, kind, e)
		if len(m.Body) > 0 {
			c.bodies.add(bodyKey(box, m.ID), m)
		}
		c.mu.Unlock()
		c.onChange(Change{Kind: kind, Box: box, ID: m.ID, Entry: e})
	case hub.MailboxEventDelete:
		c.mu.Lock()
		c.stats.WatchEvents++
		l := &c.boxes[box]
		e, known := l.byID[ev.MessageID]
		report := known || !l.valid
		e.Box, e.ID = box, ev.MessageID
		c.localLocked(box, Removed, e)
		c.bodies.remove(bodyKey(box, ev.MessageID))
		c.plain.remove(bodyKey(box, ev.MessageID))
		c.mu.Unlock()
		if report {
			c.onChange(Change{Kind: Removed, Box: box, ID: ev.MessageID, Entry: e})
		}
	default:
		c.Invalidate(box)
	}
}
