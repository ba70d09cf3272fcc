// Package hubmail puts the hub client under the mailbox model: a
// mailbox.Backend over *hub.Client (NewBackend), the hub's message format as
// a mailbox.Sealer (NewSealer), and New, which stacks them with the cache as
// a mount's config says. It is the one place where hub types become model
// types and hub errors get the model's kinds (mailbox.Mark), so the layers
// above never import the client or gRPC.
package hubmail

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
	"unique"

	"github.com/hubfs/hubfs/cache"
	"github.com/hubfs/hubfs/hub"
	"github.com/hubfs/hubfs/identity"
	"github.com/hubfs/hubfs/mailbox"
)

// Client is the part of *hub.Client the backend uses; tests put a wrapper
// in front of the real one to delay or hold calls.
type Client interface {
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
	WatchInbox(ctx context.Context, mailboxID identity.ThreadID, fn func(hub.MailboxEvent)) (*hub.Watch, error)
	WatchSentbox(ctx context.Context, mailboxID identity.ThreadID, fn func(hub.MailboxEvent)) (*hub.Watch, error)
	DocClient
}

var _ Client = (*hub.Client)(nil)

// New is the model of key's mailbox on the hub cl reaches: the hub backend,
// wrapped in a cache when cfg asks for one (cfg.Caches), under the model.
// mailboxID is the mailbox thread the watches follow.
func New(cl Client, key *identity.PrivateKey, mailboxID identity.ThreadID, cfg mailbox.Config) *mailbox.Model {
	var b mailbox.Backend = NewBackend(cl, mailboxID, cfg)
	if !cfg.Caches() {
		return mailbox.New(b, NewSealer(key), cfg)
	}
	c := cache.New(b, cfg)
	m := mailbox.New(c, NewSealer(key), cfg)
	Prime(m, c)
	return m
}

// Prime has m hold the listings c loaded from disk before anything lists
// through it, so that the first ls of a new mount is answered from them
// while the mount's first refresh asks the hub (and reports what changed
// since, as any refresh does). It reads the disk only.
func Prime(m *mailbox.Model, c *cache.Cache) {
	for _, box := range c.Warm() {
		// Answered from memory; a failure only means a cold start.
		_, _ = m.List(context.Background(), box)
	}
}

// Backend is a mailbox.Backend over the hub client. It counts every hub
// call, and what the answers say about the hub being online, for
// .hubfs/status.
type Backend struct {
	cl        Client
	mailboxID identity.ThreadID
	pageSize  int
	now       func() time.Time
	prefetch  *prefetch // bodies a batch brought besides the one asked for

	mu    sync.Mutex // guards the fields below
	stats mailbox.Stats
}

var _ mailbox.Backend = (*Backend)(nil)

// NewBackend makes the backend over cl. Of cfg it reads PageSize and Now.
func NewBackend(cl Client, mailboxID identity.ThreadID, cfg mailbox.Config) *Backend {
	b := &Backend{cl: cl, mailboxID: mailboxID, pageSize: cfg.PageSize, now: cfg.Now, prefetch: newPrefetch()}
	if b.pageSize <= 0 || b.pageSize >= hub.MaxPageSize {
		b.pageSize = hub.MaxPageSize - 1 // room for the repeated seek message
	}
	if b.now == nil {
		b.now = time.Now
	}
	b.stats.HubCallsByOp = map[string]int64{}
	b.stats.Online = true
	return b
}

