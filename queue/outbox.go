package queue

import (
	"context"
	"crypto/rand"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/hubfs/hubfs/hub"
	"github.com/hubfs/hubfs/identity"
	"github.com/hubfs/hubfs/mailbox"
)

// Sender delivers one sealed message under an idempotency key and returns
// the hub's id for it. plain, when not nil, is the message's plaintext for
// the sender's in-memory caches; it is never written anywhere.
type Sender interface {
	SendSealed(ctx context.Context, s mailbox.Sealed, key string, plain []byte) (id string, err error)
}

// Event is something the outbox did, for .hubfs/events and .hubfs/errors.
type Event = mailbox.QueueEvent

// EventKind names an Event.
type EventKind = mailbox.QueueEventKind

// Kinds of Event.
const (
	Queued   = mailbox.ItemQueued   // a message was accepted into the queue
	Sent     = mailbox.ItemSent     // a queued message was delivered (and left the queue)
	Failed   = mailbox.ItemFailed   // the hub refused a queued message for good; it stays, marked
	Retrying = mailbox.ItemRetrying // an attempt failed for a reason that may pass
)

// Config configures an Outbox.
type Config struct {
	Dir    *Dir
	Sender Sender
	// Key seals messages: encrypts to both parties and signs.
	Key identity.Identity
	// Hub is the address recorded in new items, for people reading the
	// queue. Items are delivered to whichever hub the outbox sends to: a
	// recipient is a key, not an address, and a hub that does not know them
	// refuses the message, which then stays, marked failed.
	Hub string
	// Attempt bounds the first, synchronous delivery attempt of a send:
	// past it the message waits in the queue and the send returns nil.
	Attempt time.Duration
	// Timeout bounds one background delivery attempt.
	Timeout time.Duration
	// MinBackoff and MaxBackoff bound the wait between background attempts
	// while the hub does not answer.
	MinBackoff, MaxBackoff time.Duration
	// Rescan is how often the directory is read again for items that other
	// processes queued (`hubfs send --queue`, another mount).
	Rescan time.Duration
	// OnEvent hears of every event; it must not block.
	OnEvent func(Event)
	Now     func() time.Time
	Logger  *slog.Logger
}

// Defaults for Config's zero values.
const (
	DefaultAttempt    = mailbox.DefaultSendTimeout // --send-timeout's default
	DefaultTimeout    = 10 * time.Second
	DefaultMinBackoff = 200 * time.Millisecond
	DefaultMaxBackoff = 30 * time.Second
	DefaultRescan     = 30 * time.Second
)

// Outbox sends messages so that none is lost: each goes to the hub at once
// if the hub answers, and otherwise into the durable queue, which a
// background loop (Run) delivers in order.
type Outbox struct {
	cfg  Config
	log  *slog.Logger
	kick chan struct{}

	mu       sync.Mutex // guards the fields below
	items    map[string]Item
	inFlight map[string]chan struct{} // closed when the item's attempt is over and recorded
	// cancelling holds items that Cancel is waiting to remove: no new
	// attempt starts on them.
	cancelling map[string]bool
	refusal    error // the last permanent refusal that applies to every send (auth)
}

