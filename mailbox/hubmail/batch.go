package hubmail

import (
	"sync"

	"github.com/hubfs/hubfs/mailbox"
)

// Bodies come on demand in batches: a listing brings metadata only (from
// hubfs serve), and the first Message of a box asks for one page of
// bodies from that id on, keeping the neighbours in a prefetch buffer, so
// that reading a directory in order (cat *, grep -r) costs one hub call
// per batch, not one per message.
const (
	// batchSize is how many messages one body fetch asks for: the one
	// wanted and its next neighbours in id order.
	batchSize = 64
	// prefetchBytes bounds the ciphertext the buffer holds (bodies and
	// signatures). A batch of larger bodies keeps those that fit, nearest
	// first; the rest are fetched again when asked for.
	prefetchBytes = 16 << 20
	// prefetchCount bounds its messages: two batches.
	prefetchCount = 2 * batchSize
)

type prefetchKey struct {
	box mailbox.Box
	id  string
}

// prefetch is the bounded buffer of bodies a batch brought besides the one
// asked for. It holds ciphertext only, as the hub sent it. A body leaves
// it when it is taken (the layers above keep what they keep), when the
// message changes or goes, or when newer batches need the room: oldest
// batch first, never a body of the batch being added for one after it.
type prefetch struct {
	mu    sync.Mutex // guards the fields below
	msgs  map[prefetchKey]mailbox.Message
	order []prefetchKey // insertion order; may name keys already taken
	bytes int
}

func newPrefetch() *prefetch {
	return &prefetch{msgs: map[prefetchKey]mailbox.Message{}}
}

func bodyBytes(m mailbox.Message) int { return len(m.Body) + len(m.Signature) }

// take returns the buffered body of box/id and forgets it.
func (p *prefetch) take(box mailbox.Box, id string) (mailbox.Message, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	k := prefetchKey{box, id}
	m, ok := p.msgs[k]
	if ok {
		p.removeLocked(k)
	}
	return m, ok
}

// forget drops box/id, if buffered: it changed or went.
func (p *prefetch) forget(box mailbox.Box, id string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.removeLocked(prefetchKey{box, id})
}

func (p *prefetch) removeLocked(k prefetchKey) {
	if m, ok := p.msgs[k]; ok {
		p.bytes -= bodyBytes(m)
		delete(p.msgs, k)
	}
	if len(p.msgs) == 0 {
		p.order = p.order[:0]
	}
}

// add buffers one batch's neighbours, nearest first: each evicts older
// batches' bodies while it does not fit, and the batch stops at the first
// body that still does not.
func (p *prefetch) add(box mailbox.Box, batch []mailbox.Message) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.order) > 2*prefetchCount {
		// Drop the keys already taken, so order stays as small as msgs.
		live := p.order[:0]
		for _, k := range p.order {
			if _, ok := p.msgs[k]; ok {
				live = append(live, k)
			}
		}
		p.order = live
	}
	mark := len(p.order) // order[:mark] is older batches
	for _, m := range batch {
		k := prefetchKey{box, m.ID}
		if _, ok := p.msgs[k]; ok {
			continue
		}
		n := bodyBytes(m)
		for (p.bytes+n > prefetchBytes || len(p.msgs)+1 > prefetchCount) && mark > 0 {
			old := p.order[0]
			p.order = p.order[1:]
			mark--
			if om, ok := p.msgs[old]; ok {
				p.bytes -= bodyBytes(om)
				delete(p.msgs, old)
			}
		}
		if p.bytes+n > prefetchBytes || len(p.msgs)+1 > prefetchCount {
			return
		}
		p.msgs[k] = m
		p.order = append(p.order, k)
		p.bytes += n
	}
}

// size is the buffer's count and bytes, for tests.
func (p *prefetch) size() (int, int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.msgs), p.bytes
}
