package store

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ThreadDBStore is the part of Store that keeps thread databases: the
// collections of a thread (store.Thread) and their instances, JSON
// documents with an `_id`. Everything is keyed by thread id; which user
// may touch a thread is hubd's to check (GetThreadByID gives its owner).
//
// A store checks no schema and runs no validator: hubd validates
// instances against the collection's schema (package hubd/threaddb) and
// hands the store canonical JSON. What the store guarantees is what must
// hold across concurrent writers and processes: ids unique per
// collection, unique index values unique per index, every batch all or
// nothing, and events in commit order.
type ThreadDBStore interface {
	// CreateCollection stores c in thread c.Thread: ErrNotFound if there
	// is no such thread, ErrExists if the thread already has a
	// collection of that name.
	CreateCollection(ctx context.Context, c Collection) error
	// UpdateCollection replaces the schema, indexes, write validator and
	// read filter of an existing collection (c.CreatedAt is kept as
	// stored): ErrCollectionNotFound if there is none. The unique index
	// values of every instance are computed anew for the new indexes;
	// if two instances share a value of a unique index the update fails
	// with a *UniqueViolation and nothing changes. Instances themselves
	// are not checked against the new schema (hubd may).
	UpdateCollection(ctx context.Context, c Collection) error
	// DeleteCollection drops a collection and all its instances, with no
	// instance events: ErrCollectionNotFound if there is none.
	DeleteCollection(ctx context.Context, thread []byte, name string) error
	// GetCollection returns ErrCollectionNotFound for an unknown one.
	GetCollection(ctx context.Context, thread []byte, name string) (Collection, error)
	// ListCollections returns a thread's collections in creation order
	// (none for an unknown thread).
	ListCollections(ctx context.Context, thread []byte) ([]Collection, error)

	// Instances returns every instance of a collection in _id order
	// (bytewise): ErrCollectionNotFound for an unknown collection.
	Instances(ctx context.Context, thread []byte, collection string) ([]Instance, error)
	// GetInstance returns ErrCollectionNotFound or ErrInstanceNotFound.
	GetInstance(ctx context.Context, thread []byte, collection, id string) (Instance, error)
	// WriteInstances applies ops in order in one transaction, all or
	// nothing:
	//   - OpCreate of an id the collection holds (or an earlier op of the
	//     batch created) fails with an error wrapping ErrExists;
	//   - OpSave stores the instance whether or not it existed (as
	//     go-threads' Save does: an upsert);
	//   - OpDelete of a missing id does nothing and publishes nothing (as
	//     go-threads' Delete does);
	//   - a value of a unique index (Collection.Indexes, computed by
	//     IndexValues from the op's JSON) already held by another
	//     instance, also one written earlier in the batch, fails with a
	//     *UniqueViolation (errors.Is ErrUniqueViolation) naming the path;
	//   - an unknown collection is ErrCollectionNotFound; an op whose ID
	//     is empty or too long (MaxNameLen), or whose JSON is not an
	//     object whose _id is ID, is ErrInvalid.
	// After the commit it publishes one Event per op that changed
	// something (Event.Instance set, Message zero), in op order and in
	// commit order with every other write, through Subscribe. Every op
	// that changed something counts as an instance write of the thread's
	// owner (Usage.InstanceWrites).
	WriteInstances(ctx context.Context, thread []byte, collection string, ops []InstanceOp) error
	// AddInstanceReads counts n instances read on owner's behalf
	// (Usage.InstanceReads): hubd says what it served, so that reading
	// costs the store one small write per request, not per instance.
	AddInstanceReads(ctx context.Context, owner string, n int64) error
}

// MaxNameLen bounds a collection name and an instance id, in bytes, so
// that an event naming them fits any store's notification (PostgreSQL
// allows 8000 bytes).
const MaxNameLen = 512