// kinds pairs each hub sentinel with the model's kind for it.
var kinds = []struct{ hub, model error }{
	{hub.ErrNotFound, mailbox.ErrNotFound},
	{hub.ErrExists, mailbox.ErrExists},
	{hub.ErrPermission, mailbox.ErrPermission},
	{hub.ErrUnauthenticated, mailbox.ErrUnauthenticated},
	{hub.ErrInvalid, mailbox.ErrInvalid},
	{hub.ErrUnavailable, mailbox.ErrUnavailable},
	{hub.ErrTooLarge, mailbox.ErrTooLarge},
	{hub.ErrNoMailbox, mailbox.ErrNoMailbox},
	{hub.ErrBadSignature, mailbox.ErrBadSignature},
	{hub.ErrDecrypt, mailbox.ErrDecrypt},
	{hub.ErrBadAPIKey, mailbox.ErrBadAPIKey},
	{hub.ErrNoSpace, mailbox.ErrNoSpace},
	{hub.ErrUnknownOutcome, mailbox.ErrUnknownOutcome},
}

// mark gives a hub error the model's kinds and the hub's status code.
func mark(err error) error {
	if err == nil {
		return nil
	}
	var ks []error
	for _, k := range kinds {
		if errors.Is(err, k.hub) {
			ks = append(ks, k.model)
		}
	}
	return mailbox.Mark(err, hub.Code(err), ks...)
}

// called records one hub call and what it says about the hub being online.
func (b *Backend) called(op string, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.stats.HubCalls++
	b.stats.HubCallsByOp[op]++
	switch {
	case err == nil:
		b.stats.Online = true
	case errors.Is(err, hub.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded):
		b.stats.Online = false
		fallthrough
	default:
		b.stats.LastError = err.Error()
		at := b.now()
		b.stats.LastErrorAt = &at
	}
}

// streamFailed records a broken watch stream in the figures, as a failed
// call would be: status then says offline at once, not at the next poll.
func (b *Backend) streamFailed(err error) {
	if err == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if errors.Is(err, hub.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded) {
		b.stats.Online = false
	}
	b.stats.LastError = err.Error()
	at := b.now()
	b.stats.LastErrorAt = &at
}

// Figures adds the hub call counts, the online state and the last error.
func (b *Backend) Figures(s *mailbox.Stats) {
	b.mu.Lock()
	defer b.mu.Unlock()
	s.HubCalls += b.stats.HubCalls
	if s.HubCallsByOp == nil {
		s.HubCallsByOp = map[string]int64{}
	}
	for k, v := range b.stats.HubCallsByOp {
		s.HubCallsByOp[k] += v
	}
	s.Online = b.stats.Online
	s.LastError, s.LastErrorAt = b.stats.LastError, b.stats.LastErrorAt
	s.WatchReconnects += b.stats.WatchReconnects
}

// messageOf is m in the model's terms. The public keys are interned: a
// box of N messages has a handful of correspondents, and one copy of each
// key string instead of N (two 64-byte allocations a message, in every
// listing the layers above keep) is most of what a listed message weighs.
func messageOf(box mailbox.Box, m hub.UserMessage) mailbox.Message {
	return mailbox.Message{
		Entry:     mailbox.Entry{Box: box, ID: m.ID, From: unique.Make(m.From).Value(), To: unique.Make(m.To).Value(), Size: m.Size(), CreatedAt: m.CreatedAt, ReadAt: m.ReadAt},
		Body:      m.Body,
		Signature: m.Signature,
	}
}

func hubBox(box mailbox.Box) hub.Box {
	if box == mailbox.Inbox {
		return hub.Inbox
	}
	return hub.Sentbox
}

// listOp names the hub call that lists box, for the call counts.
func listOp(box mailbox.Box) string {
	if box == mailbox.Inbox {
		return "ListInboxMessages"
	}
	return "ListSentboxMessages"
}

