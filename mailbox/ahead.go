package mailbox

import (
	"context"
	"math"
	"runtime/debug"
	"runtime/metrics"
	"slices"
	"sync"
	"sync/atomic"
)

// Decrypt-ahead: messages are opened by Config.DecryptAhead workers before
// anyone reads them, so a first cat * or grep -r finds plaintext and the
// decryption runs on every core instead of one message at a time, as cat
// asks. A box has at most one run, over its listed messages in id order
// (the order of cat *), started two ways:
//   - when a changed listing lands, over the bodies already in memory
//     (they came with the listing's pages, or a cache holds them): it never
//     fetches, so a listing alone moves no bodies;
//   - when a reader misses (the first cat of a cold box), from that message
//     on, fetching the bodies it lacks in chunks of aheadChunk, each one
//     Backend.Messages call (one hub call per chunk against our hub), at
//     most one chunk ahead of the workers; the reader takes its own body
//     from the run's first chunk rather than fetching it twice.
//
// It is speculative work and gives way to everything else:
//   - it only fills the plaintext budget, never evicts to make room: a
//     run stops at the first message that does not fit, what readers add
//     evicts as always (speculative entries included), and a reader starts
//     a run only while a chunk's worth of room (or an eighth of the
//     budget) is free;
//   - it stops when the Go heap passes a bound (memory pressure, heapBound);
//   - a new listing of the box supersedes its run, and Close ends all;
//   - a fetch that fails ends the run's fetching: readers fetch their own.
//
// A reader and a worker share one decryption per message (the "open/"
// flight of Open), no lock is held while decrypting or fetching, and
// results are swapped in under m.mu. A message that does not open is
// remembered as such, like Open does, and the run goes on with the others.

// aheadChunk is how many messages one fetch of a run asks for: the hub
// backend's batch.
const aheadChunk = 64

// aheadItem is one message a run may open: its entry and, once its chunk
// is done, its body if the run has it.
type aheadItem struct {
	id   string
	size int64 // plaintext bytes, known from the listing
	msg  Message
}

// aheadRun is one box's run. items[i].msg is written by the run's fetcher
// before it closes its chunk's done; after done it is read, and cleared
// once opened, under m.mu.
type aheadRun struct {
	cancel context.CancelFunc
	fetch  bool // may fetch the bodies it lacks (a reader started it)
	items  []aheadItem
	index  map[string]int // id -> position in items
	chunks []aheadChunkState
}

type aheadChunkState struct {
	done  chan struct{} // closed once the chunk's bodies are in items, or the run gave up
	taken chan struct{} // closed when a worker takes the chunk's first item
	asked bool          // guarded by m.mu: the fetcher has begun on the chunk
}

func newAheadRun(items []aheadItem, fetch bool) *aheadRun {
	r := &aheadRun{fetch: fetch, items: items, index: make(map[string]int, len(items))}
	for i, it := range items {
		r.index[it.id] = i
	}
	r.chunks = make([]aheadChunkState, (len(items)+aheadChunk-1)/aheadChunk)
	for k := range r.chunks {
		r.chunks[k] = aheadChunkState{done: make(chan struct{}), taken: make(chan struct{})}
	}
	return r
}

// ahead is the model's decrypt-ahead state outside m.mu.
type ahead struct {
	slots chan struct{} // one per worker, shared by both boxes' runs
	ctx   context.Context
	stop  context.CancelFunc
	wg    sync.WaitGroup // the runs in flight
	heap  func() uint64  // the heap probe: heapBytes, or a test's
}

func (a *ahead) init(workers int) {
	a.ctx, a.stop = context.WithCancel(context.Background())
	a.heap = heapBytes
	if workers > 0 {
		a.slots = make(chan struct{}, workers)
	}
}

// heapBytes reads the bytes of heap objects, live or not yet swept: the
// figure the Go runtime's own memory limit works with.
func heapBytes() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}

// heapBound is the heap past which decrypt-ahead stops: three quarters of
// the process's memory limit (GOMEMLIMIT, debug.SetMemoryLimit) when one is
// set, else four times the configured caches plus 256 MiB: far above what a
// mount needs (98 MiB with 10,000 messages read), so reaching it means
// something else is using the memory and speculation should yield.
func (m *Model) heapBound() uint64 {
	if lim := debug.SetMemoryLimit(-1); lim != math.MaxInt64 && lim > 0 {
		return uint64(lim) / 4 * 3
	}
	return uint64(4*(max(m.cfg.PlaintextBytes, 0)+max(m.cfg.CiphertextBytes, 0))) + 256<<20
}

