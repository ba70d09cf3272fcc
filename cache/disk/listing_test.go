package disk_test

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/hubfs/hubfs/cache/disk"
	"github.com/hubfs/hubfs/mailbox"
)

// ino is the inode of path: a rewrite (temp + rename) changes it.
func ino(t *testing.T, path string) uint64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t).Ino
}

// TestUnchangedListingIsNotRewritten: the writer skips a listing equal to
// the one on disk (also one loaded at open), and writes any that differs,
// down to one entry's read time.
func TestUnchangedListingIsNotRewritten(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cache")
	at := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	msgs := []mailbox.Message{
		{Entry: mailbox.Entry{ID: "01jaaaaaaaaaaaaaaaaaaaaaaa", From: "a", To: "b", Size: 3, CreatedAt: at}},
		{Entry: mailbox.Entry{ID: "01jbbbbbbbbbbbbbbbbbbbbbbb", From: "a", To: "b", Size: 4, CreatedAt: at}},
	}
	saved := false
	save := func(ms []mailbox.Message) {
		st, err := disk.Open(dir, 1<<20, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := st.Listing(mailbox.Inbox); ok != saved {
			t.Fatalf("a listing loads: %v, want %v", ok, saved)
		}
		saved = true
		st.SaveListing(mailbox.Inbox, ms)
		if err := st.Close(); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(dir, "listing-inbox")
	save(msgs)
	ino0 := ino(t, path)
	save(append([]mailbox.Message(nil), msgs...))
	if ino(t, path) != ino0 {
		t.Errorf("an unchanged listing was rewritten")
	}
	changed := append([]mailbox.Message(nil), msgs...)
	changed[1].ReadAt = at.Add(time.Minute)
	save(changed)
	if ino(t, path) == ino0 {
		t.Errorf("a listing whose read time changed was not rewritten")
	}
	st, err := disk.Open(dir, 1<<20, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	es, ok := st.Listing(mailbox.Inbox)
	if !ok || len(es) != 2 || !es[1].ReadAt.Equal(changed[1].ReadAt) {
		t.Errorf("listing on disk = %+v, %v; want the changed one", es, ok)
	}
}