// List lists a whole box, oldest first, with hub's pager (which halves a
// page the hub refuses as too large) over this backend's page calls. Every
// listing is new: the version is 0.
//
// It asks for metadata only: hubfs serve then sends each message's body
// size and no body, and Message and Messages fetch bodies in batches when
// they are read (or decrypted ahead of a reader). Another Textile hub
// ignores the request and sends bodies, which the listing then carries as
// before (the layers above keep them).
func (b *Backend) List(ctx context.Context, box mailbox.Box, _ mailbox.ListOptions) (mailbox.Listing, error) {
	var all []mailbox.Message
	for m, err := range hub.Pages(hub.ListOptions{Limit: b.pageSize, Ascending: true}, func(seek string, limit int) ([]hub.UserMessage, error) {
		return b.page(ctx, box, seek, limit, true)
	}) {
		if err != nil {
			return mailbox.Listing{}, mark(err)
		}
		all = append(all, messageOf(box, m))
	}
	return mailbox.Listing{Messages: all}, nil
}

func (b *Backend) page(ctx context.Context, box mailbox.Box, seek string, limit int, withoutBodies bool) ([]hub.UserMessage, error) {
	var (
		page []hub.UserMessage
		err  error
	)
	if box == mailbox.Inbox {
		page, err = b.cl.ListInboxMessages(ctx, hub.InboxListOptions{Seek: seek, Limit: limit, Ascending: true, WithoutBodies: withoutBodies})
	} else {
		page, err = b.cl.ListSentboxMessages(ctx, hub.SentboxListOptions{Seek: seek, Limit: limit, Ascending: true, WithoutBodies: withoutBodies})
	}
	b.called(listOp(box), err)
	return page, err
}

// Message returns one message with its body: from the prefetch buffer if
// a batch brought it, else by fetching a batch, one page of bodies from id
// on (seek is inclusive), whose first message is the one asked for and the
// rest are buffered for the reads that follow. Under OnlyIfCached only the
// buffer answers.
func (b *Backend) Message(ctx context.Context, box mailbox.Box, id string) (mailbox.Message, error) {
	if m, ok := b.prefetch.take(box, id); ok {
		return m, nil
	}
	if mailbox.IsOnlyIfCached(ctx) {
		return mailbox.Message{}, fmt.Errorf("%s/%s: %w", box, id, mailbox.ErrNotCached)
	}
	if err := hub.CheckMessageID(id); err != nil {
		return mailbox.Message{}, mark(fmt.Errorf("get %s message: %w: %v", box, hub.ErrInvalid, err))
	}
	limit := batchSize
	for {
		page, err := b.page(ctx, box, id, limit, false)
		if errors.Is(err, hub.ErrTooLarge) && limit > 1 {
			limit /= 2 // large bodies: a smaller batch fits the hub's reply budget
			continue
		}
		if err != nil {
			return mailbox.Message{}, mark(err)
		}
		if len(page) == 0 || page[0].ID != id {
			return mailbox.Message{}, mark(fmt.Errorf("%s/%s: %w", box, id, hub.ErrNotFound))
		}
		rest := make([]mailbox.Message, 0, len(page)-1)
		for _, m := range page[1:] {
			if len(m.Body) > 0 && m.ID > id {
				rest = append(rest, messageOf(box, m))
			}
		}
		b.prefetch.add(box, rest)
		return messageOf(box, page[0]), nil
	}
}

// Messages returns the bodies of ids (ascending): those the prefetch
// buffer holds, and the rest in pages of bodies from the first one missing
// on, at most batchSize a call, so a run of neighbours costs one hub call
// per batch. Under OnlyIfCached only the buffer answers.
func (b *Backend) Messages(ctx context.Context, box mailbox.Box, ids []string) ([]mailbox.Message, error) {
	out := make([]mailbox.Message, 0, len(ids))
	var want []string // ascending, not buffered
	for _, id := range ids {
		if m, ok := b.prefetch.take(box, id); ok {
			out = append(out, m)
		} else if hub.CheckMessageID(id) == nil {
			want = append(want, id)
		}
	}
	if mailbox.IsOnlyIfCached(ctx) || len(want) == 0 {
		return out, nil
	}
	got, err := b.fetchBodies(ctx, box, want)
	out = append(out, got...)
	slices.SortFunc(out, func(x, y mailbox.Message) int { return strings.Compare(x.ID, y.ID) })
	return out, err
}

