package fs

import (
	"context"
	"syscall"

	fusefs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/hubfs/hubfs/cache"
)

// mailboxDir is inbox/, unread/ or sentbox/: a view of one box's listing,
// one file per message named by its id.
type mailboxDir struct {
	fusefs.Inode
	root       *Root
	box        cache.Box
	unreadOnly bool // unread/: only inbox messages not yet marked read
}

var (
	_ = (fusefs.NodeGetattrer)((*mailboxDir)(nil))
	_ = (fusefs.NodeLookuper)((*mailboxDir)(nil))
	_ = (fusefs.NodeReaddirer)((*mailboxDir)(nil))
	_ = (fusefs.NodeUnlinker)((*mailboxDir)(nil))
	_ = (fusefs.NodeCreater)((*mailboxDir)(nil))
	_ = (fusefs.NodeMkdirer)((*mailboxDir)(nil))
	_ = (fusefs.NodeMknoder)((*mailboxDir)(nil))
	_ = (fusefs.NodeSymlinker)((*mailboxDir)(nil))
	_ = (fusefs.NodeLinker)((*mailboxDir)(nil))
	_ = (fusefs.NodeRenamer)((*mailboxDir)(nil))
)

func (d *mailboxDir) name() string {
	if d.unreadOnly {
		return "unread"
	}
	return d.box.String()
}

func (d *mailboxDir) Getattr(ctx context.Context, f fusefs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	d.root.dirAttr(&out.Attr, 0700)
	out.SetTimeout(d.root.opts.ListTTL)
	return 0
}

func (d *mailboxDir) visible(e cache.Entry) bool {
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
	out.SetAttrTimeout(d.root.opts.MessageTTL)
	out.SetEntryTimeout(d.root.opts.MessageTTL)
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

// Messages arrive only from the hub: nothing can be created here.
func (d *mailboxDir) Create(ctx context.Context, name string, flags, mode uint32, out *fuse.EntryOut) (*fusefs.Inode, fusefs.FileHandle, uint32, syscall.Errno) {
	return nil, nil, 0, syscall.EPERM
}

func (d *mailboxDir) Mkdir(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (*fusefs.Inode, syscall.Errno) {
	return nil, syscall.EPERM
}

func (d *mailboxDir) Mknod(ctx context.Context, name string, mode, dev uint32, out *fuse.EntryOut) (*fusefs.Inode, syscall.Errno) {
	return nil, syscall.EPERM
}

func (d *mailboxDir) Symlink(ctx context.Context, target, name string, out *fuse.EntryOut) (*fusefs.Inode, syscall.Errno) {
	return nil, syscall.EPERM
}

func (d *mailboxDir) Link(ctx context.Context, target fusefs.InodeEmbedder, name string, out *fuse.EntryOut) (*fusefs.Inode, syscall.Errno) {
	return nil, syscall.EPERM
}

// Message ids are minted by the hub; a message cannot be renamed or moved.
func (d *mailboxDir) Rename(ctx context.Context, name string, newParent fusefs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	return syscall.EPERM
}
