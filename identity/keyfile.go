package identity

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
)

// maxKeyFile bounds how much of a key file is read: a key is one line of at
// most maxKeyString characters, and a huge file is a mistake, not a key.
const maxKeyFile = 4096

// DefaultKeyFile is where `hubfs init` writes the identity:
// $XDG_CONFIG_HOME/hubfs/identity, else ~/.config/hubfs/identity. It follows
// XDG on every OS, macOS included, so the path in docs and scripts is the
// same everywhere. A relative XDG_CONFIG_HOME is ignored, as the XDG spec
// requires.
func DefaultKeyFile() (string, error) {
	if dir := os.Getenv("XDG_CONFIG_HOME"); dir != "" && filepath.IsAbs(dir) {
		return filepath.Join(dir, "hubfs", "identity"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("find the identity file: %w", err)
	}
	return filepath.Join(home, ".config", "hubfs", "identity"), nil
}

// SaveKeyFile writes k's string form and a newline to path with mode 0600,
// creating the parent directory with mode 0700 if needed. The file appears
// complete or not at all (temporary file, fsync, then link or rename), so a
// crash never leaves a truncated key behind. Unless overwrite is set, an
// existing file is left alone and the error wraps os.ErrExist: losing a key
// loses its mailbox for good.
func SaveKeyFile(path string, k *PrivateKey, overwrite bool) error {
	if !k.CanSign() {
		return fmt.Errorf("save key file %s: %w: empty private key", path, ErrInvalidKey)
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("save key file: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".identity-*.tmp") // CreateTemp uses mode 0600
	if err != nil {
		return fmt.Errorf("save key file: %w", err)
	}
	tmpName := tmp.Name()
	defer os.Remove(tmpName) // after a successful rename or link this is a no-op or drops the extra name

	if err := tmp.Chmod(0o600); err != nil { // in case CreateTemp's mode ever changes
		tmp.Close()
		return fmt.Errorf("save key file: %w", err)
	}
	if _, err := tmp.WriteString(k.String() + "\n"); err != nil {
		tmp.Close()
		return fmt.Errorf("save key file: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("save key file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("save key file: %w", err)
	}

	if overwrite {
		err = os.Rename(tmpName, path)
	} else {
		err = linkNoReplace(tmpName, path)
	}
	if errors.Is(err, os.ErrExist) {
		return fmt.Errorf("key file %s already exists, refusing to overwrite it: %w", path, os.ErrExist)
	}
	if err != nil {
		return fmt.Errorf("save key file: %w", err)
	}
	syncDir(dir)
	return nil
}

// linkNoReplace gives the finished temporary file its final name only if
// that name is free. A hard link is atomic about it, where checking first and
// renaming after would race with another `hubfs init`. Filesystems without
// hard links get the racy check, which still protects against the common
// mistake of running init twice.
func linkNoReplace(tmp, path string) error {
	err := os.Link(tmp, path)
	if err == nil || errors.Is(err, os.ErrExist) {
		return err
	}
	if _, serr := os.Lstat(path); serr == nil {
		return os.ErrExist
	}
	return os.Rename(tmp, path)
}

// syncDir makes the new directory entry durable. It is best effort: the key
// is already written, and some systems cannot fsync a directory.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}

// LoadKeyFile reads a key written by SaveKeyFile (or by hand: surrounding
// white space is ignored). Like ssh, it refuses a file that group or others
// can access, since anyone who reads the key can read all the user's mail;
// the error names the file and the chmod that fixes it. A missing file
// wraps os.ErrNotExist and says to run `hubfs init`.
//
// Anything but a regular file is refused before it is read: opening a FIFO
// for reading would wait for a writer forever, so the open does not block
// (O_NONBLOCK) and the mode is checked on the open file, not on the name,
// which another process could swap in between.
func LoadKeyFile(path string) (*PrivateKey, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("no identity at %s: run `hubfs init` to create one: %w", path, err)
	}
	if err != nil {
		return nil, fmt.Errorf("load key file: %w", err)
	}
	defer f.Close()

	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("load key file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("key file %s: %w: not a regular file (%s)", path, ErrInvalidKey, fileKind(fi.Mode()))
	}
	// Windows has no such mode bits; Go reports 0666 for every file there.
	if perm := fi.Mode().Perm(); perm&0o077 != 0 && runtime.GOOS != "windows" {
		return nil, fmt.Errorf("%w: %s has mode %04o but must be private to you; run `chmod 600 %s`", ErrInsecureKeyFile, path, perm, path)
	}

	b, err := io.ReadAll(io.LimitReader(f, maxKeyFile+1))
	if err != nil {
		return nil, fmt.Errorf("load key file: %w", err)
	}
	if len(b) > maxKeyFile {
		return nil, fmt.Errorf("key file %s: %w: file is larger than %d bytes", path, ErrInvalidKey, maxKeyFile)
	}
	k, err := ParsePrivateKey(strings.TrimSpace(string(b)))
	if err != nil {
		return nil, fmt.Errorf("key file %s: %w", path, err)
	}
	return k, nil
}

// fileKind names what a non-regular file is, for the error.
func fileKind(m os.FileMode) string {
	switch {
	case m&os.ModeNamedPipe != 0:
		return "a FIFO"
	case m.IsDir():
		return "a directory"
	case m&os.ModeSocket != 0:
		return "a socket"
	case m&os.ModeDevice != 0:
		return "a device"
	}
	return "mode " + m.Type().String()
}