// fetchBodies pages through the box from want[0] on, keeping the messages
// of want: one call covers the next limit messages, wanted or not, so a
// run of neighbours is one call. The first page asks for as many as are
// wanted; ids with gaps between them (some already opened) take more,
// pages of batchSize. A page the hub refuses as too large is halved.
// What it got before a failure is returned with the error.
func (b *Backend) fetchBodies(ctx context.Context, box mailbox.Box, want []string) ([]mailbox.Message, error) {
	var out []mailbox.Message
	limit := min(len(want), batchSize)
	for len(want) > 0 {
		page, err := b.page(ctx, box, want[0], limit, false)
		if errors.Is(err, hub.ErrTooLarge) && limit > 1 {
			limit /= 2
			continue
		}
		if err != nil {
			return out, mark(err)
		}
		i := 0 // want[:i] is settled: found in the page, or gone from the hub
		for _, m := range page {
			for i < len(want) && want[i] < m.ID {
				i++ // before this page's message and not in it: gone
			}
			if i < len(want) && want[i] == m.ID && len(m.Body) > 0 {
				out = append(out, messageOf(box, m))
				i++
			}
		}
		if len(page) < limit {
			break // the end of the box: the rest are gone
		}
		if last := page[len(page)-1].ID; i < len(want) && want[i] <= last {
			i, _ = slices.BinarySearch(want, last)
			if i < len(want) && want[i] == last {
				i++
			}
		}
		want = want[i:]
		limit = batchSize
	}
	return out, nil
}

func (b *Backend) MarkRead(ctx context.Context, id string) (time.Time, error) {
	b.prefetch.forget(mailbox.Inbox, id) // its read time changes
	at, err := b.cl.ReadInboxMessage(ctx, id)
	b.called("ReadInboxMessage", err)
	return at, mark(err)
}

func (b *Backend) Delete(ctx context.Context, box mailbox.Box, id string) error {
	b.prefetch.forget(box, id)
	var err error
	if box == mailbox.Inbox {
		err = b.cl.DeleteInboxMessage(ctx, id)
		b.called("DeleteInboxMessage", err)
	} else {
		err = b.cl.DeleteSentboxMessage(ctx, id)
		b.called("DeleteSentboxMessage", err)
	}
	return mark(err)
}

func (b *Backend) Send(ctx context.Context, s mailbox.Sealed, key string) (mailbox.Message, error) {
	m, err := b.cl.SendSealed(ctx, s, key)
	b.called("SendMessage", err)
	if err != nil {
		return mailbox.Message{}, mark(err)
	}
	return messageOf(mailbox.Sentbox, m), nil
}

func (b *Backend) Threads(ctx context.Context) ([]mailbox.Thread, error) {
	ts, err := b.cl.ListThreads(ctx)
	b.called("ListThreads", err)
	if err != nil {
		return nil, mark(err)
	}
	out := make([]mailbox.Thread, 0, len(ts))
	for _, t := range ts {
		out = append(out, mailbox.Thread{ID: t.ID.String(), Name: t.Name, IsDB: t.IsDB, Mailbox: t.Name == hub.MailboxName})
	}
	mailbox.SortThreads(out)
	return out, nil
}

func (b *Backend) NewThread(ctx context.Context, name string) (mailbox.Thread, error) {
	id, err := b.cl.NewDB(ctx, name)
	b.called("NewDB", err)
	if err != nil {
		return mailbox.Thread{}, mark(err)
	}
	return mailbox.Thread{ID: id.String(), Name: name, IsDB: true}, nil
}

func (b *Backend) DeleteThread(ctx context.Context, t mailbox.Thread) error {
	id, err := identity.ParseThreadID(t.ID)
	if err != nil {
		return mark(fmt.Errorf("thread %q: %w", t.ID, hub.ErrInvalid))
	}
	err = b.cl.DeleteDB(ctx, id)
	b.called("DeleteDB", err)
	return mark(err)
}

