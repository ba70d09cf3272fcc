package hubd_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"

	"github.com/hubfs/hubfs/hubd/hubdtest"
	"github.com/hubfs/hubfs/identity"
	hubpb "github.com/hubfs/hubfs/wire/pb"
)

// personSchema is what the JS client's users write: a name required, an
// optional email with a unique index, an age that must be a number.
const personSchema = `{"$schema":"http://json-schema.org/draft-07/schema#","type":"object",
 "properties":{"_id":{"type":"string"},"name":{"type":"string"},"email":{"type":"string"},"age":{"type":"number"}},
 "required":["name"]}`

func personConfig(name string) *hubpb.CollectionConfig {
	return &hubpb.CollectionConfig{Name: name, Schema: []byte(personSchema),
		Indexes: []*hubpb.Index{{Path: "email", Unique: true}, {Path: "age"}}}
}

// newDB makes a database for u with a "people" collection.
func newDB(t testing.TB, u *user) []byte {
	t.Helper()
	id := identity.NewThreadID().Bytes()
	if _, err := u.threads.NewDB(u.ctx(), &hubpb.NewDBRequest{DbID: id, Name: "db" + identity.NewThreadID().String()[:8],
		Collections: []*hubpb.CollectionConfig{personConfig("people")}}); err != nil {
		t.Fatalf("NewDB: %v", err)
	}
	return id
}

func doc(t testing.TB, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("instance %q: %v", b, err)
	}
	return m
}

func raws(docs ...string) [][]byte {
	out := make([][]byte, len(docs))
	for i, d := range docs {
		out[i] = []byte(d)
	}
	return out
}

