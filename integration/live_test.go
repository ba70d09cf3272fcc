package integration

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hubfs/hubfs/hubd/hubdtest"
	"github.com/hubfs/hubfs/identity"
)

// liveBound is how long the issue allows between a change on the hub and
// its appearance at the mount while the watch is up. Waits allow more
// (a loaded 2-core machine under -race), and the benchmark measures the real
// figure; what the tests assert is that no listing call brought the change.
const liveBound = time.Second

// liveStatus is the part of .hubfs/status the live tests read.
type liveStatus struct {
	Mode         string `json:"mode"`
	Online       bool   `json:"online"`
	EventReaders int    `json:"event_readers"`
	Errors       int    `json:"errors"`
	Cache        struct {
		HubCallsByOp    map[string]int64 `json:"hub_calls_by_op"`
		WatchEvents     int64            `json:"watch_events"`
		WatchReconnects int64            `json:"watch_reconnects"`
	} `json:"cache"`
}

func statusLive(t testing.TB, m *mount) liveStatus {
	t.Helper()
	b, err := os.ReadFile(m.path(".hubfs", "status"))
	if err != nil {
		t.Fatal(err)
	}
	var st liveStatus
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatalf(".hubfs/status: %v\n%s", err, b)
	}
	return st
}

func (s liveStatus) listCalls() int64 {
	return s.Cache.HubCallsByOp["ListInboxMessages"] + s.Cache.HubCallsByOp["ListSentboxMessages"]
}

