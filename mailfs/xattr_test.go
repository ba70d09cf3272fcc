package mailfs

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hubfs/hubfs/hubd/hubdtest"
)

func TestUnservedXattrNames(t *testing.T) {
	for name, want := range map[string]bool{
		"security.selinux":         true,
		"security.capability":      true,
		"system.posix_acl_access":  true,
		"system.posix_acl_default": true,
		"trusted.overlay.opaque":   true,
		"user.hubfs.from":          false,
		"user.hubfs.nope":          false,
		"user.mime_type":           false,
		"securityselinux":          false,
		"":                         false,
	} {
		if got := unservedXattr(name); got != want {
			t.Errorf("unservedXattr(%q) = %v, want %v", name, got, want)
		}
	}
}

// TestLsAsksUnservedXattrsOnce: GNU ls -l asks security.selinux and
// system.posix_acl_access of every file, and the kernel caches no answer
// for FUSE. Answered EOPNOTSUPP, ls remembers the device and stops after
// the first file; answered ENODATA (as before), it asked 2 per file. The
// user.hubfs.* names answer as before.
func TestLsAsksUnservedXattrsOnce(t *testing.T) {
	const n = 40
	h := hubdtest.Start(t)
	m := mountTest(t, h, withCache(time.Hour, 1<<20, 1<<20))
	bob, bobKey := dialUser(t, h)
	ctx := context.Background()
	var last string
	for range n {
		msg, err := bob.SendMessage(ctx, bobKey, m.key.Public(), []byte("body"))
		if err != nil {
			t.Fatal(err)
		}
		last = msg.ID
	}
	// /bin/ls runs as a child: exec of a binary outside the mount is safe.
	for _, dir := range []string{"inbox", "sentbox", ""} {
		before := m.root.unservedXattrs.Load()
		out, err := exec.Command("ls", "-l", m.path(dir)).CombinedOutput()
		if err != nil {
			t.Fatalf("ls -l %s: %v: %s", dir, err, out)
		}
		if dir == "inbox" && strings.Count(string(out), "\n") != n+1 {
			t.Fatalf("ls -l inbox:\n%s", out)
		}
		// security.selinux and the ACL of the first file (and the
		// default ACL if it is a directory) and no more.
		if got := m.root.unservedXattrs.Load() - before; got > 3 {
			t.Errorf("ls -l %s: %d getxattr requests for security.*/system.* names, want at most 3", dir, got)
		}
	}

	for _, p := range []string{m.path("inbox", last), m.path("inbox"), m.path(".hubfs", "status"), m.path("outbox"), m.path()} {
		for _, name := range []string{"security.selinux", "system.posix_acl_access", "trusted.x"} {
			if _, err := unix.Getxattr(p, name, make([]byte, 64)); !errors.Is(err, syscall.EOPNOTSUPP) {
				t.Errorf("getxattr %s %s: %v, want EOPNOTSUPP", p, name, err)
			}
		}
	}
	if _, err := unix.Getxattr(m.path("inbox", last), "user.hubfs.nope", nil); !errors.Is(err, syscall.ENODATA) {
		t.Errorf("getxattr user.hubfs.nope: %v, want ENODATA", err)
	}
	out, err := exec.Command("getfattr", "-d", "--absolute-names", m.path("inbox", last)).CombinedOutput()
	if err != nil {
		t.Fatalf("getfattr -d: %v: %s", err, out)
	}
	for _, want := range []string{`user.hubfs.from="` + bobKey.Public().String() + `"`, `user.hubfs.to="` + m.key.Public().String() + `"`, `user.hubfs.signature="valid"`, `user.hubfs.read_at=""`, `user.hubfs.created_at="`} {
		if !strings.Contains(string(out), want) {
			t.Errorf("getfattr -d lacks %s:\n%s", want, out)
		}
	}
}

// TestCpPreservingIntoWritableFiles: cp -p sets the ACL of what it copies
// (fsetxattr system.posix_acl_access), then its mode and times. Answered
// ENODATA (go-fuse's answer for a node without Setxattr), cp failed with
// "preserving permissions: No data available" for a document, a schema
// and a draft; answered EOPNOTSUPP it falls back to fchmod and succeeds.
func TestCpPreservingIntoWritableFiles(t *testing.T) {
	m := mountTest(t, hubdtest.Start(t), withCache(0, 0, 0))
	newDB(t, m, "app")
	dir := m.path("threads", "app", "people")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	src := t.TempDir() + "/src.json"
	if err := os.WriteFile(src, []byte(`{"name":"Ann"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	schema := t.TempDir() + "/schema.json"
	if err := os.WriteFile(schema, []byte(`{"type":"object","properties":{"_id":{"type":"string"}}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ src, dst string }{
		{src, dir + "/ann.json"}, // created
		{src, dir + "/ann.json"}, // saved over
		{schema, dir + "/" + schemaFileName},
		{src, m.path("outbox", m.key.Public().String())},
	} {
		// cp runs as a child: exec of a binary outside the mount is safe.
		if out, err := exec.Command("cp", "-p", c.src, c.dst).CombinedOutput(); err != nil {
			t.Errorf("cp -p into %s: %v: %s", c.dst, err, out)
		}
	}
	if got, err := os.ReadFile(dir + "/ann.json"); err != nil || string(got) != `{"_id":"ann","name":"Ann"}`+"\n" {
		t.Errorf("ann.json after cp -p: %q, %v", got, err)
	}
	if got := sentBodies(t, m); len(got) != 1 || got[0] != `{"name":"Ann"}` {
		t.Errorf("sentbox after cp -p into the outbox: %q", got)
	}
	if err := unix.Setxattr(dir+"/ann.json", "security.selinux", []byte("x"), 0); !errors.Is(err, syscall.EOPNOTSUPP) {
		t.Errorf("setxattr security.selinux: %v, want EOPNOTSUPP", err)
	}
	if err := unix.Removexattr(dir+"/ann.json", "system.posix_acl_access"); !errors.Is(err, syscall.EOPNOTSUPP) {
		t.Errorf("removexattr system.posix_acl_access: %v, want EOPNOTSUPP", err)
	}
}
