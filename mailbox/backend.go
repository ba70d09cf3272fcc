package mailbox

import (
	"context"
	"errors"
	"time"

	"github.com/hubfs/hubfs/identity"
)

// Backend is the mailbox as the hub keeps it, in the model's terms: what
// the model reads and changes. hubmail.NewBackend is the hub client behind
// it; cache.New wraps one Backend in another that answers from memory
// what it may, so running without a cache is simply not wrapping.
type Backend interface {
	// List returns a whole box in ascending id order. A backend that
	// caches may answer Unchanged (see ListOptions) or leave Body empty.
	List(ctx context.Context, box Box, opts ListOptions) (Listing, error)
	// Message returns one message with its body, or ErrNotFound. Under a
	// context from OnlyIfCached it answers from memory or fails with
	// ErrNotCached: it never reaches the hub.
	Message(ctx context.Context, box Box, id string) (Message, error)
	// Messages returns the messages of ids (ascending, of box) with their
	// bodies, in id order, fetching what no layer holds in as few hub
	// calls as it can: the decrypt-ahead's batch fetch. Ids the hub no
	// longer has are left out. Under OnlyIfCached only what the layers
	// hold in memory (or a disk cache) answers.
	Messages(ctx context.Context, box Box, ids []string) ([]Message, error)
	MarkRead(ctx context.Context, id string) (time.Time, error)
	Delete(ctx context.Context, box Box, id string) error
	// Send sends s under the idempotency key and returns the sender's copy.
	Send(ctx context.Context, s Sealed, key string) (Message, error)
	Threads(ctx context.Context) ([]Thread, error)
	NewThread(ctx context.Context, name string) (Thread, error)
	DeleteThread(ctx context.Context, t Thread) error
	Usage(ctx context.Context) (Usage, error)
	// Documents: the thread DBs' collections and documents.
	Documents
	// Watch delivers box's changes to fn, one at a time, until Close or
	// an EventStopped.
	Watch(ctx context.Context, box Box, fn func(Event)) (Watch, error)
	// Figures adds this layer's figures to s, and those of the layers
	// below it.
	Figures(s *Stats)
}

// ListOptions qualify a List.
type ListOptions struct {
	// Fresh asks the hub now, whatever a cache holds: a forced listing.
	Fresh bool
	// Version is that of the listing the caller already holds (0: none).
	// A cache whose listing is still fresh and has not changed since it
	// answered with that version may answer Unchanged instead.
	Version uint64
}

// Listing is List's answer.
type Listing struct {
	Messages []Message
	// Version names this state of a cached listing; 0 when the backend
	// keeps none (every listing is new).
	Version uint64
	// Unchanged: the listing is the one of opts.Version; Messages is nil.
	Unchanged bool
}

// Watch is one box's open watch.
type Watch interface {
	Close()
	// Done is closed once the watch has stopped for good.
	Done() <-chan struct{}
	// Ready is closed once the hub has confirmed the first stream: from
	// then on no change is missed. Our hub confirms at once; a Textile hub
	// only with its first event, so wait on it for a bounded time only.
	Ready() <-chan struct{}
}

// Sealer is the message format with the user's identity: sealing to a
// recipient, opening what the hub holds, naming a send. hubmail.NewSealer
// is the hub's (hub.Seal, hub.UserMessage.Open); the model keeps no format
// of its own.
type Sealer interface {
	// Self is the identity's public key: the sender of every seal.
	Self() *identity.PublicKey
	Seal(to *identity.PublicKey, body []byte) (Sealed, error)
	// Open checks the signature and decrypts; a bad one is ErrBadSignature
	// or ErrDecrypt, for that message only.
	Open(m Message) ([]byte, error)
	// NewIdempotencyKey names one logical send.
	NewIdempotencyKey() string
}

// ErrNotCached is Message's answer under OnlyIfCached when the body is not
// in memory.
var ErrNotCached = errors.New("body not cached")

type onlyIfCachedKey struct{}

// OnlyIfCached marks ctx so that Backend.Message answers only from what a
// layer holds in memory (HTTP's Cache-Control: only-if-cached): the
// decrypt-ahead uses it to work on bodies already fetched, never to fetch.
// Decorators pass the context down unchanged; the hub backend refuses.
func OnlyIfCached(ctx context.Context) context.Context {
	return context.WithValue(ctx, onlyIfCachedKey{}, true)
}

// IsOnlyIfCached reports whether ctx came from OnlyIfCached.
func IsOnlyIfCached(ctx context.Context) bool {
	v, _ := ctx.Value(onlyIfCachedKey{}).(bool)
	return v
}
