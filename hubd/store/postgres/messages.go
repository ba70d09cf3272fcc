package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hubfs/hubfs/hubd/store"
)

const msgCols = `owner, box, id, sender, recipient, body, signature, created_at, read_at`

func scanMessage(row pgx.Row) (store.Message, error) {
	var m store.Message
	var box int16
	err := row.Scan(&m.Owner, &box, &m.ID, &m.From, &m.To, &m.Body, &m.Signature, &m.CreatedAt, &m.ReadAt)
	m.Box = store.Box(box)
	return m, err
}

func (s *Store) AddMessage(ctx context.Context, send store.Send) (store.Sent, error) {
	sent, err := s.AddMessages(ctx, []store.Send{send})
	if err != nil {
		return store.Sent{}, err
	}
	return sent[0], nil
}

// AddMessages stores the sends in one transaction. Ids come from the id
// marks of every user the sends touch, locked (in name order, so two
// sends never deadlock) for the transaction: a send waits only for sends
// that share its sender or recipient, and each mailbox's ids increase in
// its commit order whichever process commits. The NOTIFYs go out with the
// commit, which PostgreSQL orders with the commits of every process.
func (s *Store) AddMessages(ctx context.Context, sends []store.Send) ([]store.Sent, error) {
	if len(sends) == 0 {
		return nil, nil
	}
	var out []store.Sent
	var cached []eventKey
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		s.recent.drop(cached) // a retried attempt starts over
		cached = cached[:0]
		var err error
		out, cached, err = s.addMessages(ctx, tx, sends)
		return err
	})
	if err != nil {
		s.recent.drop(cached)
		return nil, fmt.Errorf("add message: %w", classify(err))
	}
	return out, nil
}

func (s *Store) addMessages(ctx context.Context, tx pgx.Tx, sends []store.Send) ([]store.Sent, []eventKey, error) {
	var owners []string
	for _, send := range sends {
		owners = append(owners, send.From, send.To)
	}
	slices.Sort(owners)
	owners = slices.Compact(owners)
	// Creates each missing mark and locks every one, in name order.
	rows, err := tx.Query(ctx,
		`INSERT INTO id_marks (owner, last_id) SELECT o, '' FROM unnest($1::text[]) AS o ORDER BY o
		 ON CONFLICT (owner) DO UPDATE SET owner = EXCLUDED.owner
		 RETURNING last_id`, owners)
	if err != nil {
		return nil, nil, err
	}
	marks, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, nil, err
	}
	last := ""
	for _, m := range marks {
		last = max(last, m)
	}

	type keyed struct{ from, key string }
	firsts := map[keyed]store.Sent{} // keys stored by this batch
	out := make([]store.Sent, 0, len(sends))
	var cached []eventKey
	batch := &pgx.Batch{}
	for _, send := range sends {
		if send.Key != "" {
			k := keyed{send.From, send.Key}
			if first, ok := firsts[k]; ok {
				out = append(out, store.Sent{ID: first.ID, CreatedAt: first.CreatedAt})
				continue
			}
			// The sender's mark is locked, so no other send under this
			// key can commit before this transaction does.
			var first store.Sent
			err := tx.QueryRow(ctx,
				`SELECT message_id, created_at FROM send_keys WHERE sender = $1 AND key = $2`, send.From, send.Key).
				Scan(&first.ID, &first.CreatedAt)
			if err == nil {
				out = append(out, first)
				continue
			}
			if !errors.Is(err, pgx.ErrNoRows) {
				return nil, cached, err
			}
		}
		now := time.Now()
		id, err := store.NextID(last, now)
		if err != nil {
			return nil, cached, err
		}
		last = id
		at := now.UnixNano()
		if send.Key != "" {
			firsts[keyed{send.From, send.Key}] = store.Sent{ID: id, CreatedAt: at}
			batch.Queue(`INSERT INTO send_keys (sender, key, message_id, created_at) VALUES ($1, $2, $3, $4)`,
				send.From, send.Key, id, at)
		}
		in := store.Message{Box: store.Inbox, Owner: send.To, ID: id, From: send.From, To: send.To,
			Body: send.ToBody, Signature: send.ToSignature, CreatedAt: at}
		sb := store.Message{Box: store.Sentbox, Owner: send.From, ID: id, From: send.From, To: send.To,
			Body: send.FromBody, Signature: send.FromSignature, CreatedAt: at}
		for _, m := range []store.Message{in, sb} {
			batch.Queue(`INSERT INTO messages (`+msgCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
				m.Owner, int16(m.Box), m.ID, m.From, m.To, m.Body, m.Signature, m.CreatedAt, m.ReadAt)
			k := eventKey{store.Create, m.Box, m.Owner, m.ID}
			batch.Queue(`SELECT pg_notify($1, $2)`, channel, k.payload())
			s.recent.put(k, m)
			cached = append(cached, k)
		}
		batch.Queue(`INSERT INTO users (owner, sent, first_seen) VALUES ($1, 1, $2)
			ON CONFLICT (owner) DO UPDATE SET sent = users.sent + 1`, send.From, at)
		out = append(out, store.Sent{ID: id, CreatedAt: at, Stored: true})
	}
	if batch.Len() == 0 {
		return out, cached, nil // repeats only
	}
	batch.Queue(`UPDATE id_marks SET last_id = $2 WHERE owner = ANY($1)`, owners, last)
	if err := tx.SendBatch(ctx, batch).Close(); err != nil {
		return nil, cached, err
	}
	return out, cached, nil
}

