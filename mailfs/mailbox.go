package mailfs

import (
	"context"
	"time"

	"github.com/hubfs/hubfs/identity"
	"github.com/hubfs/hubfs/mailbox"
)

// Mailbox is what the filesystem consumes: *mailbox.Model, over the hub with
// or without a cache below it, so the same tree runs either way.
type Mailbox interface {
	// List returns a box's entries in ascending id (time) order.
	List(ctx context.Context, box mailbox.Box) ([]mailbox.Entry, error)
	// Lookup finds one entry; a missing id is mailbox.ErrNotFound.
	Lookup(ctx context.Context, box mailbox.Box, id string) (mailbox.Entry, error)
	// Open returns a message's plaintext, decrypted and its signature verified.
	Open(ctx context.Context, box mailbox.Box, id string) ([]byte, error)
	MarkRead(ctx context.Context, id string) (time.Time, error)
	Delete(ctx context.Context, box mailbox.Box, id string) error
	Send(ctx context.Context, to *identity.PublicKey, body []byte) (mailbox.Entry, error)

	Threads(ctx context.Context) ([]mailbox.Thread, error)
	NewThread(ctx context.Context, name string) (mailbox.Thread, error)
	DeleteThread(ctx context.Context, t mailbox.Thread) error
	Usage(ctx context.Context) (mailbox.Usage, error)

	// A thread DB's collections and documents (db is the thread id).
	Collections(ctx context.Context, db string) ([]mailbox.Collection, error)
	Collection(ctx context.Context, db, name string) (mailbox.Collection, error)
	NewCollection(ctx context.Context, db, name string) (mailbox.Collection, error)
	SetSchema(ctx context.Context, db, name string, schema []byte) (mailbox.Collection, error)
	DeleteCollection(ctx context.Context, db, name string) error
	Documents(ctx context.Context, db, coll string) ([]mailbox.Document, error)
	Document(ctx context.Context, db, coll, id string) (mailbox.Document, error)
	PutDocument(ctx context.Context, db, coll, id string, body []byte, exists bool) (mailbox.Document, error)
	DeleteDocument(ctx context.Context, db, coll, id string) error

	Stats() mailbox.Stats
	// Mode says whether a watch pushes every change (the kernel may then
	// cache listings for long) or not.
	Mode() mailbox.Mode
	// OnChange registers the one callback that hears about every change the
	// model learns of. It is called without any model lock held.
	OnChange(func(mailbox.Change))
}

var _ Mailbox = (*mailbox.Model)(nil)

// Outbox is the send path the filesystem consumes: a message handed to Send
// is on the hub or durably queued when Send returns nil. *queue.Outbox
// implements it.
type Outbox interface {
	Send(ctx context.Context, to *identity.PublicKey, body []byte) error
	// Refusal is a permanent refusal that would meet any send now (the API
	// key was revoked), for open to report before anything is written.
	Refusal() error
	Items() []mailbox.QueueItem
	Item(id string) (mailbox.QueueItem, bool)
	Cancel(id string) error
	Stats() mailbox.QueueStats
}
