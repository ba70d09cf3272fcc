package main

import (
	"bufio"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hubfs/hubfs/hubd"
	"github.com/hubfs/hubfs/hubd/hubdtest"
)

// TestSendCachesToken: the first `hubfs send` gets a token and caches it
// (0600); the next makes no GetToken call; after the hub restarts with a
// new host key, the cached token is refused, renewed and replaced without
// the user seeing it.
func TestSendCachesToken(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	h := hubdtest.Start(t, func(c *hubd.Config) { c.MetricsListen = "127.0.0.1:0" })
	f := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(f, []byte(h.Secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ch := &cliHub{h: h, secretFile: f}
	alice, bob := newCLIUser(t), newCLIUser(t)
	ch.must(t, bob, "", "ls", "inbox") // sets up bob's mailbox

	ch.must(t, alice, "one", "send", "--to", bob.pub())
	path, err := tokenCachePath(alice.pub())
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatalf("no token cached after a send: %v", err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("token file mode %v, want 0600", fi.Mode().Perm())
	}
	if d, _ := os.Stat(filepath.Dir(path)); d.Mode().Perm() != 0o700 {
		t.Fatalf("token dir mode %v, want 0700", d.Mode().Perm())
	}
	first, _ := os.ReadFile(path)

	// bob's ls and alice's first send each got a token. A stream is
	// counted when its handler returns, which may be after the client has
	// its answer: wait for both, then one more send must add none.
	waitTokenCalls(t, h, 2)
	ch.must(t, alice, "two", "send", "--to", bob.pub())
	if n := getTokenCalls(t, h); n != 2 {
		t.Fatalf("the second send made %d GetToken calls, want none", n-2)
	}

	// A new host key: every token issued before is refused.
	h.Stop(t)
	if err := os.Remove(filepath.Join(h.DataDir, "host.key")); err != nil {
		t.Fatal(err)
	}
	h.Restart(t)
	ch.must(t, alice, "three", "send", "--to", bob.pub())
	if got, _ := os.ReadFile(path); string(got) == string(first) {
		t.Fatal("the refused token was not replaced in the cache")
	}
	waitTokenCalls(t, h, 1) // the renewal, on the restarted hub's fresh metrics
	ch.must(t, alice, "four", "send", "--to", bob.pub())
	if n := getTokenCalls(t, h); n != 1 {
		t.Fatalf("a send after the renewal made %d GetToken calls, want none", n-1)
	}
	if out := ch.must(t, bob, "", "ls", "inbox"); strings.Count(out, "\n") != 4 {
		t.Fatalf("bob's inbox lists %q, want 4 messages", out)
	}

	// A token cached for another hub or key is not presented.
	tc := tokenCache{path: path, hub: "elsewhere:1", key: h.Key}
	if tc.load() != "" {
		t.Fatal("a token cached for another hub was loaded")
	}
}

// waitTokenCalls waits until the hub has counted want GetToken calls.
func waitTokenCalls(t *testing.T, h *hubdtest.Hub, want int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for n := getTokenCalls(t, h); n != want; n = getTokenCalls(t, h) {
		if n > want || time.Now().After(deadline) {
			t.Fatalf("the hub counted %d GetToken calls, want %d", n, want)
		}
		time.Sleep(10 * time.Millisecond) // polling a condition, not timing it
	}
}

// getTokenCalls reads the hub's count of GetToken calls from its metrics.
func getTokenCalls(t *testing.T, h *hubdtest.Hub) int {
	t.Helper()
	resp, err := http.Get("http://" + h.Server.MetricsAddr() + hubd.MetricsPath)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	n := 0
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "hubfs_hub_requests_total{") && strings.Contains(line, "GetToken") {
			v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
			if err != nil {
				t.Fatalf("metrics line %q: %v", line, err)
			}
			n += int(v)
		}
	}
	return n
}
