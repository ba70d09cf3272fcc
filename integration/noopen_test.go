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
	"syscall"
	"testing"
	"time"

	"github.com/hubfs/hubfs/hubd/hubdtest"
)

// hubfsMountsUnder are the fuse.hubfs mount points at or under dir, from
// this process's mount table.
func hubfsMountsUnder(t testing.TB, dir string) []string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 4 && (f[4] == dir || strings.HasPrefix(f[4], dir+"/")) && strings.Contains(line, " - fuse.hubfs ") {
			out = append(out, f[4])
		}
	}
	return out
}

// TestNoOpenMount: the built binary with --no-open serves the boxes as
// mounts of their own; cat reads every message, plain umount of MNT is
// EBUSY (the boxes are mounted on it), and both hubfs umount and SIGTERM
// leave nothing mounted.
func TestNoOpenMount(t *testing.T) {
	requireFUSE(t)
	h := hubdtest.Start(t)
	alice, bob := newUser(t, h, "alice"), newUser(t, h, "bob")
	_, akey := clientFor(t, h, alice.keyFile)
	bcl, bkey := clientFor(t, h, bob.keyFile)
	want := map[string]string{}
	for i := range 5 {
		body := fmt.Sprintf("message %d\n", i)
		msg, err := bcl.SendMessage(context.Background(), bkey, akey.Public(), []byte(body))
		if err != nil {
			t.Fatal(err)
		}
		want[msg.ID] = body
	}
	for _, stop := range []string{"hubfs umount", "SIGTERM"} {
		t.Run(stop, func(t *testing.T) {
			m := mountBin(t, hubfsBin, alice, t.TempDir(), "--no-open")
			if got := hubfsMountsUnder(t, m.dir); len(got) != 4 {
				t.Fatalf("mounts: %q, want MNT and MNT/{inbox,unread,sentbox}", got)
			}
			for range 2 {
				for id, body := range want {
					if got := mustSh(t, m, `cat "$MNT/inbox/`+id+`"`); got+"\n" != body && got != body {
						t.Fatalf("cat inbox/%s = %q, want %q", id, got, body)
					}
				}
			}
			if err := syscall.Unmount(m.dir, 0); err != syscall.EBUSY {
				t.Errorf("umount MNT under its boxes: %v, want EBUSY", err)
			}
			if stop == "SIGTERM" {
				m.cmd.Process.Signal(syscall.SIGTERM)
				select {
				case err := <-m.done:
					m.done <- err
					if err != nil {
						t.Errorf("mount process after SIGTERM: %v\n%s", err, m.logs)
					}
				case <-time.After(15 * time.Second):
					t.Fatalf("mount process still running 15s after SIGTERM\n%s", m.logs)
				}
			} else {
				m.unmount(t)
			}
			if got := hubfsMountsUnder(t, m.dir); len(got) != 0 {
				t.Errorf("still mounted after %s: %q", stop, got)
			}
		})
	}
}

