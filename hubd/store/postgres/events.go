package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hubfs/hubfs/hubd/store"
)

// channel is the NOTIFY channel of mailbox events; channels are per
// database, so hubs on two databases of one server never mix.
const channel = "hubfs_events"

// Listener timings: how long the listener waits for a notification before
// it checks that its connection is alive, and how long it waits between
// attempts to reconnect.
const (
	listenIdle     = 15 * time.Second
	listenPing     = 5 * time.Second
	reconnectFirst = 100 * time.Millisecond
	reconnectMax   = 2 * time.Second
)

// eventKey names one event; its payload is all a notification carries
// (at most 8000 bytes are allowed): a process reads the copy it needs.
type eventKey struct {
	action store.Action
	box    store.Box
	owner  string
	id     string
}

// notice is an event's NOTIFY payload.
type notice struct {
	Action string    `json:"a"`
	Box    store.Box `json:"b"`
	Owner  string    `json:"o"`
	ID     string    `json:"i"`
}

func (k eventKey) payload() string {
	b, _ := json.Marshal(notice{Action: k.action.String(), Box: k.box, Owner: k.owner, ID: k.id})
	return string(b)
}

var actions = map[string]store.Action{"create": store.Create, "save": store.Save, "delete": store.Delete}

func parsePayload(p string) (eventKey, bool) {
	var n notice
	if err := json.Unmarshal([]byte(p), &n); err != nil {
		return eventKey{}, false
	}
	a, ok := actions[n.Action]
	if !ok || n.Owner == "" || n.ID == "" {
		return eventKey{}, false
	}
	return eventKey{a, n.Box, n.Owner, n.ID}, true
}

// listen runs the store's listener until ctx ends: one connection that
// LISTENs and turns each notification into an event for the feed, in the
// order PostgreSQL delivers them, which is commit order. When the
// connection breaks it reconnects, and once it listens again publishes a
// Lost event, since commits in between were never heard. ready gets the
// first connection's outcome.
func (s *Store) listen(ctx context.Context, cfg *pgx.ConnConfig, ready chan<- error) {
	defer close(s.listened)
	first := true
	wait := reconnectFirst
	for {
		conn, err := s.connectListener(ctx, cfg)
		if first {
			ready <- err
			if err != nil {
				return
			}
			first = false
		} else if err == nil {
			wait = reconnectFirst
			s.recent.clear()
			s.recentInstances.clear()
			s.feed.Publish(store.Event{Action: store.Lost})
		}
		if err == nil {
			err = s.deliver(ctx, conn)
			conn.Close(context.Background())
		}
		if ctx.Err() != nil {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, reconnectMax)
	}
}

// listenerName is the listener connection's application_name, so that an
// operator (or a test) can find it in pg_stat_activity.
const listenerName = "hubfs-listener"

func (s *Store) connectListener(ctx context.Context, cfg *pgx.ConnConfig) (*pgx.Conn, error) {
	cfg = cfg.Copy()
	cfg.RuntimeParams["application_name"] = listenerName
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if _, err := conn.Exec(ctx, "LISTEN "+channel); err != nil {
		conn.Close(context.Background())
		return nil, err
	}
	return conn, nil
}

// deliver publishes the notifications of conn until it fails or ctx ends.
func (s *Store) deliver(ctx context.Context, conn *pgx.Conn) error {
	for {
		wctx, cancel := context.WithTimeout(ctx, listenIdle)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if errors.Is(err, context.DeadlineExceeded) && !conn.IsClosed() {
				// Idle: a connection cut without a word (a partition)
				// shows only when used.
				pctx, cancel := context.WithTimeout(ctx, listenPing)
				err = conn.Ping(pctx)
				cancel()
				if err == nil {
					continue
				}
			}
			return err
		}
		var e store.Event
		var ok bool
		if in, isInstance := parseInstancePayload(n.Payload); isInstance {
			e, ok, err = s.resolveInstance(ctx, in)
		} else if k, mine := parsePayload(n.Payload); mine {
			e, ok, err = s.resolve(ctx, k)
		} else {
			continue // not ours
		}
		if err != nil {
			// The copy could not be read: its event is lost, so the
			// subscribers must resync.
			s.feed.Publish(store.Event{Action: store.Lost})
			continue
		}
		if ok {
			s.feed.Publish(e)
		}
	}
}

