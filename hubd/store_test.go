package hubd_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hubfs/hubfs/hubd"
	"github.com/hubfs/hubfs/hubd/store/sqlite"
)

func TestOpenStore(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	for _, url := range []string{
		"sqlite:" + filepath.Join(dir, "a", "hub.db"),
		"sqlite://" + filepath.Join(dir, "b", "hub.db"), // sqlite:///abs/path
		hubd.DataDirStore(filepath.Join(dir, "c")),
	} {
		st, err := hubd.OpenStore(ctx, url)
		if err != nil {
			t.Fatalf("OpenStore(%q): %v", url, err)
		}
		if _, err := hubd.NewKey(ctx, st); err != nil {
			t.Fatal(err)
		}
		st.Close()
		st, err = hubd.OpenExistingStore(ctx, url)
		if err != nil {
			t.Fatalf("OpenExistingStore(%q) after OpenStore: %v", url, err)
		}
		if keys, err := st.ListKeys(ctx); err != nil || len(keys) != 1 {
			t.Fatalf("keys after reopening %q: %v, %v", url, keys, err)
		}
		st.Close()
	}
	if fi, err := os.Stat(filepath.Join(dir, "a")); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("the store's directory: %v, %v; want mode 0700", fi, err)
	}

	missing := filepath.Join(dir, "missing", "hub.db")
	if _, err := hubd.OpenExistingStore(ctx, "sqlite:"+missing); !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), missing) {
		t.Fatalf("OpenExistingStore of a missing store: %v, want ErrNotExist naming it", err)
	}
	if _, err := os.Stat(filepath.Dir(missing)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("OpenExistingStore created %s", filepath.Dir(missing))
	}
	// Nothing listens on port 1: refused at once, reported as unavailable,
	// the password not echoed.
	for _, url := range []string{"postgres://u:pw@127.0.0.1:1/db", "POSTGRESQL://u:pw@127.0.0.1:1/db"} {
		if _, err := hubd.OpenStore(ctx, url); !errors.Is(err, hubd.ErrUnavailable) || strings.Contains(err.Error(), "pw") {
			t.Errorf("OpenStore(%q): %v, want ErrUnavailable without the password", url, err)
		}
	}
	for _, url := range []string{"", "hub.db", "sqlite:", "mysql://h/db", "postgres://u:pw@h:notaport/db"} {
		if _, err := hubd.OpenStore(ctx, url); err == nil || errors.Is(err, hubd.ErrUnavailable) || strings.Contains(err.Error(), "pw") {
			t.Errorf("OpenStore(%q): %v, want a plain refusal", url, err)
		}
	}
}

// TestConfigStore: a hub given a store serves it and leaves it open at
// shutdown, for its owner to close; given a URL, it opens that one.
func TestConfigStore(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st, err := sqlite.Open(ctx, filepath.Join(dir, "given.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	srv, err := hubd.New(hubd.Config{Listen: "127.0.0.1:0", DataDir: dir, Store: st})
	if err != nil {
		t.Fatal(err)
	}
	k, err := srv.CreateKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	shutdown(t, srv)
	if got, err := st.GetKey(ctx, k.Key); err != nil || got.Secret != k.Secret {
		t.Fatalf("the given store after shutdown: %+v, %v; want the server's key, store open", got, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "hub.db")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a hub given a store opened the data directory's too (stat: %v)", err)
	}

	url := "sqlite:" + filepath.Join(dir, "url.db")
	srv, err = hubd.New(hubd.Config{Listen: "127.0.0.1:0", DataDir: dir, StoreURL: url})
	if err != nil {
		t.Fatal(err)
	}
	k, err = srv.CreateKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	shutdown(t, srv)
	ost, err := hubd.OpenExistingStore(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer ost.Close()
	keys, err := ost.ListKeys(ctx)
	if err != nil || len(keys) != 1 || keys[0].Key != k.Key {
		t.Fatalf("keys of the StoreURL store: %v, %v", keys, err)
	}
	if _, err := hubd.New(hubd.Config{Listen: "127.0.0.1:0", DataDir: dir, StoreURL: "postgres://u@127.0.0.1:1/db"}); !errors.Is(err, hubd.ErrUnavailable) {
		t.Fatalf("a hub on an unreachable PostgreSQL URL: %v, want ErrUnavailable", err)
	}
}

func shutdown(t *testing.T, srv *hubd.Server) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
}
