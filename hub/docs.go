package hub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/hubfs/hubfs/identity"
	hubpb "github.com/hubfs/hubfs/wire/pb"
)

// The ThreadDB API of a thread DB (threads.pb.API): its collections and
// their instances, JSON objects with an `_id`. Every call names the DB in
// its request and in the x-textile-thread header, as @textile/threads-client
// does after newDB. Calls that change something are not retried (a repeat
// after a lost reply would fail with ErrExists or ErrNotFound for a change
// that worked), except Save and UpdateCollection, which put the same state
// again.

// CollectionInfo is a collection's configuration.
type CollectionInfo struct {
	Name           string
	Schema         []byte // a JSON Schema
	Indexes        []Index
	WriteValidator string
	ReadFilter     string
}

// Index is an index of a collection on a field path ("a.b").
type Index struct {
	Path   string
	Unique bool
}

// InstanceEvent is one change seen by WatchDB: an instance created, saved
// or deleted (Type MailboxEventCreate, Save, Delete: the same types as a
// mailbox watch's), or the watch's Disconnected, Reconnected, Stopped.
type InstanceEvent struct {
	Type       MailboxEventType
	Collection string
	ID         string
	Instance   []byte // the instance's JSON, for Create and Save; nil when the hub sent none
	Err        error  // why the stream broke (Disconnected, Stopped), or an action not understood
}

func (c *Client) dbCall(ctx context.Context, op string, db identity.ThreadID, idempotent bool, fn func(ctx context.Context) error) error {
	if db.IsZero() {
		return invalidf("%s: empty thread id", op)
	}
	return c.call(ctx, op, plainCall, idempotent, []string{mdThread, db.String()}, fn)
}

// txError is the error a reply carries in its transactionError field,
// which a hub may set instead of failing the call.
func txError(op, msg string) error {
	if msg == "" {
		return nil
	}
	return fmt.Errorf("%s: %w: %s", op, ErrInvalid, msg)
}

func configToPB(info CollectionInfo) *hubpb.CollectionConfig {
	cfg := &hubpb.CollectionConfig{Name: info.Name, Schema: info.Schema, WriteValidator: info.WriteValidator, ReadFilter: info.ReadFilter}
	for _, ix := range info.Indexes {
		cfg.Indexes = append(cfg.Indexes, &hubpb.Index{Path: ix.Path, Unique: ix.Unique})
	}
	return cfg
}

func infoFromPB(r *hubpb.GetCollectionInfoReply) CollectionInfo {
	info := CollectionInfo{Name: r.GetName(), Schema: r.GetSchema(), WriteValidator: r.GetWriteValidator(), ReadFilter: r.GetReadFilter()}
	for _, ix := range r.GetIndexes() {
		info.Indexes = append(info.Indexes, Index{Path: ix.GetPath(), Unique: ix.GetUnique()})
	}
	return info
}

func checkCollection(op, name string) error {
	if name == "" {
		return invalidf("%s: empty collection name", op)
	}
	return nil
}

// NewCollection creates a collection in db (ErrExists if there is one of
// that name; ErrInvalid for a schema the hub does not accept).
func (c *Client) NewCollection(ctx context.Context, db identity.ThreadID, info CollectionInfo) error {
	const op = "new collection"
	if err := checkCollection(op, info.Name); err != nil {
		return err
	}
	return c.dbCall(ctx, op, db, false, func(ctx context.Context) error {
		_, err := c.threads.NewCollection(ctx, &hubpb.NewCollectionRequest{DbID: db.Bytes(), Config: configToPB(info)})
		return err
	})
}

// UpdateCollection replaces a collection's schema and indexes (ErrInvalid
// for a schema that does not compile or that instances violate).
func (c *Client) UpdateCollection(ctx context.Context, db identity.ThreadID, info CollectionInfo) error {
	const op = "update collection"
	if err := checkCollection(op, info.Name); err != nil {
		return err
	}
	return c.dbCall(ctx, op, db, true, func(ctx context.Context) error {
		_, err := c.threads.UpdateCollection(ctx, &hubpb.UpdateCollectionRequest{DbID: db.Bytes(), Config: configToPB(info)})
		return err
	})
}

