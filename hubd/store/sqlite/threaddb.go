package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/hubfs/hubfs/hubd/store"
)

// Thread databases: see store.ThreadDBStore. Every write runs in one
// immediate transaction under writeMu, so that SQLite's one writer at a
// time is also the order its events are published in; uniqueness is the
// primary keys' (instances by id, unique_values by value).

const collCols = `thread, name, schema, indexes, write_validator, read_filter, created_at`

func scanCollection(row interface{ Scan(...any) error }) (store.Collection, error) {
	var c store.Collection
	var indexes string
	var created int64
	if err := row.Scan(&c.Thread, &c.Name, &c.Schema, &indexes, &c.WriteValidator, &c.ReadFilter, &created); err != nil {
		return store.Collection{}, err
	}
	if err := json.Unmarshal([]byte(indexes), &c.Indexes); err != nil {
		return store.Collection{}, fmt.Errorf("collection %q: stored indexes: %w", c.Name, err)
	}
	c.CreatedAt = time.Unix(0, created)
	return c, nil
}

func indexesJSON(ix []store.Index) string {
	if ix == nil {
		ix = []store.Index{}
	}
	b, _ := json.Marshal(ix) // cannot fail: strings and bools
	return string(b)
}

func (s *Store) CreateCollection(ctx context.Context, c store.Collection) error {
	if err := store.CheckCollectionName(c.Name); err != nil {
		return fmt.Errorf("create collection: %w", err)
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("create collection: %w", noSpace(err))
	}
	defer tx.Rollback()
	var one int
	err = tx.QueryRowContext(ctx, `SELECT 1 FROM threads WHERE id = ?`, c.Thread).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("create collection: thread %w", store.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("create collection: %w", err)
	}
	res, err := tx.ExecContext(ctx,
		`INSERT INTO collections (`+collCols+`) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
		c.Thread, c.Name, nonNil(c.Schema), indexesJSON(c.Indexes), c.WriteValidator, c.ReadFilter, c.CreatedAt.UnixNano())
	if err != nil {
		return fmt.Errorf("create collection: %w", noSpace(err))
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("create collection %q: %w", c.Name, store.ErrExists)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("create collection: %w", noSpace(err))
	}
	return nil
}

func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

func (s *Store) UpdateCollection(ctx context.Context, c store.Collection) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("update collection: %w", noSpace(err))
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx,
		`UPDATE collections SET schema = ?, indexes = ?, write_validator = ?, read_filter = ? WHERE thread = ? AND name = ?`,
		nonNil(c.Schema), indexesJSON(c.Indexes), c.WriteValidator, c.ReadFilter, c.Thread, c.Name)
	if err != nil {
		return fmt.Errorf("update collection: %w", noSpace(err))
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("update collection %q: %w", c.Name, store.ErrCollectionNotFound)
	}
	// The unique values, computed anew for every instance.
	if _, err := tx.ExecContext(ctx, `DELETE FROM unique_values WHERE thread = ? AND collection = ?`, c.Thread, c.Name); err != nil {
		return fmt.Errorf("update collection: %w", noSpace(err))
	}
	rows, err := tx.QueryContext(ctx, `SELECT id, json FROM instances WHERE thread = ? AND collection = ? ORDER BY id`, c.Thread, c.Name)
	if err != nil {
		return fmt.Errorf("update collection: %w", err)
	}
	insts, err := scanInstances(rows)
	if err != nil {
		return fmt.Errorf("update collection: %w", err)
	}
	w := valueWriter{tx: tx, thread: c.Thread, collection: c.Name}
	for _, in := range insts {
		vals, err := store.CheckOp(store.InstanceOp{Kind: store.OpSave, ID: in.ID, JSON: in.JSON}, c.Indexes)
		if err != nil {
			return fmt.Errorf("update collection: stored %w", err)
		}
		if err := w.insert(ctx, in.ID, vals); err != nil {
			return fmt.Errorf("update collection: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("update collection: %w", noSpace(err))
	}
	return nil
}

func (s *Store) DeleteCollection(ctx context.Context, thread []byte, name string) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	res, err := s.db.ExecContext(ctx, `DELETE FROM collections WHERE thread = ? AND name = ?`, thread, name)
	if err != nil {
		return fmt.Errorf("delete collection: %w", noSpace(err))
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("delete collection %q: %w", name, store.ErrCollectionNotFound)
	}
	return nil
}

func (s *Store) GetCollection(ctx context.Context, thread []byte, name string) (store.Collection, error) {
	c, err := scanCollection(s.db.QueryRowContext(ctx,
		`SELECT `+collCols+` FROM collections WHERE thread = ? AND name = ?`, thread, name))
	if errors.Is(err, sql.ErrNoRows) {
		return store.Collection{}, store.ErrCollectionNotFound
	}
	if err != nil {
		return store.Collection{}, fmt.Errorf("get collection: %w", err)
	}
	return c, nil
}

func (s *Store) ListCollections(ctx context.Context, thread []byte) ([]store.Collection, error) {
	rows, err := s.db.QueryContext(ctx,
		`SELECT `+collCols+` FROM collections WHERE thread = ? ORDER BY created_at, name`, thread)
	if err != nil {
		return nil, fmt.Errorf("list collections: %w", err)
	}
	defer rows.Close()
	var cs []store.Collection
	for rows.Next() {
		c, err := scanCollection(rows)
		if err != nil {
			return nil, fmt.Errorf("list collections: %w", err)
		}
		cs = append(cs, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list collections: %w", err)
	}
	return cs, nil
}

func scanInstances(rows *sql.Rows) ([]store.Instance, error) {
	defer rows.Close()
	var out []store.Instance
	for rows.Next() {
		var in store.Instance
		if err := rows.Scan(&in.ID, &in.JSON); err != nil {
			return nil, err
		}
		out = append(out, in)
	}
	return out, rows.Err()
}

// hasCollection tells ErrCollectionNotFound from an empty answer.
func hasCollection(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, thread []byte, name string) error {
	var one int
	err := q.QueryRowContext(ctx, `SELECT 1 FROM collections WHERE thread = ? AND name = ?`, thread, name).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return store.ErrCollectionNotFound
	}
	return err
}

func (s *Store) Instances(ctx context.Context, thread []byte, collection string) ([]store.Instance, error) {
	// One read transaction: the collection's existence and its
	// instances as one snapshot.
	tx, err := s.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("instances: %w", err)
	}
	defer tx.Rollback()
	if err := hasCollection(ctx, tx, thread, collection); err != nil {
		return nil, fmt.Errorf("instances: %w", err)
	}
	rows, err := tx.QueryContext(ctx,
		`SELECT id, json FROM instances WHERE thread = ? AND collection = ? ORDER BY id`, thread, collection)
	if err != nil {
		return nil, fmt.Errorf("instances: %w", err)
	}
	insts, err := scanInstances(rows)
	if err != nil {
		return nil, fmt.Errorf("instances: %w", err)
	}
	return insts, nil
}

func (s *Store) GetInstance(ctx context.Context, thread []byte, collection, id string) (store.Instance, error) {
	in := store.Instance{ID: id}
	err := s.db.QueryRowContext(ctx,
		`SELECT json FROM instances WHERE thread = ? AND collection = ? AND id = ?`, thread, collection, id).Scan(&in.JSON)
	if errors.Is(err, sql.ErrNoRows) {
		if err := hasCollection(ctx, s.db, thread, collection); err != nil {
			return store.Instance{}, err
		}
		return store.Instance{}, store.ErrInstanceNotFound
	}
	if err != nil {
		return store.Instance{}, fmt.Errorf("get instance: %w", err)
	}
	return in, nil
}

// valueWriter records unique index values in a transaction.
type valueWriter struct {
	tx         *sql.Tx
	thread     []byte
	collection string
}

// insert records id's values; a value another instance holds is a
// *store.UniqueViolation.
func (w valueWriter) insert(ctx context.Context, id string, vals []store.IndexValue) error {
	for _, v := range vals {
		res, err := w.tx.ExecContext(ctx,
			`INSERT INTO unique_values (thread, collection, path, value, id) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
			w.thread, w.collection, v.Path, v.Key(), id)
		if err != nil {
			return noSpace(err)
		}
		if n, _ := res.RowsAffected(); n > 0 {
			continue
		}
		uv := &store.UniqueViolation{Collection: w.collection, Path: v.Path, ID: id}
		w.tx.QueryRowContext(ctx,
			`SELECT id FROM unique_values WHERE thread = ? AND collection = ? AND path = ? AND value = ?`,
			w.thread, w.collection, v.Path, v.Key()).Scan(&uv.HeldBy)
		return uv
	}
	return nil
}

