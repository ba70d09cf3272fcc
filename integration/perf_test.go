package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hubfs/hubfs/hub"
	"github.com/hubfs/hubfs/hubd/hubdtest"
	"github.com/hubfs/hubfs/identity"
)

// TestPerf measures the benchmarks in one run and prints them as a
// markdown table (docs/perf.md). It is not part of the default run: set
// HUBFS_PERF=1 (bench/fs.sh does), and HUBFS_PERF_OUT=FILE to keep the
// table. Figures are printed, never asserted.
func TestPerf(t *testing.T) {
	if os.Getenv("HUBFS_PERF") == "" {
		t.Skip("set HUBFS_PERF=1 to run the benchmarks (bench/fs.sh)")
	}
	requireFUSE(t)
	var rows []perfRow
	sizes := []int{1000, 10000}
	if s := os.Getenv("HUBFS_PERF_SIZES"); s != "" {
		sizes = nil
		for _, f := range strings.Split(s, ",") {
			var n int
			fmt.Sscan(f, &n)
			sizes = append(sizes, n)
		}
	}
	for _, n := range sizes {
		rows = append(rows, perfInbox(t, n)...)
	}
	rows = append(rows, perfSends(t, 1000)...)

	var b strings.Builder
	fmt.Fprintf(&b, "| work | hubfs | hub calls | Go client | hub calls | plain dir | hubfs / client | hubfs / plain |\n")
	fmt.Fprintf(&b, "|---|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s | %s | %d | %s | %s | %s | %s | %s |\n", r.name, dur(r.fs), r.fsCalls, dur(r.client), calls(r.clientCalls), dur(r.plain), ratio(r.fs, r.client), ratio(r.fs, r.plain))
	}
	t.Logf("\n%s", b.String())
	if out := os.Getenv("HUBFS_PERF_OUT"); out != "" {
		if err := os.WriteFile(out, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

type perfRow struct {
	name                 string
	fs, client, plain    time.Duration
	fsCalls, clientCalls int64
}

func dur(d time.Duration) string {
	if d == 0 {
		return "–"
	}
	return d.Round(100 * time.Microsecond).String()
}

func calls(n int64) string {
	if n < 0 {
		return "–"
	}
	return fmt.Sprint(n)
}

func ratio(a, b time.Duration) string {
	if a == 0 || b == 0 {
		return "–"
	}
	return fmt.Sprintf("%.1f×", float64(a)/float64(b))
}

// hubCalls reads the mount's hub-call counter from .hubfs/status.
func hubCalls(t testing.TB, m *mount) int64 {
	t.Helper()
	b, err := os.ReadFile(m.path(".hubfs", "status"))
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		Cache struct {
			HubCalls int64 `json:"hub_calls"`
		} `json:"cache"`
	}
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatal(err)
	}
	return st.Cache.HubCalls
}

// timed runs a shell command and returns how long it took.
func timed(t testing.TB, script string) time.Duration {
	t.Helper()
	start := time.Now()
	out, err := exec.Command("bash", "-c", "set -euo pipefail\n"+script).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", script, err, out)
	}
	return time.Since(start)
}

// measure runs script against m and reports its time and the hub calls it
// made.
func measure(t testing.TB, m *mount, script string) (time.Duration, int64) {
	before := hubCalls(t, m)
	d := timed(t, strings.ReplaceAll(script, "$MNT", m.dir))
	return d, hubCalls(t, m) - before - 0
}

func clientFor(t testing.TB, h *hubdtest.Hub, keyFile string) (*hub.Client, *identity.PrivateKey) {
	t.Helper()
	key, err := identity.LoadKeyFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	cl, err := hub.Dial(context.Background(), h.Addr, hub.WithKeyInfo(h.Key, h.Secret))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	if _, err := cl.GetToken(context.Background(), key); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.SetupMailbox(context.Background()); err != nil {
		t.Fatal(err)
	}
	return cl, key
}

