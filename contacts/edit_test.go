package contacts

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

func TestAddRemove(t *testing.T) {
	a, b := newKey(t), newKey(t)
	path := filepath.Join(t.TempDir(), "hubfs", "contacts")

	if err := Add(path, "alice", a); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("file mode %04o, want 0600", fi.Mode().Perm())
	}
	if di, _ := os.Stat(filepath.Dir(path)); di.Mode().Perm() != 0o700 {
		t.Errorf("dir mode %04o, want 0700", di.Mode().Perm())
	}
	if err := Add(path, "alice", a); err != nil {
		t.Errorf("adding the same contact again: %v, want a no-op", err)
	}
	if err := Add(path, "alice", b); !errors.Is(err, ErrExists) {
		t.Errorf("Add of a taken name = %v, want ErrExists", err)
	}
	if err := Add(path, "-x", b); !errors.Is(err, ErrInvalidName) {
		t.Errorf("Add of a bad name = %v", err)
	}
	if err := Add(path, "bob", "bbaareinotakey"); err == nil {
		t.Error("Add of a bad key succeeded")
	}
	if err := Remove(path, "carol"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Remove of an unknown name = %v, want ErrNotFound", err)
	}
	if err := Remove(path, "alice"); err != nil {
		t.Fatal(err)
	}
	book, err := Load(path)
	if err != nil || book.Len() != 0 {
		t.Fatalf("after Remove: %v, %v", book.All(), err)
	}
}

// Comments, blank lines and the other contacts' lines stay byte for byte.
func TestEditKeepsComments(t *testing.T) {
	a, b, c := newKey(t), newKey(t), newKey(t)
	path := filepath.Join(t.TempDir(), "contacts")
	orig := "# my friends\n\nalice   " + a + "   # met in Lyon\n\t# work\nbob " + b + "\n"
	if err := os.WriteFile(path, []byte(orig), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Add(path, "carol", c); err != nil {
		t.Fatal(err)
	}
	want := orig + "carol " + c + "\n"
	if got, _ := os.ReadFile(path); string(got) != want {
		t.Fatalf("after Add:\n%s\nwant:\n%s", got, want)
	}
	if err := Set(path, "bob", c); err != nil {
		t.Fatal(err)
	}
	want = "# my friends\n\nalice   " + a + "   # met in Lyon\n\t# work\nbob " + c + "\ncarol " + c + "\n"
	if got, _ := os.ReadFile(path); string(got) != want {
		t.Fatalf("after Set:\n%s\nwant:\n%s", got, want)
	}
	if err := Remove(path, "alice"); err != nil {
		t.Fatal(err)
	}
	want = "# my friends\n\n\t# work\nbob " + c + "\ncarol " + c + "\n"
	if got, _ := os.ReadFile(path); string(got) != want {
		t.Fatalf("after Remove:\n%s\nwant:\n%s", got, want)
	}
}

// A broken file is not edited: the mistake is the user's to see and fix.
func TestEditRefusesBrokenFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "contacts")
	orig := "alice notakey\n"
	if err := os.WriteFile(path, []byte(orig), 0o600); err != nil {
		t.Fatal(err)
	}
	err := Add(path, "bob", newKey(t))
	var pe *ParseError
	if !errors.As(err, &pe) || pe.Line != 1 {
		t.Fatalf("Add to a broken file = %v, want the line named", err)
	}
	if got, _ := os.ReadFile(path); string(got) != orig {
		t.Fatalf("broken file changed to %q", got)
	}
}

// Add through a symlink edits the file it points at.
func TestEditThroughSymlink(t *testing.T) {
	dir := t.TempDir()
	real := filepath.Join(dir, "dotfiles-contacts")
	if err := os.WriteFile(real, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "contacts")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	if err := Add(link, "alice", newKey(t)); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("the symlink was replaced: %v", err)
	}
	if b, _ := Load(real); b.Len() != 1 {
		t.Fatal("the target was not edited")
	}
}

// Concurrent writers, each with its own open of the lock file as separate
// processes have, lose no one's contact.
func TestAddConcurrent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "contacts")
	const n = 16
	keys := make([]string, n)
	for i := range keys {
		keys[i] = newKey(t)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 2*n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- Add(path, fmt.Sprintf("c%d", i), keys[i])
			if i%2 == 0 {
				errs <- Remove(path, fmt.Sprintf("c%d", i))
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	book, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if book.Len() != n/2 {
		t.Fatalf("%d contacts, want %d: %v", book.Len(), n/2, book.All())
	}
	for i := 1; i < n; i += 2 {
		if k, _ := book.Key(fmt.Sprintf("c%d", i)); k != keys[i] {
			t.Errorf("c%d lost", i)
		}
	}
}

func TestLoadMissingIsEmpty(t *testing.T) {
	book, err := Load(filepath.Join(t.TempDir(), "none"))
	if err != nil || book.Len() != 0 {
		t.Fatalf("Load(missing) = %v, %v", book, err)
	}
}

func TestLoadRefusesFIFO(t *testing.T) {
	path := filepath.Join(t.TempDir(), "fifo")
	if err := mkfifo(path); err != nil {
		t.Skip("no FIFOs here:", err)
	}
	if _, err := Load(path); err == nil {
		t.Fatal("Load of a FIFO succeeded")
	}
}
