package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/hubfs/hubfs/hubd/store"
)

// Group commit. With synchronous=FULL every commit costs an fsync, and
// SQLite admits one writer at a time, so sends one transaction each are
// bounded by the disk's fsync rate. Instead one writer goroutine takes a
// send, then every send that queued meanwhile (up to maxGroup), and
// commits them in one transaction: the fsync is shared, and the more
// senders wait, the bigger the group. Each send runs in a savepoint of its
// own, so one that fails is rolled back alone and the others still commit;
// events are published after the commit, in the order the sends ran,
// which is commit order.

// maxGroup bounds a group, so that one commit's latency stays short and
// its events are not one huge burst.
const maxGroup = 256

// pending is one AddMessages call waiting for the writer. The writer sets
// sent or err, then closes done.
type pending struct {
	ctx   context.Context
	sends []store.Send
	done  chan struct{}

	sent   []store.Sent
	events []store.Event
	err    error
}

// sendStmts are the statements of a send (and the API key lookup),
// prepared once per store: the driver would otherwise parse and plan each
// one on every call.
type sendStmts struct {
	lastID, setLastID        *sql.Stmt
	findKey, addKey          *sql.Stmt
	addMessage               *sql.Stmt
	touchUser, countSent     *sql.Stmt
	savepoint, release, undo *sql.Stmt
	getKey                   *sql.Stmt // not a send's: every call reads its key
}

