package hub_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hubfs/hubfs/hub"
	"github.com/hubfs/hubfs/hubd/hubdtest"
)

const permissive = `{"type":"object","properties":{"_id":{"type":"string"}}}`

// TestDocuments: the Go ThreadDB client against our hub: collections,
// instances, their errors, and isolation between users.
func TestDocuments(t *testing.T) {
	h := hubdtest.Start(t)
	ctx := testCtx(t)
	alice, bob := newUser(t, h), newUser(t, h)
	db, err := alice.c.NewDB(ctx, "app")
	if err != nil {
		t.Fatal(err)
	}
	if err := alice.c.NewCollection(ctx, db, hub.CollectionInfo{Name: "people", Schema: []byte(permissive)}); err != nil {
		t.Fatal(err)
	}
	if err := alice.c.NewCollection(ctx, db, hub.CollectionInfo{Name: "people", Schema: []byte(permissive)}); !errors.Is(err, hub.ErrExists) {
		t.Errorf("a second collection of one name: %v, want ErrExists", err)
	}
	cs, err := alice.c.ListCollections(ctx, db)
	if err != nil || len(cs) != 1 || cs[0].Name != "people" {
		t.Fatalf("collections: %+v, %v", cs, err)
	}
	ids, err := alice.c.Create(ctx, db, "people", []byte(`{"_id":"ann","n":1}`), []byte(`{"n":2}`))
	if err != nil || len(ids) != 2 || ids[0] != "ann" || ids[1] == "" {
		t.Fatalf("create: %q, %v", ids, err)
	}
	if _, err := alice.c.Create(ctx, db, "people", []byte(`{"_id":"ann"}`)); !errors.Is(err, hub.ErrExists) {
		t.Errorf("create of a taken _id: %v, want ErrExists", err)
	}
	if err := alice.c.Save(ctx, db, "people", []byte(`{"_id":"ann","n":3}`)); err != nil {
		t.Fatal(err)
	}
	raw, err := alice.c.FindByID(ctx, db, "people", "ann")
	if err != nil || !strings.Contains(string(raw), `"n":3`) {
		t.Errorf("find by id: %s, %v", raw, err)
	}
	all, err := alice.c.Find(ctx, db, "people", nil)
	if err != nil || len(all) != 2 {
		t.Errorf("find all: %d, %v", len(all), err)
	}
	if ok, err := alice.c.Has(ctx, db, "people", "ann"); err != nil || !ok {
		t.Errorf("has: %v, %v", ok, err)
	}
	if _, err := bob.c.FindByID(ctx, db, "people", "ann"); err == nil {
		t.Error("bob reads alice's document")
	}
	if _, err := bob.c.ListCollections(ctx, db); !errors.Is(err, hub.ErrNotFound) {
		t.Errorf("bob lists alice's collections: %v, want ErrNotFound", err)
	}
	if err := alice.c.Delete(ctx, db, "people", "ann"); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.c.FindByID(ctx, db, "people", "ann"); !errors.Is(err, hub.ErrNotFound) {
		t.Errorf("find by id after delete: %v, want ErrNotFound", err)
	}
	if err := alice.c.DeleteCollection(ctx, db, "people"); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.c.GetCollectionInfo(ctx, db, "people"); !errors.Is(err, hub.ErrNotFound) {
		t.Errorf("info of a deleted collection: %v, want ErrNotFound", err)
	}
}

// TestWatchDB: a DB's watch delivers instance events of every collection,
// with the instance's JSON for creates and saves.
func TestWatchDB(t *testing.T) {
	h := hubdtest.Start(t)
	ctx := testCtx(t)
	alice := newUser(t, h)
	db, err := alice.c.NewDB(ctx, "app")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"a", "b"} {
		if err := alice.c.NewCollection(ctx, db, hub.CollectionInfo{Name: c, Schema: []byte(permissive)}); err != nil {
			t.Fatal(err)
		}
	}
	evs := make(chan hub.InstanceEvent, 16)
	w, err := alice.c.WatchDB(ctx, db, func(ev hub.InstanceEvent) { evs <- ev })
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	select {
	case <-w.Ready():
	case <-time.After(10 * time.Second):
		t.Fatal("the watch was never confirmed")
	}
	if _, err := alice.c.Create(ctx, db, "a", []byte(`{"_id":"x"}`)); err != nil {
		t.Fatal(err)
	}
	if err := alice.c.Save(ctx, db, "a", []byte(`{"_id":"x","v":1}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.c.Create(ctx, db, "b", []byte(`{"_id":"y"}`)); err != nil {
		t.Fatal(err)
	}
	if err := alice.c.Delete(ctx, db, "a", "x"); err != nil {
		t.Fatal(err)
	}
	want := []struct {
		typ        hub.MailboxEventType
		coll, id   string
		instanceIn string
	}{
		{hub.MailboxEventCreate, "a", "x", `"_id":"x"`},
		{hub.MailboxEventSave, "a", "x", `"v":1`},
		{hub.MailboxEventCreate, "b", "y", `"_id":"y"`},
		{hub.MailboxEventDelete, "a", "x", ""},
	}
	for _, w := range want {
		select {
		case ev := <-evs:
			if ev.Type != w.typ || ev.Collection != w.coll || ev.ID != w.id || !strings.Contains(string(ev.Instance), w.instanceIn) {
				t.Errorf("event %+v (instance %s), want %+v", ev, ev.Instance, w)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no event for %+v", w)
		}
	}
}