func TestThreadDBCollectionsAndInstances(t *testing.T) {
	h := hubdtest.Start(t)
	alice := newUser(t, h, dial(t, h))
	ctx := alice.ctx()
	db := newDB(t, alice)

	dbs, err := alice.threads.ListDBs(ctx, &hubpb.ListDBsRequest{})
	if err != nil || len(dbs.Dbs) != 1 || string(dbs.Dbs[0].DbID) != string(db) || !strings.HasPrefix(dbs.Dbs[0].Info.Name, "db") {
		t.Fatalf("ListDBs = %v, %v", dbs, err)
	}
	info, err := alice.threads.GetDBInfo(ctx, &hubpb.GetDBInfoRequest{DbID: db})
	if err != nil || len(info.Key) != 32 || info.Name != dbs.Dbs[0].Info.Name {
		t.Fatalf("GetDBInfo = %v, %v (the JS client needs a 32- or 64-byte key)", info, err)
	}

	// Collections.
	if _, err := alice.threads.NewCollection(ctx, &hubpb.NewCollectionRequest{DbID: db, Config: personConfig("people")}); err == nil {
		t.Fatal("a second collection named people was made")
	} else {
		wantCode(t, err, codes.AlreadyExists, "collection already registered")
	}
	if _, err := alice.threads.NewCollection(ctx, &hubpb.NewCollectionRequest{DbID: db, Config: &hubpb.CollectionConfig{
		Name: "notes", Schema: []byte(`{"properties":{"_id":{"type":"string"}}}`)}}); err != nil {
		t.Fatalf("NewCollection with the JS default schema: %v", err)
	}
	lc, err := alice.threads.ListCollections(ctx, &hubpb.ListCollectionsRequest{DbID: db})
	if err != nil || len(lc.Collections) != 2 || lc.Collections[0].Name != "people" || lc.Collections[1].Name != "notes" {
		t.Fatalf("ListCollections = %v, %v", lc, err)
	}
	ci, err := alice.threads.GetCollectionInfo(ctx, &hubpb.GetCollectionInfoRequest{DbID: db, Name: "people"})
	if err != nil || string(ci.Schema) != personSchema || len(ci.Indexes) != 2 || !ci.Indexes[0].Unique || ci.Indexes[0].Path != "email" {
		t.Fatalf("GetCollectionInfo = %v, %v", ci, err)
	}
	ix, err := alice.threads.GetCollectionIndexes(ctx, &hubpb.GetCollectionIndexesRequest{DbID: db, Name: "people"})
	if err != nil || len(ix.Indexes) != 2 {
		t.Fatalf("GetCollectionIndexes = %v, %v", ix, err)
	}

	// Create mints ids where absent and answers them in order.
	cr, err := alice.threads.Create(ctx, &hubpb.CreateRequest{DbID: db, CollectionName: "people",
		Instances: raws(`{"name":"Ann","email":"ann@x","age":30}`, `{"_id":"bob","name":"Bob"}`, `{"_id":"","name":"Cy"}`)})
	if err != nil || len(cr.InstanceIDs) != 3 || cr.InstanceIDs[0] == "" || cr.InstanceIDs[1] != "bob" || cr.InstanceIDs[2] == "" {
		t.Fatalf("Create = %v, %v", cr, err)
	}
	ann := cr.InstanceIDs[0]
	got, err := alice.threads.FindByID(ctx, &hubpb.FindByIDRequest{DbID: db, CollectionName: "people", InstanceID: ann})
	if err != nil {
		t.Fatal(err)
	}
	if d := doc(t, got.Instance); d["_id"] != ann || d["name"] != "Ann" || d["age"] != 30.0 {
		t.Fatalf("FindByID = %s", got.Instance)
	}
	has, err := alice.threads.Has(ctx, &hubpb.HasRequest{DbID: db, CollectionName: "people", InstanceIDs: []string{ann, "bob"}})
	if err != nil || !has.Exists {
		t.Fatalf("Has(ann, bob) = %v, %v", has, err)
	}
	has, err = alice.threads.Has(ctx, &hubpb.HasRequest{DbID: db, CollectionName: "people", InstanceIDs: []string{ann, "nobody"}})
	if err != nil || has.Exists {
		t.Fatalf("Has(ann, nobody) = %v, %v", has, err)
	}

	// Refusals: an existing id, the schema, a unique index.
	_, err = alice.threads.Create(ctx, &hubpb.CreateRequest{DbID: db, CollectionName: "people", Instances: raws(`{"_id":"bob","name":"Bob again"}`)})
	wantCode(t, err, codes.AlreadyExists, "can't create already existing instance")
	_, err = alice.threads.Create(ctx, &hubpb.CreateRequest{DbID: db, CollectionName: "people", Instances: raws(`{"age":"old"}`)})
	wantPrefix(t, err, codes.InvalidArgument, "instance doesn't correspond to schema")
	_, err = alice.threads.Save(ctx, &hubpb.SaveRequest{DbID: db, CollectionName: "people", Instances: raws(`{"_id":"bob"}`)})
	wantPrefix(t, err, codes.InvalidArgument, "instance doesn't correspond to schema")
	_, err = alice.threads.Create(ctx, &hubpb.CreateRequest{DbID: db, CollectionName: "people", Instances: raws(`{"name":"Eve","email":"ann@x"}`)})
	wantPrefix(t, err, codes.AlreadyExists, "unique constraint violation")
	// A batch is all or nothing: the good first instance is not stored.
	_, err = alice.threads.Create(ctx, &hubpb.CreateRequest{DbID: db, CollectionName: "people", Instances: raws(`{"_id":"dan","name":"Dan"}`, `{"name":"Eve","email":"ann@x"}`)})
	wantPrefix(t, err, codes.AlreadyExists, "unique constraint violation")
	if has, _ := alice.threads.Has(ctx, &hubpb.HasRequest{DbID: db, CollectionName: "people", InstanceIDs: []string{"dan"}}); has.GetExists() {
		t.Fatal("a failed batch stored its first instance")
	}

	// Save changes; Verify checks without storing.
	if _, err := alice.threads.Save(ctx, &hubpb.SaveRequest{DbID: db, CollectionName: "people", Instances: raws(`{"_id":"bob","name":"Robert","email":"bob@x"}`)}); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.threads.Verify(ctx, &hubpb.VerifyRequest{DbID: db, CollectionName: "people", Instances: raws(`{"_id":"bob","name":"Bobby"}`)}); err != nil {
		t.Fatal(err)
	}
	_, err = alice.threads.Verify(ctx, &hubpb.VerifyRequest{DbID: db, CollectionName: "people", Instances: raws(`{"_id":"bob","name":7}`)})
	wantPrefix(t, err, codes.InvalidArgument, "instance doesn't correspond to schema")
	got, _ = alice.threads.FindByID(ctx, &hubpb.FindByIDRequest{DbID: db, CollectionName: "people", InstanceID: "bob"})
	if d := doc(t, got.GetInstance()); d["name"] != "Robert" {
		t.Fatalf("after Save and Verify, bob = %s", got.GetInstance())
	}

	// Find with the JS client's query JSON.
	fr, err := alice.threads.Find(ctx, &hubpb.FindRequest{DbID: db, CollectionName: "people", QueryJSON: []byte(`{"ands":[],"ors":[],"sort":null,"seek":"","limit":0,"skip":0,"index":""}`)})
	if err != nil || len(fr.Instances) != 3 {
		t.Fatalf("Find all = %d, %v", len(fr.GetInstances()), err)
	}
	_, err = alice.threads.Find(ctx, &hubpb.FindRequest{DbID: db, CollectionName: "people", QueryJSON: []byte(`{"ands":`)})
	wantPrefix(t, err, codes.InvalidArgument, "invalid query")

	// Delete; a missing id is no error, as in go-threads.
	if _, err := alice.threads.Delete(ctx, &hubpb.DeleteRequest{DbID: db, CollectionName: "people", InstanceIDs: []string{"bob", "nobody"}}); err != nil {
		t.Fatal(err)
	}
	_, err = alice.threads.FindByID(ctx, &hubpb.FindByIDRequest{DbID: db, CollectionName: "people", InstanceID: "bob"})
	wantCode(t, err, codes.NotFound, "instance not found")

	// UpdateCollection: a unique index the data breaks is refused.
	if _, err := alice.threads.Create(ctx, &hubpb.CreateRequest{DbID: db, CollectionName: "people", Instances: raws(`{"name":"Ann"}`)}); err != nil {
		t.Fatal(err)
	}
	cfg := personConfig("people")
	cfg.Indexes = append(cfg.Indexes, &hubpb.Index{Path: "name", Unique: true})
	_, err = alice.threads.UpdateCollection(ctx, &hubpb.UpdateCollectionRequest{DbID: db, Config: cfg})
	wantPrefix(t, err, codes.FailedPrecondition, "can't create unique index (duplicate instances exist)")
	cfg.Indexes = cfg.Indexes[:1]
	if _, err := alice.threads.UpdateCollection(ctx, &hubpb.UpdateCollectionRequest{DbID: db, Config: cfg}); err != nil {
		t.Fatal(err)
	}
	if ix, _ := alice.threads.GetCollectionIndexes(ctx, &hubpb.GetCollectionIndexesRequest{DbID: db, Name: "people"}); len(ix.GetIndexes()) != 1 {
		t.Fatalf("indexes after update = %v", ix)
	}

	// DeleteCollection drops it and its instances.
	if _, err := alice.threads.DeleteCollection(ctx, &hubpb.DeleteCollectionRequest{DbID: db, Name: "people"}); err != nil {
		t.Fatal(err)
	}
	_, err = alice.threads.Find(ctx, &hubpb.FindRequest{DbID: db, CollectionName: "people"})
	wantCode(t, err, codes.NotFound, "collection not found")
	_, err = alice.threads.DeleteCollection(ctx, &hubpb.DeleteCollectionRequest{DbID: db, Name: "people"})
	wantCode(t, err, codes.NotFound, "collection not found")
}

