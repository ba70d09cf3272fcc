package mailbox

import (
	"context"
	"errors"
	"sync"
	"time"
)

// Live keeps a model in step with the hub: it watches both boxes and applies
// every event; while either watch is down it polls, and when a watch comes
// back it lists that box again to catch what the gap hid. Make one with
// Follow; Close stops it.
type Live struct {
	m      *Model
	poll   time.Duration
	cancel context.CancelFunc
	done   chan struct{}
	kick   chan struct{} // wakes run: a box needs a resync, or the mode changed

	mu       sync.Mutex // guards the fields below
	watches  [2]Watch
	up       [2]bool   // the box's stream is open and confirmed
	resync   [2]bool   // the box's stream came back: list it again
	lastErrs [2]string // the last error reported per box, to report a streak once
}

// Follow starts following the hub: it opens the inbox and sentbox watches,
// lists both boxes (so the first ls is warm and every later event has a
// base), and from then on applies events as they come. Changes reach
// OnChange like any other; so do mode switches (ModeChanged) and failures
// (LiveError). Both boxes are listed every PollInterval while a watch is
// down.
func (m *Model) Follow(ctx context.Context) *Live {
	ctx, cancel := context.WithCancel(ctx)
	lv := &Live{m: m, poll: m.cfg.PollInterval, cancel: cancel,
		done: make(chan struct{}), kick: make(chan struct{}, 1)}
	m.followDocs(ctx) // the thread DBs touched from now on are watched too
	go lv.run(ctx)
	return lv
}

// Close stops the watches and the poller and waits for them.
func (lv *Live) Close() {
	lv.cancel()
	<-lv.done
}

func (lv *Live) run(ctx context.Context) {
	defer close(lv.done)
	defer lv.m.stopDocs()
	defer func() {
		lv.mu.Lock()
		ws := lv.watches
		lv.mu.Unlock()
		for _, w := range ws {
			if w != nil {
				w.Close()
			}
		}
	}()
	// Watch first, then list: an event that arrives while the listing is
	// in flight is replayed on top of it (the model's local-change log),
	// so nothing falls between the two.
	for _, box := range []Box{Inbox, Sentbox} {
		lv.startWatch(ctx, box)
	}
	// A change made after the listing but before the hub has registered
	// the stream would be in neither, until the watch TTL: list only once
	// the hub says the streams are up (or after a bound, for hubs that
	// confirm only with a first event).
	lv.waitReady(ctx, watchReadyWait)
	lv.updateMode(nil)
	for _, box := range []Box{Inbox, Sentbox} {
		lv.refresh(ctx, box, "list")
	}
	ticker := time.NewTicker(lv.poll)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-lv.kick:
			for _, box := range []Box{Inbox, Sentbox} {
				lv.mu.Lock()
				again := lv.resync[box]
				lv.resync[box] = false
				lv.mu.Unlock()
				if again {
					lv.refresh(ctx, box, "resync")
				}
			}
		case <-ticker.C:
			if lv.m.Mode() == ModeWatch {
				continue
			}
			for _, box := range []Box{Inbox, Sentbox} {
				lv.mu.Lock()
				w := lv.watches[box]
				lv.mu.Unlock()
				if w == nil || isDone(w) {
					// It never opened, or stopped for good: try again
					// at the pace of the poll.
					lv.startWatch(ctx, box)
				}
				lv.refresh(ctx, box, "poll")
			}
			lv.updateMode(nil)
		}
	}
}

// watchReadyWait bounds how long the first listing waits for the hub to
// confirm the watches.
const watchReadyWait = 2 * time.Second

// waitReady waits until every open watch is confirmed, d passes or ctx ends.
func (lv *Live) waitReady(ctx context.Context, d time.Duration) {
	lv.mu.Lock()
	var ws []Watch
	for _, w := range lv.watches {
		if w != nil {
			ws = append(ws, w)
		}
	}
	lv.mu.Unlock()
	t := time.NewTimer(d)
	defer t.Stop()
	for _, w := range ws {
		select {
		case <-w.Ready():
		case <-w.Done():
		case <-t.C:
			return
		case <-ctx.Done():
			return
		}
	}
}

