package hubd

import (
	"context"
	"crypto/sha256"
	"errors"

	lru "github.com/hashicorp/golang-lru/v2"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/hubfs/hubfs/hubd/store"
	"github.com/hubfs/hubfs/hubd/threaddb"
	"github.com/hubfs/hubfs/wire"
	hubpb "github.com/hubfs/hubfs/wire/pb"
)

// The instance calls of threads.pb.API. The unary calls and the calls
// inside a transaction (transactions.go) share what is here: each request
// is checked and turned into store ops (or a read) by a collCall, which
// the unary call commits at once and a write transaction buffers.

// maxBatch bounds the instances or ids of one request.
const maxBatch = wire.MaxPageSize

// Errors with go-threads' texts, which apps may look for.
var (
	errInstanceExists = status.Error(codes.AlreadyExists, "can't create already existing instance")
	errMissingID      = status.Error(codes.InvalidArgument, "invalid instance: missing _id attribute")
)

// schemaCache holds compiled schemas by the hash of their bytes: a
// collection's schema is read with it on every write, and one changed by
// another process is simply another key.
type schemaCache struct {
	l *lru.Cache[[32]byte, *threaddb.Schema]
}

func newSchemaCache() schemaCache {
	l, err := lru.New[[32]byte, *threaddb.Schema](256)
	if err != nil {
		panic(err) // only for a non-positive size
	}
	return schemaCache{l}
}

func (c schemaCache) get(schema []byte) (*threaddb.Schema, error) {
	k := sha256.Sum256(schema)
	if s, ok := c.l.Get(k); ok {
		return s, nil
	}
	s, err := threaddb.Compile(schema)
	if err != nil {
		return nil, err
	}
	c.l.Add(k, s)
	return s, nil
}

// collCall is one call's view of a collection of a database the caller
// owns.
type collCall struct {
	th     *threadsService
	t      Thread
	c      store.Collection
	schema *threaddb.Schema
}

// openCollection finds the database and collection a call names.
func (th *threadsService) openCollection(ctx context.Context, rawID []byte, name string) (*collCall, error) {
	t, err := th.collectionDB(ctx, rawID)
	if err != nil {
		return nil, err
	}
	c, err := th.getCollection(ctx, t, name)
	if err != nil {
		return nil, err
	}
	schema, err := th.schemas.get(c.Schema)
	if err != nil {
		// It compiled when stored: a library change, or a store edited by hand.
		return nil, th.s.internal(ctx, "compile stored schema", err)
	}
	return &collCall{th: th, t: t, c: c, schema: schema}, nil
}

// instanceDoc decodes the i-th instance of a request, checking its size
// and that it is a JSON object.
func (cc *collCall) instanceDoc(i int, raw []byte) (map[string]any, error) {
	if max := cc.th.s.cfg.MaxMessageSize; len(raw) > max {
		return nil, status.Errorf(codes.ResourceExhausted, "instance %d is %d bytes of JSON, over this hub's limit of %d", i, len(raw), max)
	}
	v, err := store.DecodeJSON(raw)
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "instance %d is not JSON: %v", i, err)
	}
	doc, ok := v.(map[string]any)
	if !ok {
		return nil, status.Errorf(codes.InvalidArgument, "instance %d is not a JSON object", i)
	}
	return doc, nil
}

// validate checks doc against the collection's schema, with go-threads'
// message first.
func (cc *collCall) validate(i int, doc map[string]any) error {
	if err := cc.schema.Validate(doc); err != nil {
		return status.Errorf(codes.InvalidArgument, "instance doesn't correspond to schema: instance %d: %v", i, err)
	}
	return nil
}

func checkBatch(n int) error {
	if n == 0 {
		return status.Error(codes.InvalidArgument, "no instances given")
	}
	if n > maxBatch {
		return status.Errorf(codes.InvalidArgument, "%d instances in one request, the limit is %d", n, maxBatch)
	}
	return nil
}

func checkInstanceID(id string) error {
	if id == "" {
		return status.Error(codes.InvalidArgument, "instance id is required")
	}
	if len(id) > store.MaxNameLen {
		return status.Errorf(codes.InvalidArgument, "instance id is %d bytes, the limit is %d", len(id), store.MaxNameLen)
	}
	return nil
}

// createOps checks new instances and mints the _id of those without one
// (absent or ""), as go-threads does. With precheck, an id the collection
// holds already is refused now (a transaction answers each request as it
// comes); either way one that is there at commit, or twice in the batch,
// is refused by the store then.
func (cc *collCall) createOps(ctx context.Context, raws [][]byte, precheck bool) ([]store.InstanceOp, []string, error) {
	if err := checkBatch(len(raws)); err != nil {
		return nil, nil, err
	}
	ops := make([]store.InstanceOp, 0, len(raws))
	ids := make([]string, 0, len(raws))
	for i, raw := range raws {
		doc, err := cc.instanceDoc(i, raw)
		if err != nil {
			return nil, nil, err
		}
		id, _, err := threaddb.EnsureID(doc)
		if err != nil {
			return nil, nil, status.Errorf(codes.InvalidArgument, "instance %d: %v", i, err)
		}
		if err := checkInstanceID(id); err != nil {
			return nil, nil, err
		}
		if err := cc.validate(i, doc); err != nil {
			return nil, nil, err
		}
		if precheck {
			if _, err := cc.th.s.store.GetInstance(ctx, cc.t.ID, cc.c.Name, id); err == nil {
				return nil, nil, errInstanceExists
			} else if !errors.Is(err, store.ErrInstanceNotFound) {
				return nil, nil, cc.th.instanceError(ctx, "create", err)
			}
		}
		j, err := threaddb.Canonical(doc)
		if err != nil {
			return nil, nil, status.Errorf(codes.InvalidArgument, "instance %d: %v", i, err)
		}
		ops = append(ops, store.InstanceOp{Kind: store.OpCreate, ID: id, JSON: j})
		ids = append(ids, id)
	}
	return ops, ids, nil
}

