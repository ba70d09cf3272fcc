package mailfs

import (
	"context"
	"sync/atomic"
	"syscall"
	"time"

	fusefs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"

	"github.com/hubfs/hubfs/mailbox"
	"github.com/hubfs/hubfs/maildir"
)

// maildirBox is new/ or cur/ of a Maildir folder: Maildir/ for the inbox,
// Maildir/.Sent/ for the sentbox. It lists the box's messages that are
// there (unread and not moved: new/; the others: cur/), one RFC 5322 file
// each. A rename is how a mail client marks a message read or sets a
// flag; an unlink deletes it.
type maildirBox struct {
	fusefs.Inode
	fixedNames
	view *maildirView
	box  mailbox.Box
	cur  bool

	// changed is when what the directory holds last changed (Unix ns; 0:
	// not since the mount), its mtime: mail clients rescan a Maildir when
	// the mtime of new/ or cur/ moves.
	changed atomic.Int64
}

var (
	_ = (fusefs.NodeGetattrer)((*maildirBox)(nil))
	_ = (fusefs.NodeLookuper)((*maildirBox)(nil))
	_ = (fusefs.NodeReaddirer)((*maildirBox)(nil))
	_ = (fusefs.NodeUnlinker)((*maildirBox)(nil))
	_ = (fusefs.NodeRenamer)((*maildirBox)(nil))
	_ = (fusefs.NodeCreater)((*maildirBox)(nil))   // fixedNames
	_ = (fusefs.NodeMkdirer)((*maildirBox)(nil))   // fixedNames
	_ = (fusefs.NodeMknoder)((*maildirBox)(nil))   // fixedNames
	_ = (fusefs.NodeSymlinker)((*maildirBox)(nil)) // fixedNames
	_ = (fusefs.NodeLinker)((*maildirBox)(nil))    // fixedNames
)

func (d *maildirBox) path() string {
	p := "Maildir/"
	if d.box == mailbox.Sentbox {
		p += ".Sent/"
	}
	if d.cur {
		return p + "cur"
	}
	return p + "new"
}

// inTree reports whether OnAdd has put the directory in the tree.
func (d *maildirBox) inTree() bool { return d.StableAttr().Ino != 0 }

// touch records that the directory's contents changed now.
func (d *maildirBox) touch() {
	now := time.Now().UnixNano()
	for {
		old := d.changed.Load()
		if now <= old {
			now = old + 1 // strictly increasing: every change a new mtime
		}
		if d.changed.CompareAndSwap(old, now) {
			return
		}
	}
}

// dropAttr makes the kernel ask for the directory's attributes (its
// mtime) again. Called from the notifier only.
func (d *maildirBox) dropAttr(n *notifier) {
	if d.inTree() {
		n.checked("content", d.path(), d.NotifyContent(0, 0))
	}
}

func (d *maildirBox) Getattr(ctx context.Context, f fusefs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	d.view.root.dirAttr(&out.Attr, 0700)
	if ns := d.changed.Load(); ns != 0 {
		t := time.Unix(0, ns)
		out.SetTimes(nil, &t, &t)
	}
	out.SetTimeout(d.view.root.boxDirTTL())
	return 0
}

func (d *maildirBox) Readdir(ctx context.Context) (fusefs.DirStream, syscall.Errno) {
	ctx, cancel := d.view.root.opCtx(ctx)
	defer cancel()
	entries, err := d.view.root.mb.List(ctx, d.box)
	if err != nil {
		return nil, d.view.root.fail("readdir", d.path(), err)
	}
	d.view.prune(d.box, entries)
	out := make([]fuse.DirEntry, 0, len(entries))
	for _, e := range entries {
		if cur, name := d.view.placement(e); cur == d.cur {
			out = append(out, fuse.DirEntry{Name: name, Ino: maildirIno(d.box, e.ID), Mode: syscall.S_IFREG})
		}
	}
	return fusefs.NewListDirStream(out), 0
}

