package mailfs

import (
	"context"
	"fmt"
	"strings"
	"syscall"

	fusefs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/hubfs/hubfs/mailbox"
)

// collectionDir is threads/<db>/<collection>: one <_id>.json file per
// document and the collection's .schema.json. A file created here is a
// new document, saved when it is closed; rm deletes one.
type collectionDir struct {
	fusefs.Inode
	fixedNames
	root *Root
	db   string // the thread id
	dir  string // path inside the mount, for logs and .hubfs/errors
	name string
}

var (
	_ = (fusefs.NodeGetattrer)((*collectionDir)(nil))
	_ = (fusefs.NodeLookuper)((*collectionDir)(nil))
	_ = (fusefs.NodeReaddirer)((*collectionDir)(nil))
	_ = (fusefs.NodeCreater)((*collectionDir)(nil))
	_ = (fusefs.NodeUnlinker)((*collectionDir)(nil))
	_ = (fusefs.NodeMkdirer)((*collectionDir)(nil))   // fixedNames
	_ = (fusefs.NodeMknoder)((*collectionDir)(nil))   // fixedNames
	_ = (fusefs.NodeSymlinker)((*collectionDir)(nil)) // fixedNames
	_ = (fusefs.NodeLinker)((*collectionDir)(nil))    // fixedNames
	_ = (fusefs.NodeRenamer)((*collectionDir)(nil))   // fixedNames
)

// schemaFileName is the collection's schema in its directory.
const schemaFileName = ".schema.json"

// docFileName is a document's file name.
func docFileName(id string) string { return id + ".json" }

// docIDOf is the _id a file name names, if it names one.
func docIDOf(name string) (string, bool) {
	id, ok := strings.CutSuffix(name, ".json")
	if !ok || !mailbox.ValidDocumentID(id) {
		return "", false
	}
	return id, true
}

func (d *collectionDir) path(name string) string { return d.dir + "/" + name }

func (d *collectionDir) Getattr(ctx context.Context, f fusefs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	d.root.dirAttr(&out.Attr, 0700)
	out.SetTimeout(d.root.cfg.ListTTL)
	return 0
}

func (d *collectionDir) Readdir(ctx context.Context) (fusefs.DirStream, syscall.Errno) {
	ctx, cancel := d.root.opCtx(ctx)
	defer cancel()
	docs, err := d.root.mb.Documents(ctx, d.db, d.name)
	if err != nil {
		return nil, d.root.fail("readdir", d.dir, err)
	}
	out := make([]fuse.DirEntry, 0, len(docs)+1)
	out = append(out, fuse.DirEntry{Name: schemaFileName, Ino: ino("schema", d.db, d.name), Mode: syscall.S_IFREG})
	for _, doc := range docs {
		if !mailbox.ValidDocumentID(doc.ID) {
			continue // an _id no file can be named by (made by another client)
		}
		out = append(out, fuse.DirEntry{Name: docFileName(doc.ID), Ino: docIno(d.db, d.name, doc.ID), Mode: syscall.S_IFREG})
	}
	return fusefs.NewListDirStream(out), 0
}

func docIno(db, coll, id string) uint64 { return ino("doc", db, coll, id) }

func (d *collectionDir) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fusefs.Inode, syscall.Errno) {
	ctx, cancel := d.root.opCtx(ctx)
	defer cancel()
	if name == schemaFileName {
		c, err := d.root.mb.Collection(ctx, d.db, d.name)
		if err != nil {
			return nil, d.root.fail("lookup", d.path(name), err)
		}
		f := &schemaFile{root: d.root, coll: d}
		f.buf = saveBuffer{root: d.root, node: f, limit: d.root.cfg.MaxMessageSize}
		ch := d.NewInode(ctx, f, fusefs.StableAttr{Mode: syscall.S_IFREG, Ino: ino("schema", d.db, d.name)})
		data := mailbox.RenderSchema(c.Schema)
		ch.Operations().(*schemaFile).attr(&out.Attr, int64(len(data)))
		out.SetEntryTimeout(d.root.cfg.ListTTL)
		out.SetAttrTimeout(d.root.cfg.ListTTL)
		return ch, 0
	}
	id, ok := docIDOf(name)
	if !ok {
		return nil, syscall.ENOENT
	}
	doc, err := d.root.mb.Document(ctx, d.db, d.name, id)
	if err != nil {
		return nil, d.root.fail("lookup", d.path(name), err)
	}
	ch := d.docNode(ctx, id)
	f := ch.Operations().(*docFile)
	f.seen(doc.JSON)
	f.attr(&out.Attr, int64(len(doc.JSON)))
	out.SetEntryTimeout(d.root.cfg.ListTTL)
	out.SetAttrTimeout(d.root.cfg.ListTTL)
	return ch, 0
}

// docNode is the inode of document id: the one the kernel holds, if it
// holds one (NewInode returns it), so that every descriptor of one
// document shares one write.
func (d *collectionDir) docNode(ctx context.Context, id string) *fusefs.Inode {
	f := newDocFile(d, id)
	return d.NewInode(ctx, f, fusefs.StableAttr{Mode: syscall.S_IFREG, Ino: docIno(d.db, d.name, id)})
}

// Create makes a new document's file; it is saved at its last close.
// Only <_id>.json names are documents: anything else (an editor's
// temporary file, a name starting with a dot) is EINVAL.
func (d *collectionDir) Create(ctx context.Context, name string, flags, mode uint32, out *fuse.EntryOut) (*fusefs.Inode, fusefs.FileHandle, uint32, syscall.Errno) {
	id, ok := docIDOf(name)
	if !ok {
		if name == schemaFileName {
			return nil, nil, 0, syscall.ENOENT // the collection is gone, or Lookup would have found it
		}
		err := fmt.Errorf("%q is not a document's name (<_id>.json, the _id not starting with a dot, no control characters): %w", name, mailbox.ErrInvalid)
		return nil, nil, 0, d.root.fail("create", d.path(name), err)
	}
	ch := d.docNode(ctx, id)
	f := ch.Operations().(*docFile)
	h, errno := f.buf.open(ctx, flags|syscall.O_TRUNC)
	if errno != 0 {
		return nil, nil, 0, errno
	}
	f.attr(&out.Attr, 0)
	// Not there until its close saves it: the kernel asks again.
	out.SetEntryTimeout(0)
	out.SetAttrTimeout(0)
	return ch, h, fuse.FOPEN_DIRECT_IO, 0
}

// Unlink deletes a document. The schema cannot be removed (rmdir removes
// the collection).
func (d *collectionDir) Unlink(ctx context.Context, name string) syscall.Errno {
	if name == schemaFileName {
		return syscall.EPERM
	}
	id, ok := docIDOf(name)
	if !ok {
		return syscall.ENOENT
	}
	ctx, cancel := d.root.changeCtx(ctx)
	defer cancel()
	if err := d.root.mb.DeleteDocument(ctx, d.db, d.name, id); err != nil {
		return d.root.fail("unlink", d.path(name), err)
	}
	return 0
}
