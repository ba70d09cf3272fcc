package disk_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/hubfs/hubfs/cache/disk"
	"github.com/hubfs/hubfs/mailbox"
)

func TestHubFileRoundTripsPrivately(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cache")
	if _, ok := disk.LoadHub(dir); ok {
		t.Fatal("a hub file in a new directory")
	}
	h := disk.Hub{Addr: "hub.example:443", MailboxID: "bafkmailbox"}
	if err := disk.SaveHub(dir, h); err != nil {
		t.Fatal(err)
	}
	if got, ok := disk.LoadHub(dir); !ok || got != h {
		t.Errorf("LoadHub = %+v, %v; want %+v", got, ok, h)
	}
	for path, want := range map[string]os.FileMode{dir: 0o700, filepath.Join(dir, "hub"): 0o600} {
		if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != want {
			t.Errorf("%s: %v, %v; want mode %v", path, fi.Mode().Perm(), err, want)
		}
	}
	// A damaged file is no record: the mount then cannot start offline.
	b, _ := os.ReadFile(filepath.Join(dir, "hub"))
	b[len(b)-2] ^= 0xff
	os.WriteFile(filepath.Join(dir, "hub"), b, 0o600)
	if got, ok := disk.LoadHub(dir); ok {
		t.Errorf("LoadHub of a damaged file = %+v", got)
	}
}

func TestHasListingsOnlyWithAListingThatChecksOut(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cache")
	if disk.HasListings(dir) {
		t.Fatal("listings in a new directory")
	}
	st, err := disk.Open(dir, 1<<20, nil)
	if err != nil {
		t.Fatal(err)
	}
	st.SaveListing(mailbox.Inbox, []mailbox.Message{{Entry: mailbox.Entry{ID: "01jaaaaaaaaaaaaaaaaaaaaaaa"}}})
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if !disk.HasListings(dir) {
		t.Fatal("no listings after one was saved")
	}
	if err := os.Truncate(filepath.Join(dir, "listing-inbox"), 10); err != nil {
		t.Fatal(err)
	}
	if disk.HasListings(dir) {
		t.Error("a truncated listing counts")
	}
}
