package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/hubfs/hubfs/hubd/store"
)

// TestMigrateSeedsLastID: a store made before schema 3 mints its next id
// after its newest message, not from scratch.
func TestMigrateSeedsLastID(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "hub.db")
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range migrations[:2] {
		if _, err := db.Exec(m); err != nil {
			t.Fatal(err)
		}
	}
	// An id far in the future: the next one must still sort after it.
	const newest = "6000000000000000000000000a"
	if _, err := db.Exec(`PRAGMA user_version = 2`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO messages (owner, box, id, sender, recipient, body, signature, created_at) VALUES ('b', 0, ?, 'a', 'b', x'00', x'00', 1)`, newest); err != nil {
		t.Fatal(err)
	}
	db.Close()

	st, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	sent, err := st.AddMessage(ctx, store.Send{From: "a", To: "b", ToBody: []byte("x"), ToSignature: []byte("s"), FromBody: []byte("x"), FromSignature: []byte("s")})
	if err != nil {
		t.Fatal(err)
	}
	if sent.ID <= newest {
		t.Fatalf("first id after migrating %s, not after the newest stored %s", sent.ID, newest)
	}
}

// TestLastIDSurvivesReopen: the newest id minted is kept, so deleting the
// newest message and reopening does not let the next id sort before it.
func TestLastIDSurvivesReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "hub.db")
	st, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	var last string
	for i := range 3 {
		s, err := st.AddMessage(ctx, store.Send{From: "a", To: "b", ToBody: []byte(fmt.Sprint(i)), ToSignature: []byte("s"), FromBody: []byte("x"), FromSignature: []byte("s")})
		if err != nil {
			t.Fatal(err)
		}
		last = s.ID
	}
	for _, box := range []store.Box{store.Inbox, store.Sentbox} {
		owner := map[store.Box]string{store.Inbox: "b", store.Sentbox: "a"}[box]
		if _, err := st.DeleteMessage(ctx, box, owner, last); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()
	if st, err = Open(ctx, path); err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	s, err := st.AddMessage(ctx, store.Send{From: "a", To: "b", ToBody: []byte("y"), ToSignature: []byte("s"), FromBody: []byte("y"), FromSignature: []byte("s")})
	if err != nil || s.ID <= last {
		t.Fatalf("id after reopening %q, %v; want after the deleted newest %s", s.ID, err, last)
	}
}

// TestMigrateAddsThreadDBs: a store made before schema 4 keeps its
// threads and users, and its threads take collections after migrating.
func TestMigrateAddsThreadDBs(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "hub.db")
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range migrations[:3] {
		if _, err := db.Exec(m); err != nil {
			t.Fatal(err)
		}
	}
	for _, q := range []string{
		`PRAGMA user_version = 3`,
		`INSERT INTO threads (id, owner, name, is_db, created_at) VALUES (x'01', 'a', 'db', 1, 1)`,
		`INSERT INTO users (owner, sent, first_seen) VALUES ('a', 5, 1)`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()

	st, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.CreateCollection(ctx, store.Collection{Thread: []byte{1}, Name: "c", Schema: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	if err := st.WriteInstances(ctx, []byte{1}, "c", []store.InstanceOp{{Kind: store.OpCreate, ID: "x", JSON: []byte(`{"_id":"x"}`)}}); err != nil {
		t.Fatal(err)
	}
	u, err := st.Usage(ctx, "a")
	if err != nil || u.SentMessages != 5 || u.Instances != 1 || u.InstanceWrites != 1 {
		t.Fatalf("usage after migrating = %+v, %v", u, err)
	}
}
