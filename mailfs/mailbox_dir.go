package mailfs

import (
	"context"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	fusefs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/hubfs/hubfs/mailbox"
)

// mailboxDir is inbox/, unread/ or sentbox/: a view of one box's listing,
// one file per message named by its id.
type mailboxDir struct {
	fusefs.Inode
	fixedNames
	root       *Root
	box        mailbox.Box
	unreadOnly bool // unread/: only inbox messages not yet marked read
	// ownMount: the root of a no-open connection (noopen.go), in the
	// kernel while mounted is true.
	ownMount bool
	mounted  atomic.Bool

	// changed is when the listing last changed (Unix ns; 0: not since the
	// mount), shown as the directory's mtime. The kernel keeps a cached
	// listing only while the mtime it started with holds, so a new mtime
	// also retires a listing cached by a readdir that raced a change.
	changed atomic.Int64
	// listed is the value of changed when an open last made the kernel
	// drop its cached listing: a kernel listing filled since then is at
	// least that fresh.
	listed atomic.Int64
}

var (
	_ = (fusefs.NodeGetattrer)((*mailboxDir)(nil))
	_ = (fusefs.NodeLookuper)((*mailboxDir)(nil))
	_ = (fusefs.NodeReaddirer)((*mailboxDir)(nil))
	_ = (fusefs.NodeOpendirHandler)((*mailboxDir)(nil))
	_ = (fusefs.NodeUnlinker)((*mailboxDir)(nil))
	_ = (fusefs.NodeStatfser)((*mailboxDir)(nil))
	_ = (fusefs.NodeCreater)((*mailboxDir)(nil))   // fixedNames
	_ = (fusefs.NodeMkdirer)((*mailboxDir)(nil))   // fixedNames
	_ = (fusefs.NodeMknoder)((*mailboxDir)(nil))   // fixedNames
	_ = (fusefs.NodeSymlinker)((*mailboxDir)(nil)) // fixedNames
	_ = (fusefs.NodeLinker)((*mailboxDir)(nil))    // fixedNames
	_ = (fusefs.NodeRenamer)((*mailboxDir)(nil))   // fixedNames
)

func (d *mailboxDir) name() string {
	if d.unreadOnly {
		return "unread"
	}
	return d.box.String()
}

func (d *mailboxDir) Getattr(ctx context.Context, f fusefs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	d.root.dirAttr(&out.Attr, 0700)
	if ns := d.changed.Load(); ns != 0 {
		t := time.Unix(0, ns)
		out.SetTimes(nil, &t, &t)
	}
	out.SetTimeout(d.root.boxDirTTL())
	return 0
}

// Statfs answers as the root does, for df of a box that is a mount of its
// own (NoOpen).
func (d *mailboxDir) Statfs(ctx context.Context, out *fuse.StatfsOut) syscall.Errno {
	return d.root.Statfs(ctx, out)
}

// touch records that the listing changed now.
func (d *mailboxDir) touch() {
	now := time.Now().UnixNano()
	for {
		old := d.changed.Load()
		if now <= old {
			now = old + 1 // strictly increasing, so every change is a new mtime
		}
		if d.changed.CompareAndSwap(old, now) {
			return
		}
	}
}

// OpendirHandle lets the kernel keep the listing while the watch is up, so
// a warm ls needs no READDIR. Every change stamps the directory (touch)
// before the syscall or event that made it is done, and an open after a
// change lets the kernel keep nothing (it then drops its pages), so even a
// change whose invalidation is still queued in the notifier (a send whose
// close just returned) is listed. Otherwise every readdir reaches us, and we
// answer from the cache.
func (d *mailboxDir) OpendirHandle(ctx context.Context, flags uint32) (fusefs.FileHandle, uint32, syscall.Errno) {
	var fuseFlags uint32
	if d.root.cacheBoxListings() {
		if ch := d.changed.Load(); d.listed.Load() == ch {
			fuseFlags = fuse.FOPEN_CACHE_DIR | fuse.FOPEN_KEEP_CACHE
		} else {
			d.listed.Store(ch) // this open drops the stale pages; the next may cache
		}
	}
	return &dirHandle{list: d.Readdir}, fuseFlags, 0
}

