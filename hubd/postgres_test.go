package hubd_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/hubfs/hubfs/hubd"
	"github.com/hubfs/hubfs/hubd/store/postgres/pgtest"
)

// TestPostgresStoreURL: OpenStore takes both URL schemes of PostgreSQL,
// and what one open stores the next one finds.
func TestPostgresStoreURL(t *testing.T) {
	ctx := context.Background()
	url := pgtest.NewDatabase(t)
	st, err := hubd.OpenStore(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	k, err := hubd.NewKey(ctx, st)
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	st, err = hubd.OpenExistingStore(ctx, "postgresql"+url[len("postgres"):])
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if keys, err := st.ListKeys(ctx); err != nil || len(keys) != 1 || keys[0].Key != k.Key {
		t.Fatalf("keys after reopening: %v, %v", keys, err)
	}
}

// TestPostgresHostKey: hubs on one PostgreSQL store sign their tokens with
// one host key, the store's, and neither needs or makes a data directory.
func TestPostgresHostKey(t *testing.T) {
	url := pgtest.NewDatabase(t)
	dir := filepath.Join(t.TempDir(), "unused")
	var keys []string
	for range 2 {
		srv, err := hubd.New(hubd.Config{Listen: "127.0.0.1:0", DataDir: dir, StoreURL: url})
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, srv.HostKey())
		defer shutdown(t, srv)
	}
	if keys[0] != keys[1] {
		t.Fatalf("two hubs on one store have host keys %s and %s", keys[0], keys[1])
	}
	srv, err := hubd.New(hubd.Config{Listen: "127.0.0.1:0", StoreURL: url}) // no DataDir at all
	if err != nil {
		t.Fatal(err)
	}
	defer shutdown(t, srv)
	if srv.HostKey() != keys[0] {
		t.Fatalf("a third hub's host key %s, want %s", srv.HostKey(), keys[0])
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a hub on PostgreSQL made its data directory (stat: %v)", err)
	}
}
