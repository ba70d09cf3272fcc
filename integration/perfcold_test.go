package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hubfs/hubfs/hub"
	"github.com/hubfs/hubfs/hubd/hubdtest"
	"github.com/hubfs/hubfs/hubd/store"
	"github.com/hubfs/hubfs/hubd/store/sqlite"
	"github.com/hubfs/hubfs/identity"
)

// TestPerfCold measures what a cold mount costs, on real mounts of the
// built binary (and of a baseline binary, HUBFS_PERF_BASE_BIN, side by
// side, as bench/cold.sh runs it): N messages of 1 KiB to oneself
// (HUBFS_PERF_COLD_N, default 10,000), stored straight into the hub's
// database. Each of HUBFS_PERF_RUNS (11) runs, alternating which binary
// goes first, empties the disk cache, mounts, and times a cold `ls -l
// inbox`, then a cold `cat inbox/*`, then a warm `ls -l` and `cat`; it records the
// ciphertext the listing brought (RAM and disk cache) and the mount's RSS
// after each; then it unmounts, mounts again over the disk cache and times
// `ls -l` (the remount). Medians are printed with ratios, and with the
// crypto floor (the Go client's open of the same messages on one core,
// divided by the cores). HUBFS_PERF_ARGS adds mount flags to both sides.
// Outside `make test`: set HUBFS_PERF_COLD=1.
func TestPerfCold(t *testing.T) {
	if os.Getenv("HUBFS_PERF_COLD") == "" {
		t.Skip("set HUBFS_PERF_COLD=1 (bench/cold.sh)")
	}
	requireFUSE(t)
	n := envInt(t, "HUBFS_PERF_COLD_N", 10000)
	runs := envInt(t, "HUBFS_PERF_RUNS", 11)

	h := hubdtest.Start(t)
	alice := newUser(t, h, "alice")
	cl, key := clientFor(t, h, alice.keyFile)
	if _, err := cl.SetupMailbox(context.Background()); err != nil {
		t.Fatal(err)
	}
	seeded := time.Now()
	h.Stop(t)
	seedDirect(t, filepath.Join(h.DataDir, "hub.db"), key, n)
	h.Restart(t)
	t.Logf("seeded %d messages in %v", n, time.Since(seeded).Round(time.Millisecond))
	floor := cryptoFloor(t, cl, key)

	type side struct {
		name                         string
		bin                          string
		lsCold, cat, lsWarm, remount []time.Duration
		catWarm                      []time.Duration
		bodyBytes, rssLs, rssCat     []int64
		aheadCat, callsLs, callsCat  []int64
		remountCalls, diskBodies     []int64
	}
	sides := []*side{{name: "after", bin: hubfsBin}}
	if base := os.Getenv("HUBFS_PERF_BASE_BIN"); base != "" {
		sides = []*side{{name: "before", bin: base}, sides[0]}
	}
	cacheDir := filepath.Join(filepath.Dir(alice.keyFile), "cache")
	args := strings.Fields(os.Getenv("HUBFS_PERF_ARGS")) // more mount flags, both sides
	exe := func(m *mount, script string) time.Duration {
		cmd := exec.Command("bash", "-c", script)
		cmd.Dir = m.dir
		start := time.Now()
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%.500s", script, err, out)
		}
		return time.Since(start)
	}
	for r := range runs {
		order := sides
		if r%2 == 1 {
			order = slices.Clone(sides)
			slices.Reverse(order)
		}
		for _, s := range order {
			if err := os.RemoveAll(cacheDir); err != nil {
				t.Fatal(err)
			}
			m := mountBin(t, s.bin, alice, t.TempDir(), args...)
			s.lsCold = append(s.lsCold, exe(m, "ls -l inbox >/dev/null"))
			st := perfStatus(t, m)
			if st.listed(m) != n {
				t.Fatalf("%s: ls lists %d, want %d", s.name, st.listed(m), n)
			}
			s.bodyBytes = append(s.bodyBytes, st.Cache.CiphertextBytes)
			s.diskBodies = append(s.diskBodies, bodiesOnDisk(cacheDir))
			s.callsLs = append(s.callsLs, st.Cache.HubCallsByOp["ListInboxMessages"])
			s.rssLs = append(s.rssLs, rssKiB(t, m))
			s.cat = append(s.cat, exe(m, catAll))
			st = perfStatus(t, m)
			s.aheadCat = append(s.aheadCat, st.Cache.DecryptedAhead)
			s.callsCat = append(s.callsCat, st.Cache.HubCallsByOp["ListInboxMessages"]-s.callsLs[len(s.callsLs)-1])
			s.rssCat = append(s.rssCat, rssKiB(t, m))
			s.lsWarm = append(s.lsWarm, exe(m, "ls -l inbox >/dev/null"))
			s.catWarm = append(s.catWarm, exe(m, catAll))
			m.unmount(t)

			m = mountBin(t, s.bin, alice, t.TempDir(), args...)
			s.remount = append(s.remount, exe(m, "ls -l inbox >/dev/null"))
			s.remountCalls = append(s.remountCalls, perfStatus(t, m).Cache.HubCallsByOp["ListInboxMessages"])
			m.unmount(t)
		}
		t.Logf("run %d of %d done", r+1, runs)
	}

	med := func(d []time.Duration) time.Duration {
		d = slices.Clone(d)
		slices.Sort(d)
		return d[len(d)/2]
	}
	medI := func(v []int64) int64 {
		v = slices.Clone(v)
		slices.Sort(v)
		return v[len(v)/2]
	}
	var b strings.Builder
	head := "| %d messages of 1 KiB, medians of %d alternating runs"
	fmt.Fprintf(&b, head, n, runs)
	for _, s := range sides {
		fmt.Fprintf(&b, " | %s", s.name)
	}
	if len(sides) == 2 {
		b.WriteString(" | after/before")
	}
	b.WriteString(" |\n|---|")
	for range len(sides) + len(sides) - 1 {
		b.WriteString("---:|")
	}
	b.WriteString("\n")
	row := func(what string, f func(*side) (string, float64)) {
		fmt.Fprintf(&b, "| %s", what)
		var vals []float64
		for _, s := range sides {
			txt, v := f(s)
			vals = append(vals, v)
			fmt.Fprintf(&b, " | %s", txt)
		}
		if len(sides) == 2 {
			if vals[0] > 0 {
				fmt.Fprintf(&b, " | %.2f×", vals[1]/vals[0])
			} else {
				b.WriteString(" | –")
			}
		}
		b.WriteString(" |\n")
	}
	durRow := func(what string, pick func(*side) []time.Duration) {
		row(what, func(s *side) (string, float64) { d := med(pick(s)); return dur(d), float64(d) })
	}
	intRow := func(what, unit string, pick func(*side) []int64) {
		row(what, func(s *side) (string, float64) { v := medI(pick(s)); return fmt.Sprintf("%d%s", v, unit), float64(v) })
	}
	durRow("cold `ls -l inbox` after mount", func(s *side) []time.Duration { return s.lsCold })
	intRow("ciphertext bytes in RAM after it", " B", func(s *side) []int64 { return s.bodyBytes })
	intRow("bodies on disk after it (the disk cache writes in the background)", "", func(s *side) []int64 { return s.diskBodies })
	intRow("inbox list calls by then", "", func(s *side) []int64 { return s.callsLs })
	intRow("mount RSS after the cold `ls -l`", " KiB", func(s *side) []int64 { return s.rssLs })
	durRow("cold `cat inbox/*` after it", func(s *side) []time.Duration { return s.cat })
	intRow("hub calls of the `cat`", "", func(s *side) []int64 { return s.callsCat })
	intRow("decrypted ahead by the end of the `cat`", "", func(s *side) []int64 { return s.aheadCat })
	intRow("mount RSS after the `cat`", " KiB", func(s *side) []int64 { return s.rssCat })
	durRow("warm `ls -l inbox`", func(s *side) []time.Duration { return s.lsWarm })
	durRow("warm `cat inbox/*` (kernel page cache: the FUSE floor of the `cat`)", func(s *side) []time.Duration { return s.catWarm })
	durRow("remount, first `ls -l inbox` (disk cache)", func(s *side) []time.Duration { return s.remount })
	intRow("inbox list calls by then (remount)", "", func(s *side) []int64 { return s.remountCalls })
	row("remount `ls -l` / warm `ls -l`", func(s *side) (string, float64) {
		v := float64(med(s.remount)) / float64(med(s.lsWarm))
		return fmt.Sprintf("%.2f×", v), v
	})
	cores := runtime.NumCPU()
	target := floor * time.Duration(n) / time.Duration(cores)
	row(fmt.Sprintf("cold `cat` / (crypto floor %v a message / %d cores = %v)", floor.Round(time.Microsecond), cores, dur(target)), func(s *side) (string, float64) {
		v := float64(med(s.cat)) / float64(target)
		return fmt.Sprintf("%.2f×", v), v
	})
	row("cold `cat` / (warm `cat` + crypto floor / cores)", func(s *side) (string, float64) {
		v := float64(med(s.cat)) / float64(med(s.catWarm)+target)
		return fmt.Sprintf("%.2f×", v), v
	})
	t.Logf("\n%s", b.String())
	if out := os.Getenv("HUBFS_PERF_OUT"); out != "" {
		if err := os.WriteFile(out, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// catAll is `cat inbox/*` for any number of files: xargs splits what one
// argv cannot hold (100,000 names), in id order.
const catAll = `printf '%s\0' inbox/* | xargs -0 cat >/dev/null`

func envInt(t *testing.T, name string, def int) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		t.Fatalf("%s=%q: want a positive number", name, v)
	}
	return n
}

