package maildir

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// Local is what a mail client set on one message that the hub does not
// keep. The zero value is what a message has until a client touches it.
type Local struct {
	// Cur: an unread message a client moved from new/ to cur/ (mutt's
	// "old" mail). A read message is always in cur/.
	Cur bool `json:"cur,omitempty"`
	// Flags are the message's flags but Seen (the hub's read state),
	// canonical.
	Flags string `json:"flags,omitempty"`
}

// State keeps Local for every message that has one: in memory, and in
// one small file per message under a directory (or in memory only, for a
// State made with an empty dir). Only ids and flags, never plaintext.
type State struct {
	dir string

	mu sync.Mutex // guards m and orders the files' writes
	m  map[string]Local
}

// tmpPrefix starts the names of files being written; a crash may leave
// one, which OpenState removes.
const tmpPrefix = ".tmp-"

// DefaultDir is $XDG_STATE_HOME/hubfs/<identity>/maildir (or
// ~/.local/state/...), beside the outbox queue.
func DefaultDir(self string) (string, error) {
	state := os.Getenv("XDG_STATE_HOME")
	if state == "" || !filepath.IsAbs(state) {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("maildir: no home directory for the state dir: %w", err)
		}
		state = filepath.Join(home, ".local", "state")
	}
	return filepath.Join(state, "hubfs", self, "maildir"), nil
}

// Memory is a State that keeps nothing on disk (tests, and a mount told
// not to keep flags).
func Memory() *State { return &State{m: map[string]Local{}} }

// OpenState loads the state kept in dir, creating it (0700). A file that
// does not parse is dropped: flags are notes, and a crash can at worst
// lose the last one set.
func OpenState(dir string) (*State, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("maildir state: %w", err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("maildir state: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("maildir state: %s is not a directory", dir)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		// Who one hears from is nobody else's business.
		if err := os.Chmod(dir, 0o700); err != nil {
			return nil, fmt.Errorf("maildir state: %s is open to others and cannot be fixed: %w", dir, err)
		}
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("maildir state: %w", err)
	}
	s := &State{dir: dir, m: map[string]Local{}}
	for _, e := range ents {
		name := e.Name()
		p := filepath.Join(dir, name)
		if strings.HasPrefix(name, tmpPrefix) {
			os.Remove(p)
			continue
		}
		if _, _, ok := splitKey(name); !ok || !e.Type().IsRegular() {
			continue
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("maildir state: %w", err)
		}
		var l Local
		if json.Unmarshal(b, &l) != nil {
			os.Remove(p)
			continue
		}
		if f, err := CanonicalFlags(l.Flags); err != nil || WithoutFlag(f, Seen) != f {
			os.Remove(p)
			continue
		}
		if l != (Local{}) {
			s.m[name] = l
		}
	}
	return s, nil
}

// Dir is where the state lives, "" in memory.
func (s *State) Dir() string { return s.dir }

// Get returns what is kept for a message (the zero Local if nothing).
func (s *State) Get(box, id string) Local {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m[key(box, id)]
}

// Len is how many messages have state.
func (s *State) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}

// Set keeps l for a message; it is on disk when Set returns nil. The zero
// Local removes the message's file.
func (s *State) Set(box, id string, l Local) error {
	k := key(box, id)
	if _, _, ok := splitKey(k); !ok {
		return fmt.Errorf("maildir state: bad message %q/%q", box, id)
	}
	f, err := CanonicalFlags(l.Flags)
	if err != nil {
		return err
	}
	l.Flags = WithoutFlag(f, Seen)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m[k] == l {
		return nil
	}
	if s.dir != "" {
		if err := s.writeLocked(k, l); err != nil {
			return err
		}
	}
	if l == (Local{}) {
		delete(s.m, k)
	} else {
		s.m[k] = l
	}
	return nil
}

// Forget drops a deleted message's state.
func (s *State) Forget(box, id string) error { return s.Set(box, id, Local{}) }

// Prune drops the state of every message of box that keep rejects: those
// deleted while no mount was there to see it.
func (s *State) Prune(box string, keep func(id string) bool) error {
	s.mu.Lock()
	var gone []string
	for k := range s.m {
		if b, id, _ := splitKey(k); b == box && !keep(id) {
			gone = append(gone, id)
		}
	}
	s.mu.Unlock()
	var errs []error
	for _, id := range gone {
		errs = append(errs, s.Forget(box, id))
	}
	return errors.Join(errs...)
}

// writeLocked puts l in k's file: a temporary file, fsynced, renamed over
// it, and the directory fsynced, so the file is either the old state or
// the new one after a crash. The zero Local removes the file.
func (s *State) writeLocked(k string, l Local) error {
	p := filepath.Join(s.dir, k)
	if l == (Local{}) {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("maildir state: %w", err)
		}
		return syncDir(s.dir)
	}
	b, err := json.Marshal(l)
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(s.dir, tmpPrefix+k+"-")
	if err != nil {
		return fmt.Errorf("maildir state: %w", err)
	}
	tmp := f.Name()
	_, err = f.Write(append(b, '\n'))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, p)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("maildir state: %w", err)
	}
	return syncDir(s.dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("maildir state: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("maildir state: %w", err)
	}
	return nil
}

// key is a message's file name in the state dir: "<box>.<id>".
func key(box, id string) string { return box + "." + id }

// splitKey checks a state file name: a known box and an id of lowercase
// letters and digits, so no name can leave the directory.
func splitKey(k string) (box, id string, ok bool) {
	box, id, ok = strings.Cut(k, ".")
	if !ok || (box != "inbox" && box != "sentbox") || id == "" || len(id) > 64 {
		return "", "", false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9') {
			return "", "", false
		}
	}
	return box, id, true
}