func (st *sendStmts) prepare(ctx context.Context, db *sql.DB) error {
	for _, p := range []struct {
		stmt **sql.Stmt
		sql  string
	}{
		{&st.lastID, `SELECT id FROM last_id WHERE one = 1`},
		{&st.setLastID, `UPDATE last_id SET id = ? WHERE one = 1`},
		{&st.findKey, `SELECT message_id, created_at FROM send_keys WHERE sender = ? AND key = ?`},
		{&st.addKey, `INSERT INTO send_keys (sender, key, message_id, created_at) VALUES (?, ?, ?, ?)`},
		{&st.addMessage, `INSERT INTO messages (` + msgCols + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`},
		{&st.touchUser, `INSERT INTO users (owner, first_seen) VALUES (?, ?) ON CONFLICT (owner) DO NOTHING`},
		{&st.countSent, `UPDATE users SET sent = sent + 1 WHERE owner = ?`},
		{&st.savepoint, `SAVEPOINT send`},
		{&st.release, `RELEASE send`},
		{&st.undo, `ROLLBACK TO send`},
		{&st.getKey, `SELECT key, secret, created_at, revoked FROM api_keys WHERE key = ?`},
	} {
		stmt, err := db.PrepareContext(ctx, p.sql)
		if err != nil {
			st.close()
			return fmt.Errorf("prepare %q: %w", p.sql, err)
		}
		*p.stmt = stmt
	}
	return nil
}

func (st *sendStmts) close() {
	for _, s := range []*sql.Stmt{st.lastID, st.setLastID, st.findKey, st.addKey, st.addMessage,
		st.touchUser, st.countSent, st.savepoint, st.release, st.undo, st.getKey} {
		if s != nil {
			s.Close()
		}
	}
}

// writer commits queued sends in groups until Close.
func (s *Store) writer() {
	defer close(s.stopped)
	for {
		var group []*pending
		select {
		case p := <-s.queue:
			group = append(group, p)
		case <-s.closing:
			return
		}
	drain:
		for len(group) < maxGroup {
			select {
			case p := <-s.queue:
				group = append(group, p)
			default:
				break drain
			}
		}
		s.commitGroup(group)
	}
}

// commitGroup commits group in one transaction and answers each send.
func (s *Store) commitGroup(group []*pending) {
	s.writeMu.Lock()
	err := s.runGroup(group)
	if err == nil {
		for _, p := range group {
			s.feed.Publish(p.events...)
		}
	}
	s.writeMu.Unlock()
	for _, p := range group {
		if err != nil && p.err == nil {
			p.err = err
		}
		if p.err != nil {
			p.sent = nil
		}
		close(p.done)
	}
}

// runGroup runs the group's transaction; the caller holds writeMu. An
// error returned is the whole group's (nothing committed); a send's own
// failure is in its pending.
func (s *Store) runGroup(group []*pending) error {
	// Not a caller's context: the transaction is every caller's. The
	// busy timeout bounds a wait for another process's writer.
	ctx := context.Background()
	// The transaction takes the write lock at once (_txlock=immediate), so
	// two sends under one key, even from two processes, are ordered: the
	// second sees the first's row; and the last id read below is the
	// newest any process minted.
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var last string
	if err := tx.StmtContext(ctx, s.stmts.lastID).QueryRowContext(ctx).Scan(&last); err != nil {
		return fmt.Errorf("read the last message id: %w", err)
	}
	st := txStmts{
		findKey:    tx.StmtContext(ctx, s.stmts.findKey),
		addKey:     tx.StmtContext(ctx, s.stmts.addKey),
		addMessage: tx.StmtContext(ctx, s.stmts.addMessage),
		touchUser:  tx.StmtContext(ctx, s.stmts.touchUser),
		countSent:  tx.StmtContext(ctx, s.stmts.countSent),
	}
	savepoint, release, undo := tx.StmtContext(ctx, s.stmts.savepoint), tx.StmtContext(ctx, s.stmts.release), tx.StmtContext(ctx, s.stmts.undo)
	stored := 0
	for _, p := range group {
		if err := p.ctx.Err(); err != nil {
			p.err = err // gave up before its turn: nothing of it is stored
			continue
		}
		if _, err := savepoint.ExecContext(ctx); err != nil {
			return err
		}
		next, err := st.run(ctx, p, last)
		if err != nil {
			if _, uerr := undo.ExecContext(ctx); uerr != nil {
				return errors.Join(err, uerr)
			}
			p.err, p.sent, p.events = err, nil, nil
		} else {
			last = next
			stored++
		}
		if _, err := release.ExecContext(ctx); err != nil {
			return err
		}
	}
	if stored == 0 {
		return nil // nothing to commit; the rollback is free
	}
	if _, err := tx.StmtContext(ctx, s.stmts.setLastID).ExecContext(ctx, last); err != nil {
		return err
	}
	return tx.Commit()
}

// txStmts are the send statements bound to one transaction.
type txStmts struct {
	findKey, addKey, addMessage, touchUser, countSent *sql.Stmt
}

// run stores p's sends after the id last and returns the newest id minted.
func (st txStmts) run(ctx context.Context, p *pending, last string) (string, error) {
	p.sent = make([]store.Sent, 0, len(p.sends))
	for _, send := range p.sends {
		if send.Key != "" {
			var first store.Sent
			err := st.findKey.QueryRowContext(ctx, send.From, send.Key).Scan(&first.ID, &first.CreatedAt)
			if err == nil {
				p.sent = append(p.sent, first)
				continue
			}
			if !errors.Is(err, sql.ErrNoRows) {
				return "", err
			}
		}
		now := time.Now()
		id, err := store.NextID(last, now)
		if err != nil {
			return "", err
		}
		last = id
		at := now.UnixNano()
		if send.Key != "" {
			if _, err := st.addKey.ExecContext(ctx, send.From, send.Key, id, at); err != nil {
				return "", err
			}
		}
		in := store.Message{Box: store.Inbox, Owner: send.To, ID: id, From: send.From, To: send.To,
			Body: send.ToBody, Signature: send.ToSignature, CreatedAt: at}
		sb := store.Message{Box: store.Sentbox, Owner: send.From, ID: id, From: send.From, To: send.To,
			Body: send.FromBody, Signature: send.FromSignature, CreatedAt: at}
		for _, m := range []store.Message{in, sb} {
			if _, err := st.addMessage.ExecContext(ctx,
				m.Owner, m.Box, m.ID, m.From, m.To, m.Body, m.Signature, m.CreatedAt, m.ReadAt); err != nil {
				return "", err
			}
			p.events = append(p.events, store.Event{Action: store.Create, Message: m})
		}
		if _, err := st.touchUser.ExecContext(ctx, send.From, at); err != nil {
			return "", err
		}
		if _, err := st.countSent.ExecContext(ctx, send.From); err != nil {
			return "", err
		}
		p.sent = append(p.sent, store.Sent{ID: id, CreatedAt: at, Stored: true})
	}
	return last, nil
}
