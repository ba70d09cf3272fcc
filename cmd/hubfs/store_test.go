package main

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/hubfs/hubfs/hubd"
	"github.com/hubfs/hubfs/hubd/store/postgres/pgtest"
)

// TestServeAndKeysOnAStoreURL: --store names the store for serve and keys
// alike; the data directory then holds only the host key.
func TestServeAndKeysOnAStoreURL(t *testing.T) {
	dir := t.TempDir()
	url := "sqlite:" + filepath.Join(dir, "elsewhere", "hub.db")
	out, errOut, err := runCLI(t, "keys", "create", "--store", url, "--json")
	if err != nil {
		t.Fatalf("keys create --store: %v (%s)", err, errOut)
	}
	if !strings.Contains(out, `"secret"`) {
		t.Fatalf("keys create --store printed %q", out)
	}
	list, _, err := runCLI(t, "keys", "list", "--store", url)
	if err != nil || strings.Count(list, "active") != 1 {
		t.Fatalf("keys list --store = %q, %v", list, err)
	}
	// The data directory has no store of its own.
	data := filepath.Join(dir, "data")
	if _, _, err := runCLI(t, "keys", "list", "--data", data); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("keys list --data of a directory without a store: %v, want ErrNotExist", err)
	}

	t.Setenv("HUBFS_STORE", url)  // the env var works as the flag
	key := createKeyJSON(t, data) // --data is ignored for the store once --store is set
	addr, _, done := startServe(t, context.Background(), "--listen", "127.0.0.1:0", "--data", data)
	defer func() {
		syscall.Kill(syscall.Getpid(), syscall.SIGINT)
		<-done
	}()
	if st, _ := status.FromError(apiCall(t, addr, key.Key, key.Secret)); st.Code() != codes.Unauthenticated || st.Message() != "Token required" {
		t.Fatalf("a key of the --store store, served with --store: %v", st)
	}
	if _, err := os.Stat(filepath.Join(data, "host.key")); err != nil {
		t.Fatalf("the host key is not in the data directory: %v", err)
	}
	if _, err := os.Stat(filepath.Join(data, "hub.db")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("serve --store made a store in the data directory too (stat: %v)", err)
	}
}

// TestPostgresStoreUnreachable: a PostgreSQL URL nothing answers on is
// refused at once with one clear line that does not echo the password.
func TestPostgresStoreUnreachable(t *testing.T) {
	for _, url := range []string{"postgres://hub:s3cret@127.0.0.1:1/hub?sslmode=disable", "postgresql://hub:s3cret@127.0.0.1:1/hub"} {
		for _, args := range [][]string{
			{"serve", "--listen", "127.0.0.1:0", "--data", t.TempDir(), "--store", url},
			{"keys", "create", "--store", url},
			{"keys", "list", "--store", url},
		} {
			_, _, err := runCLI(t, args...)
			if !errors.Is(err, hubd.ErrUnavailable) || strings.Contains(err.Error(), "s3cret") {
				t.Errorf("%v: %v, want ErrUnavailable without the password", args[:2], err)
			}
		}
	}
	_, _, err := runCLI(t, "keys", "create", "--store", "mysql://db/hub")
	if err == nil || !strings.Contains(err.Error(), "sqlite:PATH") {
		t.Errorf("an unknown store scheme: %v", err)
	}
}

// TestKeysOnPostgres: hubfs keys creates, lists and revokes keys in a
// PostgreSQL store, and nothing lands in the data directory.
func TestKeysOnPostgres(t *testing.T) {
	url := pgtest.NewDatabase(t)
	data := filepath.Join(t.TempDir(), "data")
	out, errOut, err := runCLI(t, "keys", "create", "--store", url, "--data", data, "--json")
	if err != nil {
		t.Fatalf("keys create --store postgres: %v (%s)", err, errOut)
	}
	var k struct{ Key, Secret string }
	if err := json.Unmarshal([]byte(out), &k); err != nil || k.Key == "" || k.Secret == "" {
		t.Fatalf("keys create --json printed %q: %v", out, err)
	}
	t.Setenv("HUBFS_STORE", url)
	if list, _, err := runCLI(t, "keys", "list"); err != nil || !strings.Contains(list, k.Key) || strings.Count(list, "active") != 1 {
		t.Fatalf("keys list = %q, %v", list, err)
	}
	if _, _, err := runCLI(t, "keys", "revoke", k.Key); err != nil {
		t.Fatal(err)
	}
	if list, _, err := runCLI(t, "keys", "list"); err != nil || !strings.Contains(list, "revoked") {
		t.Fatalf("keys list after revoke = %q, %v", list, err)
	}
	if _, _, err := runCLI(t, "keys", "revoke", "bnope"); !errors.Is(err, hubd.ErrNotFound) {
		t.Fatalf("keys revoke of an unknown key: %v, want ErrNotFound", err)
	}
	if _, err := os.Stat(data); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("keys on PostgreSQL made the data directory (stat: %v)", err)
	}
}