// ThreadDB errors, besides ErrNotFound (an unknown thread).
var (
	// ErrExists: a collection of that name, or an instance of that id,
	// is there already.
	ErrExists = errors.New("already exists")
	// ErrCollectionNotFound and ErrInstanceNotFound wrap ErrNotFound, and
	// say go-threads' words.
	ErrCollectionNotFound = fmt.Errorf("collection %w", ErrNotFound)
	ErrInstanceNotFound   = fmt.Errorf("instance %w", ErrNotFound)
	// ErrUniqueViolation: see UniqueViolation.
	ErrUniqueViolation = errors.New("unique index violated")
	// ErrInvalid: an argument the store cannot keep (an empty or too long
	// name, JSON that is not an object with the right _id).
	ErrInvalid = errors.New("invalid argument")
)

// UniqueViolation is the error of a write that would give two instances
// of a collection one value of a unique index. It names the index and the
// instances, never the value (it is the user's data).
type UniqueViolation struct {
	Collection string
	Path       string // the index's field path
	ID         string // the instance whose write failed
	HeldBy     string // the instance that holds the value; "" if unknown
}

func (e *UniqueViolation) Error() string {
	if e.HeldBy == "" {
		return fmt.Sprintf("unique index %q of collection %q: instance %s has a value another instance holds", e.Path, e.Collection, e.ID)
	}
	return fmt.Sprintf("unique index %q of collection %q: instance %s has the value instance %s holds", e.Path, e.Collection, e.ID, e.HeldBy)
}

// Is makes errors.Is(err, ErrUniqueViolation) hold.
func (e *UniqueViolation) Is(target error) bool { return target == ErrUniqueViolation }

// Index is one index of a collection, as go-threads declares it: a field
// path ("a.b" for nested fields) and whether its values are unique.
// Non-unique indexes are kept and returned but need nothing from the
// store (queries run over Instances).
type Index struct {
	Path   string `json:"path"`
	Unique bool   `json:"unique"`
}

// Collection is a collection of one thread database.
type Collection struct {
	Thread  []byte
	Name    string
	Schema  []byte // the JSON Schema as given (hubd checks that it compiles)
	Indexes []Index
	// WriteValidator and ReadFilter are JavaScript source that go-threads
	// runs; they are kept and returned, never run.
	WriteValidator, ReadFilter string
	CreatedAt                  time.Time
}

// Instance is one document of a collection: its _id and its JSON as
// stored, the bytes hubd gave (canonical, see threaddb.Canonical).
type Instance struct {
	ID   string
	JSON []byte
}

// InstanceOpKind is what an InstanceOp does.
type InstanceOpKind int

const (
	OpCreate InstanceOpKind = iota + 1
	OpSave
	OpDelete
)

func (k InstanceOpKind) String() string {
	switch k {
	case OpCreate:
		return "create"
	case OpSave:
		return "save"
	case OpDelete:
		return "delete"
	}
	return "unknown"
}

// InstanceOp is one write of a WriteInstances batch. JSON is the whole
// instance for OpCreate and OpSave (its _id must be ID), nil for OpDelete.
type InstanceOp struct {
	Kind InstanceOpKind
	ID   string
	JSON []byte
}

// InstanceEvent is the instance side of an Event: which instance of which
// collection of which thread changed, whose thread it is, and for Create
// and Save the instance as committed (nil for Delete). A store that reads
// events back from its database (PostgreSQL, for other processes'
// commits) gives the instance as it is when the event is read, which may
// be newer; an instance gone by then has no Create or Save event, its
// Delete follows.
type InstanceEvent struct {
	Thread     []byte
	Owner      string // the thread's owner, to route the event without a read
	Collection string
	ID         string
	JSON       []byte
}

// IndexValue is the value of one indexed field of an instance: Path is the
// index's field path, Value the canonical JSON of the field's value
// (encoding/json of it decoded with UseNumber: keys sorted, numbers as
// written). An instance without the field has no value for that index, so
// any number of instances may lack a unique field.
type IndexValue struct {
	Path  string
	Value string
}
