// Package postgres is the hub store for several hub processes on one
// database: PostgreSQL through pgx's pool, with mailbox events carried
// between processes by NOTIFY inside each write's transaction and one
// LISTEN connection per open store.
//
// Everything a hub keeps lives in the database (keys, users, threads,
// messages, idempotency keys, id marks and the host key), so a hub process
// needs only the URL.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/hubfs/hubfs/hubd/store"
)

// connectTimeout bounds a connection attempt unless the URL says
// otherwise (connect_timeout): a hub whose database is unreachable must
// answer Unavailable quickly, not hang its callers.
const connectTimeout = 3 * time.Second

// Store is a PostgreSQL hub store. Any number of processes may open the
// same database: ids and events keep their contract across all of them.
type Store struct {
	pool *pgxpool.Pool
	feed store.Feed
	// recent holds the copies this process is committing, keyed by event,
	// so that its own events need no read back when their notification
	// arrives; others' events are read from the database. recentInstances
	// does the same for instance events, keyed by their tag (tags.next).
	recent          recentMap[eventKey, store.Message]
	recentInstances recentMap[string, store.Event]
	tags            tagger

	stop     context.CancelFunc // ends the listener
	listened chan struct{}      // closed when the listener has ended
}

var (
	_ store.Store        = (*Store)(nil)
	_ store.HostKeyStore = (*Store)(nil)
)

// Open connects to the database at url (postgres:// or postgresql://, as
// libpq takes it), applies the schema migrations it lacks and starts
// listening for events; it returns once events of any later commit will
// reach Subscribe.
func Open(ctx context.Context, url string) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// Not echoed: the URL may hold a password, and pgx's message
		// quotes it.
		return nil, errors.New("open store: the PostgreSQL URL does not parse")
	}
	if cfg.ConnConfig.ConnectTimeout == 0 { // pgx's default: none; a URL's connect_timeout stands
		cfg.ConnConfig.ConnectTimeout = connectTimeout
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open store: %w", classify(err))
	}
	if err := migrate(ctx, pool); err != nil {
		pool.Close()
		return nil, err
	}
	s := &Store{pool: pool, listened: make(chan struct{})}
	lctx, stop := context.WithCancel(context.Background())
	s.stop = stop
	ready := make(chan error, 1)
	go s.listen(lctx, cfg.ConnConfig.Copy(), ready)
	select {
	case err = <-ready:
	case <-ctx.Done():
		err = ctx.Err()
	}
	if err != nil {
		stop()
		<-s.listened
		pool.Close()
		return nil, fmt.Errorf("open store: listen for events: %w", classify(err))
	}
	return s, nil
}

// Close stops the listener and closes the pool.
func (s *Store) Close() error {
	s.stop()
	<-s.listened
	s.pool.Close()
	return nil
}

// classify marks the failures the services treat apart: a full disk as
// store.ErrNoSpace, an unreachable database as store.ErrUnavailable,
// keeping the cause.
func classify(err error) error {
	if err == nil {
		return nil
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case pe.Code == "53100": // disk_full (53200 out_of_memory is not)
			return fmt.Errorf("%w: %w", store.ErrNoSpace, err)
		case pe.Code[:2] == "08", // connection_exception
			pe.Code == "57P01", pe.Code == "57P02", pe.Code == "57P03": // admin/crash shutdown, cannot connect now
			return fmt.Errorf("%w: %w", store.ErrUnavailable, err)
		}
		return err
	}
	var ce *pgconn.ConnectError
	var ne net.Error
	if errors.As(err, &ce) || errors.As(err, &ne) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || pgconn.SafeToRetry(err) {
		return fmt.Errorf("%w: %w", store.ErrUnavailable, err)
	}
	return err
}

// retryable: the transaction lost to another (a deadlock PostgreSQL broke,
// a serialization failure) and did nothing; run it again.
func retryable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "40P01" || pe.Code == "40001")
}

// inTx runs fn in a transaction and commits it, running it again if it
// lost to another transaction.
func (s *Store) inTx(ctx context.Context, fn func(pgx.Tx) error) error {
	for attempt := 0; ; attempt++ {
		err := pgx.BeginFunc(ctx, s.pool, fn)
		if err == nil || !retryable(err) || attempt == 4 {
			return err
		}
	}
}