func (d *mailboxDir) visible(e mailbox.Entry) bool {
	return !d.unreadOnly || e.Unread()
}

func (d *mailboxDir) Readdir(ctx context.Context) (fusefs.DirStream, syscall.Errno) {
	ctx, cancel := d.root.opCtx(ctx)
	defer cancel()
	entries, err := d.root.mb.List(ctx, d.box)
	if err != nil {
		return nil, d.root.fail("readdir", d.name(), err)
	}
	out := make([]fuse.DirEntry, 0, len(entries))
	for _, e := range entries {
		if d.visible(e) {
			out = append(out, fuse.DirEntry{Name: e.ID, Ino: ino(d.box.String(), e.ID), Mode: syscall.S_IFREG})
		}
	}
	return fusefs.NewListDirStream(out), 0
}

func (d *mailboxDir) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fusefs.Inode, syscall.Errno) {
	if !validMessageID(name) {
		return nil, syscall.ENOENT
	}
	ctx, cancel := d.root.opCtx(ctx)
	defer cancel()
	e, err := d.root.mb.Lookup(ctx, d.box, name)
	if err != nil {
		return nil, d.root.fail("lookup", d.name()+"/"+name, err)
	}
	if !d.visible(e) {
		return nil, syscall.ENOENT
	}
	m := &messageFile{root: d.root, box: d.box, id: name}
	ch := d.NewInode(ctx, m, fusefs.StableAttr{Mode: syscall.S_IFREG, Ino: ino(d.box.String(), name)})
	d.root.messageAttr(&out.Attr, e)
	ttl := d.root.messageTTL()
	out.SetAttrTimeout(ttl)
	out.SetEntryTimeout(ttl)
	return ch, 0
}

// Unlink deletes the message on the hub before it returns; on failure the
// file stays.
func (d *mailboxDir) Unlink(ctx context.Context, name string) syscall.Errno {
	if !validMessageID(name) {
		return syscall.ENOENT
	}
	ctx, cancel := d.root.changeCtx(ctx)
	defer cancel()
	// The hub deletes unknown ids silently; rm of a name that is not there
	// must still be ENOENT.
	e, err := d.root.mb.Lookup(ctx, d.box, name)
	if err != nil {
		return d.root.fail("unlink", d.name()+"/"+name, err)
	}
	if !d.visible(e) {
		return syscall.ENOENT
	}
	if err := d.root.mb.Delete(ctx, d.box, name); err != nil {
		return d.root.fail("unlink", d.name()+"/"+name, err)
	}
	return 0
}

// dirHandle is an open box directory. It lists at the first read, with that
// request's context, and starts again on a rewind.
type dirHandle struct {
	list func(ctx context.Context) (fusefs.DirStream, syscall.Errno)

	mu sync.Mutex // guards ds
	ds fusefs.DirStream
}

var (
	_ = (fusefs.FileReaddirenter)((*dirHandle)(nil))
	_ = (fusefs.FileSeekdirer)((*dirHandle)(nil))
	_ = (fusefs.FileReleasedirer)((*dirHandle)(nil))
)

func (h *dirHandle) Readdirent(ctx context.Context) (*fuse.DirEntry, syscall.Errno) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.ds == nil {
		ds, errno := h.list(ctx)
		if errno != 0 {
			return nil, errno
		}
		h.ds = ds
	}
	if !h.ds.HasNext() {
		return nil, 0
	}
	e, errno := h.ds.Next()
	return &e, errno
}

func (h *dirHandle) Seekdir(ctx context.Context, off uint64) syscall.Errno {
	h.mu.Lock()
	defer h.mu.Unlock()
	if off == 0 && h.ds != nil {
		h.ds.Close()
		h.ds = nil // a rewind lists afresh
		return 0
	}
	if h.ds == nil {
		ds, errno := h.list(ctx)
		if errno != 0 {
			return errno
		}
		h.ds = ds
	}
	if sd, ok := h.ds.(fusefs.FileSeekdirer); ok {
		return sd.Seekdir(ctx, off)
	}
	return syscall.ENOTSUP
}

func (h *dirHandle) Releasedir(ctx context.Context, releaseFlags uint32) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.ds != nil {
		h.ds.Close()
	}
}
