package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hubfs/hubfs/hubd/store"
)

// threadDBCases are the thread database behaviours (store.ThreadDBStore).
var threadDBCases = []struct {
	name string
	run  func(t *testing.T, st store.Store)
}{
	{"Collections", testCollections},
	{"Instances", testInstances},
	{"InstanceOpsChecked", testInstanceOpsChecked},
	{"BatchAtomic", testBatchAtomic},
	{"UniqueIndexes", testUniqueIndexes},
	{"UniqueIndexUpdate", testUniqueIndexUpdate},
	{"ThreadDBIsolation", testThreadDBIsolation},
	{"DeleteThreadCascade", testDeleteThreadCascade},
	{"InstanceEvents", testInstanceEvents},
	{"InstanceUsage", testInstanceUsage},
	{"ConcurrentUnique", testConcurrentUnique},
}

// newDB stores a fresh thread of a fresh owner.
func newDB(t *testing.T, st store.Store) store.Thread {
	t.Helper()
	th := thread(owner(), "db", time.Now())
	if _, err := st.CreateThread(ctx, th); err != nil {
		t.Fatal(err)
	}
	return th
}

func collection(th store.Thread, name string, indexes ...store.Index) store.Collection {
	return store.Collection{
		Thread: th.ID, Name: name,
		Schema:  []byte(`{"type":"object","properties":{"_id":{"type":"string"}}}`),
		Indexes: indexes, CreatedAt: time.Now(),
	}
}

func newCollection(t *testing.T, st store.Store, c store.Collection) {
	t.Helper()
	if err := st.CreateCollection(ctx, c); err != nil {
		t.Fatalf("CreateCollection(%s): %v", c.Name, err)
	}
}

// doc is an instance's JSON: its id and the fields given as name, value
// pairs (values as JSON text).
func doc(id string, fields ...string) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, `{"_id":%q`, id)
	for i := 0; i+1 < len(fields); i += 2 {
		fmt.Fprintf(&b, `,%q:%s`, fields[i], fields[i+1])
	}
	b.WriteString("}")
	return b.Bytes()
}

func create(id string, fields ...string) store.InstanceOp {
	return store.InstanceOp{Kind: store.OpCreate, ID: id, JSON: doc(id, fields...)}
}

func save(id string, fields ...string) store.InstanceOp {
	return store.InstanceOp{Kind: store.OpSave, ID: id, JSON: doc(id, fields...)}
}

func del(id string) store.InstanceOp { return store.InstanceOp{Kind: store.OpDelete, ID: id} }

func write(t *testing.T, st store.Store, th store.Thread, coll string, ops ...store.InstanceOp) {
	t.Helper()
	if err := st.WriteInstances(ctx, th.ID, coll, ops); err != nil {
		t.Fatalf("WriteInstances(%s): %v", coll, err)
	}
}

// wantInstances checks a collection's instances: ids in order and JSON.
func wantInstances(t *testing.T, st store.Store, th store.Thread, coll string, want ...store.InstanceOp) {
	t.Helper()
	got, err := st.Instances(ctx, th.ID, coll)
	if err != nil {
		t.Fatalf("Instances(%s): %v", coll, err)
	}
	if len(got) != len(want) {
		t.Fatalf("Instances(%s) = %d instances %s, want %d", coll, len(got), instanceIDs(got), len(want))
	}
	for i, w := range want {
		if got[i].ID != w.ID || !bytes.Equal(got[i].JSON, w.JSON) {
			t.Fatalf("Instances(%s)[%d] = %s %s, want %s %s", coll, i, got[i].ID, got[i].JSON, w.ID, w.JSON)
		}
	}
}

func instanceIDs(ins []store.Instance) []string {
	var ids []string
	for _, in := range ins {
		ids = append(ids, in.ID)
	}
	return ids
}

func sameCollection(a, b store.Collection) bool {
	return bytes.Equal(a.Thread, b.Thread) && a.Name == b.Name && bytes.Equal(a.Schema, b.Schema) &&
		slices.Equal(a.Indexes, b.Indexes) && a.WriteValidator == b.WriteValidator &&
		a.ReadFilter == b.ReadFilter && a.CreatedAt.Equal(b.CreatedAt)
}

