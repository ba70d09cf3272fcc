package mailbox

import (
	"fmt"
	"time"
)

// The outbox queue's vocabulary (package queue keeps the queue itself), here
// so that the node tree shows queued/ without importing the hub client.

// QueueItem is one queued message as its file holds it (queue.Item). The
// JSON field names are the file format; the first group is also what
// MNT/queued/<id> shows.
type QueueItem struct {
	ID        string    `json:"id"`
	To        string    `json:"to"`
	Size      int       `json:"size"` // plaintext bytes
	QueuedAt  time.Time `json:"queued_at"`
	Attempts  int       `json:"attempts"`
	LastError string    `json:"last_error"`
	// Failed is set by a permanent refusal: the item is kept, never
	// retried, until the user removes it.
	Failed bool `json:"failed"`
	// Hub is the address of the hub the message was first sent to.
	Hub string `json:"hub"`
	// Key is the idempotency key every attempt sends, so that a retry after
	// an attempt whose outcome is unknown cannot store a second copy.
	Key    string `json:"idempotency_key"`
	Sealed Sealed `json:"sealed"`
}

// QueueStats are the queue's figures for .hubfs/status (queue.Stats).
type QueueStats struct {
	Length           int     `json:"length"`
	Failed           int     `json:"failed"`
	OldestAgeSeconds float64 `json:"oldest_age_seconds"`
	Dir              string  `json:"dir"`
}

// QueueEvent is something the outbox did, for .hubfs/events and
// .hubfs/errors (queue.Event).
type QueueEvent struct {
	Kind QueueEventKind
	Item QueueItem // as it is after the event
	ID   string    // the hub's message id, for Sent
	Err  error     // for Failed and Retrying: why
	// AtClose: the refusal met the send's own first attempt, so the
	// closing syscall reports it (and records it in .hubfs/errors) itself.
	AtClose bool
}

// QueueEventKind names a QueueEvent.
type QueueEventKind int

const (
	// ItemQueued: a message was accepted into the queue.
	ItemQueued QueueEventKind = iota
	// ItemSent: a queued message was delivered (and left the queue).
	ItemSent
	// ItemFailed: the hub refused a queued message for good; it stays, marked.
	ItemFailed
	// ItemRetrying: an attempt failed for a reason that may pass.
	ItemRetrying
)

// String names the kind as .hubfs/events does.
func (k QueueEventKind) String() string {
	switch k {
	case ItemQueued:
		return "queued"
	case ItemSent:
		return "sent"
	case ItemFailed:
		return "failed"
	case ItemRetrying:
		return "retrying"
	}
	return fmt.Sprintf("EventKind(%d)", int(k))
}
