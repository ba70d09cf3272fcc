package postgres

import (
	"context"
	"encoding/json"
	"errors"
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
		k, ok := parsePayload(n.Payload)
		if !ok {
			continue // not ours
		}
		e, ok, err := s.resolve(ctx, k)
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
