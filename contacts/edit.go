package contacts

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// Add adds the contact name for key at the end of the file, creating the
// file (0600, in a 0700 directory) if there is none. A name already naming
// this key is a no-op; a name naming another key is refused (ErrExists: use
// Set to change it). A file that does not parse is refused as it is, so an
// edit never buries a mistake under another line.
func Add(path, name, key string) error {
	return edit(path, name, key, false)
}

// Set is Add that changes the key of an existing name in place, on its line.
func Set(path, name, key string) error {
	return edit(path, name, key, true)
}

func edit(path, name, key string, replace bool) error {
	if err := CheckName(name); err != nil {
		return err
	}
	canon, err := CanonicalKey(key)
	if err != nil {
		return err
	}
	return update(path, func(book *Book, lines []line) ([]line, error) {
		old, exists := book.Key(name)
		switch {
		case exists && old == canon:
			return nil, nil
		case exists && !replace:
			return nil, fmt.Errorf("%w: %q is %s", ErrExists, name, old)
		case exists:
			for i := range lines {
				if c := lines[i].contact; c != nil && c.Name == name {
					lines[i].text = []byte(name + " " + canon)
				}
			}
			return lines, nil
		}
		return append(lines, line{text: []byte(name + " " + canon)}), nil
	})
}

// Remove removes the contact name; the error wraps ErrNotFound if there is
// none. Other lines, comments included, stay as they were.
func Remove(path, name string) error {
	return update(path, func(book *Book, lines []line) ([]line, error) {
		if _, ok := book.Key(name); !ok {
			return nil, fmt.Errorf("%w: %q", ErrNotFound, name)
		}
		kept := lines[:0]
		for _, l := range lines {
			if l.contact == nil || l.contact.Name != name {
				kept = append(kept, l)
			}
		}
		return kept, nil
	})
}

// update runs change over the parsed file under the lock and writes what it
// returns; nil lines and a nil error write nothing.
func update(path string, change func(*Book, []line) ([]line, error)) error {
	// Edit the file a symlink points at (dotfiles kept in a repository),
	// not replace the link with a file.
	if real, err := filepath.EvalSymlinks(path); err == nil {
		path = real
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("contacts: %w", err)
	}
	unlock, err := lock(path + ".lock")
	if err != nil {
		return err
	}
	defer unlock()

	b, err := readFile(path)
	if err != nil {
		return err
	}
	book, lines, err := parse(b)
	if err != nil {
		return fmt.Errorf("contacts file %s: %w; fix it first", path, err)
	}
	lines, err = change(book, lines)
	if err != nil || lines == nil {
		return err
	}
	var out bytes.Buffer
	for _, l := range lines {
		out.Write(l.text)
		out.WriteByte('\n')
	}
	return writeFile(path, out.Bytes())
}

// lock takes an exclusive flock on the sidecar lock file. The lock is on a
// file of its own because the contacts file is replaced by rename, and a
// lock on a file that was renamed away locks nothing.
func lock(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock contacts: %w", err)
	}
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("lock contacts: %w", err)
	}
	return func() { f.Close() }, nil // closing drops the flock
}

// writeFile replaces path with b, mode 0600: temporary file, fsync, rename,
// fsync of the directory, so a crash leaves the old file or the new one.
func writeFile(path string, b []byte) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, ".contacts-*.tmp")
	if err != nil {
		return fmt.Errorf("write contacts: %w", err)
	}
	name := tmp.Name()
	defer os.Remove(name) // a no-op after the rename
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("write contacts: %w", err)
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("write contacts: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("write contacts: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write contacts: %w", err)
	}
	if err := os.Rename(name, path); err != nil {
		return fmt.Errorf("write contacts: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync() // best effort: some filesystems cannot fsync a directory
		d.Close()
	}
	return nil
}