// DeleteCollection deletes a collection and its instances.
func (c *Client) DeleteCollection(ctx context.Context, db identity.ThreadID, name string) error {
	const op = "delete collection"
	if err := checkCollection(op, name); err != nil {
		return err
	}
	return c.dbCall(ctx, op, db, false, func(ctx context.Context) error {
		_, err := c.threads.DeleteCollection(ctx, &hubpb.DeleteCollectionRequest{DbID: db.Bytes(), Name: name})
		return err
	})
}

// GetCollectionInfo returns one collection's configuration.
func (c *Client) GetCollectionInfo(ctx context.Context, db identity.ThreadID, name string) (CollectionInfo, error) {
	const op = "get collection info"
	if err := checkCollection(op, name); err != nil {
		return CollectionInfo{}, err
	}
	var res *hubpb.GetCollectionInfoReply
	err := c.dbCall(ctx, op, db, true, func(ctx context.Context) (err error) {
		res, err = c.threads.GetCollectionInfo(ctx, &hubpb.GetCollectionInfoRequest{DbID: db.Bytes(), Name: name})
		return err
	})
	if err != nil {
		return CollectionInfo{}, err
	}
	return infoFromPB(res), nil
}

// ListCollections returns db's collections.
func (c *Client) ListCollections(ctx context.Context, db identity.ThreadID) ([]CollectionInfo, error) {
	const op = "list collections"
	var res *hubpb.ListCollectionsReply
	err := c.dbCall(ctx, op, db, true, func(ctx context.Context) (err error) {
		res, err = c.threads.ListCollections(ctx, &hubpb.ListCollectionsRequest{DbID: db.Bytes()})
		return err
	})
	if err != nil {
		return nil, err
	}
	out := make([]CollectionInfo, 0, len(res.GetCollections()))
	for _, r := range res.GetCollections() {
		out = append(out, infoFromPB(r))
	}
	return out, nil
}

// Create creates instances (JSON objects; an `_id` is minted for one that
// has none) in one transaction and returns their ids in order. An `_id`
// already taken is ErrExists, as is (on our hub) a unique index value
// already held; a schema violation is ErrInvalid.
func (c *Client) Create(ctx context.Context, db identity.ThreadID, coll string, instances ...[]byte) ([]string, error) {
	const op = "create"
	if err := checkCollection(op, coll); err != nil {
		return nil, err
	}
	var res *hubpb.CreateReply
	err := c.dbCall(ctx, op, db, false, func(ctx context.Context) (err error) {
		res, err = c.threads.Create(ctx, &hubpb.CreateRequest{DbID: db.Bytes(), CollectionName: coll, Instances: instances})
		return err
	})
	if err != nil {
		return nil, err
	}
	if err := txError(op, res.GetTransactionError()); err != nil {
		return nil, err
	}
	if len(res.GetInstanceIDs()) != len(instances) {
		return nil, fmt.Errorf("%s: %w: the hub returned %d ids for %d instances", op, ErrInvalid, len(res.GetInstanceIDs()), len(instances))
	}
	return res.GetInstanceIDs(), nil
}

// Save replaces instances, each named by its `_id`, in one transaction (a
// missing one is ErrNotFound).
func (c *Client) Save(ctx context.Context, db identity.ThreadID, coll string, instances ...[]byte) error {
	const op = "save"
	if err := checkCollection(op, coll); err != nil {
		return err
	}
	return c.dbCall(ctx, op, db, true, func(ctx context.Context) error {
		res, err := c.threads.Save(ctx, &hubpb.SaveRequest{DbID: db.Bytes(), CollectionName: coll, Instances: instances})
		if err != nil {
			return err
		}
		return txError(op, res.GetTransactionError())
	})
}

