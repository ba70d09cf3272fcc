package mailfs

import (
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/hubfs/hubfs/hubd/hubdtest"
)

// fdinfoIno is the ino line of this process's /proc/self/fdinfo for f:
// the kernel's i_ino of f's inode, which the last-close check matches.
func fdinfoIno(t *testing.T, f *os.File) string {
	t.Helper()
	ino, _, _ := fdinfo(fmt.Sprintf("/proc/self/fdinfo/%d", f.Fd()))
	return ino
}

func statIno(t *testing.T, f *os.File) string {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprint(st.Ino)
}

// TestSetattrKeepsInodeNumber: a SETATTR (the O_TRUNC of an open, since
// go-fuse does not take FUSE_ATOMIC_O_TRUNC; ftruncate; chmod; utimes)
// answers with attributes the kernel copies into its inode, i_ino
// included, and go-fuse fills the inode number in for GETATTR but not for
// SETATTR. An answer without it left i_ino 0, so /proc/PID/fdinfo showed
// "ino: 0" for every descriptor of the file while stat (a fresh GETATTR)
// showed the right number, and the last-close check saw no other
// descriptor.
func TestSetattrKeepsInodeNumber(t *testing.T) {
	m := mountTest(t, hubdtest.Start(t), withCache(0, 0, 0))
	newDB(t, m, "app")
	dir := m.path("threads", "app", "people")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	doc := dir + "/ann.json"
	if err := os.WriteFile(doc, []byte(`{"v":1}`), 0o600); err != nil {
		t.Fatal(err)
	}

	setattrs := []struct {
		name string
		do   func(path string, f *os.File) error
	}{
		{"open O_TRUNC", func(path string, _ *os.File) error {
			w, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
			if err != nil {
				return err
			}
			if _, err := w.WriteString(`{"v":2}`); err != nil {
				return err
			}
			return w.Close()
		}},
		{"chmod", func(path string, _ *os.File) error { return os.Chmod(path, 0o600) }},
	}
	for _, s := range setattrs {
		t.Run("document "+s.name, func(t *testing.T) {
			r, err := os.Open(doc)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			if err := s.do(doc, r); err != nil {
				t.Fatal(err)
			}
			if got := fdinfoIno(t, r); got != fmt.Sprint(docIno(mustThreadID(t, m, "app"), "people", "ann")) {
				t.Errorf("after %s, fdinfo of a reader says ino %s; stat says %s", s.name, got, statIno(t, r))
			}
		})
	}

	t.Run("schema ftruncate", func(t *testing.T) {
		f, err := os.OpenFile(dir+"/"+schemaFileName, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if err := f.Truncate(0); err != nil {
			t.Fatal(err)
		}
		if got, want := fdinfoIno(t, f), statIno(t, f); got != want {
			t.Errorf("after ftruncate, fdinfo says ino %s; stat says %s", got, want)
		}
		// Nothing written past the truncate: left empty, the close saves nothing.
	})

	t.Run("draft fchmod", func(t *testing.T) {
		f, err := os.OpenFile(m.path("outbox", m.key.Public().String()), os.O_WRONLY|os.O_CREATE, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if err := f.Chmod(0o600); err != nil {
			t.Fatal(err)
		}
		fd := fdinfoIno(t, f)
		if want := statIno(t, f); fd != want {
			t.Errorf("after fchmod, fdinfo of a draft says ino %s; stat says %s", fd, want)
		}
	})
}

func mustThreadID(t *testing.T, m *testMount, db string) string {
	t.Helper()
	b, err := os.ReadFile(m.path("threads", db, "id"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// TestDraftDupThenTruncateStillOneMessage: a shell holds a draft open on
// fd 3 and a program reopens it through /dev/fd/3 with O_TRUNC (cp FILE
// /dev/fd/3 does): the reopen's SETATTR must not hide fd 3 from the
// last-close check, or the program's close sends the message early and
// the shell's later writes fail with EBADF.
func TestDraftDupThenTruncateStillOneMessage(t *testing.T) {
	m := mountTest(t, hubdtest.Start(t), withCache(0, 0, 0))
	held, err := os.OpenFile(m.path("outbox", m.key.Public().String()), os.O_WRONLY|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	again, err := os.OpenFile(fmt.Sprintf("/proc/self/fd/%d", held.Fd()), os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := again.WriteString("first part, "); err != nil {
		t.Fatal(err)
	}
	if err := again.Close(); err != nil {
		t.Fatalf("close of the reopened descriptor: %v", err)
	}
	if got := sentBodies(t, m); len(got) != 0 {
		t.Fatalf("the close of a reopened descriptor sent %q while the first one is open", got)
	}
	if _, err := held.WriteAt([]byte("second part"), int64(len("first part, "))); err != nil {
		t.Fatalf("writing the held descriptor after the other's close: %v", err)
	}
	if err := held.Close(); err != nil {
		t.Fatalf("last close: %v", err)
	}
	if got := sentBodies(t, m); len(got) != 1 || got[0] != "first part, second part" {
		t.Errorf("sentbox = %q, want one message with both parts", got)
	}
}
