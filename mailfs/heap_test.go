package mailfs

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/hubfs/hubfs/hub"
	"github.com/hubfs/hubfs/hub/hubtest"
	"github.com/hubfs/hubfs/hubd/hubdtest"
	"github.com/hubfs/hubfs/hubd/store"
	"github.com/hubfs/hubfs/hubd/store/sqlite"
	"github.com/hubfs/hubfs/identity"
	"github.com/hubfs/hubfs/mailbox"
	"github.com/hubfs/hubfs/mailbox/hubmail"
)

// TestHeapPerListedMessage measures the Go heap a mount holds per listed
// message, the whole stack in this process as the mount command builds it
// (default config, disk cache on): after the model lists the inbox, and
// after a kernel `ls -l` (readdir and a stat of every name, which makes
// go-fuse keep a node per name). Sizes in HUBFS_HEAP_SIZES (default
// "1000 10000"); HUBFS_HEAP_PROFILE=FILE writes a heap profile of the
// largest, after its ls -l, for `go tool pprof -sample_index=inuse_space`.
// Outside `make test`: set HUBFS_HEAP=1.
func TestHeapPerListedMessage(t *testing.T) {
	if os.Getenv("HUBFS_HEAP") == "" {
		t.Skip("set HUBFS_HEAP=1 to measure the heap per listed message")
	}
	requireFUSE(t)
	sizes := []int{1000, 10000}
	if v := os.Getenv("HUBFS_HEAP_SIZES"); v != "" {
		sizes = nil
		for _, f := range strings.Fields(v) {
			n, err := strconv.Atoi(f)
			if err != nil || n < 1 {
				t.Fatalf("HUBFS_HEAP_SIZES: %q", v)
			}
			sizes = append(sizes, n)
		}
	}
	var rows []string
	for i, n := range sizes {
		base, listed, lsl := heapOfMount(t, n, i == len(sizes)-1)
		rows = append(rows, fmt.Sprintf("| %d | %d B | %d B |", n, (listed-base)/int64(n), (lsl-base)/int64(n)))
	}
	t.Logf("\n| listed | heap per message, model and caches | after a kernel ls -l |\n|---:|---:|---:|\n%s", strings.Join(rows, "\n"))
}

// heapOfMount mounts n messages of 1 KiB and returns the live heap before
// the first listing, after it, and after an ls -l of the inbox.
func heapOfMount(t *testing.T, n int, profile bool) (base, listed, lsl int64) {
	h := hubdtest.Start(t)
	u := hubtest.NewUser(t, h)
	h.Stop(t)
	seedSelf(t, filepath.Join(h.DataDir, "hub.db"), u.Key, n)
	h.Restart(t)
	ctx := context.Background()
	mbox, err := u.Client.GetMailboxID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cfg := mailbox.DefaultConfig()
	cfg.DiskCacheDir = t.TempDir()
	cfg.Watch = false // what is measured is what is held, not what follows
	dir := t.TempDir()
	base = liveHeap()
	model := hubmail.New(u.Client, u.Key, mbox, cfg)
	root := New(model, u.Key.Public(), cfg, Options{UID: uint32(os.Getuid()), GID: uint32(os.Getgid()), Outbox: newTestOutbox(t, model, u.Key)})
	srv, err := Mount(dir, root, MountOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := srv.Unmount(); err != nil {
			Unmount(dir, true)
		}
		srv.Wait()
		root.Close()
		model.Close()
	}()
	if es, err := model.List(ctx, mailbox.Inbox); err != nil || len(es) != n {
		t.Fatalf("List = %d, %v", len(es), err)
	}
	listed = liveHeap()
	ents, err := os.ReadDir(filepath.Join(dir, "inbox"))
	if err != nil || len(ents) != n {
		t.Fatalf("readdir = %d, %v", len(ents), err)
	}
	for _, e := range ents {
		if _, err := os.Lstat(filepath.Join(dir, "inbox", e.Name())); err != nil {
			t.Fatal(err)
		}
	}
	lsl = liveHeap()
	if p := os.Getenv("HUBFS_HEAP_PROFILE"); p != "" && profile {
		f, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if err := pprof.WriteHeapProfile(f); err != nil {
			t.Fatal(err)
		}
	}
	return base, listed, lsl
}

// liveHeap is the heap's live bytes after a full collection.
func liveHeap() int64 {
	runtime.GC()
	runtime.GC()
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return int64(s[0].Value.Uint64())
}

// seedSelf stores n messages of 1 KiB from key to itself in the hub's
// database (1,000 sealed bodies repeated).
func seedSelf(t *testing.T, db string, key *identity.PrivateKey, n int) {
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
			s, err := hub.Seal(key, key.Public(), fmt.Appendf(nil, "%06d%s\n", i, strings.Repeat("x", 1017)))
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
