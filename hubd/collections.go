package hubd

import (
	"context"
	"errors"
	"regexp"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/hubfs/hubfs/hubd/store"
	"github.com/hubfs/hubfs/hubd/threaddb"
	hubpb "github.com/hubfs/hubfs/wire/pb"
)

// The collection calls of threads.pb.API. A collection is a name, a JSON
// Schema every instance must pass, indexes (unique ones enforced by the
// store) and go-threads' write validator and read filter, which are kept
// and returned but never run: only the database's owner reads or writes
// it here, so there is no other identity for them to judge.

// Bounds on a collection's configuration: it is attacker input, and each
// write runs its schema.
const (
	maxCollectionsPerDB = 1024
	maxIndexes          = 64
	maxIndexPath        = 256
	maxValidatorBytes   = 64 << 10
)

// collectionNameRx is go-threads' rule for collection names.
var collectionNameRx = regexp.MustCompile(`^[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*$`)

// Errors with go-threads' texts, which apps may look for.
var (
	errCollectionNotFound = status.Error(codes.NotFound, "collection not found")
	errCollectionExists   = status.Error(codes.AlreadyExists, "collection already registered")
	errInvalidName        = status.Error(codes.InvalidArgument, "name may only contain alphanumeric characters or non-consecutive hyphens, and cannot begin or end with a hyphen")
	errIDNotString        = status.Error(codes.InvalidArgument, "the collection schema _id property must be a string")
)

// checkCollectionName applies go-threads' rule and the store's bound.
func checkCollectionName(name string) error {
	if name == "" {
		return status.Error(codes.InvalidArgument, "collection name is required")
	}
	if len(name) > store.MaxNameLen {
		return status.Errorf(codes.InvalidArgument, "collection name is %d bytes, the limit is %d", len(name), store.MaxNameLen)
	}
	if !collectionNameRx.MatchString(name) {
		return errInvalidName
	}
	return nil
}

// collectionFrom checks a configuration and turns it into the store's
// collection of thread: the name, a schema that compiles and types _id as
// a string, and indexes on paths other than _id.
func collectionFrom(thread []byte, cfg *hubpb.CollectionConfig) (store.Collection, error) {
	if cfg == nil {
		return store.Collection{}, status.Error(codes.InvalidArgument, "collection config is required")
	}
	if err := checkCollectionName(cfg.GetName()); err != nil {
		return store.Collection{}, err
	}
	schema := cfg.GetSchema()
	if len(schema) == 0 {
		return store.Collection{}, status.Error(codes.InvalidArgument, "collection schema is required")
	}
	if _, err := threaddb.Compile(schema); err != nil {
		return store.Collection{}, status.Errorf(codes.InvalidArgument, "invalid collection schema: %v", err)
	}
	if !idIsString(schema) {
		return store.Collection{}, errIDNotString
	}
	if len(cfg.GetIndexes()) > maxIndexes {
		return store.Collection{}, status.Errorf(codes.InvalidArgument, "%d indexes, the limit is %d", len(cfg.GetIndexes()), maxIndexes)
	}
	seen := make(map[string]bool)
	var idx []store.Index
	for _, i := range cfg.GetIndexes() {
		p := i.GetPath()
		switch {
		case p == "":
			return store.Collection{}, status.Error(codes.InvalidArgument, "index path is required")
		case len(p) > maxIndexPath:
			return store.Collection{}, status.Errorf(codes.InvalidArgument, "index path is %d bytes, the limit is %d", len(p), maxIndexPath)
		case p == store.IDField:
			return store.Collection{}, status.Error(codes.InvalidArgument, "cannot create custom index on _id")
		case seen[p]:
			return store.Collection{}, status.Errorf(codes.InvalidArgument, "two indexes on %q", p)
		}
		seen[p] = true
		idx = append(idx, store.Index{Path: p, Unique: i.GetUnique()})
	}
	if len(cfg.GetWriteValidator()) > maxValidatorBytes || len(cfg.GetReadFilter()) > maxValidatorBytes {
		return store.Collection{}, status.Errorf(codes.InvalidArgument, "write validator or read filter over %d bytes", maxValidatorBytes)
	}
	return store.Collection{
		Thread:         thread,
		Name:           cfg.GetName(),
		Schema:         schema,
		Indexes:        idx,
		WriteValidator: cfg.GetWriteValidator(),
		ReadFilter:     cfg.GetReadFilter(),
		CreatedAt:      time.Now(),
	}, nil
}

