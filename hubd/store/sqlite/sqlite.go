// Package sqlite is the embedded hub store: one SQLite file (modernc's
// pure-Go driver, no cgo) in WAL mode.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"modernc.org/sqlite" // registers the pure-Go "sqlite" driver: no cgo
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/hubfs/hubfs/hubd/store"
)

// migrations are the schema, one step per version, applied in order inside
// a transaction that also bumps PRAGMA user_version. Append only: an
// existing step may already have run on someone's data.
var migrations = []string{
	// 1: keys, threads, messages and per-user counters.
	`CREATE TABLE api_keys (
		key        TEXT PRIMARY KEY,
		secret     TEXT NOT NULL,
		created_at INTEGER NOT NULL,
		revoked    INTEGER NOT NULL DEFAULT 0
	);
	CREATE TABLE threads (
		id         BLOB PRIMARY KEY,
		owner      TEXT NOT NULL,
		name       TEXT NOT NULL,
		is_db      INTEGER NOT NULL,
		created_at INTEGER NOT NULL
	);
	CREATE UNIQUE INDEX threads_owner_name ON threads (owner, name) WHERE name <> '';
	CREATE INDEX threads_owner ON threads (owner, created_at);
	CREATE TABLE messages (
		owner      TEXT NOT NULL,
		box        INTEGER NOT NULL,
		id         TEXT NOT NULL,
		sender     TEXT NOT NULL,
		recipient  TEXT NOT NULL,
		body       BLOB NOT NULL,
		signature  BLOB NOT NULL,
		created_at INTEGER NOT NULL,
		read_at    INTEGER NOT NULL DEFAULT 0
	);
	-- Bodies can be a megabyte, so the table keeps its rowid (WITHOUT ROWID
	-- suits small rows only) and paging walks this index.
	CREATE UNIQUE INDEX messages_page ON messages (owner, box, id);
	CREATE TABLE users (
		owner      TEXT PRIMARY KEY,
		sent       INTEGER NOT NULL DEFAULT 0,
		first_seen INTEGER NOT NULL
	);`,
	// 2: idempotency keys of sends: (sender, key) -> the message stored
	// under it, written in the send's transaction.
	`CREATE TABLE send_keys (
		sender     TEXT NOT NULL,
		key        TEXT NOT NULL,
		message_id TEXT NOT NULL,
		created_at INTEGER NOT NULL,
		PRIMARY KEY (sender, key)
	) WITHOUT ROWID;
	CREATE INDEX send_keys_created ON send_keys (created_at);`,
	// 3: the newest message id minted, so the next one is minted after it
	// in the send's own transaction (store.NextID), whichever process
	// sends, and even after the newest message was deleted. Existing
	// stores start from their newest message.
	`CREATE TABLE last_id (
		one INTEGER PRIMARY KEY CHECK (one = 1),
		id  TEXT NOT NULL
	);
	INSERT INTO last_id (one, id) SELECT 1, COALESCE(MAX(id), '') FROM messages;`,
	// 4: thread databases (threaddb.go): collections, their instances and
	// the values of their unique indexes, dropped with their thread by
	// cascade; per-user instance counters.
	`CREATE TABLE collections (
		thread          BLOB NOT NULL REFERENCES threads (id) ON DELETE CASCADE,
		name            TEXT NOT NULL,
		schema          BLOB NOT NULL,
		indexes         TEXT NOT NULL,
		write_validator TEXT NOT NULL,
		read_filter     TEXT NOT NULL,
		created_at      INTEGER NOT NULL,
		PRIMARY KEY (thread, name)
	);
	CREATE TABLE instances (
		thread     BLOB NOT NULL,
		collection TEXT NOT NULL,
		id         TEXT NOT NULL,
		json       BLOB NOT NULL,
		PRIMARY KEY (thread, collection, id),
		FOREIGN KEY (thread, collection) REFERENCES collections (thread, name) ON DELETE CASCADE
	);
	-- One row per value of a unique index: the primary key is the
	-- uniqueness. value is the digest of the canonical JSON
	-- (store.IndexValue.Key).
	CREATE TABLE unique_values (
		thread     BLOB NOT NULL,
		collection TEXT NOT NULL,
		path       TEXT NOT NULL,
		value      BLOB NOT NULL,
		id         TEXT NOT NULL,
		PRIMARY KEY (thread, collection, path, value),
		FOREIGN KEY (thread, collection, id) REFERENCES instances (thread, collection, id) ON DELETE CASCADE
	) WITHOUT ROWID;
	CREATE INDEX unique_values_instance ON unique_values (thread, collection, id);
	ALTER TABLE users ADD COLUMN instance_reads INTEGER NOT NULL DEFAULT 0;
	ALTER TABLE users ADD COLUMN instance_writes INTEGER NOT NULL DEFAULT 0;`,
}

