package mailbox

import (
	"context"
	"math"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"sync/atomic"
)

// Decrypt-ahead: when a listing lands, the messages in it whose bodies are
// already in memory (they came with the page, or the cache below holds
// them) are opened by Config.DecryptAhead workers before anyone reads them,
// so a first cat * or grep -r finds plaintext and the decryption runs on
// every core instead of one message at a time, as cat asks.
//
// It is speculative work and gives way to everything else:
//   - it only fills the plaintext budget, never evicts to make room: a
//     run stops at the first message that does not fit, and what readers
//     add evicts as always (speculative entries included);
//   - it stops when the Go heap passes a bound (memory pressure, heapBound);
//   - a new listing of the box supersedes its run, and Close ends all;
//   - it never fetches: a body not in memory is left for its reader.
//
// A reader and a worker share one decryption per message (the "open/"
// flight of Open), no lock is held while decrypting, and results are
// swapped in under m.mu. A message that does not open is remembered as
// such, like Open does, and the run goes on with the others.

// aheadItem is one message a run may open: its entry and, when the listing
// carried it, its body.
type aheadItem struct {
	id   string
	size int64 // plaintext bytes, known from the listing
	msg  Message
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
// message not in plaintext yet, in ascending id order (the order of cat *).
// bodies are those the listing carried.
func (m *Model) aheadItemsLocked(box Box, bodies map[string]Message) []aheadItem {
	l := &m.boxes[box]
	var items []aheadItem
	for _, id := range l.ids {
		if m.plain.Contains(bodyKey(box, id)) {
			continue
		}
		items = append(items, aheadItem{id: id, size: l.byID[id].Size, msg: bodies[id]})
	}
	return items
}

// startAheadLocked supersedes box's run with one over items.
func (m *Model) startAheadLocked(box Box, items []aheadItem) {
	if cancel := m.aheadRuns[box]; cancel != nil {
		cancel()
		m.aheadRuns[box] = nil
	}
	if m.ahead.slots == nil || m.closed || len(items) == 0 || m.cfg.PlaintextBytes <= 0 {
		return
	}
	ctx, cancel := context.WithCancel(m.ahead.ctx)
	m.aheadRuns[box] = cancel
	m.ahead.wg.Add(1)
	go func() {
		defer m.ahead.wg.Done()
		defer cancel()
		m.aheadRun(ctx, cancel, box, items)
	}()
}

// aheadRun opens items with up to DecryptAhead workers, each message taking
// one of the model's slots, until done, superseded, or out of room.
func (m *Model) aheadRun(ctx context.Context, stop context.CancelFunc, box Box, items []aheadItem) {
	bound := m.heapBound()
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(cap(m.ahead.slots), len(items)) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(items) {
					return
				}
				select {
				case m.ahead.slots <- struct{}{}:
				case <-ctx.Done():
					return
				}
				more := ctx.Err() == nil && m.aheadOne(ctx, box, items[i], bound)
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

// aheadOne opens one message if it fits; false means the run should stop
// (the budget is reached, or the heap is past its bound).
func (m *Model) aheadOne(ctx context.Context, box Box, it aheadItem, bound uint64) bool {
	k := bodyKey(box, it.id)
	n := plainCost(it.size)
	m.mu.Lock()
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
	if len(msg.Body) == 0 {
		var err error
		if msg, err = m.b.Message(OnlyIfCached(ctx), box, it.id); err != nil {
			return true // not in memory (or gone): its reader fetches it
		}
	}
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
	for box, cancel := range m.aheadRuns {
		if cancel != nil {
			cancel()
			m.aheadRuns[box] = nil
		}
	}
	m.mu.Unlock()
	m.ahead.stop()
	m.ahead.wg.Wait()
}