// aheadItemsLocked lists what a run over box's listing has to open: every
// message from id from on (all with from ""), not in plaintext yet, in
// ascending id order. bodies are those in hand: the listing carried them,
// or the run being superseded had them.
func (m *Model) aheadItemsLocked(box Box, from string, bodies map[string]Message) []aheadItem {
	l := &m.boxes[box]
	i, _ := slices.BinarySearch(l.ids, from)
	var items []aheadItem
	for _, id := range l.ids[i:] {
		if m.plain.Contains(bodyKey(box, id)) {
			continue
		}
		items = append(items, aheadItem{id: id, size: l.byID[id].Size, msg: bodies[id]})
	}
	return items
}

// startAheadLocked supersedes box's run with one over items; fetch lets it
// fetch the bodies it lacks. It returns the new run, or nil when none
// starts.
func (m *Model) startAheadLocked(box Box, items []aheadItem, fetch bool) *aheadRun {
	if old := m.aheadRuns[box]; old != nil {
		old.cancel()
		m.aheadRuns[box] = nil
	}
	if m.ahead.slots == nil || m.closed || len(items) == 0 || m.cfg.PlaintextBytes <= 0 {
		return nil
	}
	r := newAheadRun(items, fetch)
	ctx, cancel := context.WithCancel(m.ahead.ctx)
	r.cancel = cancel
	r.chunks[0].asked = true // the fetcher starts on it at once; a reader may wait for it
	m.aheadRuns[box] = r
	m.ahead.wg.Add(2)
	go func() {
		defer m.ahead.wg.Done()
		m.aheadFetch(ctx, box, r)
	}()
	go func() {
		defer m.ahead.wg.Done()
		defer cancel()
		m.aheadWork(ctx, cancel, box, r)
		m.mu.Lock()
		if m.aheadRuns[box] == r {
			m.aheadRuns[box] = nil
		}
		m.mu.Unlock()
	}()
	return r
}

// aheadFetch gets the run's bodies chunk by chunk, one chunk ahead of the
// workers: what it lacks from the backend (only what the layers hold,
// unless the run may fetch). Whatever ends it, every chunk ends done.
func (m *Model) aheadFetch(ctx context.Context, box Box, r *aheadRun) {
	k := 0
	defer func() {
		for ; k < len(r.chunks); k++ {
			close(r.chunks[k].done)
		}
	}()
	fetch := r.fetch
	for ; k < len(r.chunks); k++ {
		if k > 0 {
			select {
			case <-r.chunks[k-1].taken:
			case <-ctx.Done():
				return
			}
			m.mu.Lock()
			r.chunks[k].asked = true
			m.mu.Unlock()
		}
		chunk := r.items[k*aheadChunk : min((k+1)*aheadChunk, len(r.items))]
		var ids []string
		for _, it := range chunk {
			if len(it.msg.Body) == 0 {
				ids = append(ids, it.id)
			}
		}
		if len(ids) > 0 {
			fctx := ctx
			if !fetch {
				fctx = OnlyIfCached(ctx)
			}
			msgs, err := m.b.Messages(fctx, box, ids)
			for _, msg := range msgs {
				if i, ok := r.index[msg.ID]; ok && i/aheadChunk == k {
					r.items[i].msg = msg
				}
			}
			if err != nil && fetch {
				if ctx.Err() == nil {
					m.log.Debug("decrypt-ahead fetch failed; readers fetch their own", "box", box.String(), "err", err)
				}
				fetch = false
			}
		}
		close(r.chunks[k].done)
	}
}

// aheadWork opens the run's items with up to DecryptAhead workers, each
// message taking one of the model's slots, until done, superseded, or out
// of room.
func (m *Model) aheadWork(ctx context.Context, stop context.CancelFunc, box Box, r *aheadRun) {
	bound := m.heapBound()
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(cap(m.ahead.slots), len(r.items)) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(r.items) {
					return
				}
				c := &r.chunks[i/aheadChunk]
				if i%aheadChunk == 0 {
					close(c.taken)
				}
				select {
				case <-c.done:
				case <-ctx.Done():
					return
				}
				select {
				case m.ahead.slots <- struct{}{}:
				case <-ctx.Done():
					return
				}
				more := ctx.Err() == nil && m.aheadOne(ctx, box, r, i, bound)
				<-m.ahead.slots
				if !more {
					stop()
					return
				}
			}
		})
	}
	wg.Wait()
}

// aheadBody is a reader's miss of box/id: it starts a fetching run from id
// when none covers it and there is room, and waits for the body if the run
// has it or is fetching it. ok false: the reader fetches it itself.
func (m *Model) aheadBody(ctx context.Context, box Box, id string) (Message, bool) {
	m.mu.Lock()
	r := m.aheadRuns[box]
	if _, covered := r.indexOf(id); r == nil || !r.fetch || !covered {
		r = m.startReaderRunLocked(box, id)
	}
	i, covered := r.indexOf(id)
	if !covered || !r.chunks[i/aheadChunk].asked {
		m.mu.Unlock()
		return Message{}, false
	}
	m.mu.Unlock()
	select {
	case <-r.chunks[i/aheadChunk].done:
	case <-ctx.Done():
		return Message{}, false
	}
	m.mu.Lock()
	msg := r.items[i].msg
	m.mu.Unlock()
	return msg, len(msg.Body) > 0
}

