package mailfs

import (
	"context"
	"syscall"

	fusefs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/hubfs/hubfs/identity"
)

// outboxDir is the drop box: a file created here, named by a recipient's
// public key or a contact's name, is a draft that is sent when it is closed after being written.
// It always lists empty.
type outboxDir struct {
	fusefs.Inode
	fixedNames
	root *Root
}

var (
	_ = (fusefs.NodeGetattrer)((*outboxDir)(nil))
	_ = (fusefs.NodeLookuper)((*outboxDir)(nil))
	_ = (fusefs.NodeReaddirer)((*outboxDir)(nil))
	_ = (fusefs.NodeCreater)((*outboxDir)(nil))
	_ = (fusefs.NodeUnlinker)((*outboxDir)(nil))
	_ = (fusefs.NodeMkdirer)((*outboxDir)(nil))   // fixedNames
	_ = (fusefs.NodeMknoder)((*outboxDir)(nil))   // fixedNames
	_ = (fusefs.NodeSymlinker)((*outboxDir)(nil)) // fixedNames
	_ = (fusefs.NodeLinker)((*outboxDir)(nil))    // fixedNames
	_ = (fusefs.NodeRenamer)((*outboxDir)(nil))   // fixedNames
)

func (d *outboxDir) Getattr(ctx context.Context, f fusefs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	d.root.dirAttr(&out.Attr, 0700)
	return 0 // no attr timeout: the listing changes with every draft
}

// Lookup finds nothing, ever, and the kernel may not cache an outbox
// dentry: so every open(O_CREAT) of outbox/<key> is a Create, and every
// open is a new draft inode, even for a name being written already. That
// makes the inode number name one open(2) and its dups and nothing else,
// which is what Flush needs to tell the last close of a message apart from
// the close of a dup (see stillOpenIn).
func (d *outboxDir) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fusefs.Inode, syscall.Errno) {
	return nil, syscall.ENOENT
}

// Readdir lists nothing: the outbox is a drop box, and a draft is not a
// file anyone can open again.
func (d *outboxDir) Readdir(ctx context.Context) (fusefs.DirStream, syscall.Errno) {
	return fusefs.NewListDirStream(nil), 0
}

func (d *outboxDir) Create(ctx context.Context, name string, flags, mode uint32, out *fuse.EntryOut) (*fusefs.Inode, fusefs.FileHandle, uint32, syscall.Errno) {
	to, err := d.root.recipient(name)
	if err != nil {
		d.root.log.Info("outbox: not a public key or a contact", "name", name, "err", err)
		return nil, nil, 0, syscall.EINVAL
	}
	if r := d.root.opts.Outbox; r != nil {
		// A refusal that meets every send (a revoked API key) is
		// reported here, where a shell sees it, before anything is
		// written.
		if err := r.Refusal(); err != nil {
			return nil, nil, 0, d.root.fail("create", "outbox/"+name, err)
		}
	}
	var opener uint32
	if caller, ok := fuse.FromContext(ctx); ok {
		opener = tgid(caller.Pid)
	}
	draft := newDraft(d.root, name, to, opener)
	ch := d.NewInode(ctx, draft, fusefs.StableAttr{Mode: syscall.S_IFREG})
	h := draft.newHandle()
	d.root.fileAttr(&out.Attr, 0600, 0, draft.created, draft.created)
	return ch, h, fuse.FOPEN_DIRECT_IO, 0
}

// Unlink finds nothing to remove: drafts have no names anyone can look up.
func (d *outboxDir) Unlink(ctx context.Context, name string) syscall.Errno {
	return syscall.ENOENT
}

// recipient resolves an outbox name when the draft is created: a public
// key, else a contact's name in the book as it is now. The draft keeps the
// key, so editing the book while it is written does not redirect it.
func (r *Root) recipient(name string) (*identity.PublicKey, error) {
	if to, err := identity.ParsePublicKey(name); err == nil {
		return to, nil
	}
	key, err := r.book().Resolve(name)
	if err != nil {
		return nil, err
	}
	return identity.ParsePublicKey(key)
}
