package mailfs

import (
	"bytes"
	"context"
	"errors"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hubfs/hubfs/contacts"
	"github.com/hubfs/hubfs/hubd/hubdtest"
	"github.com/hubfs/hubfs/mailbox"
	"github.com/hubfs/hubfs/mailbox/hubmail"
	"github.com/hubfs/hubfs/maildir"
	"github.com/hubfs/hubfs/mailmsg"
)

// mountMaildir is mountTest with the Maildir flags kept in state, and the
// contacts file book when it is not nil.
func mountMaildir(t *testing.T, h *hubdtest.Hub, cfg mailbox.Config, state *maildir.State, book *contacts.File) *testMount {
	t.Helper()
	requireFUSE(t)
	cl, key := dialUser(t, h)
	mbox, err := cl.GetMailboxID(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	m := &testMount{dir: t.TempDir(), key: key, cl: cl}
	m.model = hubmail.New(hubmail.Client(cl), key, mbox, cfg)
	m.outbox = newTestOutbox(t, m.model, key)
	m.root = New(m.model, key.Public(), cfg, Options{UID: uint32(os.Getuid()), GID: uint32(os.Getgid()), Outbox: m.outbox, MaildirState: state, Contacts: book})
	srv, err := Mount(m.dir, m.root, MountOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Unmount(); err != nil {
			t.Errorf("unmount: %v", err)
			Unmount(m.dir, true)
		}
		srv.Wait()
		m.root.Close()
	})
	return m
}

