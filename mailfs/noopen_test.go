package mailfs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hubfs/hubfs/hub"
	"github.com/hubfs/hubfs/hubd/hubdtest"
	"github.com/hubfs/hubfs/mailbox/hubmail"
)

// mountNoOpen mounts with MountOptions.NoOpen and the request log of every
// connection in rl.
func mountNoOpen(t *testing.T, h *hubdtest.Hub, rl *requestLog) *testMount {
	t.Helper()
	cfg := withCache(time.Hour, 1<<20, 1<<20)
	cfg.WatchTTL = time.Hour
	return mountWith(t, h, cfg, func(cl *hub.Client) hubmail.Client { return cl },
		MountOptions{NoOpen: true, Debug: true, Logger: log.New(rl, "", 0)})
}

// hubfsMountsAt are the hubfs mounts at or under dir in this process's
// mount table.
func hubfsMountsAt(t *testing.T, dir string) []string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 4 && (f[4] == dir || strings.HasPrefix(f[4], dir+"/")) && strings.Contains(line, " - fuse.hubfs ") {
			out = append(out, f[4])
		}
	}
	return out
}

// TestNoOpenReadsWithoutRequests: with NoOpen the boxes are mounts of their
// own; every message reads its plaintext, and a second read of all of them
// makes no request at all (no OPEN, FLUSH, READ or RELEASE), where the
// main connection makes an OPEN and a RELEASE per file.
func TestNoOpenReadsWithoutRequests(t *testing.T) {
	const n = 8
	h := hubdtest.Start(t)
	rl := &requestLog{}
	m := mountNoOpen(t, h, rl)
	if got := hubfsMountsAt(t, m.dir); len(got) != 4 {
		t.Fatalf("mounts at %s: %q, want the mount and inbox, unread, sentbox on it", m.dir, got)
	}
	bob, bobKey := dialUser(t, h)
	want := map[string]string{}
	for i := range n {
		body := fmt.Sprintf("message %d\n", i)
		msg, err := bob.SendMessage(context.Background(), bobKey, m.key.Public(), []byte(body))
		if err != nil {
			t.Fatal(err)
		}
		want[msg.ID] = body
	}
	readAll := func(box string) {
		t.Helper()
		for id, body := range want {
			if b, err := os.ReadFile(m.path(box, id)); err != nil || string(b) != body {
				t.Fatalf("read %s/%s = %q, %v, want %q", box, id, b, err, body)
			}
		}
	}
	// Counted from the first read: go-fuse's own probe at mount opens and
	// releases a file on each connection.
	open0, release0 := rl.count("OPEN"), rl.count("RELEASE")
	readAll("inbox")
	readAll("unread")
	// A second pass still makes one GETATTR a file: the first READ made
	// the kernel drop the cached atime, and ReadFile's fstat asks for it.
	readAll("inbox")
	readAll("unread")
	before := rl.counts("OPEN", "FLUSH", "READ", "RELEASE", "GETATTR", "LOOKUP")
	readAll("inbox")
	readAll("unread")
	if after := rl.counts("OPEN", "FLUSH", "READ", "RELEASE", "GETATTR", "LOOKUP"); !slices.Equal(before, after) {
		t.Errorf("requests (OPEN, FLUSH, READ, RELEASE, GETATTR, LOOKUP) for a second read of %d messages in two boxes: %v -> %v, want none", n, before, after)
	}
	// The first open on each connection is the one the kernel asks (and is
	// told ENOSYS); the first close its one FLUSH.
	if got := rl.count("OPEN") - open0; got != 2 {
		t.Errorf("%d OPEN requests for %d reads in inbox/ and unread/, want one per connection", got, 6*n)
	}
	if got := rl.count("RELEASE") - release0; got != 0 {
		t.Errorf("%d RELEASE requests, want 0", got)
	}

	// The xattrs are the node's, on either connection.
	id := slices.Sorted(func(yield func(string) bool) {
		for id := range want {
			if !yield(id) {
				return
			}
		}
	})[0]
	buf := make([]byte, 256)
	sz, err := unix.Getxattr(m.path("inbox", id), xattrFrom, buf)
	if err != nil || string(buf[:sz]) != bobKey.Public().String() {
		t.Errorf("getxattr %s = %q, %v", xattrFrom, buf[:sz], err)
	}
	if err := unix.Setxattr(m.path("inbox", id), xattrRead, []byte("1"), 0); err != nil {
		t.Fatal(err)
	}
	m.root.notify.sync()
	if _, err := os.Stat(m.path("unread", id)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stat unread/<id> after marking read: %v, want ENOENT", err)
	}
}