// Store is the embedded store: one SQLite file in WAL mode, so `hubfs
// keys` (another process) can write while a server reads and writes the
// same file. A process opens it once: SQLite's POSIX locks belong to the
// process, so a second open's close could drop the first one's.
//
// Its event feed carries the commits of this process only: a second hub
// process on the same file would see none of the first one's events.
type Store struct {
	db *sql.DB
	// writeMu is held by every write that publishes events, from the
	// start of its transaction until its events are published, so that
	// they are published in commit order. SQLite admits one writer at a
	// time anyway (immediate transactions): the mutex costs no
	// concurrency, and it makes this process's writers queue in Go
	// instead of in SQLite's busy handler, which sleeps.
	writeMu sync.Mutex
	feed    store.Feed

	// The writer goroutine (commit.go) takes sends from queue and commits
	// them in groups: one transaction and one fsync for all the sends that
	// arrived while the previous group committed.
	queue   chan *pending
	closing chan struct{} // closed by Close: the writer stops
	stopped chan struct{} // closed by the writer when it has stopped
	closeMu sync.Once
	stmts   sendStmts
}

var _ store.Store = (*Store)(nil)

// Open opens the store in the file at path, creating it if needed (the
// directory must exist), and migrates its schema.
func Open(ctx context.Context, path string) (*Store, error) {
	// Create the file ourselves so it is private from the first byte: it
	// holds the API secrets. Only a new file: opening and closing an
	// existing one outside SQLite would drop every POSIX lock this process
	// holds on it (closing any descriptor of a file does), after which
	// another process's sqlite3 takes itself for the last user, checkpoints
	// and deletes the WAL our connections still write to.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err == nil {
		f.Close()
	} else if !errors.Is(err, os.ErrExist) {
		return nil, fmt.Errorf("open store: %w", err)
	}
	return open(ctx, path)
}

// OpenExisting is Open for a file that must exist already: listing or
// revoking keys in a mistyped place should say so, not create an empty
// hub there. A missing file is an error wrapping os.ErrNotExist.
func OpenExisting(ctx context.Context, path string) (*Store, error) {
	if _, err := os.Stat(path); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("no hub store at %s (check --data or --store; `hubfs keys create` makes one): %w", path, os.ErrNotExist)
		}
		return nil, fmt.Errorf("open store: %w", err)
	}
	return open(ctx, path)
}

func open(ctx context.Context, path string) (*Store, error) {
	q := url.Values{}
	// busy_timeout lets a second process (hubfs keys next to hubfs serve)
	// wait for the write lock instead of failing; synchronous=FULL because
	// an acknowledged message must survive a power cut, not only a crash;
	// immediate transactions take the write lock up front, so two writers
	// never deadlock upgrading a read lock, and writers (of any process)
	// commit in the order they began.
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(FULL)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	s := &Store{db: db, queue: make(chan *pending), closing: make(chan struct{}), stopped: make(chan struct{})}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	if err := s.stmts.prepare(ctx, db); err != nil {
		db.Close()
		return nil, fmt.Errorf("open store: %w", err)
	}
	go s.writer()
	return s, nil
}

func (s *Store) migrate(ctx context.Context) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("open store: %w", err)
	}
	defer tx.Rollback()
	var version int
	if err := tx.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&version); err != nil {
		return fmt.Errorf("open store: read schema version: %w", err)
	}
	if version > len(migrations) {
		return fmt.Errorf("open store: schema version %d is newer than this hubfs knows (%d): upgrade hubfs", version, len(migrations))
	}
	for v := version; v < len(migrations); v++ {
		if _, err := tx.ExecContext(ctx, migrations[v]); err != nil {
			return fmt.Errorf("open store: migrate to schema %d: %w", v+1, err)
		}
	}
	if version == len(migrations) {
		return nil
	}
	// PRAGMA takes no bound parameters; the value is our own integer.
	if _, err := tx.ExecContext(ctx, fmt.Sprintf(`PRAGMA user_version = %d`, len(migrations))); err != nil {
		return fmt.Errorf("open store: %w", err)
	}
	return tx.Commit()
}

// Close stops the writer (a send queued before it still commits) and
// closes the database.
func (s *Store) Close() error {
	s.closeMu.Do(func() { close(s.closing) })
	<-s.stopped
	s.stmts.close()
	return s.db.Close()
}

