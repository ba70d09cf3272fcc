// Package cache is a mailbox.Backend in front of another, answering from
// memory what it may: box and thread listings for a TTL (ListTTL, or
// WatchTTL while both watches are up), and ciphertexts by bytes (they never
// change). It holds no key and no plaintext; the model above keeps those.
// Operations and watch events that pass through it update the listings it
// keeps at once, so the next listing shows them without asking the hub.
//
// With a disk store (cfg.DiskCaches, package cache/disk) it also keeps the
// listings and bodies on disk as the hub sent them: a new cache shows the
// listings the last one saved at once (its first List of a box, and any
// List while a listing from the hub is under way, answer from them), a
// body once fetched is never fetched again, and while the hub does not
// answer, listings and the bodies held are served from there and the
// figures say Offline.
//
// Running without a cache is not wrapping: the model finds changes the same
// way either way, by comparing each listing with the last.
package cache

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/hubfs/hubfs/cache/disk"
	"github.com/hubfs/hubfs/internal/sizedlru"
	"github.com/hubfs/hubfs/mailbox"
)

// Cache is safe for concurrent use.
type Cache struct {
	b   mailbox.Backend
	cfg mailbox.Config
	// Documents passes the thread DBs' calls through: the model keeps
	// the copies of collections and documents, with the DBs' watches that
	// keep them current (mailbox/docs_model.go).
	mailbox.Documents

	mu        sync.Mutex // guards the fields below
	boxes     [2]boxCopy
	version   uint64  // the last version handed out, across both boxes
	seq       uint64  // orders patches against listings in flight
	started   uint64  // counts listings started, to order their results
	watching  [2]bool // the box's watch is up, counted from before it opens
	threads   []mailbox.Thread
	threadsAt time.Time
	threadsOK bool
	bodies    *sizedlru.LRU[mailbox.Message]
	stats     mailbox.Stats // the cache's own figures: hits and misses
	listing   [2]int        // hub listings of the box under way
	offline   bool          // the hub's last answer was none, and the disk serves

	disk *disk.Store // nil: no cache on disk
}

var _ mailbox.Backend = (*Cache)(nil)

// boxCopy is a box as the last listing saw it, with the changes that passed
// through since. msgs is replaced, never changed in place: callers hold it.
type boxCopy struct {
	valid     bool
	fetchedAt time.Time
	version   uint64
	msgs      []mailbox.Message // ascending by id, without bodies
	started   uint64            // the listing that filled it
	// warm: loaded from disk and not served yet; the first List of the
	// box answers with it, whatever its age.
	warm bool
	// fromDisk: loaded from disk (at fetchedAt), and no hub listing has
	// landed since; fresh for ListTTL, never WatchTTL: the watches say
	// nothing about what happened before this mount.
	fromDisk bool
	// patches made since a listing that may still be in flight; they are
	// replayed on top of its result so it cannot undo them.
	patches []patch
}

type patchKind int

const (
	put        patchKind = iota // add or replace the message
	markRead                    // set ReadAt, if the message is there
	remove                      // take the message out
	invalidate                  // something unknown changed: list again
)

type patch struct {
	seq  uint64
	kind patchKind
	e    mailbox.Entry
}

// New wraps b. Of cfg it reads ListTTL, WatchTTL, CiphertextBytes,
// DiskCacheBytes, DiskCacheDir, Now and Logger; a zero TTL keeps no
// listing, a zero budget no body. A disk store that cannot be opened (most
// often: another mount of the identity holds it) is logged and done
// without, so a second mount works, only colder.
func New(b mailbox.Backend, cfg mailbox.Config) *Cache {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	c := &Cache{b: b, cfg: cfg, Documents: b}
	c.bodies = sizedlru.New(cfg.CiphertextBytes, func(m mailbox.Message) int64 {
		return int64(len(m.Body) + len(m.Signature) + len(m.From) + len(m.To) + 96)
	})
	if cfg.DiskCaches() {
		st, err := disk.Open(cfg.DiskCacheDir, cfg.DiskCacheBytes, cfg.Logger)
		if err != nil {
			cfg.Logger.Warn("running without the disk cache", "err", err)
		} else {
			c.disk = st
			c.loadListings()
		}
	}
	return c
}