func readDirNames(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("readdir %s: %v", dir, err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

// TestMaildirLifecycle walks one message through what a mail client does:
// it arrives in new/, reads without being marked read, moves to cur/ as
// old mail, is marked read (on the hub) and flagged (locally), refuses to
// be unread, and is expunged (deleted on the hub).
func TestMaildirLifecycle(t *testing.T) {
	h := hubdtest.Start(t)
	stateDir := t.TempDir()
	state, err := maildir.OpenState(stateDir)
	if err != nil {
		t.Fatal(err)
	}
	m := mountMaildir(t, h, withCache(time.Hour, 1<<20, 1<<20), state, nil)
	bob, bobKey := dialUser(t, h)
	ctx := context.Background()
	msg, err := bob.SendMessage(ctx, bobKey, m.key.Public(), []byte("hello alice\n"))
	if err != nil {
		t.Fatal(err)
	}
	base := maildir.Base(msg.ID, msg.CreatedAt)
	for _, d := range []string{"Maildir", "Maildir/.Sent"} {
		for _, sub := range []string{"new", "cur", "tmp"} {
			if fi, err := os.Stat(m.path(d, sub)); err != nil || !fi.IsDir() {
				t.Fatalf("%s/%s: %v, %v", d, sub, fi, err)
			}
		}
	}
	if got := readDirNames(t, m.path("Maildir", "new")); len(got) != 1 || got[0] != base {
		t.Fatalf("new/ = %v, want [%s]", got, base)
	}
	if got := readDirNames(t, m.path("Maildir", "cur")); len(got) != 0 {
		t.Fatalf("cur/ = %v, want empty", got)
	}

	// stat's size is the file's, before anything is read.
	newPath := m.path("Maildir", "new", base)
	fi, err := os.Stat(newPath)
	if err != nil {
		t.Fatal(err)
	}
	file, err := os.ReadFile(newPath)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() != int64(len(file)) {
		t.Errorf("stat size %d, file %d bytes", fi.Size(), len(file))
	}
	parsed, err := mail.ReadMessage(bytes.NewReader(file))
	if err != nil {
		t.Fatalf("the file does not parse: %v\n%s", err, file)
	}
	if got, want := parsed.Header.Get("From"), mailmsg.Address(bobKey.Public().String(), ""); got != want {
		t.Errorf("From %q, want %q", got, want)
	}
	if got := parsed.Header.Get("Message-ID"); got != mailmsg.MessageID(msg.ID) {
		t.Errorf("Message-ID %q", got)
	}
	if e, _ := m.model.Lookup(ctx, mailbox.Inbox, msg.ID); !e.Unread() {
		t.Errorf("reading the file marked the message read")
	}

	// Writes are refused: the file, tmp/, new files in new/.
	if _, err := os.OpenFile(newPath, os.O_WRONLY, 0); !errors.Is(err, syscall.EACCES) {
		t.Errorf("open for writing: %v, want EACCES", err)
	}
	if err := os.WriteFile(m.path("Maildir", "tmp", "x"), []byte("x"), 0o600); !errors.Is(err, syscall.EACCES) {
		t.Errorf("create in tmp/: %v, want EACCES", err)
	}
	if err := os.WriteFile(m.path("Maildir", "new", "x"), []byte("x"), 0o600); !errors.Is(err, syscall.EPERM) {
		t.Errorf("create in new/: %v, want EPERM", err)
	}

	// Old mail: moved to cur/ unread.
	oldPath := m.path("Maildir", "cur", base+":2,")
	if err := os.Rename(newPath, oldPath); err != nil {
		t.Fatalf("new/ -> cur/ unread: %v", err)
	}
	if e, _ := m.model.Lookup(ctx, mailbox.Inbox, msg.ID); !e.Unread() {
		t.Errorf("moving to cur/ without S marked the message read")
	}
	if got := readDirNames(t, m.path("Maildir", "cur")); len(got) != 1 || got[0] != base+":2," {
		t.Errorf("cur/ = %v", got)
	}
	if _, err := os.Stat(newPath); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stat of the old name: %v", err)
	}

	// Seen and flagged: read on the hub, F kept here.
	seenPath := m.path("Maildir", "cur", base+":2,FS")
	if err := os.Rename(oldPath, seenPath); err != nil {
		t.Fatalf("adding S and F: %v", err)
	}
	if e, _ := m.model.Lookup(ctx, mailbox.Inbox, msg.ID); e.Unread() {
		t.Errorf("S did not mark the message read")
	}
	if _, err := os.Stat(seenPath); err != nil {
		t.Errorf("stat of the new name: %v", err)
	}
	m.root.notify.sync()
	if got := readDirNames(t, m.path("Maildir", "cur")); len(got) != 1 || got[0] != base+":2,FS" {
		t.Errorf("cur/ = %v", got)
	}
	if got := state.Get("inbox", msg.ID); got != (maildir.Local{Flags: "F"}) {
		t.Errorf("kept state %+v, want F", got)
	}
	// Unsorted flags name the same file.
	if _, err := os.Stat(m.path("Maildir", "cur", base+":2,SF")); err != nil {
		t.Errorf("stat with the flags unsorted: %v", err)
	}

	// No unread, no move across folders, no other name, no bad flags.
	for _, tc := range []struct {
		to   string
		want syscall.Errno
	}{
		{m.path("Maildir", "cur", base+":2,F"), syscall.EPERM},
		{m.path("Maildir", "new", base), syscall.EPERM},
		{m.path("Maildir", ".Sent", "cur", base+":2,FS"), syscall.EPERM},
		{m.path("Maildir", "cur", "1."+msg.ID+".hubfs:2,FS"), syscall.EPERM},
		{m.path("Maildir", "cur", base+":2,F S"), syscall.EINVAL},
		{m.path("inbox", msg.ID), syscall.EPERM},
		{m.path("Maildir", "cur", maildir.Base(otherID(msg.ID), msg.CreatedAt)+":2,FS"), syscall.EPERM}, // another message's name
	} {
		if err := os.Rename(seenPath, tc.to); !errors.Is(err, tc.want) {
			t.Errorf("rename to %s: %v, want %v", strings.TrimPrefix(tc.to, m.dir), err, tc.want)
		}
	}
	// Names that are no message: ENOENT, and nothing deleted.
	for _, name := range []string{maildir.Base(otherID(msg.ID), msg.CreatedAt) + ":2,S", "nonsense", base, base + ":2,F"} {
		dir := "cur"
		if name == base {
			dir = "new" // its name in new/ is gone since it moved to cur/
		}
		if err := os.Remove(m.path("Maildir", dir, name)); !errors.Is(err, syscall.ENOENT) {
			t.Errorf("unlink %s/%s: %v, want ENOENT", dir, name, err)
		}
		if err := os.Rename(m.path("Maildir", dir, name), m.path("Maildir", "cur", base+":2,FS")); !errors.Is(err, syscall.ENOENT) {
			t.Errorf("rename %s/%s: %v, want ENOENT", dir, name, err)
		}
	}
	if _, err := os.Stat(seenPath); err != nil {
		t.Fatalf("the message after the refused unlinks: %v", err)
	}

	// Expunge: deleted on the hub, and the flags forgotten.
	if err := os.Remove(seenPath); err != nil {
		t.Fatal(err)
	}
	if _, err := m.model.Lookup(ctx, mailbox.Inbox, msg.ID); !errors.Is(err, mailbox.ErrNotFound) {
		t.Errorf("after unlink the message is still there: %v", err)
	}
	if state.Len() != 0 {
		t.Errorf("after unlink the state keeps %d messages", state.Len())
	}
	m.root.notify.sync()
	if _, err := os.Stat(seenPath); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stat after unlink: %v", err)
	}
}

