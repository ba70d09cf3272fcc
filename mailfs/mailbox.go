package mailfs

import (
	"context"
	"encoding/json"
	"time"

	"github.com/hubfs/hubfs/cache"
	"github.com/hubfs/hubfs/identity"
	"github.com/hubfs/hubfs/queue"
)

// Mailbox is what the filesystem consumes. *cache.Cache implements it; a
// cache configured with zero sizes and TTLs is the "uncached" configuration,
// so the same tree runs with and without caching.
type Mailbox interface {
	// List returns a box's entries in ascending id (time) order.
	List(ctx context.Context, box cache.Box) ([]cache.Entry, error)
	// Lookup finds one entry; a missing id is hub.ErrNotFound.
	Lookup(ctx context.Context, box cache.Box, id string) (cache.Entry, error)
	// Open returns a message's plaintext, decrypted and its signature verified.
	Open(ctx context.Context, box cache.Box, id string) ([]byte, error)
	MarkRead(ctx context.Context, id string) (time.Time, error)
	Delete(ctx context.Context, box cache.Box, id string) error
	Send(ctx context.Context, to *identity.PublicKey, body []byte) (cache.Entry, error)

	Threads(ctx context.Context) ([]cache.Thread, error)
	NewThread(ctx context.Context, name string) (cache.Thread, error)
	DeleteThread(ctx context.Context, t cache.Thread) error
	Usage(ctx context.Context) (json.RawMessage, error)

	Stats() cache.Stats
	// Mode says whether a watch pushes every change (the kernel may then
	// cache listings for long) or not.
	Mode() cache.Mode
	// OnChange registers the one callback that hears about every change the
	// cache learns of. It is called without any cache lock held.
	OnChange(func(cache.Change))
}

var _ Mailbox = (*cache.Cache)(nil)

// Outbox is the send path the filesystem consumes: a message handed to Send
// is on the hub or durably queued when Send returns nil. *queue.Outbox
// implements it.
type Outbox interface {
	Send(ctx context.Context, to *identity.PublicKey, body []byte) error
	// Refusal is a permanent refusal that would meet any send now (the API
	// key was revoked), for open to report before anything is written.
	Refusal() error
	Items() []queue.Item
	Item(id string) (queue.Item, bool)
	Cancel(id string) error
	Stats() queue.Stats
}

var _ Outbox = (*queue.Outbox)(nil)
