package mailfs

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sync/singleflight"

	"github.com/hubfs/hubfs/mailbox"
)

// statfs (df) shows the hub's usage: stored_data as the blocks used,
// the free allowance of stored_data as the size when the hub has one (a
// quota), and stored_messages as the files used. The kernel does not
// cache statfs and desktop tools call it often, so the figures are kept
// for statfsTTL; a refresh waits at most statfsWait, and a hub that does
// not answer in time (or at all) gets the last figures known, so df never
// hangs on an offline mount.
var (
	statfsTTL  = 5 * time.Second // tests make it 0 before they mount
	statfsWait = time.Second
)

const (
	statfsBlock = 4096
	// noQuotaFree is the free space shown when the hub sets no quota (a
	// self-hosted hub): 1 PiB, as rclone shows for a remote without one.
	noQuotaFree = 1 << 50
	// freeFiles is the free file count shown: messages have no quota.
	freeFiles = 1 << 30
)

// Usage kinds of GetUsage (docs/protocol.md, "Usage").
const (
	usageStoredData     = "stored_data"
	usageStoredMessages = "stored_messages"
)

// diskFigures are what df shows, in bytes and files.
type diskFigures struct {
	used, quota int64 // quota 0: none
	files       int64
}

func figuresOf(u mailbox.Usage) diskFigures {
	data := u.Usage[usageStoredData]
	return diskFigures{
		used:  max(data.Total, data.Units, 0),
		quota: max(data.Free, 0),
		files: max(u.Usage[usageStoredMessages].Total, u.Usage[usageStoredMessages].Units, 0),
	}
}

func (d diskFigures) fill(out *fuse.StatfsOut) {
	blocks := func(n int64) uint64 { return uint64((n + statfsBlock - 1) / statfsBlock) }
	used := blocks(d.used)
	total := used + blocks(noQuotaFree)
	if d.quota > 0 {
		total = max(blocks(d.quota), used)
	}
	out.Bsize, out.Frsize, out.NameLen = statfsBlock, statfsBlock, 255
	out.Blocks, out.Bfree, out.Bavail = total, total-used, total-used
	out.Files, out.Ffree = uint64(d.files)+freeFiles, freeFiles
}

// diskUsage keeps the last figures the hub gave.
type diskUsage struct {
	mb    Mailbox
	log   *slog.Logger
	ttl   time.Duration // statfsTTL
	wait  time.Duration // statfsWait
	group singleflight.Group

	mu      sync.Mutex // guards the fields below
	last    diskFigures
	fetched time.Time // zero: never
}

// figures answers from the last figures while they are fresh, else asks
// the hub for at most d.wait and falls back to the last ones known.
func (d *diskUsage) figures(ctx context.Context) diskFigures {
	d.mu.Lock()
	last, fresh := d.last, !d.fetched.IsZero() && time.Since(d.fetched) < d.ttl
	d.mu.Unlock()
	if fresh {
		return last
	}
	ch := d.group.DoChan("usage", func() (any, error) {
		// Not the request's context: one df given up should not fail
		// the fetch the others share.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), d.wait)
		defer cancel()
		u, err := d.mb.Usage(ctx)
		d.mu.Lock()
		defer d.mu.Unlock()
		// A failure counts as a fetch too: while the hub is away, df
		// waits for it once a TTL, not every time.
		d.fetched = time.Now()
		if err != nil {
			return nil, err
		}
		d.last = figuresOf(u)
		return d.last, nil
	})
	select {
	case r := <-ch:
		if r.Err == nil {
			return r.Val.(diskFigures)
		}
		if !errors.Is(r.Err, errors.ErrUnsupported) {
			d.log.Debug("statfs: the hub's usage, answering the last known", "err", r.Err)
		}
	case <-ctx.Done():
	}
	return last
}

// StatFs answers for the mount as a whole whichever node the kernel names
// (df MNT/inbox, df . inside the mount): go-fuse asks only the node itself,
// and only the root has the figures, so every other node answered zeros.
// It lives on the raw filter every request already passes through.
func (f xattrFilter) StatFs(cancel <-chan struct{}, in *fuse.InHeader, out *fuse.StatfsOut) fuse.Status {
	root := *in
	root.NodeId = fuse.FUSE_ROOT_ID
	return f.RawFileSystem.StatFs(cancel, &root, out)
}