func (s *Store) CreateKey(ctx context.Context, k store.APIKey) error {
	_, err := s.pool.Exec(ctx,
		`INSERT INTO api_keys (key, secret, created_at, revoked) VALUES ($1, $2, $3, $4)`,
		k.Key, k.Secret, k.CreatedAt.UnixNano(), k.Revoked)
	if err != nil {
		return fmt.Errorf("create key: %w", classify(err))
	}
	return nil
}

func (s *Store) GetKey(ctx context.Context, key string) (store.APIKey, error) {
	var k store.APIKey
	var created int64
	err := s.pool.QueryRow(ctx,
		`SELECT key, secret, created_at, revoked FROM api_keys WHERE key = $1`, key).
		Scan(&k.Key, &k.Secret, &created, &k.Revoked)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.APIKey{}, store.ErrNotFound
	}
	if err != nil {
		return store.APIKey{}, fmt.Errorf("get key: %w", classify(err))
	}
	k.CreatedAt = time.Unix(0, created)
	return k, nil
}

func (s *Store) ListKeys(ctx context.Context) ([]store.APIKey, error) {
	rows, err := s.pool.Query(ctx,
		`SELECT key, secret, created_at, revoked FROM api_keys ORDER BY created_at, key`)
	if err != nil {
		return nil, fmt.Errorf("list keys: %w", classify(err))
	}
	keys, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.APIKey, error) {
		var k store.APIKey
		var created int64
		err := row.Scan(&k.Key, &k.Secret, &created, &k.Revoked)
		k.CreatedAt = time.Unix(0, created)
		return k, err
	})
	if err != nil {
		return nil, fmt.Errorf("list keys: %w", classify(err))
	}
	return keys, nil
}

func (s *Store) RevokeKey(ctx context.Context, key string) error {
	tag, err := s.pool.Exec(ctx, `UPDATE api_keys SET revoked = true WHERE key = $1`, key)
	if err != nil {
		return fmt.Errorf("revoke key: %w", classify(err))
	}
	if tag.RowsAffected() == 0 {
		return store.ErrNotFound
	}
	return nil
}

// HostKey implements store.HostKeyStore: the first process to start on a
// database stores its fresh key, and every process uses that one.
func (s *Store) HostKey(ctx context.Context, fresh string) (string, error) {
	var key string
	err := s.pool.QueryRow(ctx,
		`WITH ins AS (
			INSERT INTO host_key (one, key) VALUES (1, $1) ON CONFLICT (one) DO NOTHING RETURNING key
		)
		SELECT key FROM ins UNION ALL SELECT key FROM host_key WHERE one = 1 LIMIT 1`, fresh).Scan(&key)
	if err != nil {
		return "", fmt.Errorf("host key: %w", classify(err))
	}
	return key, nil
}

const threadCols = `id, owner, name, is_db, created_at`

func scanThread(row pgx.Row) (store.Thread, error) {
	var t store.Thread
	var created int64
	if err := row.Scan(&t.ID, &t.Owner, &t.Name, &t.IsDB, &created); err != nil {
		return store.Thread{}, err
	}
	t.CreatedAt = time.Unix(0, created)
	return t, nil
}

func (s *Store) CreateThread(ctx context.Context, t store.Thread) (store.Thread, error) {
	var old store.Thread
	var taken error
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		taken = nil
		// The insert decides, under the unique indexes, which of two
		// concurrent creates wins; the loser reads what won.
		tag, err := tx.Exec(ctx,
			`INSERT INTO threads (`+threadCols+`) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`,
			t.ID, t.Owner, t.Name, t.IsDB, t.CreatedAt.UnixNano())
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			if t.Name != "" {
				old, err = scanThread(tx.QueryRow(ctx,
					`SELECT `+threadCols+` FROM threads WHERE owner = $1 AND name = $2`, t.Owner, t.Name))
				if err == nil {
					taken = store.ErrNameTaken
					return nil
				}
				if !errors.Is(err, pgx.ErrNoRows) {
					return err
				}
			}
			taken = store.ErrIDTaken
			return nil
		}
		_, err = tx.Exec(ctx,
			`INSERT INTO users (owner, first_seen) VALUES ($1, $2) ON CONFLICT (owner) DO NOTHING`,
			t.Owner, t.CreatedAt.UnixNano())
		return err
	})
	if err != nil {
		return store.Thread{}, fmt.Errorf("create thread: %w", classify(err))
	}
	switch taken {
	case store.ErrNameTaken:
		return old, taken
	case nil:
		return t, nil
	default:
		return store.Thread{}, taken
	}
}