func testCollections(t *testing.T, st store.Store) {
	th := newDB(t, st)
	now := time.Now()
	people := collection(th, "people", store.Index{Path: "email", Unique: true}, store.Index{Path: "age"})
	people.WriteValidator, people.ReadFilter = "return true", "return instance"
	people.CreatedAt = now
	newCollection(t, st, people)
	notes := collection(th, "notes")
	notes.CreatedAt = now.Add(time.Second)
	newCollection(t, st, notes)
	// Created later with a name that sorts first: listed after.
	aaa := collection(th, "aaa")
	aaa.CreatedAt = now.Add(2 * time.Second)
	newCollection(t, st, aaa)

	got, err := st.GetCollection(ctx, th.ID, "people")
	if err != nil || !sameCollection(got, people) {
		t.Fatalf("GetCollection = %+v, %v; want %+v", got, err, people)
	}
	list, err := st.ListCollections(ctx, th.ID)
	if err != nil || len(list) != 3 || list[0].Name != "people" || list[1].Name != "notes" || list[2].Name != "aaa" {
		t.Fatalf("ListCollections = %+v, %v; want people, notes, aaa", list, err)
	}
	if !sameCollection(list[0], people) {
		t.Fatalf("listed %+v, want %+v", list[0], people)
	}
	if err := st.CreateCollection(ctx, collection(th, "people")); !errors.Is(err, store.ErrExists) {
		t.Fatalf("CreateCollection of an existing name = %v, want ErrExists", err)
	}
	if err := st.CreateCollection(ctx, collection(store.Thread{ID: []byte("no such thread")}, "x")); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("CreateCollection in an unknown thread = %v, want ErrNotFound", err)
	}
	if err := st.CreateCollection(ctx, collection(th, "")); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("CreateCollection without a name = %v, want ErrInvalid", err)
	}
	if _, err := st.GetCollection(ctx, th.ID, "nope"); !errors.Is(err, store.ErrCollectionNotFound) || !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetCollection of an unknown one = %v, want ErrCollectionNotFound", err)
	}
	if list, err := st.ListCollections(ctx, []byte("no such thread")); err != nil || len(list) != 0 {
		t.Fatalf("ListCollections of an unknown thread = %+v, %v; want none", list, err)
	}

	// Update replaces everything but the creation time.
	upd := people
	upd.Schema = []byte(`{"type":"object"}`)
	upd.Indexes = []store.Index{{Path: "name", Unique: true}}
	upd.WriteValidator, upd.ReadFilter = "", ""
	upd.CreatedAt = now.Add(time.Hour)
	if err := st.UpdateCollection(ctx, upd); err != nil {
		t.Fatal(err)
	}
	got, _ = st.GetCollection(ctx, th.ID, "people")
	upd.CreatedAt = now
	if !sameCollection(got, upd) {
		t.Fatalf("after UpdateCollection %+v, want %+v", got, upd)
	}
	if err := st.UpdateCollection(ctx, collection(th, "nope")); !errors.Is(err, store.ErrCollectionNotFound) {
		t.Fatalf("UpdateCollection of an unknown one = %v, want ErrCollectionNotFound", err)
	}

	// Delete drops the instances: a new collection of the name is empty.
	write(t, st, th, "notes", create("n1"), create("n2"))
	if err := st.DeleteCollection(ctx, th.ID, "notes"); err != nil {
		t.Fatal(err)
	}
	if err := st.DeleteCollection(ctx, th.ID, "notes"); !errors.Is(err, store.ErrCollectionNotFound) {
		t.Fatalf("DeleteCollection twice = %v, want ErrCollectionNotFound", err)
	}
	if _, err := st.Instances(ctx, th.ID, "notes"); !errors.Is(err, store.ErrCollectionNotFound) {
		t.Fatalf("Instances of a deleted collection = %v, want ErrCollectionNotFound", err)
	}
	again := collection(th, "notes")
	again.CreatedAt = now.Add(3 * time.Second)
	newCollection(t, st, again)
	wantInstances(t, st, th, "notes")
	if list, _ := st.ListCollections(ctx, th.ID); len(list) != 3 || list[2].Name != "notes" {
		t.Fatalf("ListCollections after recreating = %+v", list)
	}
}

