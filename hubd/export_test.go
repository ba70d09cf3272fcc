package hubd

import (
	"context"
	"time"

	"github.com/hubfs/hubfs/hubd/store"
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
	sends := make([]store.Send, n)
	for i := range sends {
		sends[i] = store.Send{From: from, To: to, ToBody: body, ToSignature: sig, FromBody: body, FromSignature: sig}
	}
	sent, err := s.store.AddMessages(context.Background(), sends)
	if err != nil {
		return nil, err
	}
	ids := make([]string, n)
	for i, m := range sent {
		ids[i] = m.ID
	}
	return ids, nil
}