// idIsString is go-threads' check that the schema types _id as a string,
// at the top or in the definition a top-level $ref names (the shape
// typescript-json-schema and to-json-schema make).
func idIsString(schema []byte) bool {
	doc, err := store.DecodeJSON(schema)
	if err != nil {
		return false
	}
	root, _ := doc.(map[string]any)
	if ref, ok := root["$ref"].(string); ok {
		for _, prefix := range []string{"#/definitions/", "#/$defs/"} {
			if len(ref) > len(prefix) && ref[:len(prefix)] == prefix {
				defs, _ := root[prefix[2:len(prefix)-1]].(map[string]any)
				root, _ = defs[ref[len(prefix):]].(map[string]any)
			}
		}
	}
	props, _ := root["properties"].(map[string]any)
	id, _ := props[store.IDField].(map[string]any)
	return id["type"] == "string"
}

// collectionError maps the store's collection errors to go-threads'.
func (th *threadsService) collectionError(ctx context.Context, what string, err error) error {
	var uv *store.UniqueViolation
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrCollectionNotFound):
		return errCollectionNotFound
	case errors.Is(err, store.ErrExists):
		return errCollectionExists
	case errors.As(err, &uv):
		return status.Errorf(codes.FailedPrecondition, "can't create unique index (duplicate instances exist): %v", uv)
	case errors.Is(err, store.ErrNotFound):
		return errDBNotFound // the thread went meanwhile
	case errors.Is(err, store.ErrInvalid):
		return status.Errorf(codes.InvalidArgument, "%s: %v", what, err)
	}
	return th.s.internal(ctx, what, err)
}

// createCollections stores new collections of t, refusing past
// maxCollectionsPerDB.
func (th *threadsService) createCollections(ctx context.Context, t Thread, cs []store.Collection) error {
	have, err := th.s.store.ListCollections(ctx, t.ID)
	if err != nil {
		return th.s.internal(ctx, "list collections", err)
	}
	if len(have)+len(cs) > maxCollectionsPerDB {
		return status.Errorf(codes.ResourceExhausted, "a db holds at most %d collections", maxCollectionsPerDB)
	}
	for _, c := range cs {
		if err := th.s.store.CreateCollection(ctx, c); err != nil {
			return th.collectionError(ctx, "create collection", err)
		}
	}
	return nil
}

func (th *threadsService) NewCollection(ctx context.Context, req *hubpb.NewCollectionRequest) (*hubpb.NewCollectionReply, error) {
	t, err := th.collectionDB(ctx, req.GetDbID())
	if err != nil {
		return nil, err
	}
	c, err := collectionFrom(t.ID, req.GetConfig())
	if err != nil {
		return nil, err
	}
	if err := th.createCollections(ctx, t, []store.Collection{c}); err != nil {
		return nil, err
	}
	return &hubpb.NewCollectionReply{}, nil
}

// UpdateCollection replaces a collection's schema and indexes. Instances
// already stored are not checked against the new schema (as in
// go-threads); a new unique index that they break is refused.
func (th *threadsService) UpdateCollection(ctx context.Context, req *hubpb.UpdateCollectionRequest) (*hubpb.UpdateCollectionReply, error) {
	t, err := th.collectionDB(ctx, req.GetDbID())
	if err != nil {
		return nil, err
	}
	c, err := collectionFrom(t.ID, req.GetConfig())
	if err != nil {
		return nil, err
	}
	if err := th.s.store.UpdateCollection(ctx, c); err != nil {
		return nil, th.collectionError(ctx, "update collection", err)
	}
	return &hubpb.UpdateCollectionReply{}, nil
}

