package hubd

import (
	"encoding/json"
	"sync"

	"github.com/hubfs/hubfs/hubd/store"
	hubpb "github.com/hubfs/hubfs/wire/pb"
)

// event is one change to a mailbox collection or to an instance of a
// thread DB collection, delivered to the owner's Listen streams.
type event struct {
	owner    string
	thread   []byte // the thread DB's id; nil for a mailbox event
	coll     string // the collection: inbox or sentbox for a mailbox event
	id       string
	action   hubpb.ListenReply_Action
	instance []byte // record JSON; nil for DELETE
}

// maxQueue is how many events a listener may fall behind before it is cut
// off, and the broker's maxBytes how many bytes of them: a stalled listener
// must neither stall senders nor pin memory. Small events (a DELETE costs
// about 130 bytes here) hit the count first: 4096 absorbs the bursts a live
// mount keeps up with (256 is the likely cause of a busy mount's watch cut
// during a burst of 900 sends, docs/perf.md), and a listener further behind
// than that is better off relisting. Large events (CREATE carries the whole body) hit the byte
// bound first. The queue holds only what is waiting, so an idle listener
// costs nothing. A client that is cut listens again and lists to catch up.
const maxQueue = 4096

// broker fans events out to the Listen streams of each user.
type broker struct {
	maxBytes int64         // per subscriber, of events waiting
	done     chan struct{} // closed at shutdown: every stream ends

	mu     sync.Mutex // guards the fields below
	subs   map[string]map[*subscriber]struct{}
	closed bool
}

type subscriber struct {
	accept  func(event) bool // the stream's filters, applied before queueing
	ready   chan struct{}    // holds a token while events are waiting
	dropped chan struct{}    // closed when the queue overflowed
	lost    chan struct{}    // closed when the store may have missed events

	mu     sync.Mutex // guards the fields below
	queue  []event
	queued int64 // bytes of queue
}

func newBroker(maxBytes int) *broker {
	return &broker{maxBytes: int64(maxBytes), subs: make(map[string]map[*subscriber]struct{}), done: make(chan struct{})}
}

// size is what an event costs a subscriber's queue: its record and a
// little for the rest.
func (e event) size() int64 { return int64(len(e.instance)) + 128 }

// subscribe registers a listener for owner's events that accept takes;
// call cancel when done.
func (b *broker) subscribe(owner string, accept func(event) bool) (sub *subscriber, cancel func()) {
	sub = &subscriber{accept: accept, ready: make(chan struct{}, 1), dropped: make(chan struct{}), lost: make(chan struct{})}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.subs[owner] == nil {
		b.subs[owner] = make(map[*subscriber]struct{})
	}
	b.subs[owner][sub] = struct{}{}
	return sub, func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		b.removeLocked(owner, sub)
	}
}

func (b *broker) removeLocked(owner string, sub *subscriber) {
	if m := b.subs[owner]; m != nil {
		delete(m, sub)
		if len(m) == 0 {
			delete(b.subs, owner)
		}
	}
}

// publish never blocks: a listener whose queue is full is dropped and told
// so, and can reconnect and list to catch up.
func (b *broker) publish(e event) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for sub := range b.subs[e.owner] {
		if !sub.accept(e) {
			continue
		}
		if !sub.push(e, b.maxBytes) {
			b.removeLocked(e.owner, sub)
			close(sub.dropped)
		}
	}
}

// loseAll ends every subscription with lost: the store's feed may have
// missed events (a PostgreSQL listener reconnected), so every stream ends
// and its client listens again and lists what it missed, as after any
// break of its stream.
func (b *broker) loseAll() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for owner, subs := range b.subs {
		for sub := range subs {
			close(sub.lost)
		}
		delete(b.subs, owner)
	}
}

// push queues e unless that would pass maxQueue events or maxBytes.
func (sub *subscriber) push(e event, maxBytes int64) bool {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	if len(sub.queue) >= maxQueue || sub.queued+e.size() > maxBytes {
		return false
	}
	sub.queue = append(sub.queue, e)
	sub.queued += e.size()
	sub.signalLocked()
	return true
}

// next takes the oldest waiting event, once ready has signalled; it
// signals again while more are waiting.
func (sub *subscriber) next() (event, bool) {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	if len(sub.queue) == 0 {
		return event{}, false
	}
	e := sub.queue[0]
	sub.queue[0] = event{} // the array outlives the slice: drop the record
	sub.queue = sub.queue[1:]
	sub.queued -= e.size()
	if len(sub.queue) > 0 {
		sub.signalLocked()
	}
	return e, true
}

func (sub *subscriber) signalLocked() {
	select {
	case sub.ready <- struct{}{}:
	default: // a token is already there
	}
}

func (b *broker) close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.closed {
		b.closed = true
		close(b.done)
	}
}

// replyAction is the wire action of a store event.
var replyAction = map[store.Action]hubpb.ListenReply_Action{
	store.Create: hubpb.ListenReply_CREATE,
	store.Save:   hubpb.ListenReply_SAVE,
	store.Delete: hubpb.ListenReply_DELETE,
}

// publish turns a store event into a Listen event for the owner's
// streams. It runs in the store's commit order and must not block:
// broker.publish never does.
func (s *Server) publish(e store.Event) {
	if e.Action == store.Lost {
		s.log.Warn("the store may have missed events: ending every Listen stream so that clients resync")
		s.events.loseAll()
		return
	}
	action, ok := replyAction[e.Action]
	if !ok {
		return
	}
	if in := e.Instance; in != nil {
		ev := event{owner: in.Owner, thread: in.Thread, coll: in.Collection, id: in.ID, action: action}
		if e.Action != store.Delete {
			ev.instance = in.JSON
		}
		s.events.publish(ev)
		return
	}
	m := e.Message
	ev := event{owner: m.Owner, coll: m.Box.String(), id: m.ID, action: action}
	if e.Action != store.Delete {
		ev.instance = messageJSON(m)
	}
	s.events.publish(ev)
}

func messageJSON(m Message) []byte {
	j := hubpb.MailboxInstance{ID: m.ID, From: m.From, To: m.To, Body: m.Body, Signature: m.Signature, CreatedAt: m.CreatedAt}
	if m.Box == Inbox {
		j.ReadAt = &m.ReadAt
	}
	b, _ := json.Marshal(j) // cannot fail: strings, ints and bytes only
	return b
}
