package integration

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hubfs/hubfs/hub"
)

// TestStartOffline: a mount whose disk cache holds its identity's
// listings starts while the hub is down: ls and cat of the mail it had
// seen work, .hubfs/status says offline, a send waits in the queue, and
// once the hub is back the mount finds it by itself: it resyncs (mail that
// came meanwhile shows), follows the watch and delivers the queue. An
// identity with no cache fails to mount, with the hub's error and the
// reason it cannot start offline.
func TestStartOffline(t *testing.T) {
	requireFUSE(t)
	h := startHubProc(t)
	alice := newUserAt(t, h.addr, h.key, h.secret, "alice")
	bob := newUserAt(t, h.addr, h.key, h.secret, "bob")
	bobCl := faultClient(t, h, bob)
	aliceCl := faultClient(t, h, alice)
	ctx := context.Background()
	bodies := map[string]string{}
	for i := range 3 {
		body := strings.Repeat(string(rune('a'+i)), 100+i)
		m, err := bobCl.Client.SendMessage(ctx, bobCl.Key, aliceCl.Key.Public(), []byte(body))
		if err != nil {
			t.Fatal(err)
		}
		bodies[m.ID] = body
	}

	// The first mount sees the mail (cat *), so the bodies are on disk.
	first := mountUser(t, alice)
	mustSh(t, first, `cat "$MNT"/inbox/* >/dev/null`)
	first.unmount(t)
	h.stop(t)

	m := mountUser(t, alice, "--poll-interval=1s")
	got := ids(t, m, "inbox")
	if len(got) != 3 {
		t.Fatalf("ls inbox offline = %v, want the 3 seen", got)
	}
	for _, id := range got {
		b, err := os.ReadFile(m.path("inbox", id))
		if err != nil || string(b) != bodies[id] {
			t.Errorf("cat inbox/%s offline = %.20q, %v; want %.20q", id, b, err, bodies[id])
		}
	}
	waitFor(t, 30*time.Second, "status mode offline", func() bool { return statusLive(t, m).Mode == "offline" })
	if st := statusLive(t, m); st.Online {
		t.Errorf("status offline but online: %+v", st)
	}
	send(t, m, bob.pub, []byte("sent while offline"))
	if q := ids(t, m, "queued"); len(q) != 1 {
		t.Errorf("queued/ offline = %v, want the one send", q)
	}

	// A user who never mounted has nothing to start from.
	carol := newUserAt(t, h.addr, h.key, h.secret, "carol")
	cmd := exec.Command(hubfsBin, "mount", "--op-timeout=2s", t.TempDir())
	cmd.Env = carol.env()
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "cannot start offline") || !strings.Contains(string(out), "no listings of this identity") {
		t.Errorf("mount with no cache and no hub: %v\n%s\nwant a failure naming the hub's error and the missing cache", err, out)
	}

	h.start(t)
	late, err := bobCl.Client.SendMessage(ctx, bobCl.Key, aliceCl.Key.Public(), []byte("while alice was offline"))
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 60*time.Second, "the mount back on the watch", func() bool { return statusLive(t, m).Mode == "watch" })
	waitFor(t, 30*time.Second, "the message sent meanwhile listed", func() bool { return exists(m.path("inbox", late.ID)) })
	if b, err := os.ReadFile(m.path("inbox", late.ID)); err != nil || string(b) != "while alice was offline" {
		t.Errorf("cat of the message sent meanwhile = %q, %v", b, err)
	}
	waitFor(t, 60*time.Second, "the queue delivered", func() bool { return len(ids(t, m, "queued")) == 0 })
	var delivered bool
	for msg, err := range bobCl.Client.InboxMessages(ctx, hub.InboxListOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		if plain, err := msg.Open(bobCl.Key); err == nil && string(plain) == "sent while offline" {
			delivered = true
		}
	}
	if !delivered {
		t.Errorf("the send queued offline is not in bob's inbox")
	}
	// The cache dir holds only what it may: the hub file names no secret.
	hubFile, err := os.ReadFile(filepath.Join(filepath.Dir(alice.keyFile), "cache", "hubfs", alice.pub, "hub"))
	if err != nil || !strings.Contains(string(hubFile), h.addr) || strings.Contains(string(hubFile), h.secret) || strings.Contains(string(hubFile), h.key) {
		t.Errorf("the disk cache's hub file: %q, %v", hubFile, err)
	}
}