// TestNoOpenLiveAndDelete: a message that arrives shows in the no-open box
// at once (the notifier invalidates both connections), and rm deletes it on
// the hub.
func TestNoOpenLiveAndDelete(t *testing.T) {
	h := hubdtest.Start(t)
	m := mountNoOpen(t, h, &requestLog{})
	live := m.model.Follow(context.Background())
	t.Cleanup(live.Close)
	eventually(t, "the watch is up", func() bool { return m.model.Mode().String() == "watch" })
	bob, bobKey := dialUser(t, h)
	if got := names(t, m.path("inbox")); len(got) != 0 {
		t.Fatalf("inbox of a new mailbox: %q", got)
	}
	msg, err := bob.SendMessage(context.Background(), bobKey, m.key.Public(), []byte("live\n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, box := range []string{"inbox", "unread"} {
		eventually(t, "a new message listed in "+box+"/", func() bool { return slices.Contains(names(t, m.path(box)), msg.ID) })
		if b, err := os.ReadFile(m.path(box, msg.ID)); err != nil || string(b) != "live\n" {
			t.Fatalf("read %s/%s = %q, %v", box, msg.ID, b, err)
		}
	}
	if err := os.Remove(m.path("inbox", msg.ID)); err != nil {
		t.Fatal(err)
	}
	m.root.notify.sync()
	for _, box := range []string{"inbox", "unread"} {
		if _, err := os.Stat(m.path(box, msg.ID)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("stat %s/<id> after rm: %v, want ENOENT", box, err)
		}
		if got := names(t, m.path(box)); len(got) != 0 {
			t.Errorf("%s after rm: %q", box, got)
		}
	}
	left, err := m.cl.ListInboxMessages(context.Background(), hub.InboxListOptions{})
	if err != nil || len(left) != 0 {
		t.Errorf("the hub's inbox after rm: %d messages, %v", len(left), err)
	}

	// The sentbox is a no-open mount too.
	if err := os.WriteFile(m.path("outbox", bobKey.Public().String()), []byte("reply\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	sent := names(t, m.path("sentbox"))
	if len(sent) != 1 {
		t.Fatalf("sentbox after a send: %q", sent)
	}
	if b, err := os.ReadFile(m.path("sentbox", sent[0])); err != nil || string(b) != "reply\n" {
		t.Errorf("read sentbox/%s = %q, %v", sent[0], b, err)
	}
}

// TestNoOpenWhatChanges pins what no-open changes in the message file
// contract (docs/semantics.md): a write-open is refused at open only until
// the kernel stops asking, then the write fails; a message that does not
// verify opens and fails at the read with EBADMSG.
func TestNoOpenWhatChanges(t *testing.T) {
	h := hubdtest.Start(t)
	cfg := withCache(0, 0, 0)
	m := mountWith(t, h, cfg, func(cl *hub.Client) hubmail.Client { return cl }, MountOptions{NoOpen: true})
	bob, bobKey := dialUser(t, h)
	good, err := bob.SendMessage(context.Background(), bobKey, m.key.Public(), []byte("good\n"))
	if err != nil {
		t.Fatal(err)
	}
	bad, err := bob.SendMessage(context.Background(), bobKey, m.key.Public(), []byte("tampered\n"))
	if err != nil {
		t.Fatal(err)
	}
	h.TamperMessage(t, "inbox", bad.ID)

	// Before any read-only open, the kernel still asks.
	if _, err := os.OpenFile(m.path("inbox", good.ID), os.O_WRONLY, 0); !errors.Is(err, syscall.EACCES) {
		t.Errorf("first open(O_WRONLY) of a message: %v, want EACCES", err)
	}
	if b, err := os.ReadFile(m.path("inbox", good.ID)); err != nil || string(b) != "good\n" {
		t.Fatalf("read = %q, %v", b, err)
	}
	f, err := os.OpenFile(m.path("inbox", good.ID), os.O_WRONLY, 0)
	if err != nil {
		t.Fatalf("open(O_WRONLY) once the kernel no longer asks: %v (if refused, docs/semantics.md must say so)", err)
	}
	if _, err := f.Write([]byte("x")); !errors.Is(err, syscall.EACCES) {
		t.Errorf("write to a message: %v, want EACCES", err)
	}
	f.Close()
	if b, err := os.ReadFile(m.path("inbox", good.ID)); err != nil || string(b) != "good\n" {
		t.Errorf("the message after a refused write: %q, %v", b, err)
	}

	f, err = os.Open(m.path("inbox", bad.ID))
	if err != nil {
		t.Fatalf("open of a tampered message: %v, want success (no-open: the error comes at the read)", err)
	}
	_, err = f.Read(make([]byte, 64))
	f.Close()
	if !errors.Is(err, syscall.EBADMSG) {
		t.Errorf("read of a tampered message: %v, want EBADMSG", err)
	}
	buf := make([]byte, 64)
	sz, err := unix.Getxattr(m.path("inbox", bad.ID), xattrSignature, buf)
	if err != nil || !bytes.Equal(buf[:sz], []byte("invalid")) {
		t.Errorf("%s = %q, %v", xattrSignature, buf[:sz], err)
	}
}

// TestNoOpenUnmountTakesAll: Unmount (hubfs umount) and Server.Unmount
// (SIGTERM) take the box connections down first and leave nothing mounted.
func TestNoOpenUnmountTakesAll(t *testing.T) {
	h := hubdtest.Start(t)
	for _, how := range []string{"Server.Unmount", "Unmount"} {
		t.Run(how, func(t *testing.T) {
			m := mountNoOpen(t, h, &requestLog{})
			if _, err := os.ReadDir(m.path("inbox")); err != nil {
				t.Fatal(err)
			}
			if err := syscall.Unmount(m.dir, 0); !errors.Is(err, syscall.EBUSY) {
				t.Errorf("umount(2) of the mount under its boxes: %v, want EBUSY", err)
			}
			var err error
			if how == "Unmount" {
				err = Unmount(m.dir, false)
			} else {
				err = m.srv.Unmount()
			}
			if err != nil {
				t.Fatal(err)
			}
			m.srv.Wait()
			if got := hubfsMountsAt(t, m.dir); len(got) != 0 {
				t.Errorf("still mounted after %s: %q", how, got)
			}
		})
	}
}

// count of several opcodes at once.
func (l *requestLog) counts(ops ...string) []int {
	out := make([]int, len(ops))
	for i, op := range ops {
		out[i] = l.count(op)
	}
	return out
}