func (r *aheadRun) indexOf(id string) (int, bool) {
	if r == nil {
		return 0, false
	}
	i, ok := r.index[id]
	return i, ok
}

// startReaderRunLocked starts a fetching run of box from id, keeping the
// bodies the run it supersedes had, if a chunk's worth of plaintext room
// is free; nil if not.
func (m *Model) startReaderRunLocked(box Box, id string) *aheadRun {
	if m.ahead.slots == nil || m.closed || !m.boxes[box].valid {
		return nil
	}
	// A full budget, which reads keep full by evicting one message at a
	// time, would start a run per read that opens one message and stops:
	// ask for a chunk's room, or an eighth of the budget if less. Checked
	// on the next chunk's entries only, before the run's items are built:
	// every read of a box larger than the budget comes here.
	l := &m.boxes[box]
	var chunk int64
	i, _ := slices.BinarySearch(l.ids, id)
	for k := 0; i < len(l.ids) && k < aheadChunk; i++ {
		if !m.plain.Contains(bodyKey(box, l.ids[i])) {
			chunk += plainCost(l.byID[l.ids[i]].Size)
			k++
		}
	}
	if m.plain.Bytes()+m.reserved+min(chunk, m.cfg.PlaintextBytes/8) > m.cfg.PlaintextBytes {
		return nil
	}
	var bodies map[string]Message
	if old := m.aheadRuns[box]; old != nil {
		for k := range old.chunks {
			select {
			case <-old.chunks[k].done:
			default:
				continue // still being fetched: its items are not ours to read
			}
			for _, it := range old.items[k*aheadChunk : min((k+1)*aheadChunk, len(old.items))] {
				if len(it.msg.Body) > 0 {
					if bodies == nil {
						bodies = map[string]Message{}
					}
					bodies[it.id] = it.msg
				}
			}
		}
	}
	items := m.aheadItemsLocked(box, id, bodies)
	return m.startAheadLocked(box, items, true)
}

// aheadOne opens one message if it fits; false means the run should stop
// (the budget is reached, or the heap is past its bound). A message whose
// body the run does not have is left for its reader.
func (m *Model) aheadOne(ctx context.Context, box Box, r *aheadRun, i int, bound uint64) bool {
	m.mu.Lock()
	it := r.items[i]
	if len(it.msg.Body) == 0 {
		m.mu.Unlock()
		return true
	}
	k := bodyKey(box, it.id)
	n := plainCost(it.size)
	if m.plain.Contains(k) {
		m.mu.Unlock()
		return true // a reader was first
	}
	if m.plain.Bytes()+m.reserved+n > m.cfg.PlaintextBytes {
		m.stats.AheadStops++
		m.mu.Unlock()
		return false
	}
	m.reserved += n
	m.mu.Unlock()
	released := false // guarded by m.mu: the reservation became plaintext, or was given back
	defer func() {
		m.mu.Lock()
		if !released {
			m.reserved -= n
		}
		m.mu.Unlock()
	}()
	if m.ahead.heap() > bound {
		m.mu.Lock()
		m.stats.AheadStops++
		m.mu.Unlock()
		return false
	}

	msg := it.msg
	// The reader's flight: whichever of the two comes first decrypts, the
	// other waits for its answer. The worker waits for it even when its run
	// is cancelled, so Close returns with no decryption left running.
	_, _ = m.shared(context.WithoutCancel(ctx), "open/"+k, func(context.Context) (any, error) {
		m.mu.Lock()
		if o, ok := m.plain.Get(k); ok {
			m.mu.Unlock()
			return o.plain, o.err
		}
		m.mu.Unlock()
		o, err := m.open(box, msg)
		if err != nil {
			return nil, err
		}
		m.mu.Lock()
		m.stats.DecryptedAhead++
		m.reserved -= n
		released = true
		_, listed := m.boxes[box].byID[it.id]
		// Only into free room, and only what is still listed (a delete
		// may have come meanwhile).
		if listed && m.plain.Bytes()+plainCost(int64(len(o.plain))) <= m.cfg.PlaintextBytes {
			m.plain.Add(k, o)
			// Opened and kept: the run need not hold the ciphertext too
			// (a reader finds the plaintext, or fetches it again).
			r.items[i].msg = Message{}
		}
		m.mu.Unlock()
		return o.plain, o.err
	})
	return true
}

// Close ends the decrypt-ahead and waits for its workers; the model still
// answers, opening on demand. Call it when the mount stops.
func (m *Model) Close() {
	m.mu.Lock()
	m.closed = true
	for box, r := range m.aheadRuns {
		if r != nil {
			r.cancel()
			m.aheadRuns[box] = nil
		}
	}
	m.mu.Unlock()
	m.ahead.stop()
	m.ahead.wg.Wait()
}
