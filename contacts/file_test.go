package contacts

import (
	"errors"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

func mkfifo(path string) error { return syscall.Mkfifo(path, 0o600) }

// clock is a stepped clock for File.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) step(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func openStepped(t *testing.T, path string) (*File, *clock) {
	t.Helper()
	c := &clock{t: time.Unix(1e9, 0)}
	f := Open(path)
	f.now = c.now
	return f, c
}

func TestFileReload(t *testing.T) {
	a, b := newKey(t), newKey(t)
	path := filepath.Join(t.TempDir(), "contacts")
	f, clk := openStepped(t, path)
	if f.Book().Len() != 0 || f.Err() != nil {
		t.Fatalf("a missing file: %v, %v", f.Book().All(), f.Err())
	}
	gen := f.Generation()

	if err := Add(path, "alice", a); err != nil {
		t.Fatal(err)
	}
	clk.step(recheck)
	if k, _ := f.Book().Key("alice"); k != a {
		t.Fatal("the added contact is not seen after the recheck interval")
	}
	if f.Generation() == gen {
		t.Error("Generation did not move on reload")
	}

	// Within the interval the file is not even stat'd.
	if err := Add(path, "bob", b); err != nil {
		t.Fatal(err)
	}
	clk.step(recheck / 2)
	if _, ok := f.Book().Key("bob"); ok {
		t.Error("reloaded before the interval")
	}
	clk.step(recheck / 2)
	if _, ok := f.Book().Key("bob"); !ok {
		t.Error("bob not seen after the interval")
	}

	// An unchanged file keeps its generation.
	gen = f.Generation()
	clk.step(recheck)
	f.Book()
	if f.Generation() != gen {
		t.Error("an unchanged file was reloaded")
	}

	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	clk.step(recheck)
	if f.Book().Len() != 0 {
		t.Error("a removed file still has contacts")
	}
}

// A broken file keeps the last good book and reports its error once.
func TestFileBrokenKeepsLastGood(t *testing.T) {
	a := newKey(t)
	path := filepath.Join(t.TempDir(), "contacts")
	if err := Add(path, "alice", a); err != nil {
		t.Fatal(err)
	}
	f, clk := openStepped(t, path)
	var reports []error
	f.OnError(func(err error) { reports = append(reports, err) })

	if err := os.WriteFile(path, []byte("alice "+a+"\nbob notakey\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		clk.step(recheck)
		if k, _ := f.Book().Key("alice"); k != a {
			t.Fatal("the last good book was dropped")
		}
	}
	var pe *ParseError
	if !errors.As(f.Err(), &pe) || pe.Line != 2 {
		t.Fatalf("Err = %v, want line 2", f.Err())
	}
	if len(reports) != 1 {
		t.Fatalf("reported %d times, want once: %v", len(reports), reports)
	}

	if err := os.WriteFile(path, []byte("bob "+a+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	clk.step(recheck)
	if _, ok := f.Book().Key("bob"); !ok || f.Err() != nil {
		t.Fatalf("the fixed file was not loaded: %v", f.Err())
	}
	if len(reports) != 1 {
		t.Fatalf("a good file was reported: %v", reports)
	}
}

func TestFileOpenBrokenReports(t *testing.T) {
	path := filepath.Join(t.TempDir(), "contacts")
	if err := os.WriteFile(path, []byte("x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f := Open(path)
	var n int
	f.OnError(func(error) { n++ })
	if n != 1 || f.Err() == nil || f.Book().Len() != 0 {
		t.Fatalf("Open of a broken file: reports %d, err %v", n, f.Err())
	}
}