// New makes an outbox over cfg.Dir and loads what it holds.
func New(cfg Config) (*Outbox, error) {
	if cfg.Dir == nil || cfg.Sender == nil || cfg.Key == nil {
		return nil, errors.New("queue: an outbox needs a directory, a sender and a key")
	}
	if cfg.Attempt <= 0 {
		cfg.Attempt = DefaultAttempt
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = DefaultMinBackoff
	}
	if cfg.MaxBackoff < cfg.MinBackoff {
		cfg.MaxBackoff = max(DefaultMaxBackoff, cfg.MinBackoff)
	}
	if cfg.Rescan <= 0 {
		cfg.Rescan = DefaultRescan
	}
	if cfg.OnEvent == nil {
		cfg.OnEvent = func(Event) {}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	o := &Outbox{
		cfg:        cfg,
		log:        cfg.Logger,
		kick:       make(chan struct{}, 1),
		items:      map[string]Item{},
		inFlight:   map[string]chan struct{}{},
		cancelling: map[string]bool{},
	}
	if err := o.rescan(); err != nil {
		return nil, err
	}
	return o, nil
}

// Send seals body to to and delivers it, or queues it durably. nil means
// the message is on the hub or in the queue: it will arrive, once. An error
// means nothing was queued and nothing will be sent, except for a permanent
// refusal met by the first attempt: the error is returned and the message
// also stays in the queue, marked failed, so that a caller who ignores the
// error (a shell ignores close) can still see it.
func (o *Outbox) Send(ctx context.Context, to *identity.PublicKey, body []byte) error {
	if err := o.Refusal(); err != nil {
		return err
	}
	it, err := NewItem(o.cfg.Key, to, body, o.cfg.Hub, o.cfg.Now())
	if err != nil {
		return err
	}
	sealed := it.Sealed
	// Keep the order of sends: while older messages wait, a new one
	// waits behind them instead of overtaking.
	if o.waiting() == 0 {
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), o.cfg.Attempt)
		_, err := o.cfg.Sender.SendSealed(actx, sealed, it.Key, body)
		cancel()
		switch {
		case err == nil:
			return nil
		case Permanent(err):
			o.noteRefusal(err)
			it.Attempts, it.LastError, it.Failed = 1, err.Error(), true
			if perr := o.put(it); perr != nil {
				o.log.Warn("queue: cannot keep a refused message", "err", perr)
			}
			o.cfg.OnEvent(Event{Kind: Failed, Item: it, Err: err, AtClose: true})
			return err
		}
		it.Attempts, it.LastError = 1, err.Error()
	}
	if err := o.put(it); err != nil {
		return err
	}
	o.cfg.OnEvent(Event{Kind: Queued, Item: it})
	o.Kick()
	return nil
}

// NewItem seals body from key to to as a queue item, with a fresh local id
// (a lowercase ULID: ids sort by queue time) and a fresh idempotency key.
func NewItem(key identity.Identity, to *identity.PublicKey, body []byte, hubAddr string, now time.Time) (Item, error) {
	sealed, err := hub.Seal(key, to, body)
	if err != nil {
		return Item{}, err
	}
	return Item{
		ID:       newID(now),
		To:       sealed.To,
		Size:     len(body),
		QueuedAt: now.UTC(),
		Hub:      hubAddr,
		Key:      hub.NewIdempotencyKey(),
		Sealed:   sealed,
	}, nil
}

var (
	idsMu   sync.Mutex // guards entropy
	entropy = ulid.Monotonic(rand.Reader, 0)
)

// newID makes ids that increase within this process, so queue order is
// send order.
func newID(now time.Time) string {
	idsMu.Lock()
	defer idsMu.Unlock()
	return strings.ToLower(ulid.MustNew(ulid.Timestamp(now), entropy).String())
}

// put stores it on disk and then in memory.
func (o *Outbox) put(it Item) error {
	if err := o.cfg.Dir.Put(it); err != nil {
		return err
	}
	o.mu.Lock()
	o.items[it.ID] = it
	o.mu.Unlock()
	return nil
}

// forget drops an item that is no longer on disk.
func (o *Outbox) forget(id string) {
	o.mu.Lock()
	delete(o.items, id)
	o.mu.Unlock()
}

// Kick wakes the delivery loop.
func (o *Outbox) Kick() {
	select {
	case o.kick <- struct{}{}:
	default:
	}
}

// Items lists the queue, oldest first.
func (o *Outbox) Items() []Item {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := make([]Item, 0, len(o.items))
	for _, it := range o.items {
		out = append(out, it)
	}
	sortItems(out)
	return out
}

// Item returns one queued item.
func (o *Outbox) Item(id string) (Item, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	it, ok := o.items[id]
	return it, ok
}

// waiting is the number of items that the delivery loop will still send.
func (o *Outbox) waiting() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := 0
	for _, it := range o.items {
		if !it.Failed {
			n++
		}
	}
	return n
}

// Len is the number of items waiting or failed.
func (o *Outbox) Len() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.items)
}

// Stats are the queue's figures for .hubfs/status.
type Stats = mailbox.QueueStats

// Stats returns the queue's figures now.
func (o *Outbox) Stats() Stats {
	o.mu.Lock()
	defer o.mu.Unlock()
	s := Stats{Length: len(o.items), Dir: o.cfg.Dir.Path()}
	var oldest time.Time
	for _, it := range o.items {
		if it.Failed {
			s.Failed++
		}
		if oldest.IsZero() || it.QueuedAt.Before(oldest) {
			oldest = it.QueuedAt
		}
	}
	if !oldest.IsZero() {
		s.OldestAgeSeconds = max(0, o.cfg.Now().Sub(oldest).Seconds())
	}
	return s
}

