package integration

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hubfs/hubfs/hubd/hubdtest"
)

// TestMailbox is the behaviour suite: every configuration must pass all of
// it. Bob writes to alice through his outbox; alice reads, marks and
// deletes through hers.
func TestMailbox(t *testing.T) {
	requireFUSE(t)
	for _, cfg := range configs {
		t.Run(cfg.name, func(t *testing.T) {
			var alice, bob *user
			var am, bm *mount
			if cfg.embedded {
				alice = newEmbeddedUser(t, "alice")
				am = mountUser(t, alice, cfg.args...)
				key := struct{ Key, Secret string }{}
				out, _ := run(t, nil, "keys", "create", "--data", alice.dataDir, "--json")
				if err := json.Unmarshal([]byte(out), &key); err != nil {
					t.Fatalf("keys create --json: %v: %s", err, out)
				}
				bob = newUserAt(t, statusOf(t, am).Hub, key.Key, key.Secret, "bob")
			} else {
				h := hubdtest.Start(t)
				alice, bob = newUser(t, h, "alice"), newUser(t, h, "bob")
				am = mountUser(t, alice, cfg.args...)
			}
			bm = mountUser(t, bob, cfg.args...)
			t.Run("SendAndRead", func(t *testing.T) { testSendAndRead(t, alice, bob, am, bm) })
			t.Run("OutboxWriters", func(t *testing.T) { testOutboxWriters(t, alice, am, bm) })
			t.Run("Threads", func(t *testing.T) { testThreads(t, am) })
			t.Run("Unsupported", func(t *testing.T) { testUnsupported(t, alice, am, bm) })
			t.Run("Live", func(t *testing.T) { testLive(t, cfg, alice, bob, am, bm) })
		})
	}
}