// loadListings fills the boxes with the listings on disk.
func (c *Cache) loadListings() {
	for _, box := range []mailbox.Box{mailbox.Inbox, mailbox.Sentbox} {
		es, ok := c.disk.Listing(box)
		if !ok {
			continue
		}
		msgs := make([]mailbox.Message, len(es))
		for i, e := range es {
			msgs[i] = mailbox.Message{Entry: e}
		}
		c.version++
		c.boxes[box] = boxCopy{valid: true, warm: true, fromDisk: true, fetchedAt: c.cfg.Now(), msgs: msgs, version: c.version}
	}
}

// Warm returns the boxes whose listing came from disk and has not been
// served yet: listing them through the model makes it hold them before its
// first refresh, so the first ls of a new mount needs no hub.
func (c *Cache) Warm() []mailbox.Box {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []mailbox.Box
	for _, box := range []mailbox.Box{mailbox.Inbox, mailbox.Sentbox} {
		if c.boxes[box].warm {
			out = append(out, box)
		}
	}
	return out
}

// Close stops the disk store's writer once it has written what is
// pending, and releases its lock. The cache must not be used after.
func (c *Cache) Close() error {
	if c.disk == nil {
		return nil
	}
	return c.disk.Close()
}

// unreachable reports whether err means the hub did not answer, rather
// than answered no.
func unreachable(err error) bool {
	return errors.Is(err, mailbox.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded)
}

// persistLocked hands the box's listing to the disk store.
func (c *Cache) persistLocked(box mailbox.Box) {
	cp := &c.boxes[box]
	if c.disk == nil || !cp.valid {
		return
	}
	c.disk.SaveListing(box, cp.msgs)
}

// Figures adds the hit and miss counts and the bytes kept.
func (c *Cache) Figures(s *mailbox.Stats) {
	c.b.Figures(s)
	c.mu.Lock()
	defer c.mu.Unlock()
	s.ListHits += c.stats.ListHits
	s.ListMisses += c.stats.ListMisses
	s.BodyHits += c.stats.BodyHits
	s.BodyMisses += c.stats.BodyMisses
	s.CiphertextBytes += c.bodies.Bytes()
	s.Offline = s.Offline || c.offline
	s.DiskHits += c.stats.DiskHits
	s.DiskMisses += c.stats.DiskMisses
	if c.disk != nil {
		f := c.disk.Figures()
		s.DiskBytes += f.Bytes
		s.DiskDropped += f.Dropped
	}
}

// freshLocked reports whether a listing fetched at at may still be used. A
// box listing is kept for WatchTTL (when set) while both watches are up;
// anything else, and everything while a watch is down, for ListTTL.
func (c *Cache) freshLocked(at time.Time, box bool) bool {
	ttl := c.cfg.ListTTL
	if box && c.watching[mailbox.Inbox] && c.watching[mailbox.Sentbox] && c.cfg.WatchTTL > 0 {
		ttl = c.cfg.WatchTTL // 0 means "as ListTTL"
	}
	return ttl > 0 && c.cfg.Now().Sub(at) < ttl
}

func bodyKey(box mailbox.Box, id string) string { return box.String() + "/" + id }

