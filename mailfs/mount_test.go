package mailfs

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hubfs/hubfs/hub"
	"github.com/hubfs/hubfs/hub/hubtest"
	"github.com/hubfs/hubfs/hubd/hubdtest"
	"github.com/hubfs/hubfs/identity"
	"github.com/hubfs/hubfs/mailbox"
	"github.com/hubfs/hubfs/mailbox/hubmail"
	"github.com/hubfs/hubfs/queue"
)

// These tests serve the mount in the test process and only make plain
// syscalls on it (no exec, no mmap: go-fuse's documented deadlocks). The
// behaviour suite with the built binary is in integration/.

type testMount struct {
	dir   string
	root  *Root
	model *mailbox.Model
	key   *identity.PrivateKey
	cl    *hub.Client
	// outbox is the mount's send path, its queue in a temporary directory.
	outbox *queue.Outbox
	srv    *Server
}

// newTestOutbox is the send path a mount gets, over a queue in a
// temporary directory, with short waits so that tests do not idle.
func newTestOutbox(t *testing.T, sender queue.Sender, key *identity.PrivateKey) *queue.Outbox {
	t.Helper()
	dir, err := queue.OpenDir(filepath.Join(t.TempDir(), "queue"))
	if err != nil {
		t.Fatal(err)
	}
	o, err := queue.New(queue.Config{Dir: dir, Sender: sender, Key: key, Attempt: 2 * time.Second, MinBackoff: 10 * time.Millisecond, MaxBackoff: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { o.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return o
}

func requireFUSE(t *testing.T) {
	t.Helper()
	if _, err := os.Stat("/dev/fuse"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true but /dev/fuse is missing: %v", err)
		}
		t.Skipf("no /dev/fuse: %v", err)
	}
}

func dialUser(t *testing.T, h *hubdtest.Hub) (*hub.Client, *identity.PrivateKey) {
	t.Helper()
	u := hubtest.NewUser(t, h)
	return u.Client, u.Key
}

// withCache is the mount's default config with the given cache settings;
// all zeros is a mount without a cache.
func withCache(listTTL time.Duration, cipherBytes, plainBytes int64) mailbox.Config {
	cfg := mailbox.DefaultConfig()
	cfg.ListTTL, cfg.WatchTTL, cfg.CiphertextBytes, cfg.PlaintextBytes = listTTL, 0, cipherBytes, plainBytes
	return cfg
}

// mountTest mounts a user's mailbox in a temporary directory. fs.Mount
// returns once the kernel has the mount, so there is nothing to wait for.
func mountTest(t *testing.T, h *hubdtest.Hub, cfg mailbox.Config) *testMount {
	t.Helper()
	return mountOver(t, h, cfg, func(cl *hub.Client) hubmail.Client { return cl })
}

// mountOver is mountTest with the hub reached through over(client). The
// layers are built as the mount command builds them, from the one config.
func mountOver(t *testing.T, h *hubdtest.Hub, cfg mailbox.Config, over func(*hub.Client) hubmail.Client) *testMount {
	t.Helper()
	return mountWith(t, h, cfg, over, MountOptions{})
}

// mountWith is mountOver with the kernel-facing options given.
func mountWith(t *testing.T, h *hubdtest.Hub, cfg mailbox.Config, over func(*hub.Client) hubmail.Client, mo MountOptions) *testMount {
	t.Helper()
	return mountOpts(t, h, cfg, over, mo, Options{})
}

// mountOpts is mountWith with the tree's options given; the owner and the
// outbox are the test mount's own.
func mountOpts(t *testing.T, h *hubdtest.Hub, cfg mailbox.Config, over func(*hub.Client) hubmail.Client, mo MountOptions, opts Options) *testMount {
	t.Helper()
	requireFUSE(t)
	cl, key := dialUser(t, h)
	mbox, err := cl.GetMailboxID(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	m := &testMount{dir: t.TempDir(), key: key, cl: cl}
	m.model = hubmail.New(over(cl), key, mbox, cfg)
	m.outbox = newTestOutbox(t, m.model, key)
	opts.UID, opts.GID, opts.Outbox = uint32(os.Getuid()), uint32(os.Getgid()), m.outbox
	m.root = New(m.model, key.Public(), cfg, opts)
	srv, err := Mount(m.dir, m.root, mo)
	if err != nil {
		t.Fatal(err)
	}
	m.srv = srv
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

func (m *testMount) path(p ...string) string { return filepath.Join(append([]string{m.dir}, p...)...) }

// TestKernelForgetsWhatChangedLocally: message dentries and attributes are
// cached by the kernel for an hour, yet marking read and deleting show at
// once, because the notifier invalidates exactly those entries.
func TestKernelForgetsWhatChangedLocally(t *testing.T) {
	h := hubdtest.Start(t)
	m := mountTest(t, h, withCache(time.Hour, 1<<20, 1<<20))
	bob, bobKey := dialUser(t, h)
	ctx := context.Background()
	msg, err := bob.SendMessage(ctx, bobKey, m.key.Public(), []byte("hi"))
	if err != nil {
		t.Fatal(err)
	}
	var st unix.Stat_t
	for _, p := range []string{m.path("inbox", msg.ID), m.path("unread", msg.ID)} {
		if err := unix.Stat(p, &st); err != nil {
			t.Fatalf("stat %s: %v", p, err)
		}
	}
	if st.Atim != st.Mtim {
		t.Fatalf("unread: atime != mtime")
	}
	if err := unix.Setxattr(m.path("inbox", msg.ID), xattrRead, []byte("1"), 0); err != nil {
		t.Fatal(err)
	}
	m.root.notify.sync()
	if err := unix.Stat(m.path("unread", msg.ID), &st); err != unix.ENOENT {
		t.Errorf("stat unread/<id> after marking read: %v, want ENOENT", err)
	}
	if err := unix.Stat(m.path("inbox", msg.ID), &st); err != nil {
		t.Fatal(err)
	}
	if st.Atim == st.Mtim {
		t.Errorf("atime still created_at after marking read: the kernel kept stale attributes")
	}

	// A message sent to oneself: the sentbox copy is there when close
	// returns; the inbox copy at the next listing.
	if err := os.WriteFile(m.path("outbox", m.key.Public().String()), []byte("note"), 0o600); err != nil {
		t.Fatal(err)
	}
	sent, err := os.ReadDir(m.path("sentbox"))
	if err != nil || len(sent) != 1 {
		t.Fatalf("sentbox after a send = %v, %v", sent, err)
	}
	inbox, err := os.ReadDir(m.path("inbox"))
	if err != nil || len(inbox) != 2 {
		t.Fatalf("inbox after a send to self = %v, %v", inbox, err)
	}
	if err := os.Remove(m.path("inbox", msg.ID)); err != nil {
		t.Fatal(err)
	}
	m.root.notify.sync()
	if err := unix.Stat(m.path("inbox", msg.ID), &st); err != unix.ENOENT {
		t.Errorf("stat after rm: %v, want ENOENT", err)
	}
}

// TestWarmListingMakesNoHubCall counts hub calls, not time: a cold ls -l
// of the inbox is one listing call (metadata only), a warm one within the
// TTL none, and reading every message after it one batch of bodies.
func TestWarmListingMakesNoHubCall(t *testing.T) {
	h := hubdtest.Start(t)
	m := mountTest(t, h, withCache(time.Hour, 1<<20, 1<<20))
	bob, bobKey := dialUser(t, h)
	ctx := context.Background()
	for range 20 {
		if _, err := bob.SendMessage(ctx, bobKey, m.key.Public(), []byte("body")); err != nil {
			t.Fatal(err)
		}
	}
	lsl := func() {
		ents, err := os.ReadDir(m.path("inbox"))
		if err != nil || len(ents) != 20 {
			t.Fatalf("ls inbox = %d entries, %v", len(ents), err)
		}
		for _, e := range ents {
			fi, err := os.Lstat(m.path("inbox", e.Name()))
			if err != nil || fi.Size() != 4 {
				t.Fatalf("stat %s = %v, %v", e.Name(), fi, err)
			}
		}
	}
	lsl()
	if n := m.model.Stats().HubCalls; n != 1 {
		t.Errorf("cold ls -l of 20 messages: %d hub calls, want 1", n)
	}
	lsl()
	ents, _ := os.ReadDir(m.path("inbox"))
	for _, e := range ents {
		if b, err := os.ReadFile(m.path("inbox", e.Name())); err != nil || string(b) != "body" {
			t.Fatalf("read %s = %q, %v", e.Name(), b, err)
		}
	}
	if n := m.model.Stats().HubCalls; n != 2 {
		t.Errorf("warm ls -l and cat of all: %d hub calls in total, want 2 (the listing, then the 20 bodies in one batch)", n)
	}
}
