package mailfs

import (
	"context"
	"encoding/json"
	"syscall"

	fusefs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/hubfs/hubfs/mailbox"
)

// threadDir is threads/<name>: two read-only files describing the thread
// and, for a thread DB other than the mailbox's, one directory per
// collection (collectionDir), which mkdir creates and rmdir deletes.
type threadDir struct {
	fusefs.Inode
	fixedNames
	root   *Root
	thread mailbox.Thread
}

var (
	_ = (fusefs.NodeGetattrer)((*threadDir)(nil))
	_ = (fusefs.NodeLookuper)((*threadDir)(nil))
	_ = (fusefs.NodeReaddirer)((*threadDir)(nil))
	_ = (fusefs.NodeMkdirer)((*threadDir)(nil))
	_ = (fusefs.NodeRmdirer)((*threadDir)(nil))
	_ = (fusefs.NodeUnlinker)((*threadDir)(nil))
	_ = (fusefs.NodeCreater)((*threadDir)(nil))   // fixedNames
	_ = (fusefs.NodeMknoder)((*threadDir)(nil))   // fixedNames
	_ = (fusefs.NodeSymlinker)((*threadDir)(nil)) // fixedNames
	_ = (fusefs.NodeLinker)((*threadDir)(nil))    // fixedNames
	_ = (fusefs.NodeRenamer)((*threadDir)(nil))   // fixedNames
)

var threadFiles = []string{"id", "info.json"}

func (d *threadDir) content(name string) ([]byte, bool) {
	switch name {
	case "id":
		return []byte(d.thread.ID + "\n"), true
	case "info.json":
		b, _ := json.MarshalIndent(struct {
			ID      string `json:"id"`
			Name    string `json:"name"`
			IsDB    bool   `json:"is_db"`
			Mailbox bool   `json:"mailbox"`
		}{d.thread.ID, d.thread.Name, d.thread.IsDB, d.thread.Mailbox}, "", "  ")
		return append(b, '\n'), true
	}
	return nil, false
}

// hasCollections says whether the thread shows collections: a DB of the
// user's own. The mailbox's collections are its sealed messages, shown as
// inbox/ and sentbox/, never as documents anyone may write.
func (d *threadDir) hasCollections() bool { return d.thread.IsDB && !d.thread.Mailbox }

func (d *threadDir) path(name string) string {
	return "threads/" + threadDirName(d.thread) + "/" + name
}

func (d *threadDir) Getattr(ctx context.Context, f fusefs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	perm := uint32(0500)
	if d.hasCollections() {
		perm = 0700
	}
	d.root.dirAttr(&out.Attr, perm)
	out.SetTimeout(d.root.cfg.ListTTL)
	return 0
}

func (d *threadDir) Readdir(ctx context.Context) (fusefs.DirStream, syscall.Errno) {
	out := make([]fuse.DirEntry, 0, len(threadFiles))
	for _, n := range threadFiles {
		out = append(out, fuse.DirEntry{Name: n, Ino: ino("thread", d.thread.ID, n), Mode: syscall.S_IFREG})
	}
	if d.hasCollections() {
		ctx, cancel := d.root.opCtx(ctx)
		defer cancel()
		cs, err := d.root.mb.Collections(ctx, d.thread.ID)
		if err != nil {
			return nil, d.root.fail("readdir", "threads/"+threadDirName(d.thread), err)
		}
		for _, c := range cs {
			if isThreadFile(c.Name) {
				continue // shadowed by the thread's own files
			}
			out = append(out, fuse.DirEntry{Name: c.Name, Ino: collectionIno(d.thread.ID, c.Name), Mode: syscall.S_IFDIR})
		}
	}
	return fusefs.NewListDirStream(out), 0
}

func isThreadFile(name string) bool { return name == "id" || name == "info.json" }

func collectionIno(db, name string) uint64 { return ino("collection", db, name) }

func (d *threadDir) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fusefs.Inode, syscall.Errno) {
	data, ok := d.content(name)
	if !ok {
		return d.lookupCollection(ctx, name, out)
	}
	f := &staticFile{root: d.root, data: data}
	ch := d.NewInode(ctx, f, fusefs.StableAttr{Mode: syscall.S_IFREG, Ino: ino("thread", d.thread.ID, name)})
	d.root.fileAttr(&out.Attr, 0400, int64(len(data)), d.root.start, d.root.start)
	// A thread's id and info never change while the thread exists.
	out.SetEntryTimeout(skeletonTTL)
	out.SetAttrTimeout(skeletonTTL)
	return ch, 0
}

