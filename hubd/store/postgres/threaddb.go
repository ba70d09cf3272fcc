package postgres

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/hubfs/hubfs/hubd/store"
)

// Thread databases: see store.ThreadDBStore. Writers of one collection
// hold its row FOR SHARE, so they run alongside each other but never
// alongside an update or delete of the collection (FOR UPDATE); the
// primary keys of instances and unique_values decide races between
// writers of every node, an insert waiting for a conflicting uncommitted
// one. Events are NOTIFYs inside the write's transaction, as a send's.

const collCols = `thread, name, schema, indexes, write_validator, read_filter, created_at`

func scanCollection(row pgx.Row) (store.Collection, error) {
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

func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

func (s *Store) CreateCollection(ctx context.Context, c store.Collection) error {
	if err := store.CheckCollectionName(c.Name); err != nil {
		return fmt.Errorf("create collection: %w", err)
	}
	// The thread is locked against its delete by the foreign key; the
	// primary key decides between two creates of one name.
	tag, err := s.pool.Exec(ctx,
		`INSERT INTO collections (`+collCols+`)
		 SELECT $1, $2, $3, $4, $5, $6, $7 WHERE EXISTS (SELECT 1 FROM threads WHERE id = $1)
		 ON CONFLICT DO NOTHING`,
		c.Thread, c.Name, nonNil(c.Schema), indexesJSON(c.Indexes), c.WriteValidator, c.ReadFilter, c.CreatedAt.UnixNano())
	if err != nil {
		if isForeignKey(err) { // the thread went between the check and the insert
			return fmt.Errorf("create collection: thread %w", store.ErrNotFound)
		}
		return fmt.Errorf("create collection: %w", classify(err))
	}
	if tag.RowsAffected() > 0 {
		return nil
	}
	var one int
	err = s.pool.QueryRow(ctx, `SELECT 1 FROM threads WHERE id = $1`, c.Thread).Scan(&one)
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("create collection: thread %w", store.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("create collection: %w", classify(err))
	}
	return fmt.Errorf("create collection %q: %w", c.Name, store.ErrExists)
}

func (s *Store) UpdateCollection(ctx context.Context, c store.Collection) error {
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx,
			`UPDATE collections SET schema = $1, indexes = $2, write_validator = $3, read_filter = $4 WHERE thread = $5 AND name = $6`,
			nonNil(c.Schema), indexesJSON(c.Indexes), c.WriteValidator, c.ReadFilter, c.Thread, c.Name)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("collection %q: %w", c.Name, store.ErrCollectionNotFound)
		}
		// The row lock taken by the update keeps writers out until the
		// commit: the instances read here are all there are.
		if _, err := tx.Exec(ctx, `DELETE FROM unique_values WHERE thread = $1 AND collection = $2`, c.Thread, c.Name); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT id, json FROM instances WHERE thread = $1 AND collection = $2 ORDER BY id`, c.Thread, c.Name)
		if err != nil {
			return err
		}
		insts, err := pgx.CollectRows(rows, scanInstance)
		if err != nil {
			return err
		}
		w := valueWriter{tx: tx, thread: c.Thread, collection: c.Name}
		for _, in := range insts {
			vals, err := store.CheckOp(store.InstanceOp{Kind: store.OpSave, ID: in.ID, JSON: in.JSON}, c.Indexes)
			if err != nil {
				return fmt.Errorf("stored %w", err)
			}
			if err := w.insert(ctx, in.ID, vals); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("update collection: %w", classify(err))
	}
	return nil
}

func (s *Store) DeleteCollection(ctx context.Context, thread []byte, name string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM collections WHERE thread = $1 AND name = $2`, thread, name)
	if err != nil {
		return fmt.Errorf("delete collection: %w", classify(err))
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("delete collection %q: %w", name, store.ErrCollectionNotFound)
	}
	return nil
}

func (s *Store) GetCollection(ctx context.Context, thread []byte, name string) (store.Collection, error) {
	c, err := scanCollection(s.pool.QueryRow(ctx,
		`SELECT `+collCols+` FROM collections WHERE thread = $1 AND name = $2`, thread, name))
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Collection{}, store.ErrCollectionNotFound
	}
	if err != nil {
		return store.Collection{}, fmt.Errorf("get collection: %w", classify(err))
	}
	return c, nil
}

