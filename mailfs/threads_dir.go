package mailfs

import (
	"context"
	"strings"
	"syscall"

	fusefs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/hubfs/hubfs/mailbox"
)

// threadsDir lists the user's threads, one directory each, named by the
// thread's name (its id where it has none). mkdir creates a thread, rmdir
// deletes one.
type threadsDir struct {
	fusefs.Inode
	fixedNames
	root *Root
}

var (
	_ = (fusefs.NodeGetattrer)((*threadsDir)(nil))
	_ = (fusefs.NodeLookuper)((*threadsDir)(nil))
	_ = (fusefs.NodeReaddirer)((*threadsDir)(nil))
	_ = (fusefs.NodeMkdirer)((*threadsDir)(nil))
	_ = (fusefs.NodeRmdirer)((*threadsDir)(nil))
	_ = (fusefs.NodeUnlinker)((*threadsDir)(nil))
	_ = (fusefs.NodeCreater)((*threadsDir)(nil))   // fixedNames
	_ = (fusefs.NodeMknoder)((*threadsDir)(nil))   // fixedNames
	_ = (fusefs.NodeSymlinker)((*threadsDir)(nil)) // fixedNames
	_ = (fusefs.NodeLinker)((*threadsDir)(nil))    // fixedNames
	_ = (fusefs.NodeRenamer)((*threadsDir)(nil))   // fixedNames
)

// threadDirName is a thread's directory name.
func threadDirName(t mailbox.Thread) string {
	if t.Name != "" && validThreadName(t.Name) {
		return t.Name
	}
	return t.ID
}

// validThreadName reports whether name can be a directory name that mkdir
// may turn into a thread.
func validThreadName(name string) bool {
	return name != "" && name != "." && name != ".." && !strings.ContainsAny(name, "/\x00") && len(name) <= 255
}

func (d *threadsDir) Getattr(ctx context.Context, f fusefs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	d.root.dirAttr(&out.Attr, 0700)
	out.SetTimeout(d.root.cfg.ListTTL)
	return 0
}

func (d *threadsDir) list(ctx context.Context) ([]mailbox.Thread, error) {
	ctx, cancel := d.root.opCtx(ctx)
	defer cancel()
	return d.root.mb.Threads(ctx)
}

func (d *threadsDir) find(ctx context.Context, name string) (mailbox.Thread, syscall.Errno) {
	ts, err := d.list(ctx)
	if err != nil {
		return mailbox.Thread{}, d.root.fail("lookup", "threads/"+name, err)
	}
	for _, t := range ts {
		if threadDirName(t) == name {
			return t, 0
		}
	}
	return mailbox.Thread{}, syscall.ENOENT
}

func (d *threadsDir) Readdir(ctx context.Context) (fusefs.DirStream, syscall.Errno) {
	ts, err := d.list(ctx)
	if err != nil {
		return nil, d.root.fail("readdir", "threads", err)
	}
	out := make([]fuse.DirEntry, 0, len(ts))
	for _, t := range ts {
		out = append(out, fuse.DirEntry{Name: threadDirName(t), Ino: ino("thread", t.ID), Mode: syscall.S_IFDIR})
	}
	return fusefs.NewListDirStream(out), 0
}

func (d *threadsDir) node(ctx context.Context, t mailbox.Thread, out *fuse.EntryOut) *fusefs.Inode {
	ch := d.NewInode(ctx, &threadDir{root: d.root, thread: t}, fusefs.StableAttr{Mode: syscall.S_IFDIR, Ino: ino("thread", t.ID)})
	d.root.dirAttr(&out.Attr, 0500)
	out.SetEntryTimeout(d.root.cfg.ListTTL)
	out.SetAttrTimeout(d.root.cfg.ListTTL)
	return ch
}

func (d *threadsDir) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fusefs.Inode, syscall.Errno) {
	t, errno := d.find(ctx, name)
	if errno != 0 {
		return nil, errno
	}
	return d.node(ctx, t, out), 0
}

func (d *threadsDir) Mkdir(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (*fusefs.Inode, syscall.Errno) {
	if !validThreadName(name) {
		return nil, syscall.EINVAL
	}
	// One deadline covers the check and the change: --op-timeout bounds
	// the request, not each call in it.
	ctx, cancel := d.root.changeCtx(ctx)
	defer cancel()
	if _, errno := d.find(ctx, name); errno == 0 {
		return nil, syscall.EEXIST
	} else if errno != syscall.ENOENT {
		return nil, errno
	}
	t, err := d.root.mb.NewThread(ctx, name)
	if err != nil {
		return nil, d.root.fail("mkdir", "threads/"+name, err)
	}
	return d.node(ctx, t, out), 0
}

// Rmdir deletes the thread and everything in it, though the directory is
// not empty (it always holds id and info.json). The mailbox thread stays.
func (d *threadsDir) Rmdir(ctx context.Context, name string) syscall.Errno {
	ctx, cancel := d.root.changeCtx(ctx) // one deadline, as in Mkdir
	defer cancel()
	t, errno := d.find(ctx, name)
	if errno != 0 {
		return errno
	}
	if t.Mailbox {
		return syscall.EBUSY
	}
	if err := d.root.mb.DeleteThread(ctx, t); err != nil {
		return d.root.fail("rmdir", "threads/"+name, err)
	}
	return 0
}

func (d *threadsDir) Unlink(ctx context.Context, name string) syscall.Errno {
	if _, errno := d.find(ctx, name); errno != 0 {
		return errno
	}
	return syscall.EISDIR
}