// waitFor polls cond (a stat, a status read: never a hub listing in the
// cached configurations) until it holds or limit passes, and says how long
// it took.
func waitFor(t testing.TB, limit time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > limit {
			t.Fatalf("%s: not after %v", what, limit)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return time.Since(start)
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// elsewhereEnv is u's identity on the hub that other uses: "another device"
// of the same user, through the CLI.
func elsewhereEnv(u, other *user) []string {
	env := append(slicesWithout(os.Environ(), "HUBFS_"), "HUBFS_IDENTITY="+u.keyFile)
	return append(env, "HUBFS_HUB="+other.addr, "HUBFS_KEY="+other.apiKey, "HUBFS_SECRET="+other.apiSecret)
}

// testLive is the behaviour suite's part for issue 6: a second client's
// send, and a read and a delete made by another device of alice's, show at
// alice's mount through the watch. In the cached configurations no listing
// call may have brought them.
func testLive(t *testing.T, cfg config, alice, bob *user, am, bm *mount) {
	waitFor(t, 10*time.Second, "mode watch", func() bool { return statusLive(t, am).Mode == "watch" })
	ids(t, am, "inbox") // warm, whatever the configuration
	before := statusLive(t, am)
	sentBefore := ids(t, bm, "sentbox")
	send(t, bm, alice.pub, []byte("live\n"))
	sent := slices.DeleteFunc(ids(t, bm, "sentbox"), func(id string) bool { return slices.Contains(sentBefore, id) })
	if len(sent) != 1 {
		t.Fatalf("bob's sentbox grew by %v, want one message", sent)
	}
	id := sent[0]
	took := waitFor(t, 10*liveBound, "new message listed", func() bool {
		return slices.Contains(ids(t, am, "inbox"), id) && exists(am.path("unread", id))
	})
	t.Logf("new message listed after %v (bound %v)", took, liveBound)
	if b, err := os.ReadFile(am.path("inbox", id)); err != nil || string(b) != "live\n" {
		t.Fatalf("inbox/%s = %q, %v", id, b, err)
	}

	// Another device of alice's reads it, then deletes it.
	env := elsewhereEnv(alice, bob)
	if out, _ := run(t, env, "cat", id); out != "live\n" {
		t.Fatalf("hubfs cat elsewhere = %q", out)
	}
	waitFor(t, 10*liveBound, "remote read shown", func() bool {
		v, err := exec.Command("getfattr", "--absolute-names", "--only-values", "-n", "user.hubfs.read_at", am.path("inbox", id)).Output()
		return err == nil && len(v) > 0 && !exists(am.path("unread", id)) && !slices.Contains(ids(t, am, "unread"), id)
	})
	var st syscall.Stat_t
	if err := syscall.Stat(am.path("inbox", id), &st); err != nil || st.Atim == st.Mtim {
		t.Errorf("atime after a remote read: %v, %v (want read_at, not created_at)", st.Atim, err)
	}
	run(t, env, "rm", "inbox", id)
	waitFor(t, 10*liveBound, "remote delete shown", func() bool {
		return !exists(am.path("inbox", id)) && !slices.Contains(ids(t, am, "inbox"), id)
	})
	if cfg.cached {
		if n := statusLive(t, am).listCalls() - before.listCalls(); n != 0 {
			t.Errorf("%d listing calls while the watch brought a new message, a read and a delete: want 0", n)
		}
	}
}

// eventReader reads .hubfs/events through a `cat` subprocess, as a script
// would. (A read in the test process would block its own close.)
type eventReader struct {
	lines chan string
}

func openEvents(t testing.TB, m *mount) *eventReader {
	t.Helper()
	cmd := exec.Command("cat", m.path(".hubfs", "events"))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	before := statusLive(t, m).EventReaders
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r := &eventReader{lines: make(chan string, 4096)}
	go func() {
		defer close(r.lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			r.lines <- sc.Text()
		}
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	// Subscribed means every later event reaches it.
	waitFor(t, 5*time.Second, "events reader attached", func() bool { return statusLive(t, m).EventReaders > before })
	return r
}

type eventLine struct {
	Type    string    `json:"type"`
	Box     string    `json:"box"`
	ID      string    `json:"id"`
	From    string    `json:"from"`
	To      string    `json:"to"`
	At      time.Time `json:"at"`
	Message string    `json:"message"`
	Dropped int       `json:"dropped"`
}

// next returns the next event line, failing after limit.
func (r *eventReader) next(t testing.TB, limit time.Duration) eventLine {
	t.Helper()
	select {
	case l, ok := <-r.lines:
		if !ok {
			t.Fatal(".hubfs/events ended")
		}
		var e eventLine
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatalf("event line %q: %v", l, err)
		}
		return e
	case <-time.After(limit):
		t.Fatalf("no event line in %v", limit)
	}
	return eventLine{}
}

// TestEvents: .hubfs/events gives every reader every event in order, a
// reader that never reads costs the others nothing and gets an overflow
// line, Ctrl-C ends a blocked reader, and .hubfs/errors says why a syscall
// failed.
func TestEvents(t *testing.T) {
	requireFUSE(t)
	h := hubdtest.Start(t)
	alice, bob := newUser(t, h, "alice"), newUser(t, h, "bob")
	const queue = 8
	am := mountUser(t, alice, "--event-queue=8")
	bm := mountUser(t, bob)
	waitFor(t, 10*time.Second, "mode watch", func() bool { return statusLive(t, am).Mode == "watch" })

	stalled, err := os.Open(am.path(".hubfs", "events")) // opened, never read until the end
	if err != nil {
		t.Fatal(err)
	}
	defer stalled.Close()
	fast := openEvents(t, am)

	// Bob sends 3*queue messages; the fast reader sees each "new" line in
	// send order, while the stalled reader's queue overflows.
	var sent []string
	for i := range 3 * queue {
		send(t, bm, alice.pub, []byte("event "+string(rune('a'+i))))
		e := fast.next(t, 10*time.Second)
		if e.Type != "new" || e.Box != "inbox" || e.From != bob.pub || e.To != alice.pub || e.At.IsZero() {
			t.Fatalf("event %d: %+v, want a new inbox message from bob to alice", i, e)
		}
		if len(sent) > 0 && e.ID <= sent[len(sent)-1] {
			t.Fatalf("event %d: id %s after %s: out of order", i, e.ID, sent[len(sent)-1])
		}
		sent = append(sent, e.ID)
	}
	if got := ids(t, bm, "sentbox"); !slices.Equal(got, sent) {
		t.Fatalf("event ids %v, bob's sentbox %v", sent, got)
	}

	// Alice marks one read, deletes it, and sends one: read, deleted, sent.
	mustSh(t, am, `setfattr -n user.hubfs.read -v 1 "$MNT/inbox/`+sent[0]+`" && rm "$MNT/inbox/`+sent[0]+`"`)
	send(t, am, bob.pub, []byte("reply"))
	var kinds []string
	for range 3 {
		e := fast.next(t, 10*time.Second)
		kinds = append(kinds, e.Type+" "+e.Box)
		if e.Type != "sent" && e.ID != sent[0] {
			t.Errorf("%s event for %s, want %s", e.Type, e.ID, sent[0])
		}
	}
	if want := []string{"read inbox", "deleted inbox", "sent sentbox"}; !slices.Equal(kinds, want) {
		t.Errorf("events %v, want %v", kinds, want)
	}

	// The stalled reader: the first queue events, then one overflow line
	// that counts the rest.
	sc := bufio.NewScanner(stalled)
	var stalledLines []eventLine
	for len(stalledLines) < queue+1 {
		if !sc.Scan() {
			t.Fatalf("stalled reader: %v after %d lines", sc.Err(), len(stalledLines))
		}
		var e eventLine
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatal(err)
		}
		stalledLines = append(stalledLines, e)
	}
	for i, e := range stalledLines[:queue] {
		if e.Type != "new" || e.ID != sent[i] {
			t.Errorf("stalled reader's line %d = %+v, want new %s", i, e, sent[i])
		}
	}
	if last := stalledLines[queue]; last.Type != "overflow" || last.Dropped != 2*queue+3 {
		t.Errorf("stalled reader's line %d = %+v, want an overflow of %d", queue+1, last, 2*queue+3)
	}

	t.Run("WhileRead", func(t *testing.T) {
		// The documented loop: bash reads the stream a byte at a time.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, "bash", "-c", `while read -r ev; do echo "$ev"; break; done < "$MNT/.hubfs/events"`)
		cmd.Env = append(os.Environ(), "MNT="+am.dir)
		var out strings.Builder
		cmd.Stdout = &out
		readers := statusLive(t, am).EventReaders
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 5*time.Second, "loop attached", func() bool { return statusLive(t, am).EventReaders > readers })
		send(t, bm, alice.pub, []byte("for the loop"))
		if err := cmd.Wait(); err != nil {
			t.Fatalf("while read loop: %v", err)
		}
		var e eventLine
		if err := json.Unmarshal([]byte(out.String()), &e); err != nil || e.Type != "new" {
			t.Errorf("while read loop printed %q (%v), want a new event", out.String(), err)
		}
	})

	t.Run("CtrlC", func(t *testing.T) {
		waitFor(t, 5*time.Second, "earlier readers gone", func() bool { return statusLive(t, am).EventReaders == 2 })
		cmd := exec.Command("cat", am.path(".hubfs", "events"))
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		waitFor(t, 5*time.Second, "cat attached", func() bool { return statusLive(t, am).EventReaders == 3 })
		time.Sleep(50 * time.Millisecond) // let cat get into its read
		cmd.Process.Signal(os.Interrupt)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			t.Fatal("cat .hubfs/events still blocked 5s after SIGINT")
		}
		waitFor(t, 5*time.Second, "reader released", func() bool { return statusLive(t, am).EventReaders == 2 })
	})

	t.Run("Errors", func(t *testing.T) {
		k, err := identity.NewPrivateKey()
		if err != nil {
			t.Fatal(err)
		}
		err = os.WriteFile(am.path("outbox", k.Public().String()), []byte("anyone?"), 0o600)
		if errnoOf(err) != syscall.ENXIO {
			t.Fatalf("send to a key without a mailbox: %v, want ENXIO", err)
		}
		b, err := os.ReadFile(am.path(".hubfs", "errors"))
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		var e struct{ Time, Op, Path, Code, Errno, Message string }
		if err := json.Unmarshal([]byte(lines[len(lines)-1]), &e); err != nil {
			t.Fatalf(".hubfs/errors: %v\n%s", err, b)
		}
		if e.Op != "send" || e.Path != "outbox/"+k.Public().String() || e.Code != "FailedPrecondition" || e.Errno != "ENXIO" || e.Message == "" || e.Time == "" {
			t.Errorf(".hubfs/errors last line %+v, want the send's failure", e)
		}
		if strings.Contains(string(b), "anyone?") {
			t.Error(".hubfs/errors shows a message body")
		}
	})
}