// TestMaildirLiveAndSent: mail that arrives while the directory is watched
// shows in new/ and moves new/'s mtime (how clients notice new mail); the
// sentbox is .Sent/cur, every message seen.
func TestMaildirLiveAndSent(t *testing.T) {
	h := hubdtest.Start(t)
	cfg := withCache(time.Hour, 1<<20, 1<<20)
	m := mountMaildir(t, h, cfg, nil, nil)
	live := m.model.Follow(context.Background())
	t.Cleanup(live.Close)
	var before unix.Stat_t
	if err := unix.Stat(m.path("Maildir", "new"), &before); err != nil {
		t.Fatal(err)
	}
	if got := readDirNames(t, m.path("Maildir", "new")); len(got) != 0 {
		t.Fatalf("new/ = %v", got)
	}
	bob, bobKey := dialUser(t, h)
	msg, err := bob.SendMessage(context.Background(), bobKey, m.key.Public(), []byte("live\n"))
	if err != nil {
		t.Fatal(err)
	}
	base := maildir.Base(msg.ID, msg.CreatedAt)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(m.path("Maildir", "new", base)); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the new message never showed in new/")
		}
		time.Sleep(10 * time.Millisecond)
	}
	var after unix.Stat_t
	if err := unix.Stat(m.path("Maildir", "new"), &after); err != nil {
		t.Fatal(err)
	}
	if after.Mtim == before.Mtim {
		t.Errorf("new/'s mtime did not move with new mail")
	}

	if err := os.WriteFile(m.path("outbox", bobKey.Public().String()), []byte("Subject: re\n\nreply\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	sent := readDirNames(t, m.path("Maildir", ".Sent", "cur"))
	if len(sent) != 1 || !strings.HasSuffix(sent[0], ":2,S") {
		t.Fatalf(".Sent/cur = %v", sent)
	}
	file, err := os.ReadFile(m.path("Maildir", ".Sent", "cur", sent[0]))
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := mail.ReadMessage(bytes.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := parsed.Header.Get("From"), mailmsg.Address(m.key.Public().String(), ""); got != want {
		t.Errorf(".Sent From %q, want %q", got, want)
	}
	if got := parsed.Header.Get("Subject"); got != "re" {
		t.Errorf(".Sent Subject %q", got)
	}
	if got := readDirNames(t, m.path("Maildir", ".Sent", "new")); len(got) != 0 {
		t.Errorf(".Sent/new = %v", got)
	}
	if err := os.Rename(m.path("Maildir", ".Sent", "cur", sent[0]), m.path("Maildir", ".Sent", "cur", strings.TrimSuffix(sent[0], "S"))); !errors.Is(err, syscall.EPERM) {
		t.Errorf("dropping S of a sent message: %v, want EPERM", err)
	}
	if err := os.Rename(m.path("Maildir", ".Sent", "cur", sent[0]), m.path("Maildir", ".Sent", "cur", strings.TrimSuffix(sent[0], "S")+"RS")); err != nil {
		t.Errorf("flagging a sent message replied: %v", err)
	}
}

// TestMaildirInvalidSignature: a message that does not verify is a file
// that says so (a mail client can list, read and delete it), not EIO.
func TestMaildirInvalidSignature(t *testing.T) {
	h := hubdtest.Start(t)
	m := mountMaildir(t, h, withCache(time.Hour, 1<<20, 1<<20), nil, nil)
	bob, bobKey := dialUser(t, h)
	msg, err := bob.SendMessage(context.Background(), bobKey, m.key.Public(), []byte("tampered\n"))
	if err != nil {
		t.Fatal(err)
	}
	h.TamperMessage(t, "inbox", msg.ID)
	p := m.path("Maildir", "new", maildir.Base(msg.ID, msg.CreatedAt))
	file, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("read: %v, want the file", err)
	}
	parsed, err := mail.ReadMessage(bytes.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	if got := parsed.Header.Get(mailmsg.FieldSignature); got != "invalid" {
		t.Errorf("%s: %q", mailmsg.FieldSignature, got)
	}
	if bytes.Contains(file, []byte("tampered")) {
		t.Errorf("the unverified body is shown")
	}
	if err := os.Remove(p); err != nil {
		t.Errorf("rm of an invalid message: %v", err)
	}
}

// TestMaildirContactNames: From and To carry the contacts' names, and a
// name with a line break cannot add a header field.
func TestMaildirContactNames(t *testing.T) {
	h := hubdtest.Start(t)
	bob, bobKey := dialUser(t, h)
	path := filepath.Join(t.TempDir(), "contacts")
	if err := contacts.Add(path, "bob", bobKey.Public().String()); err != nil {
		t.Fatal(err)
	}
	m := mountMaildir(t, h, withCache(time.Hour, 1<<20, 1<<20), nil, contacts.Open(path))
	if err := contacts.Add(path, "me", m.key.Public().String()); err != nil {
		t.Fatal(err)
	}
	msg, err := bob.SendMessage(context.Background(), bobKey, m.key.Public(), []byte("hi\n"))
	if err != nil {
		t.Fatal(err)
	}
	p := m.path("Maildir", "new", maildir.Base(msg.ID, msg.CreatedAt))
	file, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := mail.ReadMessage(bytes.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	from, err := mail.ParseAddress(parsed.Header.Get("From"))
	if err != nil || from.Name != "bob" || from.Address != bobKey.Public().String()+"@"+mailmsg.Domain {
		t.Errorf("From %q (%v), want bob's name and key", parsed.Header.Get("From"), err)
	}
	fi, err := os.Stat(p)
	if err != nil || fi.Size() != int64(len(file)) {
		t.Errorf("stat size %v (%v), file %d bytes", fi.Size(), err, len(file))
	}
}

// TestMaildirContactRenamedSize: renaming a contact while mounted changes
// the size stat gives, without anything opening, listing or looking up
// the file first (the kernel kept the old size for the message TTL), and
// reading the whole file gives st_size bytes.
func TestMaildirContactRenamedSize(t *testing.T) {
	h := hubdtest.Start(t)
	bob, bobKey := dialUser(t, h)
	path := filepath.Join(t.TempDir(), "contacts")
	if err := contacts.Add(path, "bob", bobKey.Public().String()); err != nil {
		t.Fatal(err)
	}
	m := mountMaildir(t, h, withCache(time.Hour, 1<<20, 1<<20), nil, contacts.Open(path))
	msg, err := bob.SendMessage(context.Background(), bobKey, m.key.Public(), []byte("hi\n"))
	if err != nil {
		t.Fatal(err)
	}
	p := m.path("Maildir", "new", maildir.Base(msg.ID, msg.CreatedAt))
	before, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := contacts.Remove(path, "bob"); err != nil {
		t.Fatal(err)
	}
	if err := contacts.Add(path, "robert.the.third", bobKey.Public().String()); err != nil {
		t.Fatal(err)
	}
	want := before.Size() + int64(len("robert.the.third")-len("bob"))
	eventually(t, "stat to give the size with the new name", func() bool {
		fi, err := os.Stat(p)
		return err == nil && fi.Size() == want
	})
	file, err := os.ReadFile(p)
	if err != nil || int64(len(file)) != want || !bytes.Contains(file, []byte(`"robert.the.third" <`)) {
		t.Errorf("read %d bytes (%v), want %d with the new name:\n%s", len(file), err, want, file)
	}
}

// otherID is a valid message id that is not id: its last character changed.
func otherID(id string) string {
	last := byte('0')
	if id[len(id)-1] == '0' {
		last = '1'
	}
	return id[:len(id)-1] + string(last)
}

// TestContactsChangeBeforeMount: a contacts change the Maildir view hears
// of before the tree is mounted is handled without touching nodes the
// mount is still making. (The notifier read the boxes' inode numbers
// while OnAdd wrote them: go test -race reported it.)
func TestContactsChangeBeforeMount(t *testing.T) {
	h := hubdtest.Start(t)
	_, bobKey := dialUser(t, h)
	path := filepath.Join(t.TempDir(), "contacts")
	if err := contacts.Add(path, "bob", bobKey.Public().String()); err != nil {
		t.Fatal(err)
	}
	book := contacts.Open(path)
	book.Book()
	cl, key := dialUser(t, h)
	mbox, err := cl.GetMailboxID(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	model := hubmail.New(hubmail.Client(cl), key, mbox, mailbox.Config{})
	root := New(model, key.Public(), mailbox.Config{}, Options{UID: uint32(os.Getuid()), GID: uint32(os.Getgid()), Outbox: newTestOutbox(t, model, key), Contacts: book})
	defer root.Close()
	// The view hears of new versions of the book while the mount is being
	// made (forgetting the version it saw makes every check post a job).
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			root.maildir.contactsGen.Store(0)
			root.maildir.checkContacts()
			root.notify.sync()
		}
	}()
	requireFUSE(t)
	dir := t.TempDir()
	srv, err := Mount(dir, root, MountOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Wait()
	defer srv.Unmount()
	close(stop)
	<-done
	if _, err := os.ReadDir(filepath.Join(dir, "Maildir", "new")); err != nil {
		t.Fatal(err)
	}
}