// TestPerfNoOpen (HUBFS_PERF_NOOPEN=1, bench/noopen.sh): tmpfs, a default
// mount and a --no-open mount of the same 1,000 messages of 1 KiB, warm
// `cat *` and `grep -c x -r`, medians of 11 alternating runs, and the FUSE
// requests of one warm cat * and grep of each mount.
func TestPerfNoOpen(t *testing.T) {
	if os.Getenv("HUBFS_PERF_NOOPEN") == "" {
		t.Skip("set HUBFS_PERF_NOOPEN=1 (bench/noopen.sh)")
	}
	requireFUSE(t)
	const n, runs = 1000, 11
	h := hubdtest.Start(t)
	alice, bob := newUser(t, h, "alice"), newUser(t, h, "bob")
	_, akey := clientFor(t, h, alice.keyFile)
	bcl, bkey := clientFor(t, h, bob.keyFile)
	var wg sync.WaitGroup
	work := make(chan int)
	bodies := make([][]byte, n)
	for i := range n {
		bodies[i] = []byte(fmt.Sprintf("%04d%s", i, strings.Repeat("x", 1020)))
	}
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				if _, err := bcl.SendMessage(context.Background(), bkey, akey.Public(), bodies[i]); err != nil {
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
		name     string
		dir      string
		args     []string
		cat, grp []time.Duration
	}
	sides := []*side{{name: "tmpfs"}, {name: "hubfs"}, {name: "hubfs --no-open", args: []string{"--no-open"}}}
	for _, s := range sides[1:] {
		m := mountBin(t, hubfsBin, alice, t.TempDir(), s.args...)
		waitFor(t, 30*time.Second, s.name+": 1,000 messages listed", func() bool { return len(ids(t, m, "inbox")) == n })
		s.dir = m.dir
	}
	names := ids(t, &mount{dir: sides[1].dir}, "inbox")
	tdir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "tmpfs", tdir).CombinedOutput(); err != nil {
		t.Fatalf("mount tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() { syscall.Unmount(tdir, 0) })
	os.Mkdir(filepath.Join(tdir, "inbox"), 0o700)
	for _, id := range names {
		b, err := os.ReadFile(filepath.Join(sides[1].dir, "inbox", id))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(tdir, "inbox", id), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	sides[0].dir = tdir
	var files []string
	for _, id := range names {
		files = append(files, filepath.Join("inbox", id))
	}
	run := func(dir, name string, args ...string) time.Duration {
		cmd := exec.Command(name, args...)
		cmd.Dir = dir
		out, err := os.Create(filepath.Join(t.TempDir(), "out"))
		if err != nil {
			t.Fatal(err)
		}
		defer out.Close()
		cmd.Stdout = out // a file: GNU grep stops at the first match on /dev/null
		start := time.Now()
		if err := cmd.Run(); err != nil {
			t.Fatalf("%s in %s: %v", name, dir, err)
		}
		return time.Since(start)
	}
	cat := func(dir string) time.Duration { return run(dir, "cat", files...) }
	grp := func(dir string) time.Duration { return run(dir, "grep", "-c", "x", "-r", "inbox") }
	for _, s := range sides {
		for range 3 {
			cat(s.dir)
			grp(s.dir)
		}
	}
	for i := range runs {
		order := slices.Clone(sides)
		for range i % len(sides) {
			order = append(order[1:], order[0])
		}
		for _, s := range order {
			s.cat = append(s.cat, cat(s.dir))
		}
		for _, s := range order {
			s.grp = append(s.grp, grp(s.dir))
		}
	}

	// The requests of one warm cat * and one warm grep -r, on --debug mounts.
	ops := map[string][2]string{}
	for _, s := range sides[1:] {
		d := mountBin(t, hubfsBin, alice, t.TempDir(), append(s.args, "--debug")...)
		waitFor(t, 30*time.Second, s.name+": 1,000 messages listed (debug)", func() bool { return len(ids(t, d, "inbox")) == n })
		for range 3 {
			cat(d.dir)
			grp(d.dir)
		}
		const catMarker, grepMarker = "01zzzzzzzzzzzzzzzzzzzzzzzy", "01zzzzzzzzzzzzzzzzzzzzzzzz"
		os.Stat(d.path("inbox", catMarker))
		cat(d.dir)
		os.Stat(d.path("inbox", catMarker))
		os.Stat(d.path("inbox", grepMarker))
		grp(d.dir)
		os.Stat(d.path("inbox", grepMarker))
		d.unmount(t)
		log := d.logs.String()
		ops[s.name] = [2]string{fuseOpsBetween(log, catMarker), fuseOpsBetween(log, grepMarker)}
	}

	med := func(d []time.Duration) time.Duration {
		d = slices.Clone(d)
		slices.Sort(d)
		return d[len(d)/2]
	}
	var b strings.Builder
	fmt.Fprintf(&b, "| warm, %d messages of 1 KiB, median of %d alternating runs | tmpfs | hubfs | hubfs --no-open |\n|---|---:|---:|---:|\n", n, runs)
	tc, tg := med(sides[0].cat), med(sides[0].grp)
	fmt.Fprintf(&b, "| `cat inbox/*` | %s | %s (%.2fx) | %s (%.2fx) |\n", dur(tc),
		dur(med(sides[1].cat)), float64(med(sides[1].cat))/float64(tc), dur(med(sides[2].cat)), float64(med(sides[2].cat))/float64(tc))
	fmt.Fprintf(&b, "| `grep -c x -r inbox` | %s | %s (%.2fx) | %s (%.2fx) |\n", dur(tg),
		dur(med(sides[1].grp)), float64(med(sides[1].grp))/float64(tg), dur(med(sides[2].grp)), float64(med(sides[2].grp))/float64(tg))
	fmt.Fprintf(&b, "| FUSE requests, one warm `cat *` | – | %s | %s |\n", ops["hubfs"][0], ops["hubfs --no-open"][0])
	fmt.Fprintf(&b, "| FUSE requests, one warm `grep -c x -r` | – | %s | %s |\n", ops["hubfs"][1], ops["hubfs --no-open"][1])
	t.Logf("\n%s", b.String())
	if out := os.Getenv("HUBFS_PERF_OUT"); out != "" {
		if err := os.WriteFile(out, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