// List answers from the listing kept while it is fresh (Unchanged when the
// caller holds that very version), and otherwise lists the box below and
// keeps the result. With a disk store, a listing loaded from disk counts
// as fetched at load for ListTTL, and is served whatever its age the first
// time, and while a listing from the hub is under way; and when the hub
// does not answer, a listing that was not Fresh is answered from what is
// kept too.
func (c *Cache) List(ctx context.Context, box mailbox.Box, opts mailbox.ListOptions) (mailbox.Listing, error) {
	c.mu.Lock()
	cp := &c.boxes[box]
	if !opts.Fresh {
		serve := cp.valid && c.freshLocked(cp.fetchedAt, !cp.fromDisk)
		if c.disk != nil && cp.valid && (cp.warm || c.listing[box] > 0) {
			serve = true
		}
		if serve {
			out := c.heldLocked(box, opts)
			c.mu.Unlock()
			return out, nil
		}
		c.stats.ListMisses++
	}
	startSeq := c.seq
	c.started++
	started := c.started
	c.listing[box]++
	c.mu.Unlock()
	start := c.cfg.Now()

	lst, err := c.b.List(ctx, box, mailbox.ListOptions{Fresh: opts.Fresh})
	c.mu.Lock()
	c.listing[box]--
	if err != nil {
		defer c.mu.Unlock()
		if c.disk == nil || !unreachable(err) || !cp.valid {
			return mailbox.Listing{}, err
		}
		// Serve what the disk holds; try the hub again after ListTTL,
		// not at every ls.
		c.offline = true
		cp.fetchedAt = start
		if opts.Fresh {
			return mailbox.Listing{}, err
		}
		return c.heldLocked(box, opts), nil
	}
	c.offline = false
	c.mu.Unlock()

	msgs := make([]mailbox.Message, 0, len(lst.Messages))
	for _, m := range lst.Messages {
		if c.disk != nil && len(m.Body) > 0 {
			m.Box = box
			c.disk.Put(m) // no-op for a body it holds
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, m := range lst.Messages {
		k := bodyKey(box, m.ID)
		if len(m.Body) > 0 && !c.bodies.Contains(k) {
			c.bodies.Add(k, m)
		}
		msgs = append(msgs, mailbox.Message{Entry: m.Entry})
	}
	if !slices.IsSortedFunc(msgs, byID) {
		sort.SliceStable(msgs, func(i, j int) bool { return msgs[i].ID < msgs[j].ID })
	}
	msgs = slices.CompactFunc(msgs, func(a, b mailbox.Message) bool { return a.ID == b.ID })
	if cp.started > started {
		// Two listings overlapped and the later one has landed: ours
		// would take back what it saw arrive. The caller orders its own.
		return mailbox.Listing{Messages: msgs}, nil
	}
	old := cp.msgs
	cp.msgs, cp.valid, cp.fetchedAt, cp.started = msgs, true, start, started
	cp.warm, cp.fromDisk = false, false
	var keep []patch
	for _, p := range cp.patches {
		if p.seq > startSeq {
			cp.applyLocked(p)
			if p.kind == invalidate {
				cp.fetchedAt = time.Time{}
			}
			keep = append(keep, p)
		}
	}
	cp.patches = keep
	// Bodies of messages that are gone are no use any more.
	for _, m := range old {
		if _, found := slices.BinarySearchFunc(cp.msgs, m.ID, findID); !found {
			c.bodies.Remove(bodyKey(box, m.ID))
			if c.disk != nil {
				c.disk.Remove(box, m.ID)
			}
		}
	}
	c.version++
	cp.version = c.version
	c.persistLocked(box)
	return mailbox.Listing{Messages: cp.msgs, Version: cp.version}, nil
}

// heldLocked answers a List with the listing kept: Unchanged when the
// caller holds that very version.
func (c *Cache) heldLocked(box mailbox.Box, opts mailbox.ListOptions) mailbox.Listing {
	cp := &c.boxes[box]
	c.stats.ListHits++
	cp.warm = false
	if opts.Version != 0 && opts.Version == cp.version {
		return mailbox.Listing{Version: cp.version, Unchanged: true}
	}
	return mailbox.Listing{Messages: cp.msgs, Version: cp.version}
}

func byID(a, b mailbox.Message) int { return strings.Compare(a.ID, b.ID) }

func findID(m mailbox.Message, id string) int { return strings.Compare(m.ID, id) }

// applyLocked applies one patch to the listing, copying it first.
func (cp *boxCopy) applyLocked(p patch) {
	if !cp.valid || p.kind == invalidate {
		return
	}
	i, found := slices.BinarySearchFunc(cp.msgs, p.e.ID, findID)
	switch p.kind {
	case put:
		msgs := slices.Clone(cp.msgs)
		if found {
			msgs[i] = mailbox.Message{Entry: p.e}
		} else {
			msgs = slices.Insert(msgs, i, mailbox.Message{Entry: p.e})
		}
		cp.msgs = msgs
	case markRead:
		if found {
			msgs := slices.Clone(cp.msgs)
			msgs[i].ReadAt = p.e.ReadAt
			cp.msgs = msgs
		}
	case remove:
		if found {
			cp.msgs = slices.Delete(slices.Clone(cp.msgs), i, i+1)
		}
	}
}

// patchLocked records and applies a change that passed through.
func (c *Cache) patchLocked(box mailbox.Box, kind patchKind, e mailbox.Entry) {
	c.seq++
	cp := &c.boxes[box]
	p := patch{seq: c.seq, kind: kind, e: e}
	cp.applyLocked(p)
	if kind == invalidate {
		cp.fetchedAt = time.Time{}
	}
	cp.patches = append(cp.patches, p)
	// Only listings that started before now can need these; keep the
	// list short when none runs for a long time.
	if len(cp.patches) > 4096 {
		cp.patches = cp.patches[len(cp.patches)-4096:]
	}
	c.version++
	cp.version = c.version
	if kind != invalidate {
		c.persistLocked(box)
	}
}

// Message returns a message with its body, from memory or from below.
func (c *Cache) Message(ctx context.Context, box mailbox.Box, id string) (mailbox.Message, error) {
	k := bodyKey(box, id)
	c.mu.Lock()
	if m, ok := c.bodies.Get(k); ok {
		c.stats.BodyHits++
		c.mu.Unlock()
		return m, nil
	}
	c.stats.BodyMisses++
	c.mu.Unlock()
	if c.disk != nil {
		if m, ok := c.disk.Message(box, id); ok {
			c.mu.Lock()
			c.stats.DiskHits++
			c.bodies.Add(k, m)
			c.mu.Unlock()
			return m, nil
		}
		c.mu.Lock()
		c.stats.DiskMisses++
		c.mu.Unlock()
	}
	m, err := c.b.Message(ctx, box, id)
	if err != nil {
		if c.disk != nil && unreachable(err) {
			c.mu.Lock()
			c.offline = true
			c.mu.Unlock()
		}
		return mailbox.Message{}, err
	}
	if c.disk != nil {
		m.Box = box
		c.disk.Put(m)
	}
	c.mu.Lock()
	c.offline = false
	c.bodies.Add(k, m)
	c.mu.Unlock()
	return m, nil
}

// Messages returns the bodies of ids from memory, then from disk, and the
// rest from below in one batch call, keeping what came like Message does.
func (c *Cache) Messages(ctx context.Context, box mailbox.Box, ids []string) ([]mailbox.Message, error) {
	out := make([]mailbox.Message, 0, len(ids))
	var miss []string
	c.mu.Lock()
	for _, id := range ids {
		if m, ok := c.bodies.Get(bodyKey(box, id)); ok {
			c.stats.BodyHits++
			out = append(out, m)
		} else {
			c.stats.BodyMisses++
			miss = append(miss, id)
		}
	}
	c.mu.Unlock()
	if c.disk != nil && len(miss) > 0 {
		below := miss[:0:0]
		var found []mailbox.Message
		for _, id := range miss {
			if m, ok := c.disk.Message(box, id); ok {
				found = append(found, m)
			} else {
				below = append(below, id)
			}
		}
		c.mu.Lock()
		c.stats.DiskHits += int64(len(found))
		c.stats.DiskMisses += int64(len(below))
		for _, m := range found {
			c.bodies.Add(bodyKey(box, m.ID), m)
		}
		c.mu.Unlock()
		out, miss = append(out, found...), below
	}
	if len(miss) == 0 {
		slices.SortFunc(out, byID)
		return out, nil
	}
	got, err := c.b.Messages(ctx, box, miss)
	if err != nil && c.disk != nil && unreachable(err) {
		c.mu.Lock()
		c.offline = true
		c.mu.Unlock()
	}
	if c.disk != nil {
		for _, m := range got {
			m.Box = box
			c.disk.Put(m)
		}
	}
	c.mu.Lock()
	if err == nil && len(got) > 0 {
		c.offline = false
	}
	for _, m := range got {
		c.bodies.Add(bodyKey(box, m.ID), m)
	}
	c.mu.Unlock()
	out = append(out, got...)
	slices.SortFunc(out, byID)
	return out, err
}

func (c *Cache) MarkRead(ctx context.Context, id string) (time.Time, error) {
	at, err := c.b.MarkRead(ctx, id)
	if err != nil {
		return time.Time{}, err
	}
	c.mu.Lock()
	c.patchLocked(mailbox.Inbox, markRead, mailbox.Entry{Box: mailbox.Inbox, ID: id, ReadAt: at})
	c.mu.Unlock()
	return at, nil
}

func (c *Cache) Delete(ctx context.Context, box mailbox.Box, id string) error {
	if err := c.b.Delete(ctx, box, id); err != nil {
		return err
	}
	c.mu.Lock()
	c.patchLocked(box, remove, mailbox.Entry{Box: box, ID: id})
	c.bodies.Remove(bodyKey(box, id))
	c.mu.Unlock()
	if c.disk != nil {
		c.disk.Remove(box, id)
	}
	return nil
}

// Send files the sender's copy in the sentbox listing at once. A message to
// oneself also lands in the inbox, which is listed again to show it.
func (c *Cache) Send(ctx context.Context, s mailbox.Sealed, key string) (mailbox.Message, error) {
	m, err := c.b.Send(ctx, s, key)
	if err != nil {
		return mailbox.Message{}, err
	}
	c.mu.Lock()
	c.patchLocked(mailbox.Sentbox, put, m.Entry)
	c.bodies.Add(bodyKey(mailbox.Sentbox, m.ID), m)
	if c.disk != nil {
		m.Box = mailbox.Sentbox
		c.disk.Put(m)
	}
	if s.To == s.From {
		c.boxes[mailbox.Inbox].fetchedAt = time.Time{}
	}
	c.mu.Unlock()
	return m, nil
}

// Threads answers from the list kept for ListTTL.
func (c *Cache) Threads(ctx context.Context) ([]mailbox.Thread, error) {
	c.mu.Lock()
	if c.threadsOK && c.freshLocked(c.threadsAt, false) {
		out := slices.Clone(c.threads)
		c.stats.ListHits++
		c.mu.Unlock()
		return out, nil
	}
	c.stats.ListMisses++
	c.mu.Unlock()
	start := c.cfg.Now()
	ts, err := c.b.Threads(ctx)
	if err != nil {
		return nil, err
	}
	out := slices.Clone(ts)
	mailbox.SortThreads(out)
	c.mu.Lock()
	c.threads, c.threadsAt, c.threadsOK = out, start, true
	c.mu.Unlock()
	return slices.Clone(out), nil
}

func (c *Cache) NewThread(ctx context.Context, name string) (mailbox.Thread, error) {
	t, err := c.b.NewThread(ctx, name)
	if err != nil {
		return mailbox.Thread{}, err
	}
	c.mu.Lock()
	if c.threadsOK {
		// In the hub's order, so the next listing sees no change.
		c.threads = append(c.threads, t)
		mailbox.SortThreads(c.threads)
	}
	c.mu.Unlock()
	return t, nil
}

func (c *Cache) DeleteThread(ctx context.Context, t mailbox.Thread) error {
	if err := c.b.DeleteThread(ctx, t); err != nil {
		return err
	}
	c.mu.Lock()
	c.threads = slices.DeleteFunc(c.threads, func(x mailbox.Thread) bool { return x.ID == t.ID })
	c.mu.Unlock()
	return nil
}

// Usage is never cached: it is read by people, rarely.
func (c *Cache) Usage(ctx context.Context) (mailbox.Usage, error) { return c.b.Usage(ctx) }

// Watch opens box's watch below and folds every event into the listing
// kept before the layer above hears of it. The box counts as watched from
// before the call, so that a disconnect reported while it returns is not
// overwritten.
func (c *Cache) Watch(ctx context.Context, box mailbox.Box, fn func(mailbox.Event)) (mailbox.Watch, error) {
	c.mu.Lock()
	c.watching[box] = true
	c.mu.Unlock()
	w, err := c.b.Watch(ctx, box, func(ev mailbox.Event) {
		c.event(box, ev)
		fn(ev)
	})
	if err != nil {
		c.mu.Lock()
		c.watching[box] = false
		c.mu.Unlock()
		return nil, err
	}
	return w, nil
}

// event applies one watch event. One that cannot be applied precisely (a
// record that did not decode, a stream that came back after a gap) makes
// the listing stale instead, so the next use lists the box again.
func (c *Cache) event(box mailbox.Box, ev mailbox.Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch ev.Kind {
	case mailbox.EventCreate, mailbox.EventSave:
		if ev.Message == nil {
			c.patchLocked(box, invalidate, mailbox.Entry{})
			return
		}
		c.patchLocked(box, put, ev.Message.Entry)
		if len(ev.Message.Body) > 0 {
			c.bodies.Add(bodyKey(box, ev.Message.ID), *ev.Message)
			if c.disk != nil {
				m := *ev.Message
				m.Box = box
				c.disk.Put(m)
			}
		}
	case mailbox.EventDelete:
		c.patchLocked(box, remove, mailbox.Entry{Box: box, ID: ev.ID})
		c.bodies.Remove(bodyKey(box, ev.ID))
		if c.disk != nil {
			c.disk.Remove(box, ev.ID)
		}
	case mailbox.EventReconnected:
		c.watching[box] = true
		c.patchLocked(box, invalidate, mailbox.Entry{})
	case mailbox.EventDisconnected, mailbox.EventStopped:
		c.watching[box] = false
	}
}