// scanListed scans a row of ListMessages: the message's columns and the
// body's length.
func scanListed(row pgx.Row) (store.Message, error) {
	var m store.Message
	var box int16
	err := row.Scan(&m.Owner, &box, &m.ID, &m.From, &m.To, &m.Body, &m.Signature, &m.CreatedAt, &m.ReadAt, &m.BodySize)
	m.Box = store.Box(box)
	return m, err
}

func (s *Store) ListMessages(ctx context.Context, q store.Query) ([]store.Message, error) {
	var b strings.Builder
	args := []any{q.Owner, int16(q.Box)}
	// Without bodies, the body column is the NULL it scans as nil and
	// the length is the database's, so no body leaves the database.
	body := `body`
	if q.WithoutBodies {
		body = `NULL`
	}
	b.WriteString(`SELECT owner, box, id, sender, recipient, ` + body + `, signature, created_at, read_at, octet_length(body) FROM messages WHERE owner = $1 AND box = $2`)
	if q.Seek != "" {
		args = append(args, q.Seek)
		// Inclusive, as the hub's Mongo $gte/$lte: the page starts at seek.
		if q.Ascending {
			fmt.Fprintf(&b, ` AND id >= $%d`, len(args))
		} else {
			fmt.Fprintf(&b, ` AND id <= $%d`, len(args))
		}
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
	args = append(args, q.Limit)
	fmt.Fprintf(&b, ` LIMIT $%d`, len(args))

	rows, err := s.pool.Query(ctx, b.String(), args...)
	if err != nil {
		return nil, fmt.Errorf("list messages: %w", classify(err))
	}
	defer rows.Close()
	msgs := make([]store.Message, 0, min(q.Limit, 128))
	size := 0
	for rows.Next() {
		m, err := scanListed(rows)
		if err != nil {
			return nil, fmt.Errorf("list messages: %w", classify(err))
		}
		if size += store.PageSize(m); q.MaxBytes > 0 && size > q.MaxBytes {
			return nil, store.ErrTooLarge
		}
		msgs = append(msgs, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list messages: %w", classify(err))
	}
	return msgs, nil
}

// MarkRead and DeleteMessage are one statement each, their NOTIFY in it,
// so the change and its event commit together. Their events are read
// back when the notification comes (a Save's copy is read anew, which can
// only be newer).
func (s *Store) MarkRead(ctx context.Context, owner, id string, at int64) (store.Message, error) {
	// n runs only if it is read, which the select list does once per row
	// of u: no row updated, no NOTIFY.
	row := s.pool.QueryRow(ctx,
		`WITH u AS (
			UPDATE messages SET read_at = $1 WHERE owner = $2 AND box = 0 AND id = $3 RETURNING `+msgCols+`
		), n AS (
			SELECT pg_notify($4, $5) FROM u
		)
		SELECT `+msgCols+`, (SELECT count(*) FROM n) FROM u`,
		at, owner, id, channel, eventKey{store.Save, store.Inbox, owner, id}.payload())
	var m store.Message
	var box int16
	var notified int64
	err := row.Scan(&m.Owner, &box, &m.ID, &m.From, &m.To, &m.Body, &m.Signature, &m.CreatedAt, &m.ReadAt, &notified)
	m.Box = store.Box(box)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Message{}, store.ErrNotFound
	}
	if err != nil {
		return store.Message{}, fmt.Errorf("mark read: %w", classify(err))
	}
	return m, nil
}

func (s *Store) DeleteMessage(ctx context.Context, box store.Box, owner, id string) (bool, error) {
	tag, err := s.pool.Exec(ctx,
		`WITH d AS (
			DELETE FROM messages WHERE owner = $1 AND box = $2 AND id = $3 RETURNING 1
		)
		SELECT pg_notify($4, $5) FROM d`,
		owner, int16(box), id, channel, eventKey{store.Delete, box, owner, id}.payload())
	if err != nil {
		return false, fmt.Errorf("delete message: %w", classify(err))
	}
	return tag.RowsAffected() > 0, nil
}