func perfInbox(t *testing.T, n int) []perfRow {
	h := hubdtest.Start(t)
	alice, bob := newUser(t, h, "alice"), newUser(t, h, "bob")
	acl, akey := clientFor(t, h, alice.keyFile)
	bcl, bkey := clientFor(t, h, bob.keyFile)

	// n messages of 100 to 1,000 bytes, sent in parallel.
	plainDir := t.TempDir()
	var wg sync.WaitGroup
	work := make(chan int)
	errs := make(chan error, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				body := []byte(strings.Repeat(fmt.Sprintf("message %d ", i), 100))[:100+i%900]
				m, err := bcl.SendMessage(context.Background(), bkey, akey.Public(), body)
				if err != nil {
					errs <- err
					return
				}
				if err := os.WriteFile(filepath.Join(plainDir, m.ID), body, 0o400); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	for i := range n {
		work <- i
	}
	close(work)
	wg.Wait()
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}

	// The mount keeps listings for a minute so warm means warm.
	m := mountUser(t, alice, "--list-ttl=1m")
	lsCold, lsColdCalls := measure(t, m, `ls -l "$MNT/inbox" >/dev/null`)
	lsWarm, lsWarmCalls := measure(t, m, `ls -l "$MNT/inbox" >/dev/null`)
	catWarm, catCalls := measure(t, m, `cat "$MNT"/inbox/* >/dev/null`)
	catWarm2, catCalls2 := measure(t, m, `cat "$MNT"/inbox/* >/dev/null`)
	m.unmount(t)
	// Cold cat: a fresh mount, the glob lists, then every body is opened.
	m2 := mountUser(t, alice, "--list-ttl=1m")
	catCold, catColdCalls := measure(t, m2, `cat "$MNT"/inbox/* >/dev/null`)

	// The same work with the Go client: list everything; open everything.
	ctx := context.Background()
	start := time.Now()
	var msgs []hub.UserMessage
	pages := int64(0)
	seek := ""
	for {
		limit := hub.MaxPageSize - 1
		if seek != "" {
			limit++
		}
		page, err := acl.ListInboxMessages(ctx, hub.InboxListOptions{Seek: seek, Limit: limit, Ascending: true})
		pages++
		if err != nil {
			t.Fatal(err)
		}
		for _, mm := range page {
			if seek == "" || mm.ID > seek {
				msgs = append(msgs, mm)
			}
		}
		if len(page) < limit {
			break
		}
		seek = page[len(page)-1].ID
	}
	clientList := time.Since(start)
	start = time.Now()
	for _, mm := range msgs {
		if _, err := mm.Open(akey); err != nil {
			t.Fatal(err)
		}
	}
	clientOpen := time.Since(start)

	plainLs := timed(t, `ls -l "`+plainDir+`" >/dev/null`)
	plainCat := timed(t, `cat "`+plainDir+`"/* >/dev/null`)

	return []perfRow{
		{name: fmt.Sprintf("ls -l inbox, %d msgs, cold", n), fs: lsCold, fsCalls: lsColdCalls, client: clientList, clientCalls: pages, plain: plainLs},
		{name: fmt.Sprintf("ls -l inbox, %d msgs, warm", n), fs: lsWarm, fsCalls: lsWarmCalls, client: 0, clientCalls: -1, plain: plainLs},
		{name: fmt.Sprintf("cat all %d, cold mount", n), fs: catCold, fsCalls: catColdCalls, client: clientList + clientOpen, clientCalls: pages, plain: plainCat},
		{name: fmt.Sprintf("cat all %d, after ls", n), fs: catWarm, fsCalls: catCalls, client: clientOpen, clientCalls: 0, plain: plainCat},
		{name: fmt.Sprintf("cat all %d, again", n), fs: catWarm2, fsCalls: catCalls2, client: 0, clientCalls: -1, plain: plainCat},
	}
}

func perfSends(t *testing.T, n int) []perfRow {
	h := hubdtest.Start(t)
	alice, bob := newUser(t, h, "alice"), newUser(t, h, "bob")
	acl, akey := clientFor(t, h, alice.keyFile)
	_, _ = clientFor(t, h, bob.keyFile)
	m := mountUser(t, alice)
	fsTime, fsCalls := measure(t, m, fmt.Sprintf(`for i in $(seq %d); do echo "message $i" > "$MNT/outbox/%s"; done`, n, bob.pub))

	bkey, err := identity.ParsePublicKey(bob.pub)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for i := range n {
		if _, err := acl.SendMessage(context.Background(), akey, bkey, []byte(fmt.Sprintf("message %d\n", i))); err != nil {
			t.Fatal(err)
		}
	}
	clientTime := time.Since(start)
	plainDir := t.TempDir()
	plainTime := timed(t, fmt.Sprintf(`for i in $(seq %d); do echo "message $i" > "%s/msg$i"; done`, n, plainDir))
	return []perfRow{{name: fmt.Sprintf("%d sends via outbox/", n), fs: fsTime, fsCalls: fsCalls, client: clientTime, clientCalls: int64(n), plain: plainTime}}
}