// Delete deletes instances by id in one transaction (a missing one is
// ErrNotFound).
func (c *Client) Delete(ctx context.Context, db identity.ThreadID, coll string, ids ...string) error {
	const op = "delete"
	if err := checkCollection(op, coll); err != nil {
		return err
	}
	return c.dbCall(ctx, op, db, false, func(ctx context.Context) error {
		res, err := c.threads.Delete(ctx, &hubpb.DeleteRequest{DbID: db.Bytes(), CollectionName: coll, InstanceIDs: ids})
		if err != nil {
			return err
		}
		return txError(op, res.GetTransactionError())
	})
}

// Has reports whether every one of ids exists.
func (c *Client) Has(ctx context.Context, db identity.ThreadID, coll string, ids ...string) (bool, error) {
	const op = "has"
	if err := checkCollection(op, coll); err != nil {
		return false, err
	}
	var res *hubpb.HasReply
	err := c.dbCall(ctx, op, db, true, func(ctx context.Context) (err error) {
		res, err = c.threads.Has(ctx, &hubpb.HasRequest{DbID: db.Bytes(), CollectionName: coll, InstanceIDs: ids})
		return err
	})
	if err != nil {
		return false, err
	}
	if err := txError(op, res.GetTransactionError()); err != nil {
		return false, err
	}
	return res.GetExists(), nil
}

// Find returns the instances that query selects (the query JSON of
// @textile/threads-client's Query). A nil query selects every instance,
// in _id order, asked for in pages (findAll): one reply carries at most
// wire.MaxReceiveSize, and the hub refuses a larger result whole
// (ErrTooLarge) rather than cut it short.
func (c *Client) Find(ctx context.Context, db identity.ThreadID, coll string, query []byte) ([][]byte, error) {
	const op = "find"
	if err := checkCollection(op, coll); err != nil {
		return nil, err
	}
	if query == nil {
		return c.findAll(ctx, db, coll)
	}
	return c.find(ctx, db, coll, query)
}

// findPage is how many instances the first page of a Find of every
// instance asks for; a page the hub refuses as too large is asked for again
// at half the count. A variable so that tests page small collections.
var findPage = 1000

// pageQuery is the Query JSON of one page: from the instance seek on
// (inclusive, as the hub's seek is; "" from the start), in _id order.
type pageQuery struct {
	Sort  pageSort `json:"sort"`
	Seek  string   `json:"seek,omitempty"`
	Limit int      `json:"limit"`
}

type pageSort struct {
	FieldPath string `json:"fieldPath"`
	Desc      bool   `json:"desc"`
}

// findAll lists every instance of coll in pages. Pages are separate calls,
// so the result is not one snapshot: an instance created meanwhile before
// the page under way may be missed, one deleted meanwhile may still be in
// an earlier page (a DB watch tells of both). An instance too large to
// share a page with the one before it fails with ErrTooLarge.
func (c *Client) findAll(ctx context.Context, db identity.ThreadID, coll string) ([][]byte, error) {
	var out [][]byte
	seek, limit := "", max(findPage, 1)
	for {
		// From the second page on, the first instance is the last one
		// already had (seek is inclusive): ask one more.
		n := limit
		if seek != "" {
			n++
		}
		q, err := json.Marshal(pageQuery{Sort: pageSort{FieldPath: "_id"}, Seek: seek, Limit: n})
		if err != nil {
			return nil, err
		}
		page, err := c.find(ctx, db, coll, q)
		if errors.Is(err, ErrTooLarge) && limit > 1 {
			limit /= 2
			continue
		}
		if err != nil {
			return nil, err
		}
		full := len(page) == n
		if seek != "" && len(page) > 0 && instanceID(page[0]) == seek {
			page = page[1:]
		}
		out = append(out, page...)
		if !full || len(page) == 0 {
			return out, nil
		}
		next := instanceID(page[len(page)-1])
		if next == "" || next <= seek {
			return nil, invalidf("find: the hub's page of %q ends at instance %q after %q: not in _id order", coll, next, seek)
		}
		seek = next
	}
}

