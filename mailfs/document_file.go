package mailfs

import (
	"bytes"
	"context"
	"sync"
	"syscall"
	"time"

	fusefs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// docFile is threads/<db>/<collection>/<_id>.json: a document's JSON as
// the model renders it (stable key order, a trailing newline). Reading
// gives the hub's copy at open; writing fills the inode's saveBuffer, which
// the last writer's close saves (creating the document or saving it).
// Descriptors are direct I/O: a document changes under its readers, and a
// read must not stop at a size the kernel kept from before.
type docFile struct {
	fusefs.Inode
	root *Root
	coll *collectionDir
	id   string
	buf  saveBuffer

	mu     sync.Mutex // guards the fields below
	exists bool       // the hub had it when last asked: a write saves rather than creates
	last   []byte     // the rendering last seen, to tell a change and stamp mtime
	mtime  time.Time
}

var (
	_ = (fusefs.NodeGetattrer)((*docFile)(nil))
	_ = (fusefs.NodeSetattrer)((*docFile)(nil))
	_ = (fusefs.NodeOpener)((*docFile)(nil))
)

func newDocFile(d *collectionDir, id string) *docFile {
	f := &docFile{root: d.root, coll: d, id: id, mtime: d.root.start}
	f.buf = saveBuffer{root: d.root, node: f, limit: d.root.cfg.MaxMessageSize}
	return f
}

// seen records the document's current rendering: it exists, and its mtime
// moves when it differs from the last seen.
func (f *docFile) seen(data []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.exists = true
	if f.last != nil && !bytes.Equal(f.last, data) {
		f.mtime = time.Now()
	}
	f.last = append(f.last[:0], data...)
}

func (f *docFile) attr(a *fuse.Attr, size int64) {
	f.mu.Lock()
	mtime := f.mtime
	f.mu.Unlock()
	f.root.fileAttr(a, 0600, size, mtime, mtime)
}

func (f *docFile) path() string            { return f.coll.path(docFileName(f.id)) }
func (f *docFile) embedded() *fusefs.Inode { return &f.Inode }

// current is the document as the hub has it, or nothing for one being
// created.
func (f *docFile) current(ctx context.Context) ([]byte, error) {
	f.mu.Lock()
	exists := f.exists
	f.mu.Unlock()
	if !exists {
		return nil, nil
	}
	ctx, cancel := f.root.opCtx(ctx)
	defer cancel()
	doc, err := f.root.mb.Document(ctx, f.coll.db, f.coll.name, f.id)
	if err != nil {
		return nil, err
	}
	f.seen(doc.JSON)
	return doc.JSON, nil
}

// save creates or saves the document from what was written; the model
// checks it (one JSON object, an _id that is the file's if any).
func (f *docFile) save(ctx context.Context, body []byte) error {
	f.mu.Lock()
	exists := f.exists
	f.mu.Unlock()
	ctx, cancel := f.root.changeCtx(ctx)
	defer cancel()
	doc, err := f.root.mb.PutDocument(ctx, f.coll.db, f.coll.name, f.id, body, exists)
	if err != nil {
		return err
	}
	f.mu.Lock()
	f.exists = true
	f.last = append(f.last[:0], doc.JSON...)
	f.mtime = time.Now()
	f.mu.Unlock()
	return nil
}

// ended takes a file that was created and never saved out of the tree,
// as the outbox does with a draft: there is no such document.
func (f *docFile) ended(saved bool) {
	f.mu.Lock()
	exists := f.exists
	f.mu.Unlock()
	if saved || exists {
		return
	}
	name := docFileName(f.id)
	if f.coll.GetChild(name) == f.EmbeddedInode() {
		f.coll.RmChild(name)
	}
}

func (f *docFile) Getattr(ctx context.Context, fh fusefs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	if size, ok := f.buf.size(); ok {
		f.attr(&out.Attr, size) // what is being written: the size a writer at O_APPEND sees
		return 0
	}
	ctx, cancel := f.root.opCtx(ctx)
	defer cancel()
	doc, err := f.root.mb.Document(ctx, f.coll.db, f.coll.name, f.id)
	if err != nil {
		return f.root.fail("getattr", f.path(), err)
	}
	f.seen(doc.JSON)
	f.attr(&out.Attr, int64(len(doc.JSON)))
	out.SetTimeout(f.root.cfg.ListTTL)
	return 0
}

// Setattr truncates a write under way (the O_TRUNC of an open, ftruncate)
// and accepts and ignores modes and times, as cp -p sets them. A truncate
// with no write under way is refused: a document changes only by a write
// and its close.
func (f *docFile) Setattr(ctx context.Context, fh fusefs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
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

func (f *docFile) Open(ctx context.Context, flags uint32) (fusefs.FileHandle, uint32, syscall.Errno) {
	if flags&syscall.O_ACCMODE != syscall.O_RDONLY {
		h, errno := f.buf.open(ctx, flags)
		if errno != 0 {
			return nil, 0, errno
		}
		return h, fuse.FOPEN_DIRECT_IO, 0
	}
	ctx, cancel := f.root.opCtx(ctx)
	defer cancel()
	doc, err := f.root.mb.Document(ctx, f.coll.db, f.coll.name, f.id)
	if err != nil {
		return nil, 0, f.root.fail("open", f.path(), err)
	}
	f.seen(doc.JSON)
	return &bytesHandle{data: doc.JSON}, fuse.FOPEN_DIRECT_IO, 0
}
