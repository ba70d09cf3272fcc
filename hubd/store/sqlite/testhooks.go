package sqlite

import (
	"context"
	"errors"
	"fmt"

	"github.com/hubfs/hubfs/hubd/store"
)

// These methods are for tests (hubdtest and the tests of its users): they
// reach past the Store contract into this implementation, through the one
// open of the file, instead of a second open that would drop this
// process's locks when it closed.

// TamperBody flips a byte in the middle of the body of every copy of
// message id in box, so its signature no longer verifies (and it would
// not decrypt either). It publishes no event: it is damage, not a change.
func (s *Store) TamperBody(ctx context.Context, box store.Box, id string) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, `SELECT rowid, body FROM messages WHERE box = ? AND id = ?`, box, id)
	if err != nil {
		return err
	}
	type row struct {
		rowid int64
		body  []byte
	}
	var found []row
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.rowid, &r.body); err != nil {
			rows.Close()
			return err
		}
		found = append(found, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	if len(found) == 0 {
		return errors.New("no such message")
	}
	for _, r := range found {
		if len(r.body) == 0 {
			return fmt.Errorf("message has an empty body")
		}
		r.body[len(r.body)/2] ^= 0x01
		if _, err := tx.ExecContext(ctx, `UPDATE messages SET body = ? WHERE rowid = ?`, r.body, r.rowid); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// HoldWriteLock takes the database's write lock on a connection of its own,
// as another process's writer would, so that writes wait inside the store
// until release is called. Reads go on.
func (s *Store) HoldWriteLock(ctx context.Context) (release func(), err error) {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		conn.Close()
		return nil, err
	}
	return func() {
		conn.ExecContext(context.Background(), "ROLLBACK")
		conn.Close()
	}, nil
}
