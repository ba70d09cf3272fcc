// Package store is the contract between the hub's services (package hubd)
// and the database that keeps their state: the Store interface, its model
// types and its errors. Implementations live in subpackages (sqlite; the
// postgres) and each passes the one conformance suite in
// storetest. The package imports neither hubd nor any implementation, so
// both can import it.
//
// All policy (auth, limits, paging defaults, the wire format of events)
// stays in hubd; a store keeps data, mints message ids and orders each
// commit with the events it causes.
package store

import (
	"context"
	"errors"
	"time"

	"github.com/hubfs/hubfs/wire"
)

// Store is everything the services keep. A Store is safe for concurrent
// use. Several processes may share one database if the implementation says
// so; the contract below (ids, events) holds across all of them.
type Store interface {
	CreateKey(ctx context.Context, k APIKey) error
	// GetKey returns ErrNotFound for an unknown key; a revoked key is
	// returned with Revoked set so the caller decides.
	GetKey(ctx context.Context, key string) (APIKey, error)
	// ListKeys returns every key, revoked ones included, oldest first.
	ListKeys(ctx context.Context) ([]APIKey, error)
	// RevokeKey returns ErrNotFound for an unknown key.
	RevokeKey(ctx context.Context, key string) error

	// CreateThread stores t unless its owner already has a thread of that
	// name (ErrNameTaken, with the existing thread) or the id is in use
	// (ErrIDTaken). Threads without a name never clash by name.
	CreateThread(ctx context.Context, t Thread) (Thread, error)
	GetThread(ctx context.Context, owner, name string) (Thread, error)
	GetThreadByID(ctx context.Context, id []byte) (Thread, error)
	// ListThreads returns owner's threads in creation order.
	ListThreads(ctx context.Context, owner string) ([]Thread, error)
	// DeleteThread returns ErrNotFound for an unknown id. It drops the
	// thread's collections and instances with it, publishing no events.
	DeleteThread(ctx context.Context, id []byte) error

	// AddMessage stores the inbox and sentbox copies of one message
	// atomically, counts the send against the sender and publishes a
	// Create event for each copy (inbox first). The store mints the id
	// (see NextID) and the creation time inside the write, so ids are
	// strictly increasing in commit order across every process sharing
	// the store. Under an idempotency key (Send.Key, none if empty) a
	// repeat by the same sender stores and publishes nothing and returns
	// the first message's id and time with Stored false; the key is
	// recorded in the message's transaction.
	AddMessage(ctx context.Context, s Send) (Sent, error)
	// AddMessages is AddMessage for each send in one transaction, ids
	// increasing in slice order: for imports and for seeding benchmarks.
	AddMessages(ctx context.Context, s []Send) ([]Sent, error)
	// PruneSendKeys forgets idempotency keys recorded before the Unix ns
	// time before, and says how many.
	PruneSendKeys(ctx context.Context, before int64) (int64, error)
	ListMessages(ctx context.Context, q Query) ([]Message, error)
	// MarkRead sets read_at on an inbox message, publishes a Save event
	// and returns the message updated, or ErrNotFound.
	MarkRead(ctx context.Context, owner, id string, at int64) (Message, error)
	// DeleteMessage reports whether a message was there to delete; if it
	// was, it publishes a Delete event.
	DeleteMessage(ctx context.Context, box Box, owner, id string) (bool, error)
	Usage(ctx context.Context, owner string) (Usage, error)

	// Subscribe calls fn with every event of every commit, in commit
	// order (for each owner at least; SQLite orders them all), one call
	// at a time, until cancel is called. A store shared by several
	// processes delivers every process's commits to every subscriber
	// (PostgreSQL: LISTEN/NOTIFY); the SQLite store delivers the commits
	// of the process that opened it. fn runs while the store orders its
	// writers, so it must hand the event off and return: never block or
	// call the store. A store that may miss events (PostgreSQL, whose
	// listener connection broke) says so with an Event whose Action is
	// Lost, once it is listening again: subscribers must then resync from
	// the store, as everything before it may be incomplete.
	Subscribe(fn func(Event)) (cancel func())

	// ThreadDBStore keeps the collections and instances of thread
	// databases; DeleteThread drops them with the thread.
	ThreadDBStore

	Close() error
}