func (s *Store) CreateKey(ctx context.Context, k store.APIKey) error {
	_, err := s.db.ExecContext(ctx,
		`INSERT INTO api_keys (key, secret, created_at, revoked) VALUES (?, ?, ?, ?)`,
		k.Key, k.Secret, k.CreatedAt.UnixNano(), k.Revoked)
	if err != nil {
		return fmt.Errorf("create key: %w", noSpace(err))
	}
	return nil
}

func (s *Store) GetKey(ctx context.Context, key string) (store.APIKey, error) {
	var k store.APIKey
	var created int64
	// Every authenticated call reads its key: a prepared statement.
	err := s.stmts.getKey.QueryRowContext(ctx, key).Scan(&k.Key, &k.Secret, &created, &k.Revoked)
	if errors.Is(err, sql.ErrNoRows) {
		return store.APIKey{}, store.ErrNotFound
	}
	if err != nil {
		return store.APIKey{}, fmt.Errorf("get key: %w", err)
	}
	k.CreatedAt = time.Unix(0, created)
	return k, nil
}

func (s *Store) ListKeys(ctx context.Context) ([]store.APIKey, error) {
	rows, err := s.db.QueryContext(ctx,
		`SELECT key, secret, created_at, revoked FROM api_keys ORDER BY created_at, key`)
	if err != nil {
		return nil, fmt.Errorf("list keys: %w", err)
	}
	defer rows.Close()
	var keys []store.APIKey
	for rows.Next() {
		var k store.APIKey
		var created int64
		if err := rows.Scan(&k.Key, &k.Secret, &created, &k.Revoked); err != nil {
			return nil, fmt.Errorf("list keys: %w", err)
		}
		k.CreatedAt = time.Unix(0, created)
		keys = append(keys, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list keys: %w", err)
	}
	return keys, nil
}

func (s *Store) RevokeKey(ctx context.Context, key string) error {
	res, err := s.db.ExecContext(ctx, `UPDATE api_keys SET revoked = 1 WHERE key = ?`, key)
	if err != nil {
		return fmt.Errorf("revoke key: %w", noSpace(err))
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return store.ErrNotFound
	}
	return nil
}

const threadCols = `id, owner, name, is_db, created_at`

func scanThread(row interface{ Scan(...any) error }) (store.Thread, error) {
	var t store.Thread
	var created int64
	if err := row.Scan(&t.ID, &t.Owner, &t.Name, &t.IsDB, &created); err != nil {
		return store.Thread{}, err
	}
	t.CreatedAt = time.Unix(0, created)
	return t, nil
}

func (s *Store) CreateThread(ctx context.Context, t store.Thread) (store.Thread, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return store.Thread{}, fmt.Errorf("create thread: %w", noSpace(err))
	}
	defer tx.Rollback()
	if t.Name != "" {
		old, err := scanThread(tx.QueryRowContext(ctx,
			`SELECT `+threadCols+` FROM threads WHERE owner = ? AND name = ?`, t.Owner, t.Name))
		if err == nil {
			return old, store.ErrNameTaken
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return store.Thread{}, fmt.Errorf("create thread: %w", noSpace(err))
		}
	}
	var one int
	err = tx.QueryRowContext(ctx, `SELECT 1 FROM threads WHERE id = ?`, t.ID).Scan(&one)
	if err == nil {
		return store.Thread{}, store.ErrIDTaken
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return store.Thread{}, fmt.Errorf("create thread: %w", noSpace(err))
	}
	if _, err := tx.ExecContext(ctx,
		`INSERT INTO threads (`+threadCols+`) VALUES (?, ?, ?, ?, ?)`,
		t.ID, t.Owner, t.Name, t.IsDB, t.CreatedAt.UnixNano()); err != nil {
		return store.Thread{}, fmt.Errorf("create thread: %w", noSpace(err))
	}
	if err := touchUser(ctx, tx, t.Owner, t.CreatedAt.UnixNano()); err != nil {
		return store.Thread{}, fmt.Errorf("create thread: %w", noSpace(err))
	}
	if err := tx.Commit(); err != nil {
		return store.Thread{}, fmt.Errorf("create thread: %w", noSpace(err))
	}
	return t, nil
}

func touchUser(ctx context.Context, tx *sql.Tx, owner string, now int64) error {
	_, err := tx.ExecContext(ctx,
		`INSERT INTO users (owner, first_seen) VALUES (?, ?) ON CONFLICT (owner) DO NOTHING`, owner, now)
	return err
}