func testInstances(t *testing.T, st store.Store) {
	th := newDB(t, st)
	newCollection(t, st, collection(th, "c"))
	wantInstances(t, st, th, "c")
	write(t, st, th, "c", create("b", "n", "1"), create("a", "n", "2"))
	write(t, st, th, "c", create("c", "n", `"x"`))
	wantInstances(t, st, th, "c", create("a", "n", "2"), create("b", "n", "1"), create("c", "n", `"x"`))
	in, err := st.GetInstance(ctx, th.ID, "c", "b")
	if err != nil || in.ID != "b" || !bytes.Equal(in.JSON, doc("b", "n", "1")) {
		t.Fatalf("GetInstance = %+v, %v", in, err)
	}
	if _, err := st.GetInstance(ctx, th.ID, "c", "zz"); !errors.Is(err, store.ErrInstanceNotFound) || !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetInstance of a missing id = %v, want ErrInstanceNotFound", err)
	}
	if _, err := st.GetInstance(ctx, th.ID, "nope", "a"); !errors.Is(err, store.ErrCollectionNotFound) {
		t.Fatalf("GetInstance in an unknown collection = %v, want ErrCollectionNotFound", err)
	}

	// Create of an id held: ErrExists, nothing changed.
	if err := st.WriteInstances(ctx, th.ID, "c", []store.InstanceOp{create("a", "n", "9")}); !errors.Is(err, store.ErrExists) {
		t.Fatalf("create of an existing id = %v, want ErrExists", err)
	}
	// Save replaces, and creates what is missing (go-threads' upsert).
	write(t, st, th, "c", save("a", "n", "3"), save("d"))
	// Delete removes; of a missing id it does nothing.
	write(t, st, th, "c", del("b"), del("never"))
	wantInstances(t, st, th, "c", create("a", "n", "3"), create("c", "n", `"x"`), create("d"))
	if err := st.WriteInstances(ctx, th.ID, "nope", []store.InstanceOp{create("a")}); !errors.Is(err, store.ErrCollectionNotFound) {
		t.Fatalf("write to an unknown collection = %v, want ErrCollectionNotFound", err)
	}
	if _, err := st.Instances(ctx, th.ID, "nope"); !errors.Is(err, store.ErrCollectionNotFound) {
		t.Fatalf("Instances of an unknown collection = %v, want ErrCollectionNotFound", err)
	}
	// An empty batch is no error.
	write(t, st, th, "c")
}

// testInstanceOpsChecked: what the store cannot keep is ErrInvalid and
// stores nothing.
func testInstanceOpsChecked(t *testing.T, st store.Store) {
	th := newDB(t, st)
	newCollection(t, st, collection(th, "c"))
	long := string(bytes.Repeat([]byte("x"), store.MaxNameLen+1))
	for _, op := range []store.InstanceOp{
		{Kind: store.OpCreate, ID: "", JSON: doc("")},
		{Kind: store.OpCreate, ID: long, JSON: doc(long)},
		{Kind: store.OpCreate, ID: "a", JSON: doc("b")},
		{Kind: store.OpSave, ID: "a", JSON: []byte(`{"n":1}`)},
		{Kind: store.OpCreate, ID: "a", JSON: []byte(`["a"]`)},
		{Kind: store.OpCreate, ID: "a", JSON: []byte(`{"_id":"a"`)},
		{Kind: store.OpCreate, ID: "a", JSON: []byte(`{"_id":"a"}{}`)},
		{Kind: store.OpCreate, ID: "a", JSON: []byte(`{"_id":"a"}]`)},
		{Kind: store.OpCreate, ID: "a", JSON: []byte(`{"_id":1}`)},
		{Kind: store.OpCreate, ID: "a"},
		{Kind: 0, ID: "a", JSON: doc("a")},
	} {
		err := st.WriteInstances(ctx, th.ID, "c", []store.InstanceOp{create("ok"), op})
		if !errors.Is(err, store.ErrInvalid) {
			t.Errorf("op %v %.20q %q = %v, want ErrInvalid", op.Kind, op.ID, op.JSON, err)
		}
	}
	wantInstances(t, st, th, "c")
}

