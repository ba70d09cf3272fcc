package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hubfs/hubfs/hub"
	"github.com/hubfs/hubfs/hubd/hubdtest"
	"github.com/hubfs/hubfs/identity"
)

// The outbox contract (docs/semantics.md, "Sending"): a message goes out
// whole, once, or not at all, and a close that returned 0 means the message
// is on the hub or durably queued.

// inbox is what a user's inbox holds, read straight from the hub: bodies in
// id order.
func inbox(t testing.TB, cl *hub.Client, key *identity.PrivateKey) []string {
	t.Helper()
	var out []string
	for m, err := range cl.InboxMessages(context.Background(), hub.InboxListOptions{Ascending: true}) {
		if err != nil {
			t.Fatalf("list inbox: %v", err)
		}
		b, err := m.Open(key)
		if err != nil {
			t.Fatalf("open %s: %v", m.ID, err)
		}
		out = append(out, string(b))
	}
	return out
}

// settled sends a marker through m and waits until it is in the inbox:
// whatever was sent before it has arrived by then, so the inbox can be
// checked for what must not be there without sleeping.
func settled(t testing.TB, m *mount, to string, cl *hub.Client, key *identity.PrivateKey) []string {
	t.Helper()
	marker := fmt.Sprintf("marker %d", time.Now().UnixNano())
	send(t, m, to, []byte(marker))
	var got []string
	waitFor(t, 20*time.Second, "the marker to arrive", func() bool {
		got = inbox(t, cl, key)
		return slices.Contains(got, marker)
	})
	return slices.DeleteFunc(got, func(s string) bool { return strings.HasPrefix(s, "marker ") })
}

type queuedView struct {
	ID        string    `json:"id"`
	To        string    `json:"to"`
	Size      int       `json:"size"`
	QueuedAt  time.Time `json:"queued_at"`
	Attempts  int       `json:"attempts"`
	LastError string    `json:"last_error"`
	State     string    `json:"state"`
}

func readQueued(t testing.TB, m *mount, id string) queuedView {
	t.Helper()
	b, err := os.ReadFile(m.path("queued", id))
	if err != nil {
		t.Fatalf("read queued/%s: %v", id, err)
	}
	var q queuedView
	if err := json.Unmarshal(b, &q); err != nil {
		t.Fatalf("queued/%s is not JSON: %v\n%s", id, err, b)
	}
	return q
}

// TestOutboxQueue: with the hub down, close returns 0 once the sealed
// message is on disk; queued/ shows it; it is delivered once when the hub
// is back, and also after the mount was killed and started again.
func TestOutboxQueue(t *testing.T) {
	requireFUSE(t)
	h := hubdtest.Start(t)
	alice, bob := newUser(t, h, "alice"), newUser(t, h, "bob")
	bcl, bkey := clientFor(t, h, bob.keyFile)
	am := mountUser(t, alice, "--op-timeout=2s", "--send-timeout=1s")
	h.Stop(t)

	// echo in a shell ignores close's result: it must not matter.
	mustSh(t, am, `echo "while you were out" > "$MNT/outbox/`+bob.pub+`"`)
	q := ids(t, am, "queued")
	if len(q) != 1 {
		t.Fatalf("queued/ = %v, want one message", q)
	}
	v := readQueued(t, am, q[0])
	if v.To != bob.pub || v.Size != len("while you were out\n") || v.State != "pending" || v.QueuedAt.IsZero() {
		t.Errorf("queued/%s = %+v", q[0], v)
	}
	if to := mustSh(t, am, `getfattr --absolute-names --only-values -n user.hubfs.to "$MNT/queued/`+q[0]+`"`); to != bob.pub {
		t.Errorf("user.hubfs.to = %q, want %s", to, bob.pub)
	}
	st := statusOfQueue(t, am)
	if st.Length != 1 {
		t.Errorf(".hubfs/status queue length %d, want 1", st.Length)
	}
	// Nothing readable at rest: the queue holds ciphertext only.
	stateDir := alice.stateDir()
	if out, _ := exec.Command("grep", "-r", "-l", "while you were out", stateDir).CombinedOutput(); len(out) != 0 {
		t.Errorf("plaintext found in the queue:\n%s", out)
	}
	if fi, err := os.Stat(stateDir + "/hubfs/" + alice.pub + "/queue"); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("queue dir: %v, %v, want mode 0700", fi, err)
	}

	// Two more, then the mount dies before the hub is back.
	mustSh(t, am, `printf one > "$MNT/outbox/`+bob.pub+`"; printf two > "$MNT/outbox/`+bob.pub+`"`)
	am.cmd.Process.Kill()
	<-am.done
	am.done <- nil
	runErr(nil, "umount", "--lazy", am.dir)

	h.Restart(t)
	am2 := mountUser(t, alice, "--op-timeout=2s")
	waitFor(t, 20*time.Second, "the queue to drain", func() bool { return len(ids(t, am2, "queued")) == 0 })
	got := settled(t, am2, bob.pub, bcl, bkey)
	want := []string{"while you were out\n", "one", "two"}
	if !slices.Equal(got, want) {
		t.Errorf("bob's inbox = %q, want %q, each once and in order", got, want)
	}
	if n := len(ids(t, am2, "sentbox")); n != 4 {
		t.Errorf("alice's sentbox has %d messages, want 4 (three queued and the marker)", n)
	}
}