// seedDirect stores n messages of 1 KiB from key to itself in the hub's
// database (1,000 sealed bodies repeated), as bench/peerseed -direct does:
// sending 100,000 would take minutes.
func seedDirect(t *testing.T, db string, key *identity.PrivateKey, n int) {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	sealed := make([]store.Send, min(n, 1000))
	var wg sync.WaitGroup
	for i := range sealed {
		wg.Go(func() {
			body := fmt.Appendf(nil, "%06d%s\n", i, strings.Repeat("x", 1017))
			s, err := hub.Seal(key, key.Public(), body)
			if err != nil {
				t.Error(err)
				return
			}
			sealed[i] = store.Send{From: s.From, To: s.To, ToBody: s.ToBody, ToSignature: s.ToSignature, FromBody: s.FromBody, FromSignature: s.FromSignature}
		})
	}
	wg.Wait()
	for done := 0; done < n; {
		batch := make([]store.Send, 0, 1000)
		for ; done < n && len(batch) < 1000; done++ {
			batch = append(batch, sealed[done%len(sealed)])
		}
		if _, err := st.AddMessages(ctx, batch); err != nil {
			t.Fatal(err)
		}
	}
}

// cryptoFloor is what opening (verify and decrypt) one of the inbox's
// messages costs the Go client on one core: the median over its first 1,000.
func cryptoFloor(t *testing.T, cl *hub.Client, key *identity.PrivateKey) time.Duration {
	t.Helper()
	msgs, err := cl.ListInboxMessages(context.Background(), hub.InboxListOptions{Limit: 1000})
	if err != nil || len(msgs) == 0 {
		t.Fatalf("list for the crypto floor: %d, %v", len(msgs), err)
	}
	var per []time.Duration
	for range 5 {
		start := time.Now()
		for _, m := range msgs {
			if _, err := m.Open(key); err != nil {
				t.Fatal(err)
			}
		}
		per = append(per, time.Since(start)/time.Duration(len(msgs)))
	}
	slices.Sort(per)
	return per[len(per)/2]
}