// wantPrefix is wantCode for a message that starts with prefix.
func wantPrefix(t testing.TB, err error, code codes.Code, prefix string) {
	t.Helper()
	wantCode(t, err, code, "")
	if msg := err.Error(); !strings.Contains(msg, "desc = "+prefix) {
		t.Fatalf("error %q does not start with %q", msg, prefix)
	}
}

// TestThreadDBBadInput: every malformed request is refused with a message
// that names what is wrong, and stores nothing.
func TestThreadDBBadInput(t *testing.T) {
	h := hubdtest.Start(t, hubdtest.WithMaxMessageSize(4<<10))
	alice := newUser(t, h, dial(t, h))
	ctx := alice.ctx()
	db := newDB(t, alice)
	schema := []byte(`{"properties":{"_id":{"type":"string"}}}`)
	for _, tc := range []struct {
		name string
		cfg  *hubpb.CollectionConfig
		code codes.Code
		msg  string
	}{
		{"no config", nil, codes.InvalidArgument, "collection config is required"},
		{"no name", &hubpb.CollectionConfig{Schema: schema}, codes.InvalidArgument, "collection name is required"},
		{"bad name", &hubpb.CollectionConfig{Name: "a--b", Schema: schema}, codes.InvalidArgument, "name may only contain"},
		{"slash", &hubpb.CollectionConfig{Name: "../x", Schema: schema}, codes.InvalidArgument, "name may only contain"},
		{"no schema", &hubpb.CollectionConfig{Name: "c"}, codes.InvalidArgument, "collection schema is required"},
		{"schema not JSON", &hubpb.CollectionConfig{Name: "c", Schema: []byte("{")}, codes.InvalidArgument, "invalid collection schema"},
		{"schema does not compile", &hubpb.CollectionConfig{Name: "c", Schema: []byte(`{"type":7}`)}, codes.InvalidArgument, "invalid collection schema"},
		{"_id not a string", &hubpb.CollectionConfig{Name: "c", Schema: []byte(`{"properties":{"_id":{"type":"number"}}}`)}, codes.InvalidArgument, "the collection schema _id property must be a string"},
		{"index on _id", &hubpb.CollectionConfig{Name: "c", Schema: schema, Indexes: []*hubpb.Index{{Path: "_id"}}}, codes.InvalidArgument, "cannot create custom index on _id"},
		{"empty index path", &hubpb.CollectionConfig{Name: "c", Schema: schema, Indexes: []*hubpb.Index{{}}}, codes.InvalidArgument, "index path is required"},
		{"two indexes on a path", &hubpb.CollectionConfig{Name: "c", Schema: schema, Indexes: []*hubpb.Index{{Path: "a"}, {Path: "a"}}}, codes.InvalidArgument, "two indexes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := alice.threads.NewCollection(ctx, &hubpb.NewCollectionRequest{DbID: db, Config: tc.cfg})
			wantPrefix(t, err, tc.code, tc.msg)
		})
	}
	if lc, _ := alice.threads.ListCollections(ctx, &hubpb.ListCollectionsRequest{DbID: db}); len(lc.GetCollections()) != 1 {
		t.Fatalf("refused collections were stored: %v", lc)
	}
	// NewDB with a bad collection makes no db.
	bad := identity.NewThreadID().Bytes()
	_, err := alice.threads.NewDB(ctx, &hubpb.NewDBRequest{DbID: bad, Collections: []*hubpb.CollectionConfig{{Name: "x"}}})
	wantPrefix(t, err, codes.InvalidArgument, "collection schema is required")
	_, err = alice.threads.GetDBInfo(ctx, &hubpb.GetDBInfoRequest{DbID: bad})
	wantCode(t, err, codes.NotFound, "db not found")

	for _, tc := range []struct {
		name      string
		instances [][]byte
		code      codes.Code
		msg       string
	}{
		{"none", nil, codes.InvalidArgument, "no instances given"},
		{"not JSON", raws(`{"name":`), codes.InvalidArgument, "instance 0 is not JSON"},
		{"two values", raws(`{"name":"a"} {}`), codes.InvalidArgument, "instance 0 is not JSON"},
		{"array", raws(`["name"]`), codes.InvalidArgument, "instance 0 is not a JSON object"},
		{"_id a number", raws(`{"_id":7,"name":"a"}`), codes.InvalidArgument, "instance 0"},
		{"too large", raws(`{"name":"` + strings.Repeat("x", 5<<10) + `"}`), codes.ResourceExhausted, "instance 0 is 5131 bytes of JSON, over this hub's limit of 4096"},
		{"id too long", raws(`{"_id":"` + strings.Repeat("x", 600) + `","name":"a"}`), codes.InvalidArgument, "instance 0: invalid instance: _id must be UTF-8 of at most 512 bytes"},
	} {
		t.Run("create "+tc.name, func(t *testing.T) {
			_, err := alice.threads.Create(ctx, &hubpb.CreateRequest{DbID: db, CollectionName: "people", Instances: tc.instances})
			wantPrefix(t, err, tc.code, tc.msg)
		})
	}
	_, err = alice.threads.Save(ctx, &hubpb.SaveRequest{DbID: db, CollectionName: "people", Instances: raws(`{"name":"no id"}`)})
	wantCode(t, err, codes.InvalidArgument, "invalid instance: missing _id attribute")
	_, err = alice.threads.Find(ctx, &hubpb.FindRequest{DbID: db, CollectionName: "people", QueryJSON: []byte(strings.Repeat(" ", 65<<10))})
	wantPrefix(t, err, codes.InvalidArgument, "query is")
	_, err = alice.threads.Create(ctx, &hubpb.CreateRequest{DbID: db, CollectionName: "../people", Instances: raws(`{}`)})
	wantPrefix(t, err, codes.InvalidArgument, "name may only contain")
	_, err = alice.threads.Create(ctx, &hubpb.CreateRequest{DbID: []byte("junk"), CollectionName: "people", Instances: raws(`{}`)})
	wantPrefix(t, err, codes.InvalidArgument, "invalid db id")
	_, err = alice.threads.Create(ctx, &hubpb.CreateRequest{CollectionName: "people", Instances: raws(`{}`)})
	wantPrefix(t, err, codes.InvalidArgument, "no db named")
	if fr, _ := alice.threads.Find(ctx, &hubpb.FindRequest{DbID: db, CollectionName: "people"}); len(fr.GetInstances()) != 0 {
		t.Fatalf("refused instances were stored: %d", len(fr.GetInstances()))
	}

	// The mailbox thread has no collections of its own.
	mb, err := alice.users.SetupMailbox(ctx, &hubpb.SetupMailboxRequest{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = alice.threads.ListCollections(ctx, &hubpb.ListCollectionsRequest{DbID: mb.MailboxId})
	wantPrefix(t, err, codes.FailedPrecondition, "the hubmail thread holds the mailbox")
}

// TestThreadDBHeaderNamesDB: a call without dbID works on the db the
// x-textile-thread header names, as the JS client sends it after newDB.
func TestThreadDBHeaderNamesDB(t *testing.T) {
	h := hubdtest.Start(t)
	alice := newUser(t, h, dial(t, h))
	db := newDB(t, alice)
	id, _ := identity.ThreadIDFromBytes(db)
	ctx := metadata.NewOutgoingContext(context.Background(), metadata.Join(alice.md, metadata.Pairs("x-textile-thread", id.String())))
	if _, err := alice.threads.Create(ctx, &hubpb.CreateRequest{CollectionName: "people", Instances: raws(`{"_id":"a","name":"A"}`)}); err != nil {
		t.Fatalf("Create by header: %v", err)
	}
	if _, err := alice.threads.FindByID(alice.ctx(), &hubpb.FindByIDRequest{DbID: db, CollectionName: "people", InstanceID: "a"}); err != nil {
		t.Fatal(err)
	}
}

// TestThreadDBIsolation: another user's db is "db not found" for every
// call, whether it exists or not, and nothing of it leaks or changes.
func TestThreadDBIsolation(t *testing.T) {
	h := hubdtest.Start(t)
	conn := dial(t, h)
	alice, mallory := newUser(t, h, conn), newUser(t, h, conn)
	db := newDB(t, alice)
	if _, err := alice.threads.Create(alice.ctx(), &hubpb.CreateRequest{DbID: db, CollectionName: "people", Instances: raws(`{"_id":"a","name":"A"}`)}); err != nil {
		t.Fatal(err)
	}
	ctx := mallory.ctx()
	calls := map[string]func() error{
		"GetDBInfo": func() error { _, err := mallory.threads.GetDBInfo(ctx, &hubpb.GetDBInfoRequest{DbID: db}); return err },
		"NewCollection": func() error {
			_, err := mallory.threads.NewCollection(ctx, &hubpb.NewCollectionRequest{DbID: db, Config: personConfig("x")})
			return err
		},
		"UpdateCollection": func() error {
			_, err := mallory.threads.UpdateCollection(ctx, &hubpb.UpdateCollectionRequest{DbID: db, Config: personConfig("people")})
			return err
		},
		"DeleteCollection": func() error {
			_, err := mallory.threads.DeleteCollection(ctx, &hubpb.DeleteCollectionRequest{DbID: db, Name: "people"})
			return err
		},
		"GetCollectionInfo": func() error {
			_, err := mallory.threads.GetCollectionInfo(ctx, &hubpb.GetCollectionInfoRequest{DbID: db, Name: "people"})
			return err
		},
		"GetCollectionIndexes": func() error {
			_, err := mallory.threads.GetCollectionIndexes(ctx, &hubpb.GetCollectionIndexesRequest{DbID: db, Name: "people"})
			return err
		},
		"ListCollections": func() error {
			_, err := mallory.threads.ListCollections(ctx, &hubpb.ListCollectionsRequest{DbID: db})
			return err
		},
		"Create": func() error {
			_, err := mallory.threads.Create(ctx, &hubpb.CreateRequest{DbID: db, CollectionName: "people", Instances: raws(`{"name":"M"}`)})
			return err
		},
		"Save": func() error {
			_, err := mallory.threads.Save(ctx, &hubpb.SaveRequest{DbID: db, CollectionName: "people", Instances: raws(`{"_id":"a","name":"M"}`)})
			return err
		},
		"Verify": func() error {
			_, err := mallory.threads.Verify(ctx, &hubpb.VerifyRequest{DbID: db, CollectionName: "people", Instances: raws(`{"_id":"a","name":"M"}`)})
			return err
		},
		"Delete": func() error {
			_, err := mallory.threads.Delete(ctx, &hubpb.DeleteRequest{DbID: db, CollectionName: "people", InstanceIDs: []string{"a"}})
			return err
		},
		"Has": func() error {
			_, err := mallory.threads.Has(ctx, &hubpb.HasRequest{DbID: db, CollectionName: "people", InstanceIDs: []string{"a"}})
			return err
		},
		"Find": func() error {
			_, err := mallory.threads.Find(ctx, &hubpb.FindRequest{DbID: db, CollectionName: "people"})
			return err
		},
		"FindByID": func() error {
			_, err := mallory.threads.FindByID(ctx, &hubpb.FindByIDRequest{DbID: db, CollectionName: "people", InstanceID: "a"})
			return err
		},
		"ReadTransaction": func() error {
			st, err := mallory.threads.ReadTransaction(ctx)
			if err != nil {
				return err
			}
			st.Send(&hubpb.ReadTransactionRequest{Option: &hubpb.ReadTransactionRequest_StartTransactionRequest{StartTransactionRequest: &hubpb.StartTransactionRequest{DbID: db, CollectionName: "people"}}})
			_, err = st.Recv()
			return err
		},
		"WriteTransaction": func() error {
			st, err := mallory.threads.WriteTransaction(ctx)
			if err != nil {
				return err
			}
			st.Send(&hubpb.WriteTransactionRequest{Option: &hubpb.WriteTransactionRequest_StartTransactionRequest{StartTransactionRequest: &hubpb.StartTransactionRequest{DbID: db, CollectionName: "people"}}})
			_, err = st.Recv()
			return err
		},
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) { wantCode(t, call(), codes.NotFound, "db not found") })
	}
	if dbs, _ := mallory.threads.ListDBs(ctx, &hubpb.ListDBsRequest{}); len(dbs.GetDbs()) != 0 {
		t.Fatalf("mallory lists alice's db: %v", dbs)
	}
	got, err := alice.threads.FindByID(alice.ctx(), &hubpb.FindByIDRequest{DbID: db, CollectionName: "people", InstanceID: "a"})
	if err != nil || doc(t, got.Instance)["name"] != "A" {
		t.Fatalf("alice's instance after mallory's calls: %s, %v", got.GetInstance(), err)
	}
}

