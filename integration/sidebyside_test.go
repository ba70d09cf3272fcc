package integration

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hubfs/hubfs/hubd/hubdtest"
)

// TestPerfSideBySide measures a baseline hubfs binary (HUBFS_PERF_BASE_BIN,
// built from an older commit by bench/sidebyside.sh) against this tree's,
// in one run, on the same 1,000 messages of 1 KiB: warm `ls -l` and warm
// `cat *`, medians of 11 alternating runs, and the FUSE requests of one
// of each (counted in the --debug request log between marker lookups).
func TestPerfSideBySide(t *testing.T) {
	base := os.Getenv("HUBFS_PERF_BASE_BIN")
	if base == "" {
		t.Skip("set HUBFS_PERF_BASE_BIN to a baseline hubfs binary (bench/sidebyside.sh)")
	}
	requireFUSE(t)
	const n, runs = 1000, 11
	h := hubdtest.Start(t)
	alice, bob := newUser(t, h, "alice"), newUser(t, h, "bob")
	_, akey := clientFor(t, h, alice.keyFile)
	bcl, bkey := clientFor(t, h, bob.keyFile)
	var wg sync.WaitGroup
	work := make(chan int)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				body := []byte(fmt.Sprintf("%04d%s", i, strings.Repeat("x", 1020)))
				if _, err := bcl.SendMessage(context.Background(), bkey, akey.Public(), body); err != nil {
					t.Error(err)
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

	type side struct {
		name   string
		bin    string
		m, dbg *mount
		ls     []time.Duration
		cat    []time.Duration
	}
	sides := []*side{{name: "before", bin: base}, {name: "after", bin: hubfsBin}}
	var files []string
	for _, s := range sides {
		s.m = mountBin(t, s.bin, alice, t.TempDir())
		waitFor(t, 30*time.Second, s.name+": 1,000 messages listed", func() bool { return len(ids(t, s.m, "inbox")) == n })
	}
	for _, id := range ids(t, sides[0].m, "inbox") {
		files = append(files, filepath.Join("inbox", id))
	}
	run := func(m *mount, name string, args ...string) time.Duration {
		cmd := exec.Command(name, args...)
		cmd.Dir = m.dir
		start := time.Now()
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s %s: %v\n%.500s", name, strings.Join(args[:min(len(args), 2)], " "), err, out)
		}
		return time.Since(start)
	}
	lsl := func(m *mount) time.Duration { return run(m, "ls", "-l", "inbox") }
	cat := func(m *mount) time.Duration { return run(m, "cat", files...) }
	for _, s := range sides { // warm: names, attributes, listing and bodies in the kernel
		lsl(s.m)
		lsl(s.m)
		cat(s.m)
		cat(s.m)
	}
	for i := range runs {
		order := sides
		if i%2 == 1 {
			order = []*side{sides[1], sides[0]}
		}
		for _, s := range order {
			s.ls = append(s.ls, lsl(s.m))
		}
		for _, s := range order {
			s.cat = append(s.cat, cat(s.m))
		}
	}

	// The requests of one warm ls -l and one warm cat *, with --debug.
	ops := map[string][2]string{}
	for _, s := range sides {
		s.m.unmount(t)
		s.dbg = mountBin(t, s.bin, alice, t.TempDir(), "--debug")
		waitFor(t, 30*time.Second, s.name+": 1,000 messages listed (debug)", func() bool { return len(ids(t, s.dbg, "inbox")) == n })
		lsl(s.dbg)
		lsl(s.dbg)
		cat(s.dbg)
		cat(s.dbg)
		const lsMarker, catMarker = "01zzzzzzzzzzzzzzzzzzzzzzzy", "01zzzzzzzzzzzzzzzzzzzzzzzz"
		os.Stat(s.dbg.path("inbox", lsMarker))
		lsl(s.dbg)
		os.Stat(s.dbg.path("inbox", lsMarker))
		os.Stat(s.dbg.path("inbox", catMarker))
		cat(s.dbg)
		os.Stat(s.dbg.path("inbox", catMarker))
		s.dbg.unmount(t)
		log := s.dbg.logs.String()
		ops[s.name] = [2]string{fuseOpsBetween(log, lsMarker), fuseOpsBetween(log, catMarker)}
	}

	med := func(d []time.Duration) time.Duration {
		d = slices.Clone(d)
		slices.Sort(d)
		return d[len(d)/2]
	}
	var b strings.Builder
	fmt.Fprintf(&b, "| warm, %d messages of 1 KiB, median of %d alternating runs | before | after | after/before |\n|---|---:|---:|---:|\n", n, runs)
	bl, al, bc, ac := med(sides[0].ls), med(sides[1].ls), med(sides[0].cat), med(sides[1].cat)
	fmt.Fprintf(&b, "| `ls -l inbox` | %s | %s | %.2f× |\n", dur(bl), dur(al), float64(al)/float64(bl))
	fmt.Fprintf(&b, "| `cat inbox/*` | %s | %s | %.2f× |\n", dur(bc), dur(ac), float64(ac)/float64(bc))
	fmt.Fprintf(&b, "| FUSE requests, one warm `ls -l` | %s | %s | |\n", ops["before"][0], ops["after"][0])
	fmt.Fprintf(&b, "| FUSE requests, one warm `cat *` | %s | %s | |\n", ops["before"][1], ops["after"][1])
	t.Logf("\n%s", b.String())
	if out := os.Getenv("HUBFS_PERF_OUT"); out != "" {
		if err := os.WriteFile(out, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
