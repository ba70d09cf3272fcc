package hubd

import (
	"context"
	"errors"
	"time"
)

// Store is everything the services keep. It is small on purpose: a second
// implementation (PostgreSQL, for deployments that outgrow one machine) only
// has to provide these methods; all policy (auth, limits, paging defaults,
// events) lives in the services above it.
type Store interface {
	CreateKey(ctx context.Context, k APIKey) error
	// GetKey returns ErrNotFound for an unknown key; a revoked key is
	// returned with Revoked set so the caller decides.
	GetKey(ctx context.Context, key string) (APIKey, error)
	ListKeys(ctx context.Context) ([]APIKey, error)
	// RevokeKey returns ErrNotFound for an unknown key.
	RevokeKey(ctx context.Context, key string) error

	// CreateThread stores t unless its owner already has a thread of that
	// name (ErrNameTaken, with the existing thread) or the id is in use
	// (ErrIDTaken).
	CreateThread(ctx context.Context, t Thread) (Thread, error)
	GetThread(ctx context.Context, owner, name string) (Thread, error)
	GetThreadByID(ctx context.Context, id []byte) (Thread, error)
	ListThreads(ctx context.Context, owner string) ([]Thread, error)
	DeleteThread(ctx context.Context, id []byte) error

	// AddMessage stores the inbox and sentbox copies of one message
	// atomically and counts the send against the sender.
	AddMessage(ctx context.Context, inbox, sentbox Message) error
	// AddMessageOnce is AddMessage under the sender's idempotency key
	// (none if empty): if the sender already sent under key, it stores
	// nothing and returns the first message's id and time, Stored false.
	// The key is recorded in the message's transaction.
	AddMessageOnce(ctx context.Context, inbox, sentbox Message, key string) (Sent, error)
	// PruneSendKeys forgets idempotency keys recorded before the Unix ns
	// time before, and says how many.
	PruneSendKeys(ctx context.Context, before int64) (int64, error)
	ListMessages(ctx context.Context, q Query) ([]Message, error)
	// MarkRead sets read_at on an inbox message and returns it updated, or
	// ErrNotFound.
	MarkRead(ctx context.Context, owner, id string, at int64) (Message, error)
	// DeleteMessage reports whether a message was there to delete.
	DeleteMessage(ctx context.Context, box Box, owner, id string) (bool, error)
	Usage(ctx context.Context, owner string) (Usage, error)

	Close() error
}

// Store errors; the services turn them into gRPC statuses.
var (
	ErrNotFound  = errors.New("not found")
	ErrNameTaken = errors.New("thread name is taken")
	ErrIDTaken   = errors.New("thread id is taken")
	// ErrTooLarge: a page would hold more than Query.MaxBytes.
	ErrTooLarge = errors.New("page is too large")
	// ErrNoSpace: the store's disk is full; nothing of the write was kept.
	ErrNoSpace = errors.New("no space left for the store")
)

// Sent is what a send stored, or what the first send under its
// idempotency key stored.
type Sent struct {
	ID        string
	CreatedAt int64 // Unix ns
	Stored    bool  // false: a repeat, nothing was stored
}

// Box is a mailbox collection. The numbers are stored: never renumber.
type Box int

const (
	Inbox   Box = 0
	Sentbox Box = 1
)

// String is the collection name Listen filters and events use.
func (b Box) String() string {
	if b == Sentbox {
		return "sentbox"
	}
	return "inbox"
}

// Thread is a thread DB a user owns; the mailbox is the one named
// MailboxName.
type Thread struct {
	ID        []byte // ThreadID bytes
	Owner     string // canonical public-key string
	Name      string
	IsDB      bool
	CreatedAt time.Time
}

// Message is one copy of a message: the inbox copy belongs to the recipient,
// the sentbox copy to the sender, and both share ID and CreatedAt.
type Message struct {
	Box       Box
	Owner     string
	ID        string // lower-case ULID
	From, To  string
	Body      []byte
	Signature []byte
	CreatedAt int64 // Unix ns
	ReadAt    int64 // Unix ns, 0 = unread; always 0 in the sentbox
}

// Query selects a page of one mailbox collection. Seek is inclusive. The
// services resolve defaults before a Query reaches the store.
type Query struct {
	Box       Box
	Owner     string
	Seek      string
	Limit     int
	Ascending bool
	Read      *bool // nil = all, else read_at > 0 == *Read
	// MaxBytes bounds the page's size (bodies, signatures, strings and
	// pageRowOverhead per message): the store stops reading with
	// ErrTooLarge once past it, so a page of 10,000 large messages never
	// sits in memory. 0 = no bound.
	MaxBytes int
}

// pageRowOverhead is a message's protobuf framing beyond its bytes and
// strings: tags, lengths (up to 5 bytes each for the message and its body)
// and the two varint times (10 bytes each with their tags), rounded up.
// Never too low: a page within the budget must fit the client's limit.
const pageRowOverhead = 64

// pageSize is what a message adds to a page.
func pageSize(m Message) int {
	return len(m.Body) + len(m.Signature) + len(m.ID) + len(m.From) + len(m.To) + pageRowOverhead
}

// Usage is what the store knows about one user's footprint.
type Usage struct {
	InboxMessages, SentboxMessages int64
	StoredBytes                    int64 // bodies and signatures of both boxes
	SentMessages                   int64 // every SendMessage, deleted or not
	FirstSeen                      time.Time
}
