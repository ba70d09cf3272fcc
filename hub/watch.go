package hub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/status"

	"github.com/hubfs/hubfs/identity"
	hubpb "github.com/hubfs/hubfs/wire/pb"
)

// Collections of the mailbox thread (protocol.md §1.3).
const (
	inboxCollection   = "inbox"
	sentboxCollection = "sentbox"
)

const (
	watchRetryBase = 200 * time.Millisecond
	watchRetryMax  = 10 * time.Second
)

// Watch is a running WatchInbox or WatchSentbox.
type Watch struct {
	cancel    context.CancelFunc
	done      chan struct{}
	ready     chan struct{}
	readyOnce sync.Once

	mu  sync.Mutex // guards err
	err error
}

// Close stops the watch and waits until its callback has returned for the
// last time; no callback runs after Close returns. Do not call it from the
// callback itself.
func (w *Watch) Close() {
	w.cancel()
	<-w.done
}

// Ready is closed once the hub has confirmed the first stream: from then
// on no change is missed. hubd confirms as soon as it has subscribed the
// stream; a Textile hub only with its first event, so do not wait on Ready
// before listing.
func (w *Watch) Ready() <-chan struct{} { return w.ready }

// Done is closed when the watch has ended: by Close, by its context, or by
// a permanent error (see Err).
func (w *Watch) Done() <-chan struct{} { return w.done }

// Err is the permanent error that ended the watch, nil while it runs and
// after Close or the end of its context.
func (w *Watch) Err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// WatchInbox calls fn for every change to the inbox of the mailbox
// mailboxID (from GetMailboxID), until ctx ends, Close, or the client is
// closed. It returns once the stream is open, and fails if it cannot open
// it; Ready closes when the hub has confirmed it. A hub that refuses the
// stream (auth, someone else's mailbox) says so with MailboxEventStopped,
// since gRPC reports a stream's refusal on its first read.
//
// When the stream breaks (the hub restarts, the network drops) fn gets
// MailboxEventDisconnected, the watch reconnects with backoff (up to 10 s
// apart), signing auth afresh, and fn gets MailboxEventReconnected once the
// hub has confirmed the new stream (a hub that confirms streams lazily does
// so with its first event). Streams the hub accepts and then refuses do not
// count: one Disconnected covers the whole outage, and the backoff grows
// until a stream is confirmed. Changes in between are lost: relist the box
// on Reconnected. A client given its identity (WithIdentity) gets a new
// token when the hub refuses the stream's, once per outage, so a hub whose
// host key changed does not stop the watch.
//
// fn runs on one goroutine, one event at a time, in the hub's order; a slow
// fn delays later events and holds the stream's flow control.
func (c *Client) WatchInbox(ctx context.Context, mailboxID identity.ThreadID, fn func(MailboxEvent)) (*Watch, error) {
	return c.watch(ctx, "watch inbox", mailboxID, inboxCollection, fn)
}

// WatchSentbox is WatchInbox for the sentbox.
func (c *Client) WatchSentbox(ctx context.Context, mailboxID identity.ThreadID, fn func(MailboxEvent)) (*Watch, error) {
	return c.watch(ctx, "watch sentbox", mailboxID, sentboxCollection, fn)
}

type listenStream = grpc.ServerStreamingClient[hubpb.ListenReply]

// listener is what one kind of watch does with a Listen stream: the
// request that opens it, the call kind its errors are read as, and what to
// do with each reply and with each change of the stream's state
// (Disconnected, Reconnected, Stopped).
type listener struct {
	op    string
	kind  callKind
	req   *hubpb.ListenRequest
	extra []string // metadata besides the auth
	reply func(*hubpb.ListenReply)
	state func(t MailboxEventType, err error)
}

func (c *Client) watch(ctx context.Context, op string, mailboxID identity.ThreadID, box string, fn func(MailboxEvent)) (*Watch, error) {
	if fn == nil {
		return nil, invalidf("%s: nil callback", op)
	}
	if mailboxID.IsZero() {
		return nil, invalidf("%s: empty mailbox id", op)
	}
	return c.startWatch(ctx, listener{
		op:   op,
		kind: mailboxCall,
		req: &hubpb.ListenRequest{
			DbID:    mailboxID.Bytes(),
			Filters: []*hubpb.ListenRequest_Filter{{CollectionName: box}},
		},
		reply: func(r *hubpb.ListenReply) {
			if r.GetCollectionName() != box {
				return // a hub that ignores the filter
			}
			fn(eventFromPB(r))
		},
		state: func(t MailboxEventType, err error) { fn(MailboxEvent{Type: t, Err: err}) },
	})
}

// startWatch opens l's stream and runs it until Close.
func (c *Client) startWatch(ctx context.Context, l listener) (*Watch, error) {
	ctx, cancel := context.WithCancel(ctx)
	stream, stop, err := c.listen(ctx, l)
	if err != nil {
		cancel()
		return nil, err
	}
	w := &Watch{cancel: cancel, done: make(chan struct{}), ready: make(chan struct{})}
	go w.run(ctx, c, l, stream, stop)
	return w, nil
}

