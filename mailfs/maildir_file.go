package mailfs

import (
	"context"
	"syscall"

	fusefs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/hubfs/hubfs/mailbox"
)

// maildirFile is one message in Maildir/: the RFC 5322 rendering of its
// entry and plaintext (mailmsg), rendered at open and kept in no cache of
// its own: the plaintext is the model's, in RAM only.
type maildirFile struct {
	fusefs.Inode
	view *maildirView
	box  mailbox.Box
	id   string
}

var (
	_ = (fusefs.NodeGetattrer)((*maildirFile)(nil))
	_ = (fusefs.NodeSetattrer)((*maildirFile)(nil))
	_ = (fusefs.NodeOpener)((*maildirFile)(nil))
)

func (f *maildirFile) path() string { return "Maildir/" + f.box.String() + "/" + f.id }

func (f *maildirFile) entry(ctx context.Context) (mailbox.Entry, error) {
	ctx, cancel := f.view.root.opCtx(ctx)
	defer cancel()
	return f.view.root.mb.Lookup(ctx, f.box, f.id)
}

func (f *maildirFile) Getattr(ctx context.Context, fh fusefs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	e, err := f.entry(ctx)
	if err != nil {
		return f.view.root.fail("getattr", f.path(), err)
	}
	size, err := f.view.size(ctx, e)
	if err != nil {
		return f.view.root.fail("getattr", f.path(), err)
	}
	f.view.root.maildirAttr(&out.Attr, e, size)
	out.SetTimeout(f.view.root.messageTTL())
	return 0
}

// Setattr refuses chmod, chown, truncate and utimes, as in inbox/.
func (f *maildirFile) Setattr(ctx context.Context, fh fusefs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	return syscall.EPERM
}

// Open renders the file. Reading it does not mark the message read: a
// client marks it read by renaming it (S). The kernel may not keep pages
// across opens (no FOPEN_KEEP_CACHE): a contact's new name renders anew.
func (f *maildirFile) Open(ctx context.Context, flags uint32) (fusefs.FileHandle, uint32, syscall.Errno) {
	if flags&(syscall.O_WRONLY|syscall.O_RDWR|syscall.O_TRUNC|syscall.O_APPEND) != 0 {
		return nil, 0, syscall.EACCES
	}
	e, err := f.entry(ctx)
	if err != nil {
		return nil, 0, f.view.root.fail("open", f.path(), err)
	}
	file, err := f.view.render(ctx, e)
	if err != nil {
		return nil, 0, f.view.root.fail("open", f.path(), err)
	}
	return &bytesHandle{data: file}, fuse.FOPEN_NOFLUSH, 0
}