// testBatchAtomic: a batch whose last op fails leaves no trace: no
// instance, no unique value held, no event.
func testBatchAtomic(t *testing.T, st store.Store) {
	th := newDB(t, st)
	newCollection(t, st, collection(th, "c", store.Index{Path: "email", Unique: true}))
	write(t, st, th, "c", create("a", "email", `"a@x"`))
	var r recorder
	defer st.Subscribe(r.add)()
	err := st.WriteInstances(ctx, th.ID, "c", []store.InstanceOp{
		create("b", "email", `"b@x"`),
		save("a", "email", `"new@x"`),
		del("a"),
		create("b"), // b exists by now: the batch fails
	})
	if !errors.Is(err, store.ErrExists) {
		t.Fatalf("batch = %v, want ErrExists", err)
	}
	wantInstances(t, st, th, "c", create("a", "email", `"a@x"`))
	// b's value was not kept: another instance may take it, and a's old
	// value is still a's.
	write(t, st, th, "c", create("z", "email", `"b@x"`))
	if err := st.WriteInstances(ctx, th.ID, "c", []store.InstanceOp{create("y", "email", `"a@x"`)}); !errors.Is(err, store.ErrUniqueViolation) {
		t.Fatalf("a's value after a failed batch = %v, want it still held", err)
	}
	got := r.waitFor(t, 1)
	if len(got) != 1 || got[0].Instance == nil || got[0].Instance.ID != "z" {
		t.Fatalf("events = %+v, want only z's create", got)
	}
}

// wantViolation checks that err is a *UniqueViolation of path by id
// against held.
func wantViolation(t *testing.T, what string, err error, path, id, held string) {
	t.Helper()
	var uv *store.UniqueViolation
	if !errors.As(err, &uv) || !errors.Is(err, store.ErrUniqueViolation) {
		t.Fatalf("%s = %v, want a unique violation", what, err)
	}
	if uv.Path != path || uv.ID != id || uv.HeldBy != held {
		t.Fatalf("%s = %+v, want path %q, instance %q, held by %q", what, uv, path, id, held)
	}
}

func testUniqueIndexes(t *testing.T, st store.Store) {
	th := newDB(t, st)
	newCollection(t, st, collection(th, "c",
		store.Index{Path: "email", Unique: true},
		store.Index{Path: "name.last", Unique: true},
		store.Index{Path: "age"}, // not unique: no constraint
	))
	write(t, st, th, "c", create("a", "email", `"a@x"`, "name", `{"last":"Ng"}`, "age", "30"))

	try := func(ops ...store.InstanceOp) error { return st.WriteInstances(ctx, th.ID, "c", ops) }
	wantViolation(t, "create with a held value", try(create("b", "email", `"a@x"`)), "email", "b", "a")
	wantViolation(t, "create with a held nested value", try(create("b", "name", `{"last":"Ng"}`)), "name.last", "b", "a")
	write(t, st, th, "c", create("b", "email", `"b@x"`, "age", "30"))
	wantViolation(t, "save taking a held value", try(save("b", "email", `"a@x"`)), "email", "b", "a")
	wantViolation(t, "two of a value in one batch", try(create("c", "email", `"c@x"`), create("d", "email", `"c@x"`)), "email", "d", "c")
	// A value's kind counts: the number 1 is not the string "1".
	write(t, st, th, "c", create("n1", "email", "1"), create("s1", "email", `"1"`))
	// Absent and null fields hold nothing: any number may lack one.
	write(t, st, th, "c", create("e1"), create("e2"), create("e3", "email", "null"), create("e4", "name", `{"first":"x"}`))

	// A save that changes its value frees the old one, within a batch too.
	write(t, st, th, "c", save("a", "email", `"a2@x"`), create("f", "email", `"a@x"`))
	// A delete frees its values.
	write(t, st, th, "c", del("b"), create("g", "email", `"b@x"`))
	// A save keeping its own value is no violation.
	write(t, st, th, "c", save("g", "email", `"b@x"`, "age", "31"))
	// Swapping two values in one batch through a free one.
	write(t, st, th, "c", save("f", "email", `"tmp"`), save("g", "email", `"a@x"`), save("f", "email", `"b@x"`))

	// A long value is kept whole: a different one with the same start
	// does not clash.
	long := bytes.Repeat([]byte("v"), 10000)
	write(t, st, th, "c", create("l1", "email", fmt.Sprintf(`"%s1"`, long)), create("l2", "email", fmt.Sprintf(`"%s2"`, long)))
	wantViolation(t, "a long held value", try(create("l3", "email", fmt.Sprintf(`"%s1"`, long))), "email", "l3", "l1")
}