// TestOutboxCancel: rm queued/<id> means it is never sent.
func TestOutboxCancel(t *testing.T) {
	requireFUSE(t)
	h := hubdtest.Start(t)
	alice, bob := newUser(t, h, "alice"), newUser(t, h, "bob")
	bcl, bkey := clientFor(t, h, bob.keyFile)
	am := mountUser(t, alice, "--op-timeout=2s", "--send-timeout=1s")
	h.Stop(t)
	send(t, am, bob.pub, []byte("never mind"))
	q := ids(t, am, "queued")
	if len(q) != 1 {
		t.Fatalf("queued/ = %v", q)
	}
	if err := os.Remove(am.path("queued", q[0])); err != nil {
		t.Fatalf("rm queued/%s: %v", q[0], err)
	}
	if q := ids(t, am, "queued"); len(q) != 0 {
		t.Errorf("queued/ after rm = %v", q)
	}
	h.Restart(t)
	if got := settled(t, am, bob.pub, bcl, bkey); len(got) != 0 {
		t.Errorf("a cancelled message arrived: %q", got)
	}
}

// TestOutboxCompleteOrNothing: a draft whose write failed, or whose writer
// was killed, sends nothing, although the shell's close is what ends it.
func TestOutboxCompleteOrNothing(t *testing.T) {
	requireFUSE(t)
	h := hubdtest.Start(t)
	alice, bob := newUser(t, h, "alice"), newUser(t, h, "bob")
	bcl, bkey := clientFor(t, h, bob.keyFile)
	am := mountUser(t, alice, "--max-size=1MiB")
	out := "$MNT/outbox/" + bob.pub

	big := t.TempDir() + "/big"
	if err := os.WriteFile(big, bytes.Repeat([]byte("x"), 2<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	if o, err := sh(t, am, `cp "`+big+`" "`+out+`"`); err == nil || !strings.Contains(o, "too large") {
		t.Errorf("cp of 2 MiB into outbox/: %v %s, want File too large", err, o)
	}
	for _, sig := range []string{"TERM", "KILL"} {
		// The writer dies mid-message; the shell that opened the redirect
		// closes last.
		o, err := sh(t, am, `timeout -s `+sig+` 0.5 sh -c 'printf "PAY 100 EUR TO "; sleep 5; printf ALICE' > "`+out+`" || true`)
		if err != nil {
			t.Errorf("SIG%s writer: %v %s", sig, err, o)
		}
	}
	if got := settled(t, am, bob.pub, bcl, bkey); len(got) != 0 {
		for _, m := range got {
			t.Errorf("a fragment was delivered: %d bytes %.40q", len(m), m)
		}
	}
}

// TestOutboxOtherPaths: data written to one draft through /dev/stdout,
// /dev/fd/N or a child is one message, whole.
func TestOutboxOtherPaths(t *testing.T) {
	requireFUSE(t)
	h := hubdtest.Start(t)
	alice, bob := newUser(t, h, "alice"), newUser(t, h, "bob")
	bcl, bkey := clientFor(t, h, bob.keyFile)
	am := mountUser(t, alice)
	out := "$MNT/outbox/" + bob.pub
	report := t.TempDir() + "/report"
	body := strings.Repeat("quarterly figures\n", 2000) // several writes' worth
	if err := os.WriteFile(report, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	mustSh(t, am, `cp "`+report+`" /dev/stdout > "`+out+`"`)
	mustSh(t, am, `printf 'from dd\n' | dd of=/dev/stdout status=none > "`+out+`"`)
	// cp's open of /dev/fd/3 is a new open file description, with its
	// own offset, as on any file system.
	mustSh(t, am, `exec 3>"`+out+`"; printf head >&3; cp "`+report+`" /dev/fd/3; exec 3>&-`)
	mustSh(t, am, `{ printf 'part one, '; /bin/echo part two; cat /dev/null; } > "`+out+`"`)
	got := settled(t, am, bob.pub, bcl, bkey)
	want := []string{body, "from dd\n", body, "part one, part two\n"}
	if len(got) != len(want) {
		t.Fatalf("bob got %d messages, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("message %d: %d bytes %.40q, want %d bytes %.40q", i, len(got[i]), got[i], len(want[i]), want[i])
		}
	}
}

// TestStopBusyMount: SIGTERM of a mount that a shell sits in unmounts
// (lazily) and exits 0 at once, as docs/semantics.md says.
func TestStopBusyMount(t *testing.T) {
	requireFUSE(t)
	h := hubdtest.Start(t)
	alice := newUser(t, h, "alice")
	am := mountUser(t, alice)
	busy := exec.Command("sleep", "60")
	busy.Dir = am.dir
	if err := busy.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { busy.Process.Kill(); busy.Wait() }()
	start := time.Now()
	am.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-am.done:
		am.done <- nil
		if err != nil {
			t.Errorf("mount exited with %v after SIGTERM, want 0\n%s", err, am.logs)
		}
		if took := time.Since(start); took > 5*time.Second {
			t.Errorf("SIGTERM took %v", took)
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("mount did not exit after SIGTERM\n%s", am.logs)
	}
	if isMounted(am.dir) {
		t.Errorf("%s still mounted", am.dir)
	}
}

func statusOfQueue(t testing.TB, m *mount) (q struct {
	Length           int     `json:"length"`
	Failed           int     `json:"failed"`
	OldestAgeSeconds float64 `json:"oldest_age_seconds"`
}) {
	t.Helper()
	var st struct {
		Queue *json.RawMessage `json:"queue"`
	}
	b, err := os.ReadFile(m.path(".hubfs", "status"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &st); err != nil || st.Queue == nil {
		t.Fatalf(".hubfs/status has no queue: %v\n%s", err, b)
	}
	if err := json.Unmarshal(*st.Queue, &q); err != nil {
		t.Fatal(err)
	}
	return q
}