func (th *threadsService) DeleteCollection(ctx context.Context, req *hubpb.DeleteCollectionRequest) (*hubpb.DeleteCollectionReply, error) {
	t, err := th.collectionDB(ctx, req.GetDbID())
	if err != nil {
		return nil, err
	}
	if err := checkCollectionName(req.GetName()); err != nil {
		return nil, err
	}
	if err := th.s.store.DeleteCollection(ctx, t.ID, req.GetName()); err != nil {
		return nil, th.collectionError(ctx, "delete collection", err)
	}
	return &hubpb.DeleteCollectionReply{}, nil
}

// getCollection loads a collection of a database the caller owns.
func (th *threadsService) getCollection(ctx context.Context, t Thread, name string) (store.Collection, error) {
	if err := checkCollectionName(name); err != nil {
		return store.Collection{}, err
	}
	c, err := th.s.store.GetCollection(ctx, t.ID, name)
	if err != nil {
		return store.Collection{}, th.collectionError(ctx, "get collection", err)
	}
	return c, nil
}

func collectionInfo(c store.Collection) *hubpb.GetCollectionInfoReply {
	return &hubpb.GetCollectionInfoReply{
		Name:           c.Name,
		Schema:         c.Schema,
		Indexes:        indexesReply(c.Indexes),
		WriteValidator: c.WriteValidator,
		ReadFilter:     c.ReadFilter,
	}
}

func indexesReply(idx []store.Index) []*hubpb.Index {
	out := make([]*hubpb.Index, 0, len(idx))
	for _, i := range idx {
		out = append(out, &hubpb.Index{Path: i.Path, Unique: i.Unique})
	}
	return out
}

func (th *threadsService) GetCollectionInfo(ctx context.Context, req *hubpb.GetCollectionInfoRequest) (*hubpb.GetCollectionInfoReply, error) {
	t, err := th.collectionDB(ctx, req.GetDbID())
	if err != nil {
		return nil, err
	}
	c, err := th.getCollection(ctx, t, req.GetName())
	if err != nil {
		return nil, err
	}
	return collectionInfo(c), nil
}

func (th *threadsService) GetCollectionIndexes(ctx context.Context, req *hubpb.GetCollectionIndexesRequest) (*hubpb.GetCollectionIndexesReply, error) {
	t, err := th.collectionDB(ctx, req.GetDbID())
	if err != nil {
		return nil, err
	}
	c, err := th.getCollection(ctx, t, req.GetName())
	if err != nil {
		return nil, err
	}
	return &hubpb.GetCollectionIndexesReply{Indexes: indexesReply(c.Indexes)}, nil
}

func (th *threadsService) ListCollections(ctx context.Context, req *hubpb.ListCollectionsRequest) (*hubpb.ListCollectionsReply, error) {
	t, err := th.collectionDB(ctx, req.GetDbID())
	if err != nil {
		return nil, err
	}
	cs, err := th.s.store.ListCollections(ctx, t.ID)
	if err != nil {
		return nil, th.s.internal(ctx, "list collections", err)
	}
	rep := &hubpb.ListCollectionsReply{Collections: make([]*hubpb.GetCollectionInfoReply, 0, len(cs))}
	for _, c := range cs {
		rep.Collections = append(rep.Collections, collectionInfo(c))
	}
	return rep, nil
}

// newDBCollections checks the collections a NewDB request brings, before
// the thread is made.
func newDBCollections(thread []byte, cfgs []*hubpb.CollectionConfig) ([]store.Collection, error) {
	if len(cfgs) > maxCollectionsPerDB {
		return nil, status.Errorf(codes.ResourceExhausted, "a db holds at most %d collections", maxCollectionsPerDB)
	}
	seen := make(map[string]bool)
	var cs []store.Collection
	for _, cfg := range cfgs {
		c, err := collectionFrom(thread, cfg)
		if err != nil {
			return nil, err
		}
		if seen[c.Name] {
			return nil, status.Errorf(codes.AlreadyExists, "collection already registered: %q twice", c.Name)
		}
		seen[c.Name] = true
		cs = append(cs, c)
	}
	return cs, nil
}
