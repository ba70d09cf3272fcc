package mailfs

import (
	"context"
	"syscall"

	fusefs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/hubfs/hubfs/mailbox"
)

// maildirFolder is a Maildir++ folder: Maildir/ (the inbox, with the
// .Sent/ folder inside it) or Maildir/.Sent/ (the sentbox). Its children
// are fixed: new/, cur/ and tmp/, and .Sent/ in the top one.
type maildirFolder struct {
	fusefs.Inode
	fixedNames
	view *maildirView
	box  mailbox.Box
}

var (
	_ = (fusefs.NodeOnAdder)((*maildirFolder)(nil))
	_ = (fusefs.NodeGetattrer)((*maildirFolder)(nil))
	_ = (fusefs.NodeLookuper)((*maildirFolder)(nil))
	_ = (fusefs.NodeCreater)((*maildirFolder)(nil))   // fixedNames
	_ = (fusefs.NodeMkdirer)((*maildirFolder)(nil))   // fixedNames
	_ = (fusefs.NodeMknoder)((*maildirFolder)(nil))   // fixedNames
	_ = (fusefs.NodeSymlinker)((*maildirFolder)(nil)) // fixedNames
	_ = (fusefs.NodeLinker)((*maildirFolder)(nil))    // fixedNames
	_ = (fusefs.NodeRenamer)((*maildirFolder)(nil))   // fixedNames
)

func (d *maildirFolder) OnAdd(ctx context.Context) {
	dir := func(name string, node fusefs.InodeEmbedder) {
		d.AddChild(name, d.NewPersistentInode(ctx, node, fusefs.StableAttr{Mode: syscall.S_IFDIR}), false)
	}
	boxes := d.view.dirs(d.box)
	dir("new", boxes[0])
	dir("cur", boxes[1])
	dir("tmp", &maildirTmp{root: d.view.root})
	if d.box == mailbox.Inbox {
		dir(".Sent", &maildirFolder{view: d.view, box: mailbox.Sentbox})
	}
}

func (d *maildirFolder) Getattr(ctx context.Context, f fusefs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	d.view.root.dirAttr(&out.Attr, 0700)
	out.SetTimeout(skeletonTTL)
	return 0
}

func (d *maildirFolder) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fusefs.Inode, syscall.Errno) {
	return d.view.root.lookupFixed(&d.Inode, name, out)
}

// maildirTmp is a folder's tmp/: where a Maildir client writes a message
// before delivering it. Messages come only from the hub (send through
// outbox/ or hubfs sendmail), so it is always empty and refuses new files
// with EACCES, as its mode says: a client that copies or edits a message
// into the folder reports that it cannot create its temporary file.
type maildirTmp struct {
	fusefs.Inode
	fixedNames
	root *Root
}

var (
	_ = (fusefs.NodeGetattrer)((*maildirTmp)(nil))
	_ = (fusefs.NodeLookuper)((*maildirTmp)(nil))
	_ = (fusefs.NodeReaddirer)((*maildirTmp)(nil))
	_ = (fusefs.NodeCreater)((*maildirTmp)(nil))
	_ = (fusefs.NodeMkdirer)((*maildirTmp)(nil))
	_ = (fusefs.NodeMknoder)((*maildirTmp)(nil))
	_ = (fusefs.NodeSymlinker)((*maildirTmp)(nil))
	_ = (fusefs.NodeLinker)((*maildirTmp)(nil))  // fixedNames
	_ = (fusefs.NodeRenamer)((*maildirTmp)(nil)) // fixedNames
)

func (d *maildirTmp) Getattr(ctx context.Context, f fusefs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	d.root.dirAttr(&out.Attr, 0500)
	out.SetTimeout(skeletonTTL)
	return 0
}

func (d *maildirTmp) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fusefs.Inode, syscall.Errno) {
	return nil, syscall.ENOENT
}

func (d *maildirTmp) Readdir(ctx context.Context) (fusefs.DirStream, syscall.Errno) {
	return fusefs.NewListDirStream(nil), 0
}

func (d *maildirTmp) Create(ctx context.Context, name string, flags, mode uint32, out *fuse.EntryOut) (*fusefs.Inode, fusefs.FileHandle, uint32, syscall.Errno) {
	return nil, nil, 0, syscall.EACCES
}

func (d *maildirTmp) Mkdir(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (*fusefs.Inode, syscall.Errno) {
	return nil, syscall.EACCES
}

func (d *maildirTmp) Mknod(ctx context.Context, name string, mode, dev uint32, out *fuse.EntryOut) (*fusefs.Inode, syscall.Errno) {
	return nil, syscall.EACCES
}

func (d *maildirTmp) Symlink(ctx context.Context, target, name string, out *fuse.EntryOut) (*fusefs.Inode, syscall.Errno) {
	return nil, syscall.EACCES
}