// TestWatchRestart: when the hub restarts the mount polls, says so, gets
// its watch back, and shows what was sent while the watch was away.
func TestWatchRestart(t *testing.T) {
	requireFUSE(t)
	h := hubdtest.Start(t)
	alice, bob := newUser(t, h, "alice"), newUser(t, h, "bob")
	// A poll interval longer than the test: only the watch and the resync
	// after it reconnects can bring the message.
	am := mountUser(t, alice, "--poll-interval=10m")
	waitFor(t, 10*time.Second, "mode watch, both boxes listed", func() bool {
		st := statusLive(t, am)
		return st.Mode == "watch" && st.listCalls() == 2
	})
	ev := openEvents(t, am)

	h.Stop(t)
	waitFor(t, 10*time.Second, "mode poll", func() bool { return statusLive(t, am).Mode == "poll" })
	if st := statusLive(t, am); st.Online {
		t.Errorf("status with the watch down says online")
	}
	if e := ev.next(t, 5*time.Second); e.Type != "error" || e.Message == "" {
		t.Errorf("event when the watch broke: %+v, want an error line", e)
	}
	h.Restart(t)
	// Bob sends at once, while alice's watch is still in its backoff.
	bcl, bkey := clientFor(t, h, bob.keyFile)
	akey, err := identity.ParsePublicKey(alice.pub)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bcl.SendMessage(context.Background(), bkey, akey, []byte("sent while away")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "watch back", func() bool {
		st := statusLive(t, am)
		return st.Mode == "watch" && st.Cache.WatchReconnects >= 2
	})
	var got eventLine
	for got.Type != "new" {
		got = ev.next(t, 10*time.Second)
	}
	inbox := ids(t, am, "inbox")
	if len(inbox) != 1 || inbox[0] != got.ID {
		t.Fatalf("inbox after the restart = %v, want the message sent meanwhile (%s)", inbox, got.ID)
	}
	if b, err := os.ReadFile(am.path("inbox", got.ID)); err != nil || !strings.Contains(string(b), "sent while away") {
		t.Errorf("inbox/%s = %q, %v", got.ID, b, err)
	}
}