// perfStatus is the part of .hubfs/status the cold benchmark reads.
type perfStatusJSON struct {
	Cache struct {
		HubCallsByOp    map[string]int64 `json:"hub_calls_by_op"`
		CiphertextBytes int64            `json:"ciphertext_bytes"`
		DiskBytes       int64            `json:"disk_bytes"`
		DecryptedAhead  int64            `json:"decrypted_ahead"`
	} `json:"cache"`
}

func perfStatus(t *testing.T, m *mount) perfStatusJSON {
	t.Helper()
	raw, err := os.ReadFile(m.path(".hubfs", "status"))
	if err != nil {
		t.Fatal(err)
	}
	var st perfStatusJSON
	if err := json.Unmarshal(raw, &st); err != nil {
		t.Fatalf(".hubfs/status: %v\n%s", err, raw)
	}
	return st
}

func (perfStatusJSON) listed(m *mount) int {
	ents, err := os.ReadDir(m.path("inbox"))
	if err != nil {
		return -1
	}
	return len(ents)
}

// bodiesOnDisk counts the message bodies in the disk caches under dir.
func bodiesOnDisk(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasPrefix(d.Name(), "01") {
			n++
		}
		return nil
	})
	return n
}

// rssKiB is the mount process's VmRSS.
func rssKiB(t *testing.T, m *mount) int64 {
	t.Helper()
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", m.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(raw)) {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			n, _ := strconv.ParseInt(f[1], 10, 64)
			return n
		}
	}
	t.Fatal("no VmRSS")
	return 0
}