func (s *Store) GetThread(ctx context.Context, owner, name string) (store.Thread, error) {
	t, err := scanThread(s.db.QueryRowContext(ctx,
		`SELECT `+threadCols+` FROM threads WHERE owner = ? AND name = ?`, owner, name))
	if errors.Is(err, sql.ErrNoRows) {
		return store.Thread{}, store.ErrNotFound
	}
	if err != nil {
		return store.Thread{}, fmt.Errorf("get thread: %w", err)
	}
	return t, nil
}

func (s *Store) GetThreadByID(ctx context.Context, id []byte) (store.Thread, error) {
	t, err := scanThread(s.db.QueryRowContext(ctx,
		`SELECT `+threadCols+` FROM threads WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return store.Thread{}, store.ErrNotFound
	}
	if err != nil {
		return store.Thread{}, fmt.Errorf("get thread: %w", err)
	}
	return t, nil
}

func (s *Store) ListThreads(ctx context.Context, owner string) ([]store.Thread, error) {
	rows, err := s.db.QueryContext(ctx,
		`SELECT `+threadCols+` FROM threads WHERE owner = ? ORDER BY created_at, id`, owner)
	if err != nil {
		return nil, fmt.Errorf("list threads: %w", err)
	}
	defer rows.Close()
	var ts []store.Thread
	for rows.Next() {
		t, err := scanThread(rows)
		if err != nil {
			return nil, fmt.Errorf("list threads: %w", err)
		}
		ts = append(ts, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list threads: %w", err)
	}
	return ts, nil
}

func (s *Store) DeleteThread(ctx context.Context, id []byte) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM threads WHERE id = ?`, id)
	if err != nil {
		return fmt.Errorf("delete thread: %w", noSpace(err))
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return store.ErrNotFound
	}
	return nil
}

const msgCols = `owner, box, id, sender, recipient, body, signature, created_at, read_at`

func scanMessage(row interface{ Scan(...any) error }) (store.Message, error) {
	var m store.Message
	err := row.Scan(&m.Owner, &m.Box, &m.ID, &m.From, &m.To, &m.Body, &m.Signature, &m.CreatedAt, &m.ReadAt)
	return m, err
}

func (s *Store) AddMessage(ctx context.Context, send store.Send) (store.Sent, error) {
	sent, err := s.AddMessages(ctx, []store.Send{send})
	if err != nil {
		return store.Sent{}, err
	}
	return sent[0], nil
}

// AddMessages hands the sends to the writer (see commit.go), which commits
// them with whatever other sends are waiting, and waits for their result.
func (s *Store) AddMessages(ctx context.Context, sends []store.Send) ([]store.Sent, error) {
	p := &pending{ctx: ctx, sends: sends, done: make(chan struct{})}
	select {
	case s.queue <- p:
	case <-s.closing:
		return nil, errors.New("add message: the store is closed")
	case <-ctx.Done():
		return nil, fmt.Errorf("add message: %w", ctx.Err())
	}
	// Once queued, the writer answers: leaving early would make the
	// outcome unknowable to the caller when it did commit.
	<-p.done
	if p.err != nil {
		return nil, fmt.Errorf("add message: %w", noSpace(p.err))
	}
	return p.sent, nil
}

func (s *Store) PruneSendKeys(ctx context.Context, before int64) (int64, error) {
	res, err := s.db.ExecContext(ctx, `DELETE FROM send_keys WHERE created_at < ?`, before)
	if err != nil {
		return 0, fmt.Errorf("prune send keys: %w", noSpace(err))
	}
	n, _ := res.RowsAffected()
	return n, nil
}

// noSpace marks a failure for want of disk space (SQLITE_FULL, or ENOSPC
// from the file system) as store.ErrNoSpace, keeping the cause.
func noSpace(err error) error {
	var se *sqlite.Error
	if errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_FULL || errors.Is(err, syscall.ENOSPC) {
		return fmt.Errorf("%w: %w", store.ErrNoSpace, err)
	}
	return err
}

// scanListed scans a row of ListMessages: the message's columns and the
// body's length.
func scanListed(row interface{ Scan(...any) error }) (store.Message, error) {
	var m store.Message
	err := row.Scan(&m.Owner, &m.Box, &m.ID, &m.From, &m.To, &m.Body, &m.Signature, &m.CreatedAt, &m.ReadAt, &m.BodySize)
	return m, err
}

func (s *Store) ListMessages(ctx context.Context, q store.Query) ([]store.Message, error) {
	var b strings.Builder
	args := []any{q.Owner, q.Box}
	// Without bodies, the body column is the NULL it scans as nil and
	// the length is the database's, so no body leaves the database.
	body := `body`
	if q.WithoutBodies {
		body = `NULL`
	}
	b.WriteString(`SELECT owner, box, id, sender, recipient, ` + body + `, signature, created_at, read_at, length(body) FROM messages WHERE owner = ? AND box = ?`)
	if q.Seek != "" {
		// Inclusive, as the hub's Mongo $gte/$lte: the page starts at seek.
		if q.Ascending {
			b.WriteString(` AND id >= ?`)
		} else {
			b.WriteString(` AND id <= ?`)
		}
		args = append(args, q.Seek)
	}
	if q.Read != nil {
		if *q.Read {
			b.WriteString(` AND read_at > 0`)
		} else {
			b.WriteString(` AND read_at = 0`)
		}
	}
	if q.Ascending {
		b.WriteString(` ORDER BY id ASC`)
	} else {
		b.WriteString(` ORDER BY id DESC`)
	}
	b.WriteString(` LIMIT ?`)
	args = append(args, q.Limit)

	rows, err := s.db.QueryContext(ctx, b.String(), args...)
	if err != nil {
		return nil, fmt.Errorf("list messages: %w", err)
	}
	defer rows.Close()
	msgs := make([]store.Message, 0, min(q.Limit, 128))
	size := 0
	for rows.Next() {
		m, err := scanListed(rows)
		if err != nil {
			return nil, fmt.Errorf("list messages: %w", err)
		}
		if size += store.PageSize(m); q.MaxBytes > 0 && size > q.MaxBytes {
			return nil, store.ErrTooLarge
		}
		msgs = append(msgs, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list messages: %w", err)
	}
	return msgs, nil
}

func (s *Store) MarkRead(ctx context.Context, owner, id string, at int64) (store.Message, error) {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	m, err := scanMessage(s.db.QueryRowContext(ctx,
		`UPDATE messages SET read_at = ? WHERE owner = ? AND box = ? AND id = ? RETURNING `+msgCols,
		at, owner, store.Inbox, id))
	if errors.Is(err, sql.ErrNoRows) {
		return store.Message{}, store.ErrNotFound
	}
	if err != nil {
		return store.Message{}, fmt.Errorf("mark read: %w", noSpace(err))
	}
	s.feed.Publish(store.Event{Action: store.Save, Message: m})
	return m, nil
}

func (s *Store) DeleteMessage(ctx context.Context, box store.Box, owner, id string) (bool, error) {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	res, err := s.db.ExecContext(ctx,
		`DELETE FROM messages WHERE owner = ? AND box = ? AND id = ?`, owner, box, id)
	if err != nil {
		return false, fmt.Errorf("delete message: %w", noSpace(err))
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("delete message: %w", err)
	}
	if n == 0 {
		return false, nil
	}
	s.feed.Publish(store.Event{Action: store.Delete, Message: store.Message{Box: box, Owner: owner, ID: id}})
	return true, nil
}

// Subscribe implements store.Store: this process's commits, in commit
// order.
func (s *Store) Subscribe(fn func(store.Event)) (cancel func()) { return s.feed.Subscribe(fn) }

func (s *Store) Usage(ctx context.Context, owner string) (store.Usage, error) {
	var u store.Usage
	rows, err := s.db.QueryContext(ctx,
		`SELECT box, COUNT(*), COALESCE(SUM(length(body) + length(signature)), 0)
		 FROM messages WHERE owner = ? GROUP BY box`, owner)
	if err != nil {
		return store.Usage{}, fmt.Errorf("usage: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var box store.Box
		var n, bytes int64
		if err := rows.Scan(&box, &n, &bytes); err != nil {
			return store.Usage{}, fmt.Errorf("usage: %w", err)
		}
		if box == store.Sentbox {
			u.SentboxMessages = n
		} else {
			u.InboxMessages = n
		}
		u.StoredBytes += bytes
	}
	if err := rows.Err(); err != nil {
		return store.Usage{}, fmt.Errorf("usage: %w", err)
	}
	var first int64
	err = s.db.QueryRowContext(ctx, `SELECT sent, first_seen, instance_reads, instance_writes FROM users WHERE owner = ?`, owner).
		Scan(&u.SentMessages, &first, &u.InstanceReads, &u.InstanceWrites)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return store.Usage{}, fmt.Errorf("usage: %w", err)
	}
	err = s.db.QueryRowContext(ctx,
		`SELECT COUNT(*), COALESCE(SUM(length(i.json)), 0)
		 FROM threads t JOIN instances i ON i.thread = t.id WHERE t.owner = ?`, owner).
		Scan(&u.Instances, &u.InstanceBytes)
	if err != nil {
		return store.Usage{}, fmt.Errorf("usage: %w", err)
	}
	if first != 0 {
		u.FirstSeen = time.Unix(0, first)
	}
	return u, nil
}