func (s *Store) GetThread(ctx context.Context, owner, name string) (store.Thread, error) {
	t, err := scanThread(s.pool.QueryRow(ctx,
		`SELECT `+threadCols+` FROM threads WHERE owner = $1 AND name = $2`, owner, name))
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Thread{}, store.ErrNotFound
	}
	if err != nil {
		return store.Thread{}, fmt.Errorf("get thread: %w", classify(err))
	}
	return t, nil
}

func (s *Store) GetThreadByID(ctx context.Context, id []byte) (store.Thread, error) {
	t, err := scanThread(s.pool.QueryRow(ctx, `SELECT `+threadCols+` FROM threads WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Thread{}, store.ErrNotFound
	}
	if err != nil {
		return store.Thread{}, fmt.Errorf("get thread: %w", classify(err))
	}
	return t, nil
}

func (s *Store) ListThreads(ctx context.Context, owner string) ([]store.Thread, error) {
	rows, err := s.pool.Query(ctx,
		`SELECT `+threadCols+` FROM threads WHERE owner = $1 ORDER BY created_at, id`, owner)
	if err != nil {
		return nil, fmt.Errorf("list threads: %w", classify(err))
	}
	ts, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.Thread, error) { return scanThread(row) })
	if err != nil {
		return nil, fmt.Errorf("list threads: %w", classify(err))
	}
	return ts, nil
}

func (s *Store) DeleteThread(ctx context.Context, id []byte) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM threads WHERE id = $1`, id)
	if err != nil {
		return fmt.Errorf("delete thread: %w", classify(err))
	}
	if tag.RowsAffected() == 0 {
		return store.ErrNotFound
	}
	return nil
}

func (s *Store) PruneSendKeys(ctx context.Context, before int64) (int64, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM send_keys WHERE created_at < $1`, before)
	if err != nil {
		return 0, fmt.Errorf("prune send keys: %w", classify(err))
	}
	return tag.RowsAffected(), nil
}

func (s *Store) Usage(ctx context.Context, owner string) (store.Usage, error) {
	var u store.Usage
	var first int64
	err := s.pool.QueryRow(ctx,
		`SELECT
			COUNT(*) FILTER (WHERE box = 0),
			COUNT(*) FILTER (WHERE box = 1),
			COALESCE(SUM(length(body) + length(signature)), 0)::bigint,
			COALESCE((SELECT sent FROM users WHERE owner = $1), 0),
			COALESCE((SELECT first_seen FROM users WHERE owner = $1), 0),
			COALESCE((SELECT instance_reads FROM users WHERE owner = $1), 0),
			COALESCE((SELECT instance_writes FROM users WHERE owner = $1), 0),
			(SELECT COUNT(*) FROM threads t JOIN instances i ON i.thread = t.id WHERE t.owner = $1),
			(SELECT COALESCE(SUM(length(i.json)), 0)::bigint FROM threads t JOIN instances i ON i.thread = t.id WHERE t.owner = $1)
		 FROM messages WHERE owner = $1`, owner).
		Scan(&u.InboxMessages, &u.SentboxMessages, &u.StoredBytes, &u.SentMessages, &first,
			&u.InstanceReads, &u.InstanceWrites, &u.Instances, &u.InstanceBytes)
	if err != nil {
		return store.Usage{}, fmt.Errorf("usage: %w", classify(err))
	}
	if first != 0 {
		u.FirstSeen = time.Unix(0, first)
	}
	return u, nil
}

// Subscribe implements store.Store: the commits of every process on the
// database, in commit order, from this process's listener.
func (s *Store) Subscribe(fn func(store.Event)) (cancel func()) { return s.feed.Subscribe(fn) }

// recentMap holds what this process is committing, by the notification
// that will announce it: message copies by event, instance events by tag.
type recentMap[K comparable, V any] struct {
	mu sync.Mutex // guards m
	m  map[K]V
}

func (r *recentMap[K, V]) put(k K, v V) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.m == nil {
		r.m = make(map[K]V)
	}
	r.m[k] = v
}

// take removes and returns the value of k, if this process committed it.
func (r *recentMap[K, V]) take(k K) (V, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	v, ok := r.m[k]
	delete(r.m, k)
	return v, ok
}

func (r *recentMap[K, V]) drop(keys []K) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, k := range keys {
		delete(r.m, k)
	}
}

// clear forgets everything: after the listener reconnects, notifications
// of some commits never arrive, and their values would stay forever.
func (r *recentMap[K, V]) clear() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.m = nil
}