func (s *Store) ListCollections(ctx context.Context, thread []byte) ([]store.Collection, error) {
	rows, err := s.pool.Query(ctx,
		`SELECT `+collCols+` FROM collections WHERE thread = $1 ORDER BY created_at, name`, thread)
	if err != nil {
		return nil, fmt.Errorf("list collections: %w", classify(err))
	}
	cs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.Collection, error) { return scanCollection(row) })
	if err != nil {
		return nil, fmt.Errorf("list collections: %w", classify(err))
	}
	return cs, nil
}

func scanInstance(row pgx.CollectableRow) (store.Instance, error) {
	var in store.Instance
	err := row.Scan(&in.ID, &in.JSON)
	return in, err
}

func (s *Store) Instances(ctx context.Context, thread []byte, collection string) ([]store.Instance, error) {
	// The collection's row comes along (a LEFT JOIN from it), so that one
	// statement, one snapshot, tells an empty collection from none.
	rows, err := s.pool.Query(ctx,
		`SELECT i.id, i.json FROM collections c
		 LEFT JOIN instances i ON i.thread = c.thread AND i.collection = c.name
		 WHERE c.thread = $1 AND c.name = $2 ORDER BY i.id`, thread, collection)
	if err != nil {
		return nil, fmt.Errorf("instances: %w", classify(err))
	}
	defer rows.Close()
	found := false
	var out []store.Instance
	for rows.Next() {
		found = true
		var id *string
		var data []byte
		if err := rows.Scan(&id, &data); err != nil {
			return nil, fmt.Errorf("instances: %w", classify(err))
		}
		if id != nil { // nil: the collection's row, without instances
			out = append(out, store.Instance{ID: *id, JSON: data})
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("instances: %w", classify(err))
	}
	if !found {
		return nil, fmt.Errorf("instances: %w", store.ErrCollectionNotFound)
	}
	return out, nil
}

func (s *Store) GetInstance(ctx context.Context, thread []byte, collection, id string) (store.Instance, error) {
	in := store.Instance{ID: id}
	err := s.pool.QueryRow(ctx,
		`SELECT json FROM instances WHERE thread = $1 AND collection = $2 AND id = $3`, thread, collection, id).Scan(&in.JSON)
	if errors.Is(err, pgx.ErrNoRows) {
		var one int
		err := s.pool.QueryRow(ctx, `SELECT 1 FROM collections WHERE thread = $1 AND name = $2`, thread, collection).Scan(&one)
		if errors.Is(err, pgx.ErrNoRows) {
			return store.Instance{}, store.ErrCollectionNotFound
		}
		if err != nil {
			return store.Instance{}, fmt.Errorf("get instance: %w", classify(err))
		}
		return store.Instance{}, store.ErrInstanceNotFound
	}
	if err != nil {
		return store.Instance{}, fmt.Errorf("get instance: %w", classify(err))
	}
	return in, nil
}

// valueWriter records unique index values in a transaction.
type valueWriter struct {
	tx         pgx.Tx
	thread     []byte
	collection string
}

// insert records id's values; a value another instance holds (also one
// committed meanwhile by another transaction, which the insert waits for)
// is a *store.UniqueViolation.
func (w valueWriter) insert(ctx context.Context, id string, vals []store.IndexValue) error {
	for _, v := range vals {
		tag, err := w.tx.Exec(ctx,
			`INSERT INTO unique_values (thread, collection, path, value, id) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`,
			w.thread, w.collection, v.Path, v.Key(), id)
		if err != nil {
			return err
		}
		if tag.RowsAffected() > 0 {
			continue
		}
		uv := &store.UniqueViolation{Collection: w.collection, Path: v.Path, ID: id}
		err = w.tx.QueryRow(ctx,
			`SELECT id FROM unique_values WHERE thread = $1 AND collection = $2 AND path = $3 AND value = $4`,
			w.thread, w.collection, v.Path, v.Key()).Scan(&uv.HeldBy)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		return uv
	}
	return nil
}

func (s *Store) WriteInstances(ctx context.Context, thread []byte, collection string, ops []store.InstanceOp) error {
	var tags []string
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		s.recentInstances.drop(tags) // a retried attempt starts over
		tags = tags[:0]
		return s.writeInstances(ctx, tx, thread, collection, ops, &tags)
	})
	if err != nil {
		s.recentInstances.drop(tags)
		return fmt.Errorf("write instances: %w", classify(err))
	}
	return nil
}