// Store errors; the services turn them into gRPC statuses. A store wraps
// them (errors.Is) and may add its cause.
var (
	ErrNotFound  = errors.New("not found")
	ErrNameTaken = errors.New("thread name is taken")
	ErrIDTaken   = errors.New("thread id is taken")
	// ErrTooLarge: a page would hold more than Query.MaxBytes.
	ErrTooLarge = errors.New("page is too large")
	// ErrNoSpace: the store's disk is full; nothing of the write was kept.
	ErrNoSpace = errors.New("no space left for the store")
	// ErrUnavailable: the database cannot be reached (refused, down,
	// the connection broke); the call may succeed later. A write that
	// fails so may or may not have committed: sends carry idempotency
	// keys for that.
	ErrUnavailable = errors.New("store unavailable")
)

// HostKeyStore is a store that keeps the hub's token-signing key itself,
// so that every process serving it signs and verifies the same tokens and
// none needs a data directory. A store without it (SQLite) leaves the key
// to a file beside it.
type HostKeyStore interface {
	// HostKey returns the stored key (identity's string form); if there is
	// none yet it stores fresh and returns that. Concurrent first calls
	// from several processes all get the one key that won.
	HostKey(ctx context.Context, fresh string) (string, error)
}

// APIKey is a user-group key: apps send Key and an HMAC made with Secret.
type APIKey struct {
	Key, Secret string
	CreatedAt   time.Time
	Revoked     bool
}

// Send is one message to store: both copies, encrypted and signed by the
// sender. The store mints its id and time.
type Send struct {
	From, To                string // canonical public-key strings
	ToBody, ToSignature     []byte // the recipient's (inbox) copy
	FromBody, FromSignature []byte // the sender's (sentbox) copy
	Key                     string // the sender's idempotency key; "" = none
}

// Sent is what a send stored, or what the first send under its
// idempotency key stored.
type Sent struct {
	ID        string
	CreatedAt int64 // Unix ns
	Stored    bool  // false: a repeat, nothing was stored
}

// Box is a mailbox collection (wire.Box). The numbers are stored: never
// renumber.
type Box = wire.Box

const (
	Inbox   = wire.Inbox
	Sentbox = wire.Sentbox
)

// Thread is a thread DB a user owns; the mailbox is the one named
// wire.MailboxName.
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
	// BodySize is the body's length in bytes. ListMessages sets it on
	// every message it returns, with or without the body
	// (Query.WithoutBodies).
	BodySize int64
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
	// MaxBytes bounds the page's size (PageSize of each message): the
	// store stops reading with ErrTooLarge once past it, so a page of
	// 10,000 large messages never sits in memory. 0 = no bound.
	MaxBytes int
	// WithoutBodies asks for metadata only: each message's Body is nil
	// and its BodySize set, read without reading the body, and MaxBytes
	// (PageSize of a message without its body) then counts metadata
	// only, so a page of 10,000 fits however large the bodies are.
	WithoutBodies bool
}

// PageRowOverhead is a message's protobuf framing beyond its bytes and
// strings: tags, lengths (up to 5 bytes each for the message and its body)
// and the two varint times (10 bytes each with their tags), rounded up.
// Never too low: a page within the budget must fit the client's limit.
const PageRowOverhead = 64

// PageSize is what a message adds to a page, for Query.MaxBytes.
func PageSize(m Message) int {
	return len(m.Body) + len(m.Signature) + len(m.ID) + len(m.From) + len(m.To) + PageRowOverhead
}

// Usage is what the store knows about one user's footprint.
type Usage struct {
	InboxMessages, SentboxMessages int64
	StoredBytes                    int64 // bodies and signatures of both boxes
	SentMessages                   int64 // every stored send, deleted or not
	FirstSeen                      time.Time

	// Thread databases: the instances the user's threads hold now and
	// the bytes of their JSON; instances read (as hubd counted them,
	// AddInstanceReads) and written (each op of WriteInstances that
	// changed something) ever.
	Instances, InstanceBytes      int64
	InstanceReads, InstanceWrites int64
}

// Action is what a commit did to one message copy.
type Action int

const (
	Create Action = iota + 1 // a copy was stored
	Save                     // an inbox copy was marked read
	Delete                   // a copy was deleted
	// Lost: the store may have missed events before this one (a shared
	// store's listener reconnected); Message is zero. Subscribers resync.
	Lost
)

func (a Action) String() string {
	switch a {
	case Create:
		return "create"
	case Save:
		return "save"
	case Delete:
		return "delete"
	case Lost:
		return "lost"
	}
	return "unknown"
}

// Event is one change to one message copy, or to one thread DB instance.
// For a message, Message always has Box, Owner and ID, and for Create and
// Save it is the whole copy as committed; Instance is nil. For an
// instance, Instance is set and Message is zero (so code that reads only
// Message sees an owner "" that no mailbox has). Lost has neither.
type Event struct {
	Action   Action
	Message  Message
	Instance *InstanceEvent
}
