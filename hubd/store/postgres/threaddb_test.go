package postgres_test

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hubfs/hubfs/hubd/store"
	"github.com/hubfs/hubfs/hubd/store/postgres/pgtest"
)

// TestThreadDBTwoNodes: two hub processes on one database. Instance
// events of one reach the other's subscribers with the instance read
// back, in commit order; writers on both racing for one unique value:
// exactly one wins across the nodes.
func TestThreadDBTwoNodes(t *testing.T) {
	u := pgtest.NewDatabase(t)
	a, b := open(t, u), open(t, u)
	th := store.Thread{ID: []byte("two-nodes"), Owner: "owner-2n", Name: "db", IsDB: true, CreatedAt: time.Now()}
	if _, err := a.CreateThread(ctx, th); err != nil {
		t.Fatal(err)
	}
	coll := store.Collection{Thread: th.ID, Name: "c", Schema: []byte(`{}`),
		Indexes: []store.Index{{Path: "email", Unique: true}}, CreatedAt: time.Now()}
	if err := a.CreateCollection(ctx, coll); err != nil {
		t.Fatal(err)
	}
	var onB events
	defer b.Subscribe(onB.add)()
	doc := func(id, email string) []byte { return []byte(fmt.Sprintf(`{"_id":%q,"email":%q}`, id, email)) }
	ops := []store.InstanceOp{
		{Kind: store.OpCreate, ID: "x", JSON: doc("x", "1")},
		{Kind: store.OpSave, ID: "y", JSON: doc("y", "2")},
		{Kind: store.OpDelete, ID: "x"},
	}
	if err := a.WriteInstances(ctx, th.ID, "c", ops); err != nil {
		t.Fatal(err)
	}
	got := onB.waitFor(t, "a's instance events on b", func(e []store.Event) bool { return len(e) >= 2 })
	// x was deleted before b read it back: its create has no event, its
	// delete follows; y's save carries y as stored.
	if len(got) != 2 || got[0].Action != store.Save || got[0].Instance == nil ||
		!bytes.Equal(got[0].Instance.JSON, doc("y", "2")) || got[0].Instance.Owner != th.Owner ||
		got[1].Action != store.Delete || got[1].Instance.ID != "x" || got[1].Instance.JSON != nil {
		t.Fatalf("b got %+v", got)
	}

	const writers = 8
	errs := make([]error, 2*writers)
	var wg sync.WaitGroup
	for i := range errs {
		st := a
		if i%2 == 1 {
			st = b
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := fmt.Sprintf("w%02d", i)
			errs[i] = st.WriteInstances(ctx, th.ID, "c", []store.InstanceOp{{Kind: store.OpCreate, ID: id, JSON: doc(id, "same")}})
		}()
	}
	wg.Wait()
	won := 0
	for i, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, store.ErrUniqueViolation):
			t.Fatalf("writer %d: %v", i, err)
		}
	}
	if won != 1 {
		t.Fatalf("%d writers on two nodes won one unique value, want 1", won)
	}
}