func (s *Store) writeInstances(ctx context.Context, tx pgx.Tx, thread []byte, collection string, ops []store.InstanceOp, tags *[]string) error {
	var owner, indexes string
	err := tx.QueryRow(ctx,
		`SELECT t.owner, c.indexes FROM collections c JOIN threads t ON t.id = c.thread
		 WHERE c.thread = $1 AND c.name = $2 FOR SHARE OF c`, thread, collection).Scan(&owner, &indexes)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.ErrCollectionNotFound
	}
	if err != nil {
		return err
	}
	var ix []store.Index
	if err := json.Unmarshal([]byte(indexes), &ix); err != nil {
		return fmt.Errorf("collection %q: stored indexes: %w", collection, err)
	}
	w := valueWriter{tx: tx, thread: thread, collection: collection}
	written := 0
	for _, op := range ops {
		vals, err := store.CheckOp(op, ix)
		if err != nil {
			return err
		}
		// The event's own copies: the caller may reuse its slices.
		e := store.Event{Instance: &store.InstanceEvent{Thread: bytes.Clone(thread), Owner: owner,
			Collection: collection, ID: op.ID, JSON: bytes.Clone(op.JSON)}}
		switch op.Kind {
		case store.OpCreate:
			e.Action = store.Create
			tag, err := tx.Exec(ctx,
				`INSERT INTO instances (thread, collection, id, json) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`,
				thread, collection, op.ID, op.JSON)
			if err != nil {
				return err
			}
			if tag.RowsAffected() == 0 {
				return fmt.Errorf("instance %s: %w", op.ID, store.ErrExists)
			}
		case store.OpSave:
			e.Action = store.Save
			if _, err := tx.Exec(ctx,
				`INSERT INTO instances (thread, collection, id, json) VALUES ($1, $2, $3, $4)
				 ON CONFLICT (thread, collection, id) DO UPDATE SET json = EXCLUDED.json`,
				thread, collection, op.ID, op.JSON); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx,
				`DELETE FROM unique_values WHERE thread = $1 AND collection = $2 AND id = $3`, thread, collection, op.ID); err != nil {
				return err
			}
		case store.OpDelete:
			e.Action = store.Delete
			e.Instance.JSON = nil
			tag, err := tx.Exec(ctx,
				`DELETE FROM instances WHERE thread = $1 AND collection = $2 AND id = $3`, thread, collection, op.ID)
			if err != nil {
				return err
			}
			if tag.RowsAffected() == 0 {
				continue // nothing to delete: no event
			}
		}
		if err := w.insert(ctx, op.ID, vals); err != nil {
			return err
		}
		t := s.tags.next()
		s.recentInstances.put(t, e)
		*tags = append(*tags, t)
		if _, err := tx.Exec(ctx, `SELECT pg_notify($1, $2)`, channel, instancePayload(e.Action, e.Instance, t)); err != nil {
			return err
		}
		written++
	}
	if written == 0 {
		return nil
	}
	_, err = tx.Exec(ctx,
		`INSERT INTO users (owner, first_seen, instance_writes) VALUES ($1, $2, $3)
		 ON CONFLICT (owner) DO UPDATE SET instance_writes = users.instance_writes + EXCLUDED.instance_writes`,
		owner, time.Now().UnixNano(), written)
	return err
}

func (s *Store) AddInstanceReads(ctx context.Context, owner string, n int64) error {
	if n <= 0 {
		return nil
	}
	_, err := s.pool.Exec(ctx,
		`INSERT INTO users (owner, first_seen, instance_reads) VALUES ($1, $2, $3)
		 ON CONFLICT (owner) DO UPDATE SET instance_reads = users.instance_reads + EXCLUDED.instance_reads`,
		owner, time.Now().UnixNano(), n)
	if err != nil {
		return fmt.Errorf("add instance reads: %w", classify(err))
	}
	return nil
}

// isForeignKey: the row a foreign key names is not there (23503).
func isForeignKey(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23503"
}