// TestInvalidationsWhileListing: a stream of invalidations (new messages,
// remote deletes) while `ls -l` runs in a loop deadlocks nothing, and the
// last listing is exact.
func TestInvalidationsWhileListing(t *testing.T) {
	requireFUSE(t)
	h := hubdtest.Start(t)
	alice, bob := newUser(t, h, "alice"), newUser(t, h, "bob")
	am := mountUser(t, alice)
	waitFor(t, 10*time.Second, "mode watch", func() bool { return statusLive(t, am).Mode == "watch" })
	bcl, bkey := clientFor(t, h, bob.keyFile)
	acl, akey := clientFor(t, h, alice.keyFile)

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	stop := am.path("..", "stop-"+strings.ReplaceAll(t.Name(), "/", "_"))
	os.Remove(stop)
	loop := exec.CommandContext(ctx, "bash", "-c", `n=0; while [ ! -e "$STOP" ]; do ls -l "$MNT/inbox" "$MNT/unread" >/dev/null 2>&1 || true; n=$((n+1)); done; echo $n`)
	loop.Env = append(os.Environ(), "MNT="+am.dir, "STOP="+stop)
	var loopOut strings.Builder
	loop.Stdout, loop.Stderr = &loopOut, &loopOut
	if err := loop.Start(); err != nil {
		t.Fatal(err)
	}

	const n = 150
	var kept []string
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += 3 {
				m, err := bcl.SendMessage(ctx, bkey, akey.Public(), []byte("x"))
				if err != nil {
					t.Error(err)
					return
				}
				if i%3 == 0 { // another device deletes every third
					if err := acl.DeleteInboxMessage(ctx, m.ID); err != nil {
						t.Error(err)
						return
					}
					continue
				}
				mu.Lock()
				kept = append(kept, m.ID)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if err := os.WriteFile(stop, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(stop)
	if err := loop.Wait(); err != nil {
		t.Fatalf("ls loop: %v (a deadlock ends in the 90s timeout)\n%s", err, loopOut.String())
	}
	t.Logf("ls -l ran %s times during %d sends", strings.TrimSpace(loopOut.String()), n)
	slices.Sort(kept)
	waitFor(t, 10*time.Second, "exact listing", func() bool { return slices.Equal(ids(t, am, "inbox"), kept) })
	if got := ids(t, am, "unread"); !slices.Equal(got, kept) {
		t.Errorf("unread/ has %d entries, want %d", len(got), len(kept))
	}
}

// TestNoWatch: --watch=false is the listing-TTL behaviour of issue 5, and
// says so; the live flags refuse bad values with a clear message.
func TestNoWatch(t *testing.T) {
	requireFUSE(t)
	h := hubdtest.Start(t)
	alice, bob := newUser(t, h, "alice"), newUser(t, h, "bob")
	am := mountUser(t, alice, "--watch=false")
	if st := statusLive(t, am); st.Mode != "ttl" {
		t.Errorf("mode with --watch=false = %q, want ttl", st.Mode)
	}
	bcl, bkey := clientFor(t, h, bob.keyFile)
	akey, err := identity.ParsePublicKey(alice.pub)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bcl.SendMessage(context.Background(), bkey, akey, []byte("polled")); err != nil {
		t.Fatal(err)
	}
	waitIDs(t, am, "inbox", 1) // after --list-ttl
	if st := statusLive(t, am); st.Cache.WatchEvents != 0 {
		t.Errorf("watch_events = %d with --watch=false", st.Cache.WatchEvents)
	}

	for _, c := range []struct{ flag, want string }{
		{"--poll-interval=10ms", "--poll-interval must be at least 1s"},
		{"--watch-ttl=-1s", "--watch-ttl cannot be negative"},
		{"--event-queue=0", "--event-queue must be at least 1"},
	} {
		_, stderr, err := runErr(alice.env(), "mount", c.flag, t.TempDir())
		if err == nil || !strings.Contains(stderr, c.want) {
			t.Errorf("mount %s: %v, stderr %q; want an error saying %q", c.flag, err, stderr, c.want)
		}
	}
}