func (b *Backend) Usage(ctx context.Context) (mailbox.Usage, error) {
	u, err := b.cl.GetUsage(ctx, hub.UsageOptions{})
	b.called("GetUsage", err)
	if err != nil {
		return mailbox.Usage{}, mark(err)
	}
	return usageOf(u), nil
}

// Watch opens box's watch on the mailbox thread. A broken stream counts in
// the figures at once; a create or save whose record names no valid
// message comes up without one, so the layers above list the box again.
func (b *Backend) Watch(ctx context.Context, box mailbox.Box, fn func(mailbox.Event)) (mailbox.Watch, error) {
	start := b.cl.WatchInbox
	if box == mailbox.Sentbox {
		start = b.cl.WatchSentbox
	}
	w, err := start(ctx, b.mailboxID, func(ev hub.MailboxEvent) { fn(b.event(box, ev)) })
	if err != nil {
		return nil, mark(err)
	}
	return w, nil
}

// eventKind is the model's name for a watch event of either stream (a
// mailbox's or a thread DB's); a stream that failed is recorded.
func (b *Backend) eventKind(t hub.MailboxEventType, err error) mailbox.EventKind {
	switch t {
	case hub.MailboxEventCreate:
		return mailbox.EventCreate
	case hub.MailboxEventSave:
		return mailbox.EventSave
	case hub.MailboxEventDelete:
		return mailbox.EventDelete
	case hub.MailboxEventDisconnected:
		b.streamFailed(err)
		return mailbox.EventDisconnected
	case hub.MailboxEventStopped:
		b.streamFailed(err)
		return mailbox.EventStopped
	case hub.MailboxEventReconnected:
		return mailbox.EventReconnected
	}
	return 0
}

func (b *Backend) event(box mailbox.Box, ev hub.MailboxEvent) mailbox.Event {
	out := mailbox.Event{ID: ev.MessageID, Err: mark(ev.Err)}
	if ev.MessageID != "" {
		b.prefetch.forget(box, ev.MessageID) // saved (read) or deleted: the buffered copy is stale
	}
	out.Kind = b.eventKind(ev.Type, ev.Err)
	if out.Kind == mailbox.EventReconnected {
		b.mu.Lock()
		b.stats.WatchReconnects++
		b.stats.Online = true
		b.mu.Unlock()
	}
	if ev.Message != nil && hub.CheckMessageID(ev.Message.ID) == nil {
		m := messageOf(box, *ev.Message)
		out.Message = &m
	}
	return out
}

func usageOf(u hub.GetUsageResponse) mailbox.Usage {
	out := mailbox.Usage{Usage: usesOf(u.Usage)}
	if c := u.Customer; c != nil {
		out.Customer = &mailbox.Customer{
			Key: c.Key, CustomerID: c.CustomerID, ParentKey: c.ParentKey, Email: c.Email,
			AccountType: c.AccountType, AccountStatus: c.AccountStatus, SubscriptionStatus: c.SubscriptionStatus,
			Balance: c.Balance, Billable: c.Billable, Delinquent: c.Delinquent, CreatedAt: c.CreatedAt,
			GracePeriodEnd: c.GracePeriodEnd, InvoicePeriod: mailbox.Period(c.InvoicePeriod),
			DailyUsage: usesOf(c.DailyUsage), Dependents: c.Dependents,
		}
	}
	return out
}

func usesOf(in map[string]hub.Usage) map[string]mailbox.Use {
	out := make(map[string]mailbox.Use, len(in))
	for k, u := range in {
		out[k] = mailbox.Use{Description: u.Description, Units: u.Units, Total: u.Total, Free: u.Free, Grace: u.Grace, Cost: u.Cost, Period: mailbox.Period(u.Period)}
	}
	return out
}
