package hubd

import (
	"context"
	"time"
)

// PruneSendKeysAt forgets idempotency keys as the hourly prune would at now.
func PruneSendKeysAt(s *Server, now time.Time) { s.pruneSendKeys(now) }

// Limits are the byte budgets derived from a message size, for table tests.
type Limits struct {
	MaxRecv, PageBytes, EventBytes, ListenerBytes int
	WSReadLimit                                   int64
}

func LimitsFor(size int) Limits {
	l := limitsFor(size)
	return Limits{MaxRecv: l.maxRecv, PageBytes: l.pageBytes, EventBytes: l.eventBytes, ListenerBytes: l.listenerBytes, WSReadLimit: l.wsReadLimit}
}

// SetSendHook runs f inside every SendMessage before the message is stored.
// Set it before serving.
func SetSendHook(s *Server, f func()) { s.testHookSend = f }

// SeedMessages stores n messages from one user to another in a single
// transaction, much faster than n SendMessage calls, for benchmarks that
// need a full mailbox. Both users must have a mailbox for calls to work.
// It returns the ids in the order stored (ascending).
func SeedMessages(s *Server, from, to string, n int, body, sig []byte) ([]string, error) {
	db := s.store.(*sqliteStore).db
	ctx := context.Background()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	stmt, err := tx.PrepareContext(ctx, `INSERT INTO messages (`+msgCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return nil, err
	}
	defer stmt.Close()
	ids := make([]string, 0, n)
	for range n {
		id, now := s.ids.next()
		ids = append(ids, id)
		for _, m := range []Message{
			{Box: Inbox, Owner: to, ID: id, From: from, To: to, Body: body, Signature: sig, CreatedAt: now},
			{Box: Sentbox, Owner: from, ID: id, From: from, To: to, Body: body, Signature: sig, CreatedAt: now},
		} {
			if _, err := stmt.ExecContext(ctx, m.Owner, m.Box, m.ID, m.From, m.To, m.Body, m.Signature, m.CreatedAt, m.ReadAt); err != nil {
				return nil, err
			}
		}
	}
	return ids, tx.Commit()
}
