// Package queue is the durable outbound queue: a sealed message that the hub
// has not acknowledged yet waits here, one file per message, until it is
// delivered, cancelled or refused. "Accepted means stored": a send reports
// success once its message is acknowledged by the hub or durably in this
// queue, whichever comes first, and nothing here is ever plaintext.
package queue

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/hubfs/hubfs/mailbox"
	"github.com/hubfs/hubfs/wire"
)

// Item is one queued message as its file holds it (the file format is
// mailbox.QueueItem's JSON).
type Item = mailbox.QueueItem

// Dir is the queue's directory: one file <id>.json per item, written to a
// temporary name, fsynced and renamed, then the directory fsynced, so that
// an item is either wholly there after a crash or not at all.
type Dir struct {
	path string
}

const (
	itemSuffix = ".json"
	tmpPrefix  = ".tmp-"
)

// DefaultPath is the queue directory of the identity whose public key
// string is self: $XDG_STATE_HOME/hubfs/<self>/queue, else
// ~/.local/state/hubfs/<self>/queue.
func DefaultPath(self string) (string, error) {
	state := os.Getenv("XDG_STATE_HOME")
	if state == "" || !filepath.IsAbs(state) {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("queue: no home directory for the state dir: %w", err)
		}
		state = filepath.Join(home, ".local", "state")
	}
	return filepath.Join(state, "hubfs", self, "queue"), nil
}

// OpenDir opens (creating, mode 0700) the queue directory at path and removes
// temporary files a crash left behind. It refuses a directory that others
// can read: it holds who one writes to and when.
func OpenDir(path string) (*Dir, error) {
	if err := os.MkdirAll(path, 0o700); err != nil {
		return nil, fmt.Errorf("queue: %w", err)
	}
	// MkdirAll leaves existing parents alone; the dirs it made are 0700
	// under the umask, and the queue dir itself must be exactly that.
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("queue: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("queue: %s is not a directory", path)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		if err := os.Chmod(path, 0o700); err != nil {
			return nil, fmt.Errorf("queue: %s is open to others and cannot be fixed: %w", path, err)
		}
	}
	ents, err := os.ReadDir(path)
	if err != nil {
		return nil, fmt.Errorf("queue: %w", err)
	}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), tmpPrefix) {
			os.Remove(filepath.Join(path, e.Name()))
		}
	}
	return &Dir{path: path}, nil
}

// Path is the directory.
func (d *Dir) Path() string { return d.path }

func (d *Dir) file(id string) string { return filepath.Join(d.path, id+itemSuffix) }

// Put writes it durably: when Put returns nil the item survives a crash of
// this process and of the machine.
func (d *Dir) Put(it Item) error {
	if !wire.ValidMessageID(it.ID) {
		return fmt.Errorf("queue: bad item id %q", it.ID)
	}
	b, err := json.Marshal(it)
	if err != nil {
		return fmt.Errorf("queue: %w", err)
	}
	f, err := os.CreateTemp(d.path, tmpPrefix+it.ID+"-*")
	if err != nil {
		return fmt.Errorf("queue: %w", err)
	}
	tmp := f.Name()
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, d.file(it.ID))
	}
	if err == nil {
		err = d.syncDir()
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("queue: store %s: %w", it.ID, err)
	}
	return nil
}

// Remove deletes an item durably; a missing item is not an error.
func (d *Dir) Remove(id string) error {
	if !wire.ValidMessageID(id) {
		return fmt.Errorf("queue: bad item id %q", id)
	}
	if err := os.Remove(d.file(id)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("queue: remove %s: %w", id, err)
	}
	return d.syncDir()
}

// Load reads every item, oldest first. A file that does not parse is
// skipped and reported in bad (it is left on disk for a person to look at).
func (d *Dir) Load() (items []Item, bad []string, err error) {
	ents, err := os.ReadDir(d.path)
	if err != nil {
		return nil, nil, fmt.Errorf("queue: %w", err)
	}
	for _, e := range ents {
		id, ok := strings.CutSuffix(e.Name(), itemSuffix)
		if !ok || !e.Type().IsRegular() || !wire.ValidMessageID(id) {
			continue
		}
		b, err := os.ReadFile(filepath.Join(d.path, e.Name()))
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue // delivered by another process meanwhile
			}
			bad = append(bad, e.Name())
			continue
		}
		var it Item
		if err := json.Unmarshal(b, &it); err != nil || it.ID != id {
			bad = append(bad, e.Name())
			continue
		}
		items = append(items, it)
	}
	sortItems(items)
	return items, bad, nil
}

// Lock takes the delivery lock of one item, so that two processes (two
// mounts of one identity, or a mount and `hubfs send --queue`) never send
// it at the same time. ok is false when another process holds it; the
// error is errGone when the item is no longer there. Unlock with the
// returned function.
func (d *Dir) Lock(id string) (unlock func(), ok bool, err error) {
	f, err := os.OpenFile(d.file(id), os.O_RDONLY, 0)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, false, errGone
		}
		return nil, false, fmt.Errorf("queue: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, false, nil
		}
		return nil, false, fmt.Errorf("queue: lock %s: %w", id, err)
	}
	// The holder before us may have delivered and removed it: a lock on an
	// unlinked file guards nothing.
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil || st.Nlink == 0 {
		f.Close()
		return nil, false, errGone
	}
	return func() { f.Close() }, true, nil
}

// errGone: the item's file is gone (delivered or cancelled by another
// process).
var errGone = errors.New("queue: item gone")

func (d *Dir) syncDir() error {
	f, err := os.Open(d.path)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}