// writeTxn drives a write transaction over native gRPC.
type writeTxn struct {
	t  *testing.T
	st hubpb.API_WriteTransactionClient
}

func startWriteTxn(t *testing.T, u *user, db []byte, coll string) *writeTxn {
	t.Helper()
	ctx, cancel := context.WithTimeout(u.ctx(), 30*time.Second)
	t.Cleanup(cancel)
	st, err := u.threads.WriteTransaction(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Send(&hubpb.WriteTransactionRequest{Option: &hubpb.WriteTransactionRequest_StartTransactionRequest{
		StartTransactionRequest: &hubpb.StartTransactionRequest{DbID: db, CollectionName: coll}}}); err != nil {
		t.Fatal(err)
	}
	return &writeTxn{t, st}
}

func (w *writeTxn) do(req *hubpb.WriteTransactionRequest) *hubpb.WriteTransactionReply {
	w.t.Helper()
	if err := w.st.Send(req); err != nil {
		w.t.Fatal(err)
	}
	rep, err := w.st.Recv()
	if err != nil {
		w.t.Fatalf("transaction reply: %v", err)
	}
	return rep
}

func (w *writeTxn) end() error {
	w.t.Helper()
	if err := w.st.CloseSend(); err != nil {
		w.t.Fatal(err)
	}
	_, err := w.st.Recv()
	if errors.Is(err, io.EOF) {
		return nil
	}
	if err == nil {
		w.t.Fatal("a reply after end")
	}
	return err
}

func txCreate(docs ...string) *hubpb.WriteTransactionRequest {
	return &hubpb.WriteTransactionRequest{Option: &hubpb.WriteTransactionRequest_CreateRequest{CreateRequest: &hubpb.CreateRequest{Instances: raws(docs...)}}}
}

func txHas(ids ...string) *hubpb.WriteTransactionRequest {
	return &hubpb.WriteTransactionRequest{Option: &hubpb.WriteTransactionRequest_HasRequest{HasRequest: &hubpb.HasRequest{InstanceIDs: ids}}}
}

func TestWriteTransaction(t *testing.T) {
	h := hubdtest.Start(t)
	alice := newUser(t, h, dial(t, h))
	db := newDB(t, alice)
	hasNow := func(id string) bool {
		r, err := alice.threads.Has(alice.ctx(), &hubpb.HasRequest{DbID: db, CollectionName: "people", InstanceIDs: []string{id}})
		if err != nil {
			t.Fatal(err)
		}
		return r.Exists
	}

	w := startWriteTxn(t, alice, db, "people")
	rep := w.do(txCreate(`{"_id":"a","name":"A"}`, `{"name":"B"}`))
	if c := rep.GetCreateReply(); c == nil || c.TransactionError != "" || len(c.InstanceIDs) != 2 || c.InstanceIDs[0] != "a" {
		t.Fatalf("create in a transaction = %v", rep)
	}
	// Reads see what is committed, not the buffered writes.
	if r := w.do(txHas("a")).GetHasReply(); r == nil || r.Exists || r.TransactionError != "" {
		t.Fatalf("has inside the transaction = %v", r)
	}
	if hasNow("a") {
		t.Fatal("a buffered create is visible before end")
	}
	// Errors come back in transactionError; the transaction goes on.
	if c := w.do(txCreate(`{"name":7}`)).GetCreateReply(); c == nil || !strings.HasPrefix(c.TransactionError, "instance doesn't correspond to schema") || len(c.InstanceIDs) != 0 {
		t.Fatalf("schema violation in a transaction = %v", c)
	}
	if c := w.do(txCreate(`{"_id":"a","name":"A again"}`)).GetCreateReply(); c == nil || c.TransactionError != "can't create already existing instance" {
		t.Fatalf("a second create of a buffered id = %v", c)
	}
	sv := w.do(&hubpb.WriteTransactionRequest{Option: &hubpb.WriteTransactionRequest_SaveRequest{SaveRequest: &hubpb.SaveRequest{Instances: raws(`{"_id":"c","name":"C"}`)}}})
	if s := sv.GetSaveReply(); s == nil || s.TransactionError != "" {
		t.Fatalf("save in a transaction = %v", sv)
	}
	other := w.do(&hubpb.WriteTransactionRequest{Option: &hubpb.WriteTransactionRequest_DeleteRequest{DeleteRequest: &hubpb.DeleteRequest{CollectionName: "other", InstanceIDs: []string{"a"}}}})
	if d := other.GetDeleteReply(); d == nil || !strings.Contains(d.TransactionError, "this transaction is on collection") {
		t.Fatalf("a request naming another collection = %v", other)
	}
	if err := w.end(); err != nil {
		t.Fatalf("end: %v", err)
	}
	if !hasNow("a") || !hasNow("c") {
		t.Fatal("end did not commit")
	}

	// Discard drops what was buffered; what comes after commits.
	w = startWriteTxn(t, alice, db, "people")
	w.do(txCreate(`{"_id":"gone","name":"G"}`))
	if d := w.do(&hubpb.WriteTransactionRequest{Option: &hubpb.WriteTransactionRequest_DiscardRequest{DiscardRequest: &hubpb.DiscardRequest{}}}); d.GetDiscardReply() == nil {
		t.Fatalf("discard reply = %v", d)
	}
	w.do(txCreate(`{"_id":"kept","name":"K"}`))
	if err := w.end(); err != nil {
		t.Fatal(err)
	}
	if hasNow("gone") || !hasNow("kept") {
		t.Fatal("discard did not drop the earlier writes, or dropped the later ones")
	}

	// A unique violation found at commit fails the whole transaction.
	w = startWriteTxn(t, alice, db, "people")
	w.do(txCreate(`{"_id":"u1","name":"U","email":"same@x"}`))
	w.do(txCreate(`{"_id":"u2","name":"U","email":"same@x"}`))
	err := w.end()
	wantPrefix(t, err, codes.AlreadyExists, "unique constraint violation")
	if hasNow("u1") || hasNow("u2") {
		t.Fatal("a failed commit stored part of the transaction")
	}

	// A stream that does not start is refused.
	st, err := alice.threads.WriteTransaction(alice.ctx())
	if err != nil {
		t.Fatal(err)
	}
	st.Send(txHas("a"))
	_, err = st.Recv()
	wantCode(t, err, codes.InvalidArgument, "the first request of a transaction must be a startTransactionRequest")
	// A transaction on a missing collection ends at once.
	st, _ = alice.threads.WriteTransaction(alice.ctx())
	st.Send(&hubpb.WriteTransactionRequest{Option: &hubpb.WriteTransactionRequest_StartTransactionRequest{StartTransactionRequest: &hubpb.StartTransactionRequest{DbID: db, CollectionName: "nope"}}})
	_, err = st.Recv()
	wantCode(t, err, codes.NotFound, "collection not found")
}

func TestReadTransaction(t *testing.T) {
	h := hubdtest.Start(t)
	alice := newUser(t, h, dial(t, h))
	db := newDB(t, alice)
	if _, err := alice.threads.Create(alice.ctx(), &hubpb.CreateRequest{DbID: db, CollectionName: "people", Instances: raws(`{"_id":"a","name":"A"}`)}); err != nil {
		t.Fatal(err)
	}
	st, err := alice.threads.ReadTransaction(alice.ctx())
	if err != nil {
		t.Fatal(err)
	}
	send := func(r *hubpb.ReadTransactionRequest) *hubpb.ReadTransactionReply {
		t.Helper()
		if err := st.Send(r); err != nil {
			t.Fatal(err)
		}
		rep, err := st.Recv()
		if err != nil {
			t.Fatal(err)
		}
		return rep
	}
	if err := st.Send(&hubpb.ReadTransactionRequest{Option: &hubpb.ReadTransactionRequest_StartTransactionRequest{StartTransactionRequest: &hubpb.StartTransactionRequest{DbID: db, CollectionName: "people"}}}); err != nil {
		t.Fatal(err)
	}
	if r := send(&hubpb.ReadTransactionRequest{Option: &hubpb.ReadTransactionRequest_HasRequest{HasRequest: &hubpb.HasRequest{InstanceIDs: []string{"a"}}}}).GetHasReply(); !r.GetExists() {
		t.Fatalf("has = %v", r)
	}
	if r := send(&hubpb.ReadTransactionRequest{Option: &hubpb.ReadTransactionRequest_FindByIDRequest{FindByIDRequest: &hubpb.FindByIDRequest{InstanceID: "b"}}}).GetFindByIDReply(); r.GetTransactionError() != "instance not found" || string(r.GetInstance()) != "null" {
		// null, not empty: threads-client parses the instance even after
		// rejecting, and empty bytes throw where nothing catches them.
		t.Fatalf("findByID of a missing id = %v", r)
	}
	if r := send(&hubpb.ReadTransactionRequest{Option: &hubpb.ReadTransactionRequest_FindRequest{FindRequest: &hubpb.FindRequest{QueryJSON: []byte(`{}`)}}}).GetFindReply(); len(r.GetInstances()) != 1 {
		t.Fatalf("find = %v", r)
	}
	st.CloseSend()
	if _, err := st.Recv(); !errors.Is(err, io.EOF) {
		t.Fatalf("end of a read transaction: %v", err)
	}
}

func listenDB(t *testing.T, u *user, db []byte, filters ...*hubpb.ListenRequest_Filter) hubpb.API_ListenClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(u.ctx(), 30*time.Second)
	t.Cleanup(cancel)
	st, err := u.threads.Listen(ctx, &hubpb.ListenRequest{DbID: db, Filters: filters})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Header(); err != nil {
		t.Fatal(err)
	}
	return st
}