// saveOps checks changed instances. A save of an instance that is not
// there stores it (go-threads' Save is an upsert); an empty _id, which the
// JS client sends when the object has none, is minted as for a create.
func (cc *collCall) saveOps(raws [][]byte) ([]store.InstanceOp, error) {
	if err := checkBatch(len(raws)); err != nil {
		return nil, err
	}
	ops := make([]store.InstanceOp, 0, len(raws))
	for i, raw := range raws {
		doc, err := cc.instanceDoc(i, raw)
		if err != nil {
			return nil, err
		}
		if _, ok := doc[store.IDField]; !ok {
			return nil, errMissingID
		}
		id, _, err := threaddb.EnsureID(doc)
		if err != nil {
			return nil, status.Errorf(codes.InvalidArgument, "instance %d: %v", i, err)
		}
		if err := checkInstanceID(id); err != nil {
			return nil, err
		}
		if err := cc.validate(i, doc); err != nil {
			return nil, err
		}
		j, err := threaddb.Canonical(doc)
		if err != nil {
			return nil, status.Errorf(codes.InvalidArgument, "instance %d: %v", i, err)
		}
		ops = append(ops, store.InstanceOp{Kind: store.OpSave, ID: id, JSON: j})
	}
	return ops, nil
}

// verify checks instances as a save would, storing nothing.
func (cc *collCall) verify(raws [][]byte) error {
	_, err := cc.saveOps(raws)
	return err
}

// deleteOps deletes by id; an id that is not there is no error (as in
// go-threads).
func deleteOps(ids []string) ([]store.InstanceOp, error) {
	if err := checkBatch(len(ids)); err != nil {
		return nil, err
	}
	ops := make([]store.InstanceOp, 0, len(ids))
	for _, id := range ids {
		if err := checkInstanceID(id); err != nil {
			return nil, err
		}
		ops = append(ops, store.InstanceOp{Kind: store.OpDelete, ID: id})
	}
	return ops, nil
}

// write commits ops in one store batch: all or nothing.
func (cc *collCall) write(ctx context.Context, ops []store.InstanceOp) error {
	if len(ops) == 0 {
		return nil
	}
	if err := cc.th.s.store.WriteInstances(ctx, cc.t.ID, cc.c.Name, ops); err != nil {
		return cc.th.instanceError(ctx, "write instances", err)
	}
	return nil
}

// has reports whether every id is there.
func (cc *collCall) has(ctx context.Context, ids []string) (bool, error) {
	if err := checkBatch(len(ids)); err != nil {
		return false, err
	}
	for _, id := range ids {
		if err := checkInstanceID(id); err != nil {
			return false, err
		}
		_, err := cc.th.s.store.GetInstance(ctx, cc.t.ID, cc.c.Name, id)
		if errors.Is(err, store.ErrInstanceNotFound) {
			return false, nil
		}
		if err != nil {
			return false, cc.th.instanceError(ctx, "has", err)
		}
	}
	return true, nil
}

// findByID returns one instance's JSON.
func (cc *collCall) findByID(ctx context.Context, id string) ([]byte, error) {
	if err := checkInstanceID(id); err != nil {
		return nil, err
	}
	in, err := cc.th.s.store.GetInstance(ctx, cc.t.ID, cc.c.Name, id)
	if err != nil {
		return nil, cc.th.instanceError(ctx, "find by id", err)
	}
	cc.countReads(1)
	return in.JSON, nil
}

// find runs a query over the collection. The reply must fit the client's
// receive limit: a result larger is refused with ResourceExhausted rather
// than cut short, since a short result reads as the whole one.
func (cc *collCall) find(ctx context.Context, queryJSON []byte) ([][]byte, error) {
	if len(queryJSON) > threaddb.MaxQueryBytes {
		return nil, status.Errorf(codes.InvalidArgument, "query is %d bytes, the limit is %d", len(queryJSON), threaddb.MaxQueryBytes)
	}
	q, err := threaddb.ParseQuery(queryJSON)
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "invalid query: %v", err)
	}
	all, err := cc.th.s.store.Instances(ctx, cc.t.ID, cc.c.Name)
	if err != nil {
		return nil, cc.th.instanceError(ctx, "find", err)
	}
	found, err := threaddb.Run(q, all)
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "invalid query: %v", err)
	}
	out := make([][]byte, 0, len(found))
	size := 0
	for _, in := range found {
		size += len(in.JSON) + 8
		if size > wire.MaxReceiveSize-wire.ReplySlack {
			return nil, status.Errorf(codes.ResourceExhausted, "the %d instances found are over %d bytes, more than one reply carries: narrow the query or set a limit", len(found), wire.MaxReceiveSize-wire.ReplySlack)
		}
		out = append(out, in.JSON)
	}
	cc.countReads(int64(len(out)))
	return out, nil
}