func (d *threadDir) lookupCollection(ctx context.Context, name string, out *fuse.EntryOut) (*fusefs.Inode, syscall.Errno) {
	if !d.hasCollections() || !mailbox.ValidCollectionName(name) {
		return nil, syscall.ENOENT
	}
	ctx, cancel := d.root.opCtx(ctx)
	defer cancel()
	if _, err := d.root.mb.Collection(ctx, d.thread.ID, name); err != nil {
		return nil, d.root.fail("lookup", d.path(name), err)
	}
	return d.collectionNode(ctx, name, out), 0
}

func (d *threadDir) collectionNode(ctx context.Context, name string, out *fuse.EntryOut) *fusefs.Inode {
	c := &collectionDir{root: d.root, db: d.thread.ID, dir: d.path(name), name: name}
	ch := d.NewInode(ctx, c, fusefs.StableAttr{Mode: syscall.S_IFDIR, Ino: collectionIno(d.thread.ID, name)})
	d.root.dirAttr(&out.Attr, 0700)
	out.SetEntryTimeout(d.root.cfg.ListTTL)
	out.SetAttrTimeout(d.root.cfg.ListTTL)
	return ch
}

// Mkdir creates a collection with a permissive schema (any object with a
// string _id): write .schema.json to constrain it.
func (d *threadDir) Mkdir(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (*fusefs.Inode, syscall.Errno) {
	if !d.hasCollections() {
		return nil, syscall.EPERM
	}
	if isThreadFile(name) {
		return nil, syscall.EEXIST
	}
	ctx, cancel := d.root.changeCtx(ctx)
	defer cancel()
	if _, err := d.root.mb.NewCollection(ctx, d.thread.ID, name); err != nil {
		return nil, d.root.fail("mkdir", d.path(name), err)
	}
	return d.collectionNode(ctx, name, out), 0
}

// Rmdir deletes an empty collection: one holding documents is ENOTEMPTY
// (rm its files first).
func (d *threadDir) Rmdir(ctx context.Context, name string) syscall.Errno {
	if isThreadFile(name) {
		return syscall.ENOTDIR
	}
	if !d.hasCollections() || !mailbox.ValidCollectionName(name) {
		return syscall.ENOENT
	}
	ctx, cancel := d.root.changeCtx(ctx)
	defer cancel()
	if err := d.root.mb.DeleteCollection(ctx, d.thread.ID, name); err != nil {
		return d.root.fail("rmdir", d.path(name), err)
	}
	return 0
}

// Unlink removes no file here: id and info.json are the thread's, and a
// collection is a directory.
func (d *threadDir) Unlink(ctx context.Context, name string) syscall.Errno {
	if isThreadFile(name) {
		return syscall.EPERM
	}
	if d.hasCollections() && mailbox.ValidCollectionName(name) {
		ctx, cancel := d.root.opCtx(ctx)
		defer cancel()
		if _, err := d.root.mb.Collection(ctx, d.thread.ID, name); err == nil {
			return syscall.EISDIR
		}
	}
	return syscall.ENOENT
}

// staticFile is a small read-only file whose content is fixed at creation.
type staticFile struct {
	fusefs.Inode
	root *Root
	data []byte
}

var (
	_ = (fusefs.NodeGetattrer)((*staticFile)(nil))
	_ = (fusefs.NodeOpener)((*staticFile)(nil))
	_ = (fusefs.NodeSetattrer)((*staticFile)(nil))
)

func (f *staticFile) Getattr(ctx context.Context, fh fusefs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	f.root.fileAttr(&out.Attr, 0400, int64(len(f.data)), f.root.start, f.root.start)
	out.SetTimeout(skeletonTTL)
	return 0
}

func (f *staticFile) Open(ctx context.Context, flags uint32) (fusefs.FileHandle, uint32, syscall.Errno) {
	if flags&syscall.O_ACCMODE != syscall.O_RDONLY {
		return nil, 0, syscall.EACCES
	}
	return &bytesHandle{data: f.data}, fuse.FOPEN_KEEP_CACHE, 0
}

func (f *staticFile) Setattr(ctx context.Context, fh fusefs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	return syscall.EPERM
}