func (s *Store) WriteInstances(ctx context.Context, thread []byte, collection string, ops []store.InstanceOp) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	events, err := s.writeInstances(ctx, thread, collection, ops)
	if err != nil {
		return fmt.Errorf("write instances: %w", err)
	}
	s.feed.Publish(events...)
	return nil
}

func (s *Store) writeInstances(ctx context.Context, thread []byte, collection string, ops []store.InstanceOp) ([]store.Event, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, noSpace(err)
	}
	defer tx.Rollback()
	var owner, indexes string
	err = tx.QueryRowContext(ctx,
		`SELECT t.owner, c.indexes FROM collections c JOIN threads t ON t.id = c.thread WHERE c.thread = ? AND c.name = ?`,
		thread, collection).Scan(&owner, &indexes)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, store.ErrCollectionNotFound
	}
	if err != nil {
		return nil, err
	}
	var ix []store.Index
	if err := json.Unmarshal([]byte(indexes), &ix); err != nil {
		return nil, fmt.Errorf("collection %q: stored indexes: %w", collection, err)
	}
	w := valueWriter{tx: tx, thread: thread, collection: collection}
	var events []store.Event
	for _, op := range ops {
		vals, err := store.CheckOp(op, ix)
		if err != nil {
			return nil, err
		}
		// The event's own copies: the caller may reuse its slices.
		e := store.Event{Instance: &store.InstanceEvent{Thread: bytes.Clone(thread), Owner: owner, Collection: collection, ID: op.ID, JSON: bytes.Clone(op.JSON)}}
		switch op.Kind {
		case store.OpCreate:
			e.Action = store.Create
			res, err := tx.ExecContext(ctx,
				`INSERT INTO instances (thread, collection, id, json) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING`,
				thread, collection, op.ID, op.JSON)
			if err != nil {
				return nil, noSpace(err)
			}
			if n, _ := res.RowsAffected(); n == 0 {
				return nil, fmt.Errorf("instance %s: %w", op.ID, store.ErrExists)
			}
		case store.OpSave:
			e.Action = store.Save
			if _, err := tx.ExecContext(ctx,
				`INSERT INTO instances (thread, collection, id, json) VALUES (?, ?, ?, ?)
				 ON CONFLICT (thread, collection, id) DO UPDATE SET json = excluded.json`,
				thread, collection, op.ID, op.JSON); err != nil {
				return nil, noSpace(err)
			}
			if _, err := tx.ExecContext(ctx,
				`DELETE FROM unique_values WHERE thread = ? AND collection = ? AND id = ?`, thread, collection, op.ID); err != nil {
				return nil, noSpace(err)
			}
		case store.OpDelete:
			e.Action = store.Delete
			e.Instance.JSON = nil
			res, err := tx.ExecContext(ctx,
				`DELETE FROM instances WHERE thread = ? AND collection = ? AND id = ?`, thread, collection, op.ID)
			if err != nil {
				return nil, noSpace(err)
			}
			if n, _ := res.RowsAffected(); n == 0 {
				continue // nothing to delete: no event
			}
		}
		if err := w.insert(ctx, op.ID, vals); err != nil {
			return nil, err
		}
		events = append(events, e)
	}
	if len(events) > 0 {
		if _, err := tx.ExecContext(ctx,
			`INSERT INTO users (owner, first_seen, instance_writes) VALUES (?, ?, ?)
			 ON CONFLICT (owner) DO UPDATE SET instance_writes = instance_writes + excluded.instance_writes`,
			owner, time.Now().UnixNano(), len(events)); err != nil {
			return nil, noSpace(err)
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, noSpace(err)
	}
	return events, nil
}

func (s *Store) AddInstanceReads(ctx context.Context, owner string, n int64) error {
	if n <= 0 {
		return nil
	}
	_, err := s.db.ExecContext(ctx,
		`INSERT INTO users (owner, first_seen, instance_reads) VALUES (?, ?, ?)
		 ON CONFLICT (owner) DO UPDATE SET instance_reads = instance_reads + excluded.instance_reads`,
		owner, time.Now().UnixNano(), n)
	if err != nil {
		return fmt.Errorf("add instance reads: %w", noSpace(err))
	}
	return nil
}