// ErrBusy: another process is delivering the item right now.
var ErrBusy = mailbox.ErrBusy

// ErrNotQueued: no such item (it may have been delivered meanwhile).
var ErrNotQueued = mailbox.ErrNotQueued

// Cancel removes a queued item, so that it is never sent. An attempt in
// flight is let finish (it may be storing the message on the hub right
// now, and cutting it off would only make that unknowable): if it
// delivered, the item is no longer queued and Cancel says so.
func (o *Outbox) Cancel(id string) error {
	o.mu.Lock()
	_, ok := o.items[id]
	if !ok {
		o.mu.Unlock()
		return ErrNotQueued
	}
	o.cancelling[id] = true
	done := o.inFlight[id]
	o.mu.Unlock()
	defer func() {
		o.mu.Lock()
		delete(o.cancelling, id)
		o.mu.Unlock()
	}()
	if done != nil {
		select {
		case <-done:
		case <-time.After(o.cfg.Timeout + time.Second):
			return ErrBusy
		}
		if _, still := o.Item(id); !still {
			return ErrNotQueued // that attempt delivered it
		}
	}
	// The lock may be held for a moment by our own loop (it takes it before
	// it sees the item is being cancelled) or for an attempt by another
	// process: wait for either, within one attempt's time.
	var unlock func()
	for deadline := time.Now().Add(o.cfg.Timeout); ; time.Sleep(5 * time.Millisecond) {
		u, locked, err := o.cfg.Dir.Lock(id)
		if errors.Is(err, errGone) {
			o.forget(id) // another process delivered or cancelled it
			return ErrNotQueued
		}
		if err != nil {
			return err
		}
		if locked {
			unlock = u
			break
		}
		if time.Now().After(deadline) {
			return ErrBusy // another process is delivering it
		}
	}
	defer unlock()
	if err := o.cfg.Dir.Remove(id); err != nil {
		return err
	}
	o.mu.Lock()
	delete(o.items, id)
	o.mu.Unlock()
	return nil
}

// Refusal is the permanent refusal that would meet any send now (the API
// key was revoked), or nil; the filesystem reports it at open.
func (o *Outbox) Refusal() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.refusal
}

// noteRefusal remembers a refusal that applies to every send, and forgets
// it after a send succeeds.
func (o *Outbox) noteRefusal(err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	switch {
	case err == nil:
		o.refusal = nil
	case refusesEverySend(err):
		o.refusal = err
	}
}