// instanceID is the _id of an instance's JSON ("" if it has none).
func instanceID(raw []byte) string {
	var v struct {
		ID string `json:"_id"`
	}
	if json.Unmarshal(raw, &v) != nil {
		return ""
	}
	return v.ID
}

func (c *Client) find(ctx context.Context, db identity.ThreadID, coll string, query []byte) ([][]byte, error) {
	const op = "find"
	var res *hubpb.FindReply
	err := c.dbCall(ctx, op, db, true, func(ctx context.Context) (err error) {
		res, err = c.threads.Find(ctx, &hubpb.FindRequest{DbID: db.Bytes(), CollectionName: coll, QueryJSON: query})
		return err
	})
	if err != nil {
		return nil, err
	}
	if err := txError(op, res.GetTransactionError()); err != nil {
		return nil, err
	}
	return res.GetInstances(), nil
}

// FindByID returns one instance's JSON, or ErrNotFound.
func (c *Client) FindByID(ctx context.Context, db identity.ThreadID, coll, id string) ([]byte, error) {
	const op = "find by id"
	if err := checkCollection(op, coll); err != nil {
		return nil, err
	}
	if id == "" {
		return nil, invalidf("%s: empty instance id", op)
	}
	var res *hubpb.FindByIDReply
	err := c.dbCall(ctx, op, db, true, func(ctx context.Context) (err error) {
		res, err = c.threads.FindByID(ctx, &hubpb.FindByIDRequest{DbID: db.Bytes(), CollectionName: coll, InstanceID: id})
		return err
	})
	if err != nil {
		return nil, err
	}
	if err := txError(op, res.GetTransactionError()); err != nil {
		return nil, err
	}
	if res.GetInstance() == nil {
		return nil, fmt.Errorf("%s: %w: instance %q", op, ErrNotFound, id)
	}
	return res.GetInstance(), nil
}

// WatchDB calls fn for every instance created, saved or deleted in any
// collection of db, until ctx ends, Close, or the client is closed. It
// behaves as WatchInbox does: it returns once the stream is open, Ready
// closes when the hub has confirmed it, a broken stream is reconnected
// with backoff between Disconnected and Reconnected (changes in between
// are lost: list again on Reconnected), and a refusal is Stopped.
func (c *Client) WatchDB(ctx context.Context, db identity.ThreadID, fn func(InstanceEvent)) (*Watch, error) {
	const op = "watch db"
	if fn == nil {
		return nil, invalidf("%s: nil callback", op)
	}
	if db.IsZero() {
		return nil, invalidf("%s: empty thread id", op)
	}
	return c.startWatch(ctx, listener{
		op:    op,
		kind:  plainCall,
		req:   &hubpb.ListenRequest{DbID: db.Bytes()},
		extra: []string{mdThread, db.String()},
		reply: func(r *hubpb.ListenReply) { fn(instanceEventFromPB(r)) },
		state: func(t MailboxEventType, err error) { fn(InstanceEvent{Type: t, Err: err}) },
	})
}

func instanceEventFromPB(r *hubpb.ListenReply) InstanceEvent {
	ev := InstanceEvent{Collection: r.GetCollectionName(), ID: r.GetInstanceID()}
	switch r.GetAction() {
	case hubpb.ListenReply_CREATE:
		ev.Type, ev.Instance = MailboxEventCreate, r.GetInstance()
	case hubpb.ListenReply_SAVE:
		ev.Type, ev.Instance = MailboxEventSave, r.GetInstance()
	case hubpb.ListenReply_DELETE:
		ev.Type = MailboxEventDelete
	default:
		// Something changed; a Save without an instance makes callers refetch.
		ev.Type = MailboxEventSave
		ev.Err = fmt.Errorf("%w: unknown listen action %d", ErrInvalid, r.GetAction())
	}
	if len(ev.Instance) == 0 {
		ev.Instance = nil
	}
	return ev
}