func testSendAndRead(t *testing.T, alice, bob *user, am, bm *mount) {
	before := ids(t, am, "inbox")
	bodies := [][]byte{[]byte("hello alice\n"), []byte(""), bytes.Repeat([]byte("x"), 100_000)}
	// The empty file is closed with nothing written: it must send nothing.
	for _, b := range bodies {
		send(t, bm, alice.pub, b)
	}
	if left := ids(t, bm, "outbox"); len(left) != 0 {
		t.Errorf("outbox after sends = %v, want empty", left)
	}
	// The sender's copies are in bob's sentbox as soon as the sends returned.
	sent := ids(t, bm, "sentbox")
	if len(sent) != 2 {
		t.Fatalf("bob's sentbox = %v, want 2 messages", sent)
	}
	for i, id := range sent {
		got, err := os.ReadFile(bm.path("sentbox", id))
		if err != nil {
			t.Fatal(err)
		}
		want := [][]byte{bodies[0], bodies[2]}[i]
		if !bytes.Equal(got, want) {
			t.Errorf("sentbox/%s: %d bytes, want %d", id, len(got), len(want))
		}
	}

	got := waitIDs(t, am, "inbox", len(before)+2)
	newIDs := slices.DeleteFunc(got, func(id string) bool { return slices.Contains(before, id) })
	if !slices.Equal(newIDs, sent) {
		t.Fatalf("alice's new inbox ids %v, bob's sentbox %v: want the same ids", newIDs, sent)
	}

	// ls -l: sizes are plaintext lengths, times are created_at, mode 0400.
	out := mustSh(t, am, `ls -l --time-style=+%s "$MNT/inbox"`)
	for i, id := range newIDs {
		line := lineWith(out, id)
		if line == "" {
			t.Fatalf("ls -l has no line for %s:\n%s", id, out)
		}
		size := fmt.Sprint(len([][]byte{bodies[0], bodies[2]}[i]))
		if f := strings.Fields(line); len(f) < 7 || f[0] != "-r--------" || f[4] != size {
			t.Errorf("ls -l line %q: want mode -r-------- and size %s", line, size)
		}
	}
	var st unix.Stat_t
	if err := unix.Stat(am.path("inbox", newIDs[0]), &st); err != nil {
		t.Fatal(err)
	}
	if st.Uid != uint32(os.Getuid()) {
		t.Errorf("owner uid %d, want the mounting user %d", st.Uid, os.Getuid())
	}
	if st.Atim != st.Mtim {
		t.Errorf("unread message: atime %v != mtime %v (atime is created_at while unread)", st.Atim, st.Mtim)
	}

	// cat gives the plaintext; reading twice gives the same.
	id := newIDs[0]
	if out := mustSh(t, am, `cat "$MNT/inbox/`+id+`"; cat "$MNT/inbox/`+id+`"`); out != "hello alice\nhello alice\n" {
		t.Errorf("cat = %q", out)
	}

	// xattrs.
	xa := mustSh(t, am, `getfattr -d --absolute-names "$MNT/inbox/`+id+`"`)
	for _, want := range []string{
		`user.hubfs.from="` + bob.pub + `"`,
		`user.hubfs.to="` + alice.pub + `"`,
		`user.hubfs.read_at=""`,
		`user.hubfs.signature="valid"`,
		`user.hubfs.created_at="` + time.Unix(st.Mtim.Unix()).UTC().Format("2006-01-02T15:04:05"),
	} {
		if !strings.Contains(xa, want) {
			t.Errorf("getfattr -d lacks %s:\n%s", want, xa)
		}
	}

	// Reading never marks read (grep -r changes nothing): both are unread.
	mustSh(t, am, `grep -rq hello "$MNT/inbox"`)
	if u := ids(t, am, "unread"); !slices.Contains(u, newIDs[0]) || !slices.Contains(u, newIDs[1]) {
		t.Fatalf("unread after reading = %v, want both new messages", u)
	}

	// setfattr marks read: the message leaves unread/, atime becomes read_at.
	mustSh(t, am, `setfattr -n user.hubfs.read -v 1 "$MNT/inbox/`+id+`"`)
	if u := ids(t, am, "unread"); slices.Contains(u, id) {
		t.Errorf("unread/ still lists %s after setfattr user.hubfs.read", id)
	}
	readAt := mustSh(t, am, `getfattr --absolute-names --only-values -n user.hubfs.read_at "$MNT/inbox/`+id+`"`)
	if _, err := time.Parse(time.RFC3339Nano, readAt); err != nil {
		t.Errorf("read_at after marking = %q: %v", readAt, err)
	}
	if err := unix.Stat(am.path("inbox", id), &st); err != nil {
		t.Fatal(err)
	}
	if st.Atim == st.Mtim {
		t.Errorf("atime still created_at after marking read")
	}

	// rm through unread/ deletes the message on the hub: gone from inbox/
	// too, here and in a fresh listing on another mount of the same user.
	other := newIDs[1]
	mustSh(t, am, `rm "$MNT/unread/`+other+`"`)
	if got := ids(t, am, "inbox"); slices.Contains(got, other) {
		t.Errorf("inbox still lists %s after rm unread/%s", other, other)
	}
	if _, err := os.Stat(am.path("inbox", other)); !os.IsNotExist(err) {
		t.Errorf("stat of a deleted message: %v, want ENOENT", err)
	}
	mustSh(t, am, `rm "$MNT/inbox/`+id+`"`)
	if _, err := os.Stat(am.path("inbox", id)); !os.IsNotExist(err) {
		t.Errorf("stat after rm: %v, want ENOENT", err)
	}
	if err := os.Remove(am.path("inbox", id)); errnoOf(err) != syscall.ENOENT {
		t.Errorf("rm of a removed message: %v, want ENOENT", err)
	}

	// Bob's sentbox copies are his own: deleting one there leaves alice's.
	mustSh(t, bm, `rm "$MNT/sentbox/`+sent[0]+`"`)
	if got := ids(t, bm, "sentbox"); slices.Contains(got, sent[0]) {
		t.Errorf("sentbox still lists %s after rm", sent[0])
	}
}