func isDone(w Watch) bool {
	select {
	case <-w.Done():
		return true
	default:
		return false
	}
}

// startWatch opens box's watch. The box counts as up from before the call,
// so that a disconnect reported while it returns is not overwritten.
func (lv *Live) startWatch(ctx context.Context, box Box) {
	lv.mu.Lock()
	lv.up[box] = true
	lv.mu.Unlock()
	w, err := lv.m.b.Watch(ctx, box, func(ev Event) { lv.event(box, ev) })
	lv.mu.Lock()
	if err != nil {
		lv.up[box] = false
	} else {
		lv.watches[box] = w
	}
	lv.mu.Unlock()
	if err != nil && ctx.Err() == nil {
		lv.report(box, "watch", err)
	}
}

// event runs on the box's watch goroutine, one event at a time. It never
// calls the hub: a resync is handed to run.
func (lv *Live) event(box Box, ev Event) {
	switch ev.Kind {
	case EventCreate, EventSave, EventDelete:
		lv.m.Apply(box, ev)
		if ev.Err != nil {
			lv.report(box, "watch", ev.Err) // a record that did not decode
		}
	case EventDisconnected, EventStopped:
		// The backend below has counted the failure in its figures.
		lv.mu.Lock()
		lv.up[box] = false
		lv.mu.Unlock()
		lv.report(box, "watch", ev.Err)
		lv.updateMode(ev.Err)
	case EventReconnected:
		// Whatever happened during the gap is unknown: a cache below has
		// dropped its listing (a reader lists again), and run lists it
		// even if nobody reads, so the changes reach the kernel and the
		// events.
		lv.mu.Lock()
		lv.up[box] = true
		lv.resync[box] = true
		lv.lastErrs[box] = ""
		lv.mu.Unlock()
		lv.updateMode(nil)
		select {
		case lv.kick <- struct{}{}:
		default:
		}
	}
}

// updateMode is watch while both streams are up, poll otherwise.
func (lv *Live) updateMode(why error) {
	lv.mu.Lock()
	m := ModePoll
	if lv.up[Inbox] && lv.up[Sentbox] {
		m = ModeWatch
	}
	lv.mu.Unlock()
	lv.m.setMode(m, why)
}

// refresh lists box again and reports what changed.
func (lv *Live) refresh(ctx context.Context, box Box, op string) {
	err := lv.m.Refresh(ctx, box)
	if ctx.Err() != nil {
		return
	}
	if err != nil {
		lv.report(box, op, err)
		return
	}
	lv.mu.Lock()
	lv.lastErrs[box] = ""
	lv.mu.Unlock()
}

// report hands a failure to OnChange, once per streak of the same error, so
// a hub that stays down for an hour is not an error every poll.
func (lv *Live) report(box Box, op string, err error) {
	if err == nil {
		err = errors.New("unknown error")
	}
	lv.mu.Lock()
	same := lv.lastErrs[box] == op+": "+err.Error()
	lv.lastErrs[box] = op + ": " + err.Error()
	lv.mu.Unlock()
	if !same {
		lv.m.onChange(Change{Kind: LiveError, Box: box, Op: op, Err: err})
	}
}

// Refresh lists box from the hub now, whatever a cache holds, and reports
// what changed. Concurrent calls for one box make one listing.
func (m *Model) Refresh(ctx context.Context, box Box) error {
	done := make(chan struct{})
	m.mu.Lock()
	m.stats.Resyncs++
	m.forcing[box] = done
	m.mu.Unlock()
	defer func() {
		m.mu.Lock()
		if m.forcing[box] == done {
			m.forcing[box] = nil
		}
		m.mu.Unlock()
		close(done)
	}()
	_, err := m.shared(ctx, "refresh/"+box.String(), func(ctx context.Context) (any, error) {
		return nil, m.refresh(ctx, box, true)
	})
	return err
}
