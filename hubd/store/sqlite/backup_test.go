package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hubfs/hubfs/hubd/store"
)

// seedStore makes a store at path with one key and n messages from a to
// b, closes it and returns the message ids.
func seedStore(t *testing.T, path string, n int) []string {
	t.Helper()
	ctx := context.Background()
	st, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.CreateKey(ctx, store.APIKey{Key: "k", Secret: "s"}); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for range n {
		sent, err := st.AddMessage(ctx, store.Send{From: "a", To: "b", ToBody: []byte("to b"), ToSignature: []byte("s"), FromBody: []byte("to b, a's copy"), FromSignature: []byte("s")})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, sent.ID)
	}
	return ids
}

func inboxIDs(t *testing.T, path string) []string {
	t.Helper()
	ctx := context.Background()
	st, err := OpenExisting(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	msgs, err := st.ListMessages(ctx, store.Query{Box: store.Inbox, Owner: "b", Ascending: true, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, m := range msgs {
		ids = append(ids, m.ID)
	}
	return ids
}

func TestBackupAndRestore(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	src := filepath.Join(dir, "hub.db")
	ids := seedStore(t, src, 5)

	dst := filepath.Join(dir, "backup.db")
	if err := Backup(ctx, src, dst, BackupOptions{}); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(dst)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("backup mode %v, want 0600: it holds the API secrets", fi.Mode().Perm())
	}
	if err := Backup(ctx, src, dst, BackupOptions{}); !errors.Is(err, os.ErrExist) {
		t.Errorf("a backup over an existing file: %v, want ErrExist", err)
	}
	if err := Backup(ctx, src, dst, BackupOptions{Overwrite: true}); err != nil {
		t.Errorf("a backup over an existing file with Overwrite: %v", err)
	}
	for _, self := range []string{src, src + "-wal"} {
		if err := Backup(ctx, src, self, BackupOptions{Overwrite: true}); err == nil || !strings.Contains(err.Error(), "the store itself") {
			t.Errorf("a backup over the store's own %s: %v", filepath.Base(self), err)
		}
	}
	if got := inboxIDs(t, src); len(got) != len(ids) {
		t.Fatalf("the store has %d messages after a refused backup over itself, want %d", len(got), len(ids))
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".backup.db.tmp-*")); len(left) > 0 {
		t.Errorf("temporary files left behind: %v", left)
	}

	restored := filepath.Join(dir, "new", "hub.db")
	if err := Restore(ctx, dst, restored); err != nil {
		t.Fatal(err)
	}
	if got := inboxIDs(t, restored); len(got) != len(ids) || got[0] != ids[0] || got[len(got)-1] != ids[len(ids)-1] {
		t.Errorf("restored inbox %v, want %v", got, ids)
	}
	st, err := OpenExisting(ctx, restored)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.GetKey(ctx, "k"); err != nil {
		t.Errorf("the restored store lost its API key: %v", err)
	}
	st.Close()

	// Never over a store with data, the source included.
	for _, target := range []string{restored, src} {
		if err := Restore(ctx, dst, target); !errors.Is(err, ErrNotEmpty) {
			t.Errorf("restore over %s: %v, want ErrNotEmpty", target, err)
		}
	}
	// A store in use is backed up, not restored: a copy would miss its WAL.
	live, err := Open(ctx, restored)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := live.AddMessage(ctx, store.Send{From: "a", To: "b", ToBody: []byte("x"), ToSignature: []byte("s"), FromBody: []byte("x"), FromSignature: []byte("s")}); err != nil {
		t.Fatal(err)
	}
	if err := Restore(ctx, restored, filepath.Join(dir, "from-live.db")); err == nil || !strings.Contains(err.Error(), "write-ahead log") {
		t.Errorf("restore of a store in use: %v, want a refusal about its write-ahead log", err)
	}
	live.Close()

	// An empty file is no store: it may be replaced.
	empty := filepath.Join(dir, "empty.db")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Restore(ctx, dst, empty); err != nil {
		t.Errorf("restore over an empty file: %v", err)
	}
}

func TestBackupRefusesWhatIsNotAStore(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	junk := filepath.Join(dir, "junk")
	if err := os.WriteFile(junk, []byte("not a database, but long enough to look at its header, which is 100 bytes long in SQLite"), 0o600); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(dir, "other.db")
	db, err := sql.Open("sqlite", "file:"+other)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`CREATE TABLE t (x); PRAGMA user_version = 1`); err != nil {
		t.Fatal(err)
	}
	db.Close()

	for _, src := range []string{junk, other} {
		if err := Backup(ctx, src, filepath.Join(dir, "b"), BackupOptions{}); !errors.Is(err, ErrNotAStore) {
			t.Errorf("backup of %s: %v, want ErrNotAStore", filepath.Base(src), err)
		}
		if err := Restore(ctx, src, filepath.Join(dir, "r")); !errors.Is(err, ErrNotAStore) {
			t.Errorf("restore of %s: %v, want ErrNotAStore", filepath.Base(src), err)
		}
	}
	if err := Backup(ctx, filepath.Join(dir, "missing"), filepath.Join(dir, "b"), BackupOptions{}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("backup of a missing file: %v, want ErrNotExist", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "b")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a failed backup left its destination behind (stat: %v)", err)
	}
}

// TestRestoreMigratesACopy: a backup of an older schema is restored at
// the current one, and the backup itself is left as it was.
func TestRestoreMigratesACopy(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	old := filepath.Join(dir, "old.db")
	db, err := sql.Open("sqlite", "file:"+old)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range migrations[:2] {
		if _, err := db.Exec(m); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.Exec(`PRAGMA user_version = 2`); err != nil {
		t.Fatal(err)
	}
	const id = "01hzzzzzzzzzzzzzzzzzzzzzzz"
	if _, err := db.Exec(`INSERT INTO messages (owner, box, id, sender, recipient, body, signature, created_at) VALUES ('b', 0, ?, 'a', 'b', x'00', x'00', 1)`, id); err != nil {
		t.Fatal(err)
	}
	db.Close()

	restored := filepath.Join(dir, "hub.db")
	if err := Restore(ctx, old, restored); err != nil {
		t.Fatal(err)
	}
	if got := schemaVersion(t, restored); got != len(migrations) {
		t.Errorf("restored schema %d, want %d", got, len(migrations))
	}
	if got := schemaVersion(t, old); got != 2 {
		t.Errorf("the backup's schema became %d: restore changed its source", got)
	}
	if got := inboxIDs(t, restored); len(got) != 1 || got[0] != id {
		t.Errorf("restored inbox %v, want [%s]", got, id)
	}
}

func schemaVersion(t *testing.T, path string) int {
	t.Helper()
	db, err := openReadOnly(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var v int
	if err := db.QueryRow(`PRAGMA user_version`).Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestPathOf(t *testing.T) {
	for _, tc := range []struct {
		url, path string
		ok, err   bool
	}{
		{"sqlite:/d/hub.db", "/d/hub.db", true, false},
		{"sqlite:rel/hub.db", "rel/hub.db", true, false},
		{"sqlite:///abs/hub.db", "/abs/hub.db", true, false},
		{"SQLite:/d/hub.db", "/d/hub.db", true, false},
		{"sqlite:", "", true, true},
		{"postgres://u@h/db", "", false, false},
		{"/just/a/path", "", false, false},
	} {
		path, ok, err := PathOf(tc.url)
		if path != tc.path || ok != tc.ok || (err != nil) != tc.err {
			t.Errorf("PathOf(%q) = %q, %v, %v", tc.url, path, ok, err)
		}
	}
}
