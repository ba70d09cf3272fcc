package store

import "sync"

// Feed is the subscriber list a store implementation publishes its events
// to; its zero value is ready. It only fans out: ordering is the caller's
// job (publish in commit order, one Publish at a time).
type Feed struct {
	mu   sync.Mutex // guards the fields below
	subs map[*func(Event)]struct{}
}

// Subscribe implements Store.Subscribe.
func (f *Feed) Subscribe(fn func(Event)) (cancel func()) {
	key := &fn
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.subs == nil {
		f.subs = make(map[*func(Event)]struct{})
	}
	f.subs[key] = struct{}{}
	return func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		delete(f.subs, key)
	}
}

// Publish calls every subscriber with each event, in order.
func (f *Feed) Publish(events ...Event) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, e := range events {
		for fn := range f.subs {
			(*fn)(e)
		}
	}
}
