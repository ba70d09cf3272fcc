package mailfs

import (
	"context"
	"syscall"

	fusefs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/hubfs/hubfs/mailbox"
)

// schemaFile is threads/<db>/<collection>/.schema.json: the collection's
// JSON Schema. Writing one and closing the file updates the collection
// (the same save contract as a document's file, save_buffer.go); the hub
// refuses a schema that does not compile or that documents it holds
// violate (EINVAL, the reason in .hubfs/errors).
type schemaFile struct {
	fusefs.Inode
	root *Root
	coll *collectionDir
	buf  saveBuffer
}

var (
	_ = (fusefs.NodeGetattrer)((*schemaFile)(nil))
	_ = (fusefs.NodeSetattrer)((*schemaFile)(nil))
	_ = (fusefs.NodeOpener)((*schemaFile)(nil))
)

func (f *schemaFile) path() string            { return f.coll.path(schemaFileName) }
func (f *schemaFile) embedded() *fusefs.Inode { return &f.Inode }
func (f *schemaFile) ended(saved bool)        {}

func (f *schemaFile) attr(a *fuse.Attr, size int64) {
	f.root.fileAttr(a, 0600, size, f.root.start, f.root.start)
}

func (f *schemaFile) current(ctx context.Context) ([]byte, error) {
	ctx, cancel := f.root.opCtx(ctx)
	defer cancel()
	c, err := f.root.mb.Collection(ctx, f.coll.db, f.coll.name)
	if err != nil {
		return nil, err
	}
	return mailbox.RenderSchema(c.Schema), nil
}

func (f *schemaFile) save(ctx context.Context, body []byte) error {
	ctx, cancel := f.root.changeCtx(ctx)
	defer cancel()
	_, err := f.root.mb.SetSchema(ctx, f.coll.db, f.coll.name, body)
	return err
}

func (f *schemaFile) Getattr(ctx context.Context, fh fusefs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	if size, ok := f.buf.size(); ok {
		f.attr(&out.Attr, size)
		return 0
	}
	data, err := f.current(ctx)
	if err != nil {
		return f.root.fail("getattr", f.path(), err)
	}
	f.attr(&out.Attr, int64(len(data)))
	out.SetTimeout(f.root.cfg.ListTTL)
	return 0
}

// Setattr: as a document's file (truncate a write under way; modes and
// times accepted and ignored).
func (f *schemaFile) Setattr(ctx context.Context, fh fusefs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	if size, ok := in.GetSize(); ok {
		errno, writing := f.buf.truncate(int64(size))
		if !writing {
			return syscall.EPERM
		}
		if errno != 0 {
			return errno
		}
	}
	return setattrDone(&f.Inode, out, f.Getattr(ctx, fh, out))
}

func (f *schemaFile) Open(ctx context.Context, flags uint32) (fusefs.FileHandle, uint32, syscall.Errno) {
	if flags&syscall.O_ACCMODE != syscall.O_RDONLY {
		h, errno := f.buf.open(ctx, flags)
		if errno != 0 {
			return nil, 0, errno
		}
		return h, fuse.FOPEN_DIRECT_IO, 0
	}
	data, err := f.current(ctx)
	if err != nil {
		return nil, 0, f.root.fail("open", f.path(), err)
	}
	return &bytesHandle{data: data}, fuse.FOPEN_DIRECT_IO, 0
}