// listen opens one Listen stream. The stream lives as long as ctx or until
// stop; only opening it is bounded by the call timeout, and that includes
// the auth, whose callback may be a network call of its own.
func (c *Client) listen(ctx context.Context, l listener) (listenStream, context.CancelFunc, error) {
	sctx, stop := context.WithCancel(ctx)
	timer := time.AfterFunc(c.cfg.timeout, stop)
	err := c.ensureToken(sctx, l.kind)
	if err == nil {
		sctx, err = c.outgoing(sctx, l.extra...)
	}
	var stream listenStream
	if err == nil {
		stream, err = c.threads.Listen(sctx, l.req)
	}
	if !timer.Stop() {
		// The timer canceled the stream: report that as the timeout it is,
		// not as a cancellation.
		err = status.Error(codes.DeadlineExceeded, "opening the stream timed out")
	}
	if err != nil {
		stop()
		return nil, nil, classify(l.op, l.kind, err)
	}
	return stream, stop, nil
}

func (w *Watch) run(ctx context.Context, c *Client, l listener, stream listenStream, stop context.CancelFunc) {
	defer close(w.done)
	defer w.cancel()
	// A hub can accept a stream and refuse it on the first read (hubd does
	// while it drains for a restart), so only a confirmed stream counts as
	// back: until then the backoff keeps growing, and fn hears neither a
	// second Disconnected nor a Reconnected.
	disconnected := false // fn got Disconnected and no Reconnected since
	attempt := 0          // reconnects since the last confirmed stream
	// A stream the hub refuses for its token (the hub's host key changed
	// while it was down) gets one new token per outage (WithIdentity):
	// refused again with the new one, the refusal is final.
	renewed := false
	retoken := func(err error, stale string) bool {
		if renewed || !c.mayRenew(l.kind, err) {
			return false
		}
		rerr := c.renewToken(ctx, stale)
		if rerr == nil {
			renewed = true
			return true
		}
		// A handshake that failed for now (the hub went away again) is
		// tried again at the next reconnect; only a refusal is final.
		return !permanent(rerr)
	}
	stale := c.Token() // the token the current stream was opened with
	confirmed := func() {
		attempt = 0
		renewed = false
		// The first stream may break before its confirmation: Ready is
		// then the first one that the hub does confirm.
		w.readyOnce.Do(func() { close(w.ready) })
		if disconnected {
			disconnected = false
			l.state(MailboxEventReconnected, nil)
		}
	}
	for {
		err := receive(stream, l.reply, confirmed)
		stop()
		if ctx.Err() != nil {
			return // Close or the caller's context: no event
		}
		err = classify(l.op, l.kind, err)
		if !retoken(err, stale) && c.final(err) {
			w.stopWith(err, l.state)
			return
		}
		if !disconnected {
			disconnected = true
			l.state(MailboxEventDisconnected, err)
		}
		for {
			if !sleep(ctx, backoffDelay(watchRetryBase, attempt, watchRetryMax)) {
				return
			}
			attempt++
			stale = c.Token()
			stream, stop, err = c.listen(ctx, l)
			if err == nil {
				break
			}
			if ctx.Err() != nil {
				return
			}
			if !retoken(err, stale) && c.final(err) {
				w.stopWith(err, l.state)
				return
			}
		}
	}
}

// final reports whether a watch should give up on err: a permanent
// error, or any error once the client's connection is closed, since no
// reconnect can succeed then.
func (c *Client) final(err error) bool {
	return permanent(err) || c.conn.GetState() == connectivity.Shutdown
}

func (w *Watch) stopWith(err error, state func(MailboxEventType, error)) {
	w.mu.Lock()
	w.err = err
	w.mu.Unlock()
	state(MailboxEventStopped, err)
}

// receive delivers a stream's events until it breaks, and returns why.
// It first waits for the hub's response headers, which prove the hub
// accepted the stream, and then calls confirmed.
func receive(stream listenStream, fn func(*hubpb.ListenReply), confirmed func()) error {
	// Header returns nil metadata when the stream failed; Recv then
	// reports why.
	if md, _ := stream.Header(); md != nil {
		confirmed()
	}
	for {
		reply, err := stream.Recv()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return fmt.Errorf("%w: the hub ended the stream", ErrUnavailable)
			}
			return err
		}
		fn(reply)
	}
}

func eventFromPB(r *hubpb.ListenReply) MailboxEvent {
	ev := MailboxEvent{MessageID: r.GetInstanceID()}
	switch r.GetAction() {
	case hubpb.ListenReply_CREATE:
		ev.Type = MailboxEventCreate
	case hubpb.ListenReply_SAVE:
		ev.Type = MailboxEventSave
	case hubpb.ListenReply_DELETE:
		ev.Type = MailboxEventDelete
		return ev
	default:
		// Something changed; a Save without a message makes callers refetch.
		ev.Type = MailboxEventSave
		ev.Err = fmt.Errorf("%w: unknown listen action %d", ErrInvalid, r.GetAction())
		return ev
	}
	var in hubpb.MailboxInstance
	if err := json.Unmarshal(r.GetInstance(), &in); err != nil {
		ev.Err = fmt.Errorf("%w: message record: %v", ErrInvalid, err)
		return ev
	}
	if in.ID == "" {
		in.ID = ev.MessageID
	}
	ev.Message = &UserMessage{
		ID:        in.ID,
		From:      in.From,
		To:        in.To,
		Body:      in.Body,
		Signature: in.Signature,
		CreatedAt: fromNanos(in.CreatedAt),
		BodySize:  int64(len(in.Body)),
	}
	if in.ReadAt != nil {
		ev.Message.ReadAt = fromNanos(*in.ReadAt)
	}
	return ev
}
