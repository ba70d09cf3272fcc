package mailfs

import (
	"context"
	"os"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/hubfs/hubfs/hub"
	"github.com/hubfs/hubfs/hubd/hubdtest"
	"github.com/hubfs/hubfs/mailbox"
	"github.com/hubfs/hubfs/mailbox/hubmail"
)

// TestDiskFiguresFill: used bytes round up to blocks, a quota is the
// size (never below what is used), no quota shows 1 PiB free, and the
// files used are the messages.
func TestDiskFiguresFill(t *testing.T) {
	for _, tc := range []struct {
		name                string
		d                   diskFigures
		blocks, free, files uint64
	}{
		{"empty, no quota", diskFigures{}, noQuotaFree / statfsBlock, noQuotaFree / statfsBlock, 0},
		{"no quota", diskFigures{used: 1, files: 2}, 1 + noQuotaFree/statfsBlock, noQuotaFree / statfsBlock, 2},
		{"quota", diskFigures{used: 4097, quota: 10 * statfsBlock, files: 3}, 10, 8, 3},
		{"over quota", diskFigures{used: 20 * statfsBlock, quota: 10 * statfsBlock}, 20, 0, 0},
	} {
		var out fuse.StatfsOut
		tc.d.fill(&out)
		if out.Bsize != statfsBlock || out.Frsize != statfsBlock || out.Blocks != tc.blocks || out.Bfree != tc.free || out.Bavail != tc.free || out.Files-out.Ffree != tc.files {
			t.Errorf("%s: blocks %d free %d avail %d files used %d, want %d %d %d %d", tc.name, out.Blocks, out.Bfree, out.Bavail, out.Files-out.Ffree, tc.blocks, tc.free, tc.free, tc.files)
		}
	}
	u := mailbox.Usage{Usage: map[string]mailbox.Use{
		usageStoredData:     {Units: 5000, Total: 5000, Free: 1 << 30},
		usageStoredMessages: {Units: 7, Total: 7},
	}}
	if got := figuresOf(u); got != (diskFigures{used: 5000, quota: 1 << 30, files: 7}) {
		t.Errorf("figuresOf = %+v", got)
	}
}

// offlineUsage is the real client behind a hub whose GetUsage stops
// answering (the call waits for its deadline) while down is set.
type offlineUsage struct {
	*hub.Client
	down  *atomic.Bool
	calls *atomic.Int64
}

func (o offlineUsage) GetUsage(ctx context.Context, opts hub.UsageOptions) (hub.GetUsageResponse, error) {
	o.calls.Add(1)
	if o.down.Load() {
		<-ctx.Done()
		return hub.GetUsageResponse{}, ctx.Err()
	}
	return o.Client.GetUsage(ctx, opts)
}

func statfs(t *testing.T, dir string) (used, files uint64) {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatalf("statfs %s: %v", dir, err)
	}
	return (st.Blocks - st.Bfree) * uint64(st.Bsize), st.Files - st.Ffree
}

// TestStatfsShowsUsage: df on a mount shows the hub's stored bytes as
// used and the messages as files, and with the hub not answering it
// answers at once with the last figures it had. (It answered zeros.)
func TestStatfsShowsUsage(t *testing.T) {
	defer func(ttl, wait time.Duration) { statfsTTL, statfsWait = ttl, wait }(statfsTTL, statfsWait)
	statfsTTL, statfsWait = 0, 50*time.Millisecond
	var down atomic.Bool
	var calls atomic.Int64
	m := mountOver(t, hubdtest.Start(t), withCache(time.Second, 0, 0), func(cl *hub.Client) hubmail.Client {
		return offlineUsage{Client: cl, down: &down, calls: &calls}
	})
	if used, files := statfs(t, m.dir); used != 0 || files != 0 {
		t.Errorf("an empty mailbox: used %d bytes, %d files; want 0, 0", used, files)
	}
	body := make([]byte, 10000)
	if err := os.WriteFile(m.path("outbox", m.key.Public().String()), body, 0o600); err != nil {
		t.Fatal(err)
	}
	used, files := statfs(t, m.dir)
	if files != 2 || used < 2*uint64(len(body)) {
		t.Fatalf("after sending %d bytes to ourselves: used %d bytes, %d files; want over %d bytes and 2 files (the inbox and sentbox copies)", len(body), used, files, 2*len(body))
	}
	// Any path in the mount answers for the mount (it answered zeros
	// below the root).
	msgs, err := os.ReadDir(m.path("inbox"))
	if err != nil || len(msgs) != 1 {
		t.Fatalf("inbox: %v %v", msgs, err)
	}
	for _, p := range []string{m.path("inbox"), m.path("inbox", msgs[0].Name()), m.path("outbox"), m.path(".hubfs", "status")} {
		if u, f := statfs(t, p); u != used || f != files {
			t.Errorf("statfs %s: used %d, files %d; want the mount's %d, %d", p, u, f, used, files)
		}
	}
	down.Store(true)
	before := calls.Load()
	if u, f := statfs(t, m.dir); u != used || f != files {
		t.Errorf("with the hub not answering: used %d, files %d; want the last known %d, %d", u, f, used, files)
	}
	if calls.Load() == before {
		t.Errorf("statfs did not ask the hub again (TTL 0)")
	}
}
