// Package events fans mailbox events out to any number of readers (the
// .hubfs/events file) without ever letting a slow reader hold up the
// filesystem: each reader has a bounded queue, and a reader that falls behind
// loses events and is told so by an "overflow" line at the gap.
package events

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"time"
)

// Types of Event, as scripts see them in the "type" field.
const (
	TypeNew      = "new"
	TypeRead     = "read"
	TypeDeleted  = "deleted"
	TypeSent     = "sent"
	TypeQueued   = "queued" // a message is waiting in queued/ for the hub
	TypeFailed   = "failed" // the hub refused a queued message for good
	TypeError    = "error"
	TypeOverflow = "overflow"
)

// ErrClosed is returned by Next once the subscription is closed.
var ErrClosed = errors.New("events: subscription closed")

// Event is one line of .hubfs/events. Its JSON field names are a contract
// with scripts.
type Event struct {
	Type    string    `json:"type"`
	Box     string    `json:"box,omitempty"`
	ID      string    `json:"id,omitempty"`
	From    string    `json:"from,omitempty"`
	To      string    `json:"to,omitempty"`
	At      time.Time `json:"at"`
	Message string    `json:"message,omitempty"` // for "error": what went wrong
	Dropped int       `json:"dropped,omitempty"` // for "overflow": how many events were lost
}

// Line is the event as one JSON line, newline included.
func (e Event) Line() []byte {
	b, _ := json.Marshal(e) // an Event has no field that can fail to marshal
	return append(b, '\n')
}

// Broker delivers every published event to every current subscriber.
type Broker struct {
	queueLen int
	now      func() time.Time

	mu     sync.Mutex // guards the fields below
	subs   map[*Subscription]struct{}
	closed bool
}

// NewBroker returns a broker whose subscribers each buffer up to queueLen
// events before they start losing them.
func NewBroker(queueLen int) *Broker {
	if queueLen < 1 {
		queueLen = 1
	}
	return &Broker{queueLen: queueLen, now: time.Now, subs: map[*Subscription]struct{}{}}
}

// Publish hands e to every subscriber. It never blocks on a reader.
func (b *Broker) Publish(e Event) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for s := range b.subs {
		s.push(e, b.now)
	}
}

// Subscribe starts a reader that sees every event published from now on.
// After Close it returns a subscription that is already closed.
func (b *Broker) Subscribe() *Subscription {
	s := &Subscription{broker: b, max: b.queueLen, wake: make(chan struct{}, 1)}
	b.mu.Lock()
	closed := b.closed
	if !closed {
		b.subs[s] = struct{}{}
	}
	b.mu.Unlock()
	if closed {
		s.Close()
	}
	return s
}

// Close ends every subscription: readers get what is queued, then
// ErrClosed. An unmount uses it so that blocked readers return and let the
// mount go.
func (b *Broker) Close() {
	b.mu.Lock()
	b.closed = true
	subs := make([]*Subscription, 0, len(b.subs))
	for s := range b.subs {
		subs = append(subs, s)
	}
	b.mu.Unlock()
	for _, s := range subs {
		s.Close()
	}
}

// Subscribers is how many readers are attached, for status figures.
func (b *Broker) Subscribers() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.subs)
}

// Subscription is one reader's bounded queue.
type Subscription struct {
	broker *Broker
	max    int
	wake   chan struct{} // has a token while the queue may be non-empty

	mu      sync.Mutex // guards the fields below
	queue   []Event
	dropped int // events lost since the last delivered overflow marker
	closed  bool
}

// push appends e, or counts it lost when the queue is full. The overflow
// marker takes a slot of its own at the gap, so a reader learns exactly
// where events went missing.
func (s *Subscription) push(e Event, now func() time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	if s.dropped > 0 {
		if len(s.queue)+2 > s.max {
			s.dropped++
			return
		}
		s.queue = append(s.queue, Event{Type: TypeOverflow, Dropped: s.dropped, At: now()})
		s.dropped = 0
	}
	if len(s.queue) >= s.max {
		s.dropped = 1
		return
	}
	s.queue = append(s.queue, e)
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Next blocks until an event is available or ctx ends. A reader that lost
// events receives an "overflow" event in their place.
func (s *Subscription) Next(ctx context.Context) (Event, error) {
	for {
		s.mu.Lock()
		if len(s.queue) > 0 {
			e := s.queue[0]
			s.queue = s.queue[1:]
			if len(s.queue) > 0 {
				select {
				case s.wake <- struct{}{}:
				default:
				}
			}
			s.mu.Unlock()
			return e, nil
		}
		if s.dropped > 0 {
			// Nothing queued behind the gap yet: report it now rather than
			// leave the reader waiting for the next event to carry it.
			e := Event{Type: TypeOverflow, Dropped: s.dropped, At: s.broker.now()}
			s.dropped = 0
			s.mu.Unlock()
			return e, nil
		}
		closed := s.closed
		s.mu.Unlock()
		if closed {
			return Event{}, ErrClosed
		}
		select {
		case <-s.wake:
		case <-ctx.Done():
			return Event{}, ctx.Err()
		}
	}
}

// TryNext returns the next event if one is ready, without waiting.
func (s *Subscription) TryNext() (Event, bool) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	e, err := s.Next(ctx)
	return e, err == nil
}

// Close detaches the reader; a blocked Next returns.
func (s *Subscription) Close() {
	s.broker.mu.Lock()
	delete(s.broker.subs, s)
	s.broker.mu.Unlock()
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}
