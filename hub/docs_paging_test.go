package hub_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/hubfs/hubfs/hub"
	"github.com/hubfs/hubfs/hubd/hubdtest"
	"github.com/hubfs/hubfs/wire"
)

// TestFindAllPages: Find with no query lists every instance in _id order,
// each once, however the page size divides the collection.
func TestFindAllPages(t *testing.T) {
	h := hubdtest.Start(t)
	ctx := testCtx(t)
	alice := newUser(t, h)
	db, err := alice.c.NewDB(ctx, "paged")
	if err != nil {
		t.Fatal(err)
	}
	if err := alice.c.NewCollection(ctx, db, hub.CollectionInfo{Name: "items", Schema: []byte(permissive)}); err != nil {
		t.Fatal(err)
	}
	const n = 10
	for i := range n {
		if _, err := alice.c.Create(ctx, db, "items", []byte(fmt.Sprintf(`{"_id":"i%02d"}`, i))); err != nil {
			t.Fatal(err)
		}
	}
	for _, page := range []int{1, 2, 3, 5, 9, 10, 11, 1000} {
		hub.SetFindPage(t, page)
		all, err := alice.c.Find(ctx, db, "items", nil)
		if err != nil {
			t.Fatalf("page %d: %v", page, err)
		}
		var got []string
		for _, raw := range all {
			got = append(got, string(raw))
		}
		want := make([]string, n)
		for i := range want {
			want[i] = fmt.Sprintf(`{"_id":"i%02d"}`, i)
		}
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("page %d: %v", page, got)
		}
	}
	// A query is sent as it is, not paged.
	hub.SetFindPage(t, 2)
	some, err := alice.c.Find(ctx, db, "items", []byte(`{"limit":3}`))
	if err != nil || len(some) != 3 {
		t.Errorf("find with limit 3: %d, %v", len(some), err)
	}
}

// TestFindAllOfALargeCollection: a collection whose instances together are
// more than one reply carries lists whole. Before paging the hub refused
// the one reply with ResourceExhausted, so the mount could not list the
// directory (EFBIG).
func TestFindAllOfALargeCollection(t *testing.T) {
	if testing.Short() {
		t.Skip("writes more than one reply's worth of instances (~90 MB)")
	}
	h := hubdtest.Start(t)
	ctx := testCtx(t)
	alice := newUser(t, h)
	db, err := alice.c.NewDB(ctx, "big")
	if err != nil {
		t.Fatal(err)
	}
	if err := alice.c.NewCollection(ctx, db, hub.CollectionInfo{Name: "blobs", Schema: []byte(permissive)}); err != nil {
		t.Fatal(err)
	}
	const size = 1<<20 - 64 // under the hub's 1 MiB per instance
	n := wire.MaxReceiveSize/size + 2
	pad := strings.Repeat("x", size)
	for i := range n {
		if _, err := alice.c.Create(ctx, db, "blobs", []byte(fmt.Sprintf(`{"_id":"d%03d","pad":%q}`, i, pad))); err != nil {
			t.Fatal(err)
		}
	}
	all, err := alice.c.Find(ctx, db, "blobs", nil)
	if err != nil {
		t.Fatalf("find all of %d instances of %d KiB: %v", n, size>>10, err)
	}
	if len(all) != n {
		t.Fatalf("find all: %d instances, want %d", len(all), n)
	}
	for i, raw := range all {
		if want := fmt.Sprintf(`{"_id":"d%03d"`, i); !strings.HasPrefix(string(raw), want) {
			t.Errorf("instance %d: %.40s, want %s", i, raw, want)
		}
	}
}