// testUniqueIndexUpdate: a unique index added over data that breaks it
// fails and changes nothing; over data that keeps it, it is enforced from
// then on; a dropped one no longer is.
func testUniqueIndexUpdate(t *testing.T, st store.Store) {
	th := newDB(t, st)
	c := collection(th, "c")
	newCollection(t, st, c)
	write(t, st, th, "c", create("a", "email", `"x"`, "tag", `"t"`), create("b", "email", `"x"`, "tag", `"u"`))

	withEmail := c
	withEmail.Indexes = []store.Index{{Path: "email", Unique: true}}
	withEmail.Schema = []byte(`{"changed":true}`)
	err := st.UpdateCollection(ctx, withEmail)
	wantViolation(t, "a unique index over shared values", err, "email", "b", "a")
	if got, _ := st.GetCollection(ctx, th.ID, "c"); !sameCollection(got, c) {
		t.Fatalf("a failed update changed the collection: %+v", got)
	}
	write(t, st, th, "c", create("c", "tag", `"t"`)) // no index on tag yet

	withTag := c
	withTag.Indexes = []store.Index{{Path: "tag", Unique: true}}
	wantViolation(t, "a unique index over shared values", st.UpdateCollection(ctx, withTag), "tag", "c", "a")
	write(t, st, th, "c", del("c"))
	if err := st.UpdateCollection(ctx, withTag); err != nil {
		t.Fatalf("a unique index over distinct values: %v", err)
	}
	wantViolation(t, "create after the index", st.WriteInstances(ctx, th.ID, "c", []store.InstanceOp{create("d", "tag", `"u"`)}), "tag", "d", "b")
	// Dropped again: the value is free.
	if err := st.UpdateCollection(ctx, c); err != nil {
		t.Fatal(err)
	}
	write(t, st, th, "c", create("d", "tag", `"u"`))
}

// testThreadDBIsolation: collections, instances and unique values of one
// thread are unseen and untouched by another's, names alike.
func testThreadDBIsolation(t *testing.T, st store.Store) {
	t1, t2 := newDB(t, st), newDB(t, st)
	ix := store.Index{Path: "email", Unique: true}
	newCollection(t, st, collection(t1, "c", ix))
	newCollection(t, st, collection(t2, "c", ix))
	newCollection(t, st, collection(t1, "only1"))
	write(t, st, t1, "c", create("a", "email", `"x"`))
	write(t, st, t2, "c", create("a", "email", `"x"`, "n", "2")) // same id, same value: another thread
	wantInstances(t, st, t1, "c", create("a", "email", `"x"`))
	wantInstances(t, st, t2, "c", create("a", "email", `"x"`, "n", "2"))
	if _, err := st.GetCollection(ctx, t2.ID, "only1"); !errors.Is(err, store.ErrCollectionNotFound) {
		t.Fatalf("another thread's collection = %v, want ErrCollectionNotFound", err)
	}
	if err := st.WriteInstances(ctx, t2.ID, "only1", []store.InstanceOp{create("z")}); !errors.Is(err, store.ErrCollectionNotFound) {
		t.Fatalf("writing to another thread's collection = %v, want ErrCollectionNotFound", err)
	}
	write(t, st, t2, "c", del("a"))
	wantInstances(t, st, t1, "c", create("a", "email", `"x"`))
	if err := st.DeleteCollection(ctx, t2.ID, "c"); err != nil {
		t.Fatal(err)
	}
	wantInstances(t, st, t1, "c", create("a", "email", `"x"`))
	if list, _ := st.ListCollections(ctx, t1.ID); len(list) != 2 {
		t.Fatalf("t1's collections after t2's delete: %+v", list)
	}
}