// countReads adds to the owner's instance reads, which reach the store
// within readFlushEvery.
func (cc *collCall) countReads(n int64) {
	if n > 0 {
		cc.th.s.reads.add(cc.t.Owner, n)
	}
}

// instanceError maps the store's instance errors to go-threads' texts.
func (th *threadsService) instanceError(ctx context.Context, what string, err error) error {
	var uv *store.UniqueViolation
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrInstanceNotFound):
		return errNoInstance
	case errors.Is(err, store.ErrCollectionNotFound):
		return errCollectionNotFound
	case errors.As(err, &uv):
		return status.Errorf(codes.AlreadyExists, "unique constraint violation: %v", uv)
	case errors.Is(err, store.ErrExists):
		return errInstanceExists
	case errors.Is(err, store.ErrNotFound):
		return errDBNotFound
	case errors.Is(err, store.ErrInvalid):
		return status.Errorf(codes.InvalidArgument, "%s: %v", what, err)
	}
	return th.s.internal(ctx, what, err)
}

// txnError is how an error travels in a reply's transactionError: the
// status message alone, as go-threads puts err.Error() there.
func txnError(err error) string {
	if err == nil {
		return ""
	}
	return status.Convert(err).Message()
}

func (th *threadsService) Create(ctx context.Context, req *hubpb.CreateRequest) (*hubpb.CreateReply, error) {
	cc, err := th.openCollection(ctx, req.GetDbID(), req.GetCollectionName())
	if err != nil {
		return nil, err
	}
	ops, ids, err := cc.createOps(ctx, req.GetInstances(), false)
	if err != nil {
		return nil, err
	}
	if err := cc.write(ctx, ops); err != nil {
		return nil, err
	}
	return &hubpb.CreateReply{InstanceIDs: ids}, nil
}

func (th *threadsService) Verify(ctx context.Context, req *hubpb.VerifyRequest) (*hubpb.VerifyReply, error) {
	cc, err := th.openCollection(ctx, req.GetDbID(), req.GetCollectionName())
	if err != nil {
		return nil, err
	}
	if err := cc.verify(req.GetInstances()); err != nil {
		return nil, err
	}
	return &hubpb.VerifyReply{}, nil
}

func (th *threadsService) Save(ctx context.Context, req *hubpb.SaveRequest) (*hubpb.SaveReply, error) {
	cc, err := th.openCollection(ctx, req.GetDbID(), req.GetCollectionName())
	if err != nil {
		return nil, err
	}
	ops, err := cc.saveOps(req.GetInstances())
	if err != nil {
		return nil, err
	}
	if err := cc.write(ctx, ops); err != nil {
		return nil, err
	}
	return &hubpb.SaveReply{}, nil
}

func (th *threadsService) Delete(ctx context.Context, req *hubpb.DeleteRequest) (*hubpb.DeleteReply, error) {
	cc, err := th.openCollection(ctx, req.GetDbID(), req.GetCollectionName())
	if err != nil {
		return nil, err
	}
	ops, err := deleteOps(req.GetInstanceIDs())
	if err != nil {
		return nil, err
	}
	if err := cc.write(ctx, ops); err != nil {
		return nil, err
	}
	return &hubpb.DeleteReply{}, nil
}

func (th *threadsService) Has(ctx context.Context, req *hubpb.HasRequest) (*hubpb.HasReply, error) {
	cc, err := th.openCollection(ctx, req.GetDbID(), req.GetCollectionName())
	if err != nil {
		return nil, err
	}
	ok, err := cc.has(ctx, req.GetInstanceIDs())
	if err != nil {
		return nil, err
	}
	return &hubpb.HasReply{Exists: ok}, nil
}

func (th *threadsService) Find(ctx context.Context, req *hubpb.FindRequest) (*hubpb.FindReply, error) {
	cc, err := th.openCollection(ctx, req.GetDbID(), req.GetCollectionName())
	if err != nil {
		return nil, err
	}
	found, err := cc.find(ctx, req.GetQueryJSON())
	if err != nil {
		return nil, err
	}
	return &hubpb.FindReply{Instances: found}, nil
}

func (th *threadsService) FindByID(ctx context.Context, req *hubpb.FindByIDRequest) (*hubpb.FindByIDReply, error) {
	cc, err := th.openCollection(ctx, req.GetDbID(), req.GetCollectionName())
	if err != nil {
		return nil, err
	}
	j, err := cc.findByID(ctx, req.GetInstanceID())
	if err != nil {
		return nil, err
	}
	return &hubpb.FindByIDReply{Instance: j}, nil
}
