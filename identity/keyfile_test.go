package identity

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestKeyFileRoundTrip(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "config", "hubfs")
	path := filepath.Join(dir, "identity")
	k, _ := NewPrivateKey()
	if err := SaveKeyFile(path, k, false); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %04o, want 0600", fi.Mode().Perm())
	}
	di, _ := os.Stat(dir)
	if di.Mode().Perm() != 0o700 {
		t.Errorf("created dir mode %04o, want 0700", di.Mode().Perm())
	}
	b, _ := os.ReadFile(path)
	if string(b) != k.String()+"\n" {
		t.Errorf("file holds %q, want the key string on one line", b)
	}
	got, err := LoadKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got.String() != k.String() {
		t.Fatal("loaded a different key")
	}
	assertOnlyFile(t, dir, "identity")
}

func TestSaveKeyFileNoOverwrite(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "identity")
	first, _ := NewPrivateKey()
	second, _ := NewPrivateKey()
	if err := SaveKeyFile(path, first, false); err != nil {
		t.Fatal(err)
	}
	err := SaveKeyFile(path, second, false)
	if !errors.Is(err, os.ErrExist) || !strings.Contains(err.Error(), path) {
		t.Fatalf("second save = %v, want os.ErrExist naming the file", err)
	}
	if got, _ := LoadKeyFile(path); got.String() != first.String() {
		t.Fatal("refused save still replaced the key")
	}
	assertOnlyFile(t, dir, "identity")

	if err := SaveKeyFile(path, second, true); err != nil {
		t.Fatalf("overwrite: %v", err)
	}
	if got, _ := LoadKeyFile(path); got.String() != second.String() {
		t.Fatal("overwrite kept the old key")
	}
	assertOnlyFile(t, dir, "identity")

	if err := SaveKeyFile(filepath.Join(dir, "empty"), &PrivateKey{}, false); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("saving an empty key = %v", err)
	}
}

func TestLoadKeyFilePermissions(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no Unix permission bits")
	}
	path := filepath.Join(t.TempDir(), "identity")
	k, _ := NewPrivateKey()
	if err := SaveKeyFile(path, k, false); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []os.FileMode{0o644, 0o640, 0o604, 0o660, 0o620} {
		os.Chmod(path, mode)
		_, err := LoadKeyFile(path)
		if !errors.Is(err, ErrInsecureKeyFile) {
			t.Fatalf("mode %04o: %v, want ErrInsecureKeyFile", mode, err)
		}
		if msg := err.Error(); !strings.Contains(msg, "chmod 600 "+path) {
			t.Errorf("mode %04o: message %q does not give the fix", mode, msg)
		}
	}
	for _, mode := range []os.FileMode{0o600, 0o400} {
		os.Chmod(path, mode)
		if _, err := LoadKeyFile(path); err != nil {
			t.Errorf("mode %04o refused: %v", mode, err)
		}
	}
}

func TestLoadKeyFileMissing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nope", "identity")
	_, err := LoadKeyFile(path)
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: %v, want os.ErrNotExist", err)
	}
	if msg := err.Error(); !strings.Contains(msg, "hubfs init") || !strings.Contains(msg, path) {
		t.Errorf("message %q should name the file and say to run hubfs init", msg)
	}
}

func TestLoadKeyFileContents(t *testing.T) {
	dir := t.TempDir()
	k, _ := PrivateKeyFromSeed(seq32())
	cases := []struct {
		name, body string
		want       error
	}{
		{"CRLF and spaces", "  " + k.String() + "\r\n\n", nil},
		{"no newline", k.String(), nil},
		{"empty", "", ErrInvalidKey},
		{"garbage", "hello\n", ErrInvalidKey},
		{"two keys", k.String() + "\n" + k.String() + "\n", ErrInvalidKey},
		{"public key", k.Public().String() + "\n", ErrInvalidKey},
		{"huge", strings.Repeat("a", maxKeyFile+1), ErrInvalidKey},
	}
	for i, c := range cases {
		path := filepath.Join(dir, "k"+string(rune('a'+i)))
		if err := os.WriteFile(path, []byte(c.body), 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := LoadKeyFile(path)
		if !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
		if c.want == nil && got.String() != k.String() {
			t.Errorf("%s: loaded a different key", c.name)
		}
		if err != nil && strings.Contains(err.Error(), k.String()) {
			t.Errorf("%s: error echoes the secret key", c.name)
		}
	}
	if _, err := LoadKeyFile(dir); err == nil {
		t.Error("loaded a directory as a key file")
	}
}

func TestDefaultKeyFile(t *testing.T) {
	t.Setenv("XDG_CONFIG_HOME", "/xdg")
	if got, err := DefaultKeyFile(); err != nil || got != filepath.Join("/xdg", "hubfs", "identity") {
		t.Errorf("with XDG_CONFIG_HOME: %q, %v", got, err)
	}
	home := t.TempDir()
	t.Setenv("HOME", home)
	for _, xdg := range []string{"", "relative/dir"} {
		t.Setenv("XDG_CONFIG_HOME", xdg)
		if got, err := DefaultKeyFile(); err != nil || got != filepath.Join(home, ".config", "hubfs", "identity") {
			t.Errorf("XDG_CONFIG_HOME=%q: %q, %v", xdg, got, err)
		}
	}
}

func assertOnlyFile(t *testing.T, dir, name string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 1 || ents[0].Name() != name {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("%s holds %v, want only %s (temporary file left behind?)", dir, names, name)
	}
}

// TestLoadKeyFileRefusesAFIFO: `hubfs whoami --identity FIFO` hung, because
// opening a FIFO for reading waits for a writer. A FIFO (or any other
// non-regular file) is refused at once with an error naming it.
func TestLoadKeyFileRefusesAFIFO(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no FIFOs")
	}
	path := filepath.Join(t.TempDir(), "identity")
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := LoadKeyFile(path)
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "not a regular file") {
			t.Fatalf("loading a FIFO: %v; want an error naming %s as not a regular file", err, path)
		}
	case <-time.After(10 * time.Second):
		// Release the blocked open (a writer lets it return), so the
		// goroutine does not outlive the test.
		if w, err := os.OpenFile(path, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			w.Close()
		}
		t.Fatal("loading a FIFO as a key file blocked for 10 s")
	}
}

func TestLoadKeyFileRefusesADirectory(t *testing.T) {
	dir := t.TempDir()
	os.Chmod(dir, 0o700)
	if _, err := LoadKeyFile(dir); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Fatalf("loading a directory: %v", err)
	}
}