// testDeleteThreadCascade: a deleted thread takes its collections,
// instances and unique values with it; a thread made again with its id
// starts empty.
func testDeleteThreadCascade(t *testing.T, st store.Store) {
	th, other := newDB(t, st), newDB(t, st)
	newCollection(t, st, collection(th, "c", store.Index{Path: "email", Unique: true}))
	newCollection(t, st, collection(other, "c"))
	write(t, st, th, "c", create("a", "email", `"x"`))
	write(t, st, other, "c", create("a"))
	if err := st.DeleteThread(ctx, th.ID); err != nil {
		t.Fatal(err)
	}
	if list, err := st.ListCollections(ctx, th.ID); err != nil || len(list) != 0 {
		t.Fatalf("collections of a deleted thread: %+v, %v", list, err)
	}
	if _, err := st.GetInstance(ctx, th.ID, "c", "a"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("instance of a deleted thread = %v, want ErrNotFound", err)
	}
	if _, err := st.CreateThread(ctx, th); err != nil {
		t.Fatal(err)
	}
	if list, _ := st.ListCollections(ctx, th.ID); len(list) != 0 {
		t.Fatalf("a thread made again holds %+v", list)
	}
	newCollection(t, st, collection(th, "c", store.Index{Path: "email", Unique: true}))
	write(t, st, th, "c", create("b", "email", `"x"`)) // the old value went with the thread
	wantInstances(t, st, other, "c", create("a"))
	if u, _ := st.Usage(ctx, th.Owner); u.Instances != 1 {
		t.Fatalf("usage after the cascade counts %d instances, want 1", u.Instances)
	}
}

type wantInstanceEvent struct {
	action store.Action
	coll   string
	id     string
	json   []byte
}

func checkInstanceEvents(t *testing.T, got []store.Event, th store.Thread, want []wantInstanceEvent) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d events, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		g := got[i]
		in := g.Instance
		if in == nil || g.Message.Owner != "" || g.Message.ID != "" {
			t.Fatalf("event %d: %+v, want an instance event with no message", i, g)
		}
		if g.Action != w.action || !bytes.Equal(in.Thread, th.ID) || in.Owner != th.Owner ||
			in.Collection != w.coll || in.ID != w.id || !bytes.Equal(in.JSON, w.json) {
			t.Fatalf("event %d: %v %s/%s %s (thread %q of %s), want %v %s/%s %s (thread %q of %s)",
				i, g.Action, in.Collection, in.ID, in.JSON, in.Thread, in.Owner, w.action, w.coll, w.id, w.json, th.ID, th.Owner)
		}
	}
}

// testInstanceEvents: every op that changed something is published once,
// in op and commit order, with the instance as committed and the
// thread's owner; interleaved with mailbox events in commit order.
func testInstanceEvents(t *testing.T, st store.Store) {
	th := newDB(t, st)
	newCollection(t, st, collection(th, "c"))
	newCollection(t, st, collection(th, "d"))
	var r recorder
	defer st.Subscribe(r.add)()
	write(t, st, th, "c", create("a", "n", "1"), save("a", "n", "2"), create("b"), del("a"))
	write(t, st, th, "d", save("x", "v", `"w"`), del("missing"))
	checkInstanceEvents(t, r.waitFor(t, 5), th, []wantInstanceEvent{
		{store.Create, "c", "a", doc("a", "n", "1")},
		{store.Save, "c", "a", doc("a", "n", "2")},
		{store.Create, "c", "b", doc("b")},
		{store.Delete, "c", "a", nil},
		{store.Save, "d", "x", doc("x", "v", `"w"`)},
	})

	// Failed batches, collection changes and deletes of nothing publish
	// nothing; a mailbox send after them comes next, in commit order.
	st.WriteInstances(ctx, th.ID, "c", []store.InstanceOp{create("b")})
	st.WriteInstances(ctx, th.ID, "c", []store.InstanceOp{del("zzz")})
	st.CreateCollection(ctx, collection(th, "e"))
	st.DeleteCollection(ctx, th.ID, "d")
	peer := owner()
	sent := add(t, st, sendOf(th.Owner, peer, 1))
	write(t, st, th, "c", save("b", "n", "3"))
	got := r.waitFor(t, 3)
	checkEvents(t, got[:2], []wantEvent{
		{store.Create, store.Inbox, peer, sent.ID},
		{store.Create, store.Sentbox, th.Owner, sent.ID},
	})
	if got[0].Instance != nil || got[1].Instance != nil {
		t.Fatal("a mailbox event carries an instance")
	}
	checkInstanceEvents(t, got[2:], th, []wantInstanceEvent{{store.Save, "c", "b", doc("b", "n", "3")}})
}

