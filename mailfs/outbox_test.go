package mailfs

import (
	"context"
	"errors"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/hubfs/hubfs/hub"
	"github.com/hubfs/hubfs/hubd/hubdtest"
)

func sentBodies(t *testing.T, m *testMount) []string {
	t.Helper()
	var out []string
	for msg, err := range m.cl.SentboxMessages(context.Background(), hub.SentboxListOptions{Ascending: true}) {
		if err != nil {
			t.Fatal(err)
		}
		b, err := msg.Open(m.key)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, string(b))
	}
	return out
}

// TestDraftsOnTwoMounts: one process holding drafts on two hubfs mounts;
// closing the first sends it, although the other mount numbers its draft
// alike (the fdinfo check must compare the mount, not only the inode).
func TestDraftsOnTwoMounts(t *testing.T) {
	h := hubdtest.Start(t)
	cfg := withCache(time.Second, 0, 0)
	a, b := mountTest(t, h, cfg), mountTest(t, h, cfg)
	fa, err := os.OpenFile(a.path("outbox", b.key.Public().String()), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	fb, err := os.OpenFile(b.path("outbox", a.key.Public().String()), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	var sa, sb syscall.Stat_t
	syscall.Fstat(int(fa.Fd()), &sa)
	syscall.Fstat(int(fb.Fd()), &sb)
	if sa.Ino != sb.Ino {
		t.Logf("the drafts have inodes %d and %d: the collision this test is about did not arise", sa.Ino, sb.Ino)
	}
	fa.WriteString("from a")
	fb.WriteString("from b")
	if err := fa.Close(); err != nil {
		t.Fatalf("close of a's draft: %v", err)
	}
	if got := sentBodies(t, a); len(got) != 1 || got[0] != "from a" {
		t.Errorf("after closing a's draft, a's sentbox = %q, want [from a]", got)
	}
	if err := fb.Close(); err != nil {
		t.Fatalf("close of b's draft: %v", err)
	}
	if got := sentBodies(t, b); len(got) != 1 || got[0] != "from b" {
		t.Errorf("b's sentbox = %q, want [from b]", got)
	}
}

// TestDraftReadIsEACCES: a draft opened O_RDWR cannot be read back
// (docs/semantics.md), and the data still goes out at close.
func TestDraftReadIsEACCES(t *testing.T) {
	h := hubdtest.Start(t)
	m := mountTest(t, h, withCache(0, 0, 0))
	f, err := os.OpenFile(m.path("outbox", m.key.Public().String()), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("note to self"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.ReadAt(make([]byte, 4), 0); !errors.Is(err, syscall.EACCES) {
		t.Errorf("read of an O_RDWR draft: %v, want EACCES", err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if got := sentBodies(t, m); len(got) != 1 || got[0] != "note to self" {
		t.Errorf("sentbox = %q", got)
	}
}
