package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hubfs/hubfs/hubd"
	"github.com/hubfs/hubfs/hubd/store/postgres/pgtest"
)

// TestPostgresNodes runs two `hubfs serve` processes on one PostgreSQL
// database, as two nodes behind a load balancer would: mail sent through
// one shows at a mount on the other through its watch, sends through both
// list in send order, and a node killed with SIGKILL loses nothing it
// acknowledged while the mount on it comes back when it restarts.
func TestPostgresNodes(t *testing.T) {
	requireFUSE(t)
	url := pgtest.NewDatabase(t)
	ctx := context.Background()
	st, err := hubd.OpenStore(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	k, err := hubd.NewKey(ctx, st)
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	n1 := startHubProcOn(t, url, k.Key, k.Secret)
	n2 := startHubProcOn(t, url, k.Key, k.Secret)
	alice := newUserAt(t, n1.addr, k.Key, k.Secret, "alice")
	bob := newUserAt(t, n2.addr, k.Key, k.Secret, "bob")
	am := mountUser(t, alice)
	waitFor(t, 10*time.Second, "mode watch", func() bool { return statusLive(t, am).Mode == "watch" })

	t.Run("LiveAcrossNodes", func(t *testing.T) {
		// Warm both listings (the count below is of both boxes' calls).
		ids(t, am, "inbox")
		ids(t, am, "sentbox")
		before := statusLive(t, am)
		id := sendVia(t, bob, n2, alice.pub, "across nodes\n")
		took := waitFor(t, 10*liveBound, "mail sent through node 2 listed at node 1's mount", func() bool {
			return slices.Contains(ids(t, am, "inbox"), id)
		})
		t.Logf("mail sent through node 2 listed at node 1's mount after %v (bound %v)", took, liveBound)
		after := statusLive(t, am)
		if n := after.listCalls() - before.listCalls(); n != 0 {
			t.Errorf("%d listing calls brought the message (hub calls %v before, %v after): want 0, the watch brings it",
				n, before.Cache.HubCallsByOp, after.Cache.HubCallsByOp)
		}
		if after.Cache.WatchEvents <= before.Cache.WatchEvents {
			t.Errorf("watch events %d -> %d: the message did not come by the watch", before.Cache.WatchEvents, after.Cache.WatchEvents)
		}
		if b, err := os.ReadFile(am.path("inbox", id)); err != nil || string(b) != "across nodes\n" {
			t.Fatalf("inbox/%s = %q, %v", id, b, err)
		}
	})

	t.Run("InterleavedSendsListInSendOrder", func(t *testing.T) {
		var sent []string
		for i := range 10 {
			node := []*hubProc{n1, n2}[i%2]
			sent = append(sent, sendVia(t, bob, node, alice.pub, fmt.Sprintf("interleaved %d\n", i)))
		}
		waitFor(t, 10*time.Second, "the interleaved sends listed", func() bool {
			listed := ids(t, am, "inbox")
			for _, id := range sent {
				if !slices.Contains(listed, id) {
					return false
				}
			}
			return true
		})
		listed := slices.DeleteFunc(ids(t, am, "inbox"), func(id string) bool { return !slices.Contains(sent, id) })
		if !slices.Equal(listed, sent) {
			t.Fatalf("the inbox lists the sends as\n%v\nsent in the order\n%v", listed, sent)
		}
	})

	t.Run("KilledNodeLosesNothingAcknowledged", func(t *testing.T) {
		// Four senders through node 1 until it is killed after the 10th
		// acknowledgement; what came back with an id must be stored.
		var mu sync.Mutex
		var acked []string
		killed := make(chan struct{})
		var once sync.Once
		var wg sync.WaitGroup
		for w := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; ; i++ {
					id, err := trySendVia(bob, n1, alice.pub, fmt.Sprintf("before the kill %d/%d\n", w, i))
					if err != nil {
						select {
						case <-killed:
							return // refused or lost with the node: not acknowledged
						default:
							t.Errorf("a send before the kill: %v", err)
							return
						}
					}
					mu.Lock()
					acked = append(acked, id)
					n := len(acked)
					mu.Unlock()
					if n == 10 {
						once.Do(func() { n1.kill(t); close(killed) })
					}
				}
			}()
		}
		wg.Wait()
		mu.Lock()
		defer mu.Unlock()
		if len(acked) < 10 {
			t.Fatalf("only %d sends acknowledged", len(acked))
		}
		// Listed through node 2, from the database.
		out, _ := run(t, elsewhereEnv(alice, bob), "ls", "inbox")
		var listed []string
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			listed = append(listed, strings.SplitN(line, "\t", 2)[0])
		}
		sort.Strings(listed)
		for _, id := range acked {
			if _, found := slices.BinarySearch(listed, id); !found {
				t.Errorf("message %s was acknowledged by node 1 before its SIGKILL, and is gone", id)
			}
		}

		n1.start(t) // the same address: the mount's hub comes back
		waitFor(t, 30*time.Second, "the mount on node 1 watching again", func() bool {
			st := statusLive(t, am)
			return st.Online && st.Mode == "watch"
		})
		id := sendVia(t, bob, n2, alice.pub, "after the restart\n")
		waitFor(t, 10*time.Second, "mail through node 2 at the mount after node 1's restart", func() bool {
			return slices.Contains(ids(t, am, "inbox"), id)
		})
		for _, id := range acked {
			if !exists(am.path("inbox", id)) {
				t.Errorf("the mount on node 1 does not list %s after the restart", id)
			}
		}
	})
}

// sendVia sends body from u to `to` through node with `hubfs send` and
// returns the id it printed: the hub's acknowledgement.
func sendVia(t testing.TB, u *user, node *hubProc, to, body string) string {
	t.Helper()
	id, err := trySendVia(u, node, to, body)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func trySendVia(u *user, node *hubProc, to, body string) (string, error) {
	f, err := os.CreateTemp("", "hubfs-pg-send-*")
	if err != nil {
		return "", err
	}
	defer os.Remove(f.Name())
	if _, err := f.WriteString(body); err != nil {
		f.Close()
		return "", err
	}
	f.Close()
	env := append(slicesWithout(u.env(), "HUBFS_HUB="), "HUBFS_HUB="+node.addr)
	out, stderr, err := runErr(env, "send", "--to", to, filepath.Clean(f.Name()))
	if err != nil {
		return "", fmt.Errorf("hubfs send through %s: %v: %s", node.addr, err, stderr)
	}
	return strings.TrimSpace(out), nil
}