func testInstanceUsage(t *testing.T, st store.Store) {
	th := newDB(t, st)
	other := newDB(t, st)
	newCollection(t, st, collection(th, "c"))
	newCollection(t, st, collection(other, "c"))
	a, b := doc("a", "n", "1"), doc("b", "n", "22")
	write(t, st, th, "c", create("a", "n", "1"), create("b", "n", "22"), create("x"))
	write(t, st, th, "c", del("x"), del("missing"))
	write(t, st, other, "c", create("o"))
	st.WriteInstances(ctx, th.ID, "c", []store.InstanceOp{create("a")}) // fails: counts nothing
	if err := st.AddInstanceReads(ctx, th.Owner, 7); err != nil {
		t.Fatal(err)
	}
	if err := st.AddInstanceReads(ctx, th.Owner, 5); err != nil {
		t.Fatal(err)
	}
	u, err := st.Usage(ctx, th.Owner)
	if err != nil {
		t.Fatal(err)
	}
	if u.Instances != 2 || u.InstanceBytes != int64(len(a)+len(b)) || u.InstanceReads != 12 || u.InstanceWrites != 4 {
		t.Fatalf("usage = %+v; want 2 instances of %d bytes, 12 reads, 4 writes", u, len(a)+len(b))
	}
	if u.FirstSeen.IsZero() {
		t.Fatal("a thread DB user has no first-seen time")
	}
	uo, _ := st.Usage(ctx, other.Owner)
	if uo.Instances != 1 || uo.InstanceWrites != 1 || uo.InstanceReads != 0 {
		t.Fatalf("the other owner's usage = %+v", uo)
	}
	// Reads of a user the store has never seen are counted too.
	fresh := owner()
	if err := st.AddInstanceReads(ctx, fresh, 3); err != nil {
		t.Fatal(err)
	}
	if uf, _ := st.Usage(ctx, fresh); uf.InstanceReads != 3 {
		t.Fatalf("a new user's reads = %d, want 3", uf.InstanceReads)
	}
}

// testConcurrentUnique: writers racing for one unique value, each with an
// instance of its own: exactly one wins, every other gets a violation,
// and the winner is the one instance stored; creates racing for one id:
// exactly one wins, the others get ErrExists.
func testConcurrentUnique(t *testing.T, st store.Store) {
	const writers = 16
	th := newDB(t, st)
	newCollection(t, st, collection(th, "c", store.Index{Path: "email", Unique: true}))
	race := func(op func(i int) store.InstanceOp) []error {
		errs := make([]error, writers)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				errs[i] = st.WriteInstances(ctx, th.ID, "c", []store.InstanceOp{op(i)})
			}()
		}
		close(start)
		wg.Wait()
		return errs
	}
	errs := race(func(i int) store.InstanceOp { return create(fmt.Sprintf("w%02d", i), "email", `"same"`) })
	winner := ""
	for i, err := range errs {
		switch {
		case err == nil:
			if winner != "" {
				t.Fatalf("two writers won one unique value: %s and w%02d", winner, i)
			}
			winner = fmt.Sprintf("w%02d", i)
		case !errors.Is(err, store.ErrUniqueViolation):
			t.Fatalf("writer %d: %v, want a unique violation", i, err)
		}
	}
	if winner == "" {
		t.Fatal("no writer won")
	}
	wantInstances(t, st, th, "c", create(winner, "email", `"same"`))

	errs = race(func(i int) store.InstanceOp { return create("one", "n", fmt.Sprint(i)) })
	won := 0
	for i, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, store.ErrExists):
			t.Fatalf("creator %d: %v, want ErrExists", i, err)
		}
	}
	if won != 1 {
		t.Fatalf("%d creates of one id won, want 1", won)
	}
}