func testOutboxWriters(t *testing.T, alice *user, am, bm *mount) {
	before := len(ids(t, am, "inbox"))
	sentBefore := len(ids(t, bm, "sentbox"))
	to := `"$MNT/outbox/` + alice.pub + `"`
	// Each of these must send exactly one message with exactly this body.
	mustSh(t, bm, `
echo "via echo" > `+to+`
printf 'via %s\n' printf > `+to+`
cat > `+to+` <<EOF
via heredoc
EOF
printf 'via cp\n' > /tmp/hubfs-cp-src.$$ && cp /tmp/hubfs-cp-src.$$ `+to+` && rm /tmp/hubfs-cp-src.$$
echo "via tee" | tee `+to+` >/dev/null
exec 3>`+to+`
printf 'chunk one, ' >&3
printf 'chunk two\n' >&3
exec 3>&-
# a group redirect: the external /bin/echo exits holding the shell's descriptor
{ echo "group one"; /bin/echo "group two"; echo "group three"; } > `+to+`
# three writers to one recipient at once: three messages
for i in 1 2 3; do (echo "parallel $i" > `+to+`) & done
wait
`)
	// One process, two opens of the same name at once: two messages.
	var fs []*os.File
	for _, body := range []string{"same process A", "same process B"} {
		f, err := os.OpenFile(bm.path("outbox", alice.pub), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteString(body); err != nil {
			t.Fatal(err)
		}
		fs = append(fs, f)
	}
	for _, f := range fs {
		if err := f.Close(); err != nil {
			t.Errorf("close of one of two opens of one name: %v", err)
		}
	}
	want := []string{"via echo", "via printf", "via heredoc", "via cp", "via tee", "chunk one, chunk two", "group one\ngroup two\ngroup three", "parallel 1", "parallel 2", "parallel 3", "same process A", "same process B"}
	if got := len(ids(t, bm, "sentbox")) - sentBefore; got != len(want) {
		t.Errorf("bob's sentbox grew by %d, want %d", got, len(want))
	}
	got := waitIDs(t, am, "inbox", before+len(want))
	var bodies []string
	for _, id := range got[before:] {
		b, err := os.ReadFile(am.path("inbox", id))
		if err != nil {
			t.Fatal(err)
		}
		bodies = append(bodies, strings.TrimSuffix(string(b), "\n"))
	}
	slices.Sort(bodies)
	slices.Sort(want)
	if !slices.Equal(bodies, want) {
		t.Errorf("received bodies %q, want %q", bodies, want)
	}
	if left := ids(t, bm, "outbox"); len(left) != 0 {
		t.Errorf("outbox after sends = %v, want empty", left)
	}
}

func testThreads(t *testing.T, m *mount) {
	out := mustSh(t, m, `
mkdir "$MNT/threads/project-x"
ls "$MNT/threads"
cat "$MNT/threads/project-x/id"
grep -q '"name": "project-x"' "$MNT/threads/project-x/info.json"
`)
	if !strings.Contains(out, "hubmail") || !strings.Contains(out, "project-x") {
		t.Errorf("ls threads after mkdir:\n%s", out)
	}
	if err := os.Mkdir(m.path("threads", "project-x"), 0o700); errnoOf(err) != syscall.EEXIST {
		t.Errorf("mkdir of an existing thread: %v, want EEXIST", err)
	}
	if err := syscall.Rmdir(m.path("threads", "hubmail")); err != syscall.EBUSY {
		t.Errorf("rmdir threads/hubmail: %v, want EBUSY", err)
	}
	mustSh(t, m, `rmdir "$MNT/threads/project-x"`)
	if got := ids(t, m, "threads"); slices.Contains(got, "project-x") {
		t.Errorf("threads after rmdir = %v", got)
	}
	if _, err := os.Stat(m.path("threads", "project-x")); !os.IsNotExist(err) {
		t.Errorf("stat after rmdir: %v, want ENOENT", err)
	}
}

// testUnsupported checks the errno table of docs/semantics.md for what the
// tree does not do.
func testUnsupported(t *testing.T, alice *user, am, bm *mount) {
	send(t, bm, alice.pub, []byte("for errno checks\n"))
	inbox := waitIDs(t, am, "inbox", 1)
	msg := am.path("inbox", inbox[len(inbox)-1])
	cases := []struct {
		name string
		err  error
		want syscall.Errno
	}{
		{"write into a message", func() error {
			f, err := os.OpenFile(msg, os.O_WRONLY, 0)
			if err == nil {
				f.Close()
			}
			return err
		}(), syscall.EACCES},
		{"create in inbox", os.WriteFile(am.path("inbox", "new"), []byte("x"), 0o600), syscall.EPERM},
		{"rename a message", os.Rename(msg, am.path("inbox", "01aaaaaaaaaaaaaaaaaaaaaaaa")), syscall.EPERM},
		{"link a message", os.Link(msg, am.path("inbox", "01bbbbbbbbbbbbbbbbbbbbbbbb")), syscall.EPERM},
		{"symlink in inbox", os.Symlink("x", am.path("inbox", "l")), syscall.EPERM},
		{"chmod a message", os.Chmod(msg, 0o600), syscall.EPERM},
		{"truncate a message", os.Truncate(msg, 0), syscall.EPERM},
		{"mkdir in inbox", os.Mkdir(am.path("inbox", "d"), 0o700), syscall.EPERM},
		{"mkdir in outbox", os.Mkdir(am.path("outbox", "d"), 0o700), syscall.EPERM},
		{"create in root", os.WriteFile(am.path("x"), nil, 0o600), syscall.EPERM},
		{"symlink in root", os.Symlink("x", am.path("l")), syscall.EPERM},
		{"mknod in .hubfs", unix.Mknod(am.path(".hubfs", "p"), unix.S_IFIFO|0o600, 0), syscall.EPERM},
		{"link in .hubfs", os.Link(am.path(".hubfs", "status"), am.path(".hubfs", "s")), syscall.EPERM},
		{"symlink in a thread", os.Symlink("x", am.path("threads", "hubmail", "l")), syscall.EPERM},
		{"rename a thread", os.Rename(am.path("threads", "hubmail"), am.path("threads", "other")), syscall.EPERM},
		{"set a read-only xattr", unix.Setxattr(msg, "user.hubfs.from", []byte("x"), 0), syscall.EPERM},
		{"set an unknown xattr", unix.Setxattr(msg, "user.other", []byte("x"), 0), syscall.ENOTSUP},
		{"mark unread", unix.Setxattr(msg, "user.hubfs.read", []byte("0"), 0), syscall.EINVAL},
		{"write a control file", os.WriteFile(am.path(".hubfs", "status"), []byte("x"), 0o600), syscall.EACCES},
		{"open a missing message", func() error { _, err := os.ReadFile(am.path("inbox", "01cccccccccccccccccccccccc")); return err }(), syscall.ENOENT},
		{"open a non-id name", func() error { _, err := os.ReadFile(am.path("inbox", "README")); return err }(), syscall.ENOENT},
	}
	for _, c := range cases {
		if got := errnoOf(c.err); got != c.want {
			t.Errorf("%s: %v (errno %d), want %v", c.name, c.err, got, c.want)
		}
	}
}

// waitIDs lists dir until it has at least n entries. A send through another
// mount reaches this one's listing after at most the listing TTL; the wait
// is bounded, and a poll, not a sleep-and-hope.
func waitIDs(t testing.TB, m *mount, dir string, n int) []string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := ids(t, m, dir)
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s has %d entries after 10s, want %d", dir, len(got), n)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func lineWith(out, s string) string {
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, s) {
			return l
		}
	}
	return ""
}

// statusOf reads .hubfs/status.
func statusOf(t testing.TB, m *mount) (st struct {
	Hub, Identity string
	Online        bool
}) {
	t.Helper()
	b, err := os.ReadFile(m.path(".hubfs", "status"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatalf(".hubfs/status is not JSON: %v\n%s", err, b)
	}
	return st
}