// resolve turns a notification into its event: this process's own
// copies from recent, others' read from the database. A copy gone by
// then (deleted since) has no event: its Delete follows.
func (s *Store) resolve(ctx context.Context, k eventKey) (store.Event, bool, error) {
	e := store.Event{Action: k.action, Message: store.Message{Box: k.box, Owner: k.owner, ID: k.id}}
	if k.action == store.Delete {
		return e, true, nil
	}
	if m, ok := s.recent.take(k); ok {
		e.Message = m
		return e, true, nil
	}
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	m, err := scanMessage(s.pool.QueryRow(rctx,
		`SELECT `+msgCols+` FROM messages WHERE owner = $1 AND box = $2 AND id = $3`, k.owner, int16(k.box), k.id))
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Event{}, false, nil
	}
	if err != nil {
		return store.Event{}, false, err
	}
	e.Message = m
	return e, true, nil
}

// instanceNotice is an instance event's NOTIFY payload. Its fields are
// named apart from notice's, so that a hub of an older version on the
// same database, which knows only notice, finds no owner and ignores it.
type instanceNotice struct {
	Action     string `json:"a"`
	Thread     []byte `json:"t"`
	Owner      string `json:"w"`
	Collection string `json:"c"`
	ID         string `json:"d"`
	// Tag names this one event among all (tagger.next): the key of
	// recentInstances, and what keeps PostgreSQL from folding two
	// identical notifications of one transaction (a save, a delete and a
	// save again of one instance) into one.
	Tag string `json:"n"`
}

func instancePayload(action store.Action, ev *store.InstanceEvent, tag string) string {
	b, _ := json.Marshal(instanceNotice{Action: action.String(), Thread: ev.Thread, Owner: ev.Owner,
		Collection: ev.Collection, ID: ev.ID, Tag: tag})
	return string(b)
}

// parseInstancePayload says whether p is an instance notice, and which.
func parseInstancePayload(p string) (instanceNotice, bool) {
	var n instanceNotice
	if err := json.Unmarshal([]byte(p), &n); err != nil {
		return instanceNotice{}, false
	}
	if _, ok := actions[n.Action]; !ok || len(n.Thread) == 0 || n.Owner == "" || n.Collection == "" || n.ID == "" {
		return instanceNotice{}, false
	}
	return n, true
}

// resolveInstance turns an instance notice into its event: this process's
// own from recentInstances, others' read from the database (the instance
// as it is now). An instance gone by then has no event: its Delete follows.
func (s *Store) resolveInstance(ctx context.Context, n instanceNotice) (store.Event, bool, error) {
	if e, ok := s.recentInstances.take(n.Tag); ok {
		return e, true, nil
	}
	e := store.Event{Action: actions[n.Action], Instance: &store.InstanceEvent{
		Thread: n.Thread, Owner: n.Owner, Collection: n.Collection, ID: n.ID}}
	if e.Action == store.Delete {
		return e, true, nil
	}
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	err := s.pool.QueryRow(rctx,
		`SELECT json FROM instances WHERE thread = $1 AND collection = $2 AND id = $3`,
		n.Thread, n.Collection, n.ID).Scan(&e.Instance.JSON)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Event{}, false, nil
	}
	if err != nil {
		return store.Event{}, false, err
	}
	return e, true, nil
}

// tagger mints the tags of this process's instance notices: a random
// prefix per open store, so that no other process's tag is ever one of
// ours, and a counter.
type tagger struct {
	once   sync.Once
	prefix string
	n      atomic.Uint64
}

func (t *tagger) next() string {
	t.once.Do(func() {
		var b [8]byte
		rand.Read(b[:]) // never fails (crypto/rand)
		t.prefix = hex.EncodeToString(b[:]) + ":"
	})
	return t.prefix + strconv.FormatUint(t.n.Add(1), 36)
}