// rescan merges the directory into memory: items other processes queued
// appear, items they delivered disappear.
func (o *Outbox) rescan() error {
	items, bad, err := o.cfg.Dir.Load()
	if err != nil {
		return err
	}
	for _, name := range bad {
		o.log.Warn("queue: unreadable item left in place", "file", name)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	next := make(map[string]Item, len(items))
	for _, it := range items {
		next[it.ID] = it
	}
	for id, it := range o.items {
		if o.inFlight[id] != nil {
			next[id] = it
		}
	}
	o.items = next
	return nil
}

// Run delivers the queue until ctx ends: in order, each item once, with
// backoff while the hub does not answer.
func (o *Outbox) Run(ctx context.Context) {
	backoff := time.Duration(0)
	rescan := time.NewTicker(o.cfg.Rescan)
	defer rescan.Stop()
	for {
		progress, transient := o.deliverAll(ctx)
		if ctx.Err() != nil {
			return
		}
		var wait <-chan time.Time
		var timer *time.Timer
		if transient {
			if progress || backoff == 0 {
				backoff = o.cfg.MinBackoff
			} else {
				backoff = min(backoff*2, o.cfg.MaxBackoff)
			}
			timer = time.NewTimer(backoff)
			wait = timer.C
		} else {
			backoff = 0
		}
		select {
		case <-ctx.Done():
		case <-o.kick:
		case <-wait:
		case <-rescan.C:
			if err := o.rescan(); err != nil {
				o.log.Warn("queue: rescan", "err", err)
			}
		}
		if timer != nil {
			timer.Stop()
			timer = nil
		}
	}
}

// deliverAll tries every deliverable item once, oldest first, and stops
// at the first that fails for a reason that may pass: the ones behind it
// would meet the same hub. It reports whether anything was delivered and
// whether it stopped on such a failure.
func (o *Outbox) deliverAll(ctx context.Context) (progress, transient bool) {
	for _, it := range o.Items() {
		if it.Failed {
			continue
		}
		if ctx.Err() != nil {
			return progress, false
		}
		err, tried := o.deliver(ctx, it)
		if !tried {
			continue
		}
		if err == nil {
			progress = true
			continue
		}
		if !Permanent(err) {
			return progress, true
		}
	}
	return progress, false
}

// deliver makes one attempt at it, under its file lock so that no other
// process sends it at the same time.
func (o *Outbox) deliver(ctx context.Context, it Item) (err error, tried bool) {
	unlock, locked, lerr := o.cfg.Dir.Lock(it.ID)
	if errors.Is(lerr, errGone) {
		o.forget(it.ID) // another process delivered or cancelled it
		return nil, false
	}
	if lerr != nil {
		o.log.Warn("queue: lock", "err", lerr)
		return lerr, true
	}
	if !locked {
		return nil, false
	}
	o.mu.Lock()
	if _, still := o.items[it.ID]; !still || o.cancelling[it.ID] {
		o.mu.Unlock()
		unlock()
		return nil, false // cancelled meanwhile, or being cancelled
	}
	done := make(chan struct{})
	o.inFlight[it.ID] = done
	o.mu.Unlock()
	// Over only once the attempt is recorded and the file lock is given
	// back, so that a Cancel waiting on it finds the item as it is.
	defer func() {
		unlock()
		o.mu.Lock()
		delete(o.inFlight, it.ID)
		o.mu.Unlock()
		close(done)
	}()

	actx, cancel := context.WithTimeout(ctx, o.cfg.Timeout)
	id, err := o.cfg.Sender.SendSealed(actx, it.Sealed, it.Key, nil)
	cancel()
	if err != nil && ctx.Err() != nil {
		return ctx.Err(), false // stopping: the item stays as it was
	}
	if err == nil {
		o.noteRefusal(nil)
		if rerr := o.cfg.Dir.Remove(it.ID); rerr != nil {
			// Delivered, but the file stays: the next attempt sends the
			// same key, which our hub answers with this id.
			o.log.Warn("queue: delivered but not removed", "id", it.ID, "err", rerr)
		}
		o.mu.Lock()
		delete(o.items, it.ID)
		o.mu.Unlock()
		o.cfg.OnEvent(Event{Kind: Sent, Item: it, ID: id})
		return nil, true
	}
	it.Attempts++
	it.LastError = err.Error()
	kind := Retrying
	if Permanent(err) {
		o.noteRefusal(err)
		it.Failed = true
		kind = Failed
	}
	if perr := o.put(it); perr != nil {
		o.log.Warn("queue: cannot record an attempt", "id", it.ID, "err", perr)
	}
	o.cfg.OnEvent(Event{Kind: kind, Item: it, Err: err})
	return err, true
}

// Permanent reports whether a send failed for a reason no retry cures:
// the recipient, the message or our credentials were refused. Anything
// else (the hub unreachable or slow, an unknown outcome, a full disk at
// the hub) may pass, and the message waits.
func Permanent(err error) bool {
	if err == nil {
		return false
	}
	for _, transient := range []error{hub.ErrUnavailable, context.DeadlineExceeded, context.Canceled, hub.ErrUnknownOutcome, hub.ErrNoSpace} {
		if errors.Is(err, transient) {
			return false
		}
	}
	for _, permanent := range []error{hub.ErrNoMailbox, hub.ErrTooLarge, hub.ErrInvalid, hub.ErrPermission, hub.ErrUnauthenticated, hub.ErrNotFound, hub.ErrExists} {
		if errors.Is(err, permanent) {
			return true
		}
	}
	return false
}

// refusesEverySend: a refusal of our credentials, not of one message.
func refusesEverySend(err error) bool {
	return errors.Is(err, hub.ErrUnauthenticated) || errors.Is(err, hub.ErrBadAPIKey)
}

func sortItems(items []Item) {
	slices.SortFunc(items, func(a, b Item) int { return strings.Compare(a.ID, b.ID) })
}
