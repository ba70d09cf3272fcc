package disk

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/hubfs/hubfs/mailbox"
)

// What a mount needs to start while the hub does not answer, beside the
// listings: which hub the cache's listings came from and the mailbox
// thread its watches follow (GetMailboxID's answer, a hub call). Metadata,
// like the listings: no key, no token, no plaintext. It is read and
// written without the store's lock, before a mount opens the store: one
// small file replaced whole (temp, fsync, rename), so a reader sees the
// old or the new one.

const hubName = "hub"

// Hub is the hub file's record.
type Hub struct {
	Addr      string `json:"hub"`        // the hub address as the mount was given it
	MailboxID string `json:"mailbox_id"` // the mailbox thread on that hub
}

// SaveHub records h in the cache directory dir (creating it, mode 0700).
func SaveHub(dir string, h Hub) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("disk cache: %w", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return fmt.Errorf("disk cache: %w", err)
	}
	if old, ok := LoadHub(dir); ok && old == h {
		return nil // a mount at every start: no write when nothing changed
	}
	payload, err := json.Marshal(h)
	if err != nil {
		return fmt.Errorf("disk cache: %w", err)
	}
	tmp, err := os.CreateTemp(dir, tmpPrefix+"*") // mode 0600
	if err != nil {
		return fmt.Errorf("disk cache: %w", err)
	}
	_, err = tmp.Write(frame(payload))
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), filepath.Join(dir, hubName))
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("disk cache: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync() // the rename itself survives a crash
		d.Close()
	}
	return nil
}

// LoadHub reads the hub file of dir; false when there is none or it does
// not check out.
func LoadHub(dir string) (Hub, bool) {
	raw, err := os.ReadFile(filepath.Join(dir, hubName))
	if err != nil {
		return Hub{}, false
	}
	payload, ok := unframe(raw)
	var h Hub
	if !ok || json.Unmarshal(payload, &h) != nil || h.Addr == "" || h.MailboxID == "" {
		return Hub{}, false
	}
	return h, true
}

// HasListings reports whether dir holds a box listing that checks out,
// read without the lock: what a mount could show with no hub.
func HasListings(dir string) bool {
	for _, box := range []mailbox.Box{mailbox.Inbox, mailbox.Sentbox} {
		raw, err := os.ReadFile(filepath.Join(dir, listingName(box)))
		if err != nil {
			continue
		}
		var es []mailbox.Entry
		if payload, ok := unframe(raw); ok && json.Unmarshal(payload, &es) == nil {
			return true
		}
	}
	return false
}
