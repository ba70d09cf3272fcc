package hubd

import (
	"crypto/rand"
	"encoding/json"
	"strings"
	"sync"
	"time"

	"github.com/oklog/ulid/v2"

	hubpb "github.com/hubfs/hubfs/hub/pb"
)

// event is one change to a mailbox collection, delivered to the owner's
// Listen streams.
type event struct {
	owner    string
	box      Box
	id       string
	action   hubpb.ListenReply_Action
	instance []byte // record JSON; nil for DELETE
}

// subBuffer is how many events a listener may fall behind before it is
// cut off. A stalled listener must not stall senders or grow memory.
const subBuffer = 256

// broker fans events out to the Listen streams of each user.
type broker struct {
	mu     sync.Mutex // guards the fields below
	subs   map[string]map[*subscriber]struct{}
	closed bool
	done   chan struct{} // closed at shutdown: every stream ends
}

type subscriber struct {
	ch      chan event
	dropped chan struct{} // closed when the buffer overflowed
}

func newBroker() *broker {
	return &broker{subs: make(map[string]map[*subscriber]struct{}), done: make(chan struct{})}
}

// subscribe registers a listener for owner's events; call cancel when done.
func (b *broker) subscribe(owner string) (sub *subscriber, cancel func()) {
	sub = &subscriber{ch: make(chan event, subBuffer), dropped: make(chan struct{})}
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

// publish never blocks: a listener whose buffer is full is dropped and told
// so, and can reconnect and list to catch up.
func (b *broker) publish(e event) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for sub := range b.subs[e.owner] {
		select {
		case sub.ch <- e:
		default:
			b.removeLocked(e.owner, sub)
			close(sub.dropped)
		}
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

func messageJSON(m Message) []byte {
	j := hubpb.MailboxInstance{ID: m.ID, From: m.From, To: m.To, Body: m.Body, Signature: m.Signature, CreatedAt: m.CreatedAt}
	if m.Box == Inbox {
		j.ReadAt = &m.ReadAt
	}
	b, _ := json.Marshal(j) // cannot fail: strings, ints and bytes only
	return b
}

// idSource makes message ids: lower-case ULIDs, strictly increasing even
// within a millisecond and if the clock steps back, so that id order is
// send order and paging is stable.
type idSource struct {
	mu      sync.Mutex // guards the fields below
	entropy *ulid.MonotonicEntropy
	lastMS  uint64
}

func newIDSource() *idSource {
	return &idSource{entropy: ulid.Monotonic(rand.Reader, 0)}
}

// next returns a new id and the creation time to store with it.
func (g *idSource) next() (string, int64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := time.Now()
	ms := ulid.Timestamp(now)
	if ms < g.lastMS {
		ms = g.lastMS
	}
	id, err := ulid.New(ms, g.entropy)
	if err != nil {
		// The random part overflowed within one millisecond (2^80 ids):
		// move to the next millisecond, with fresh entropy.
		ms++
		id = ulid.MustNew(ms, g.entropy)
	}
	g.lastMS = ms
	return strings.ToLower(id.String()), now.UnixNano()
}