func (d *maildirBox) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fusefs.Inode, syscall.Errno) {
	e, _, errno := d.view.resolve(ctx, d, name)
	if errno != 0 {
		return nil, errno
	}
	size, err := d.view.size(ctx, e)
	if err != nil {
		return nil, d.view.root.fail("lookup", d.path()+"/"+name, err)
	}
	f := &maildirFile{view: d.view, box: d.box, id: e.ID}
	ch := d.NewInode(ctx, f, fusefs.StableAttr{Mode: syscall.S_IFREG, Ino: maildirIno(d.box, e.ID)})
	d.view.root.maildirAttr(&out.Attr, e, size)
	ttl := d.view.root.messageTTL()
	out.SetAttrTimeout(ttl)
	out.SetEntryTimeout(ttl)
	return ch, 0
}

// Unlink deletes the message on the hub (a client's expunge); on failure
// the file stays.
func (d *maildirBox) Unlink(ctx context.Context, name string) syscall.Errno {
	e, _, errno := d.view.resolve(ctx, d, name)
	if errno != 0 {
		return errno
	}
	ctx, cancel := d.view.root.changeCtx(ctx)
	defer cancel()
	if err := d.view.root.mb.Delete(ctx, d.box, e.ID); err != nil {
		return d.view.root.fail("unlink", d.path()+"/"+name, err)
	}
	return 0
}

// Rename is how a mail client changes a message's state: new/X to
// cur/X:2,<flags>, or cur/X:2,<flags> to cur/X:2,<other flags>. S marks
// the message read on the hub; the other flags are kept locally. The hub
// cannot mark a message unread (dropping S, or moving a read message back
// to new/) and a message cannot change folders or names: EPERM.
func (d *maildirBox) Rename(ctx context.Context, name string, newParent fusefs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	if flags&^uint32(unix.RENAME_NOREPLACE) != 0 {
		return syscall.EINVAL // RENAME_EXCHANGE, RENAME_WHITEOUT: no two messages trade names
	}
	to, ok := newParent.(*maildirBox)
	if !ok || to.box != d.box {
		return syscall.EPERM // a message stays in its box
	}
	e, from, errno := d.view.resolve(ctx, d, name)
	if errno != 0 {
		return errno
	}
	target, ok := maildir.Parse(newName)
	if !ok || target.Base() != from.Base() || target.HasInfo && !to.cur {
		return syscall.EPERM // a message keeps its base name; new/ names have no flags
	}
	newFlags, err := maildir.CanonicalFlags(target.Flags)
	if err != nil {
		return syscall.EINVAL
	}
	path := d.path() + "/" + name
	wantSeen := to.cur && maildir.HasFlag(newFlags, maildir.Seen)
	if seen(e) && !wantSeen {
		return syscall.EPERM // the hub cannot mark a message unread
	}
	if wantSeen && !seen(e) {
		cctx, cancel := d.view.root.changeCtx(ctx)
		_, err := d.view.root.mb.MarkRead(cctx, e.ID)
		cancel()
		if err != nil {
			return d.view.root.fail("rename", path, err)
		}
	}
	l := maildir.Local{Flags: maildir.WithoutFlag(newFlags, maildir.Seen)}
	if !wantSeen {
		l.Cur = to.cur // an unread message moved to cur/ (or back)
	}
	if err := d.view.state.Set(d.box.String(), e.ID, l); err != nil {
		return d.view.root.fail("rename", path, err)
	}
	d.touch()
	to.touch()
	return 0
}

// maildirAttr is a Maildir file's stat: the rendered size, created_at as
// mtime, read_at as atime, like the message's file in inbox/.
func (r *Root) maildirAttr(a *fuse.Attr, e mailbox.Entry, size int64) {
	atime := e.ReadAt
	if atime.IsZero() {
		atime = e.CreatedAt
	}
	r.fileAttr(a, 0400, size, e.CreatedAt, atime)
}