// TestThreadDBListen: instance events, per collection and instance filter,
// in commit order, with the instance for CREATE and SAVE; the mailbox's
// streams see none of them, and a db stream none of another db's.
func TestThreadDBListen(t *testing.T) {
	h := hubdtest.Start(t)
	alice := mailboxUser(t, h, dial(t, h))
	db, db2 := newDB(t, alice), newDB(t, alice)
	all := listenDB(t, alice, db)
	onlyB := listenDB(t, alice, db, &hubpb.ListenRequest_Filter{InstanceID: "b"})
	onlyDeletes := listenDB(t, alice, db, &hubpb.ListenRequest_Filter{CollectionName: "people", Action: hubpb.ListenRequest_Filter_DELETE})
	mailbox := listen(t, alice)

	ctx := alice.ctx()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	// Another db's writes come first: no stream of db may see them.
	_, err := alice.threads.Create(ctx, &hubpb.CreateRequest{DbID: db2, CollectionName: "people", Instances: raws(`{"_id":"x","name":"X"}`)})
	must(err)
	_, err = alice.threads.Create(ctx, &hubpb.CreateRequest{DbID: db, CollectionName: "people", Instances: raws(`{"_id":"a","name":"A"}`, `{"_id":"b","name":"B"}`)})
	must(err)
	_, err = alice.threads.Save(ctx, &hubpb.SaveRequest{DbID: db, CollectionName: "people", Instances: raws(`{"_id":"b","name":"B2"}`)})
	must(err)
	_, err = alice.threads.Delete(ctx, &hubpb.DeleteRequest{DbID: db, CollectionName: "people", InstanceIDs: []string{"a"}})
	must(err)

	type ev struct {
		id     string
		action hubpb.ListenReply_Action
		name   any
	}
	next := func(st hubpb.API_ListenClient) ev {
		t.Helper()
		r, err := st.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if r.CollectionName != "people" {
			t.Fatalf("event of collection %q", r.CollectionName)
		}
		e := ev{id: r.InstanceID, action: r.Action}
		if len(r.Instance) > 0 {
			e.name = doc(t, r.Instance)["name"]
		}
		return e
	}
	for i, want := range []ev{{"a", hubpb.ListenReply_CREATE, "A"}, {"b", hubpb.ListenReply_CREATE, "B"}, {"b", hubpb.ListenReply_SAVE, "B2"}, {"a", hubpb.ListenReply_DELETE, nil}} {
		if got := next(all); got != want {
			t.Fatalf("event %d = %+v, want %+v", i, got, want)
		}
	}
	for i, want := range []ev{{"b", hubpb.ListenReply_CREATE, "B"}, {"b", hubpb.ListenReply_SAVE, "B2"}} {
		if got := next(onlyB); got != want {
			t.Fatalf("instance filter: event %d = %+v, want %+v", i, got, want)
		}
	}
	if got := next(onlyDeletes); got != (ev{"a", hubpb.ListenReply_DELETE, nil}) {
		t.Fatalf("delete filter: %+v", got)
	}
	// The mailbox stream's next event is the mailbox's own.
	bob := mailboxUser(t, h, alice.conn)
	sent := send(t, bob, alice.id, []byte("hi"))
	if r, _ := recvEvent(t, mailbox); r.CollectionName != "inbox" || r.InstanceID != sent.Id {
		t.Fatalf("the mailbox stream got %v first", r)
	}
}
