package mailfs

import (
	"context"
	"encoding/json"
	"syscall"

	fusefs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/hubfs/hubfs/mailbox"
)

// threadDir is threads/<name>: two read-only files describing the thread.
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
	_ = (fusefs.NodeCreater)((*threadDir)(nil))   // fixedNames
	_ = (fusefs.NodeMkdirer)((*threadDir)(nil))   // fixedNames
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

func (d *threadDir) Getattr(ctx context.Context, f fusefs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	d.root.dirAttr(&out.Attr, 0500)
	out.SetTimeout(d.root.cfg.ListTTL)
	return 0
}

func (d *threadDir) Readdir(ctx context.Context) (fusefs.DirStream, syscall.Errno) {
	out := make([]fuse.DirEntry, 0, len(threadFiles))
	for _, n := range threadFiles {
		out = append(out, fuse.DirEntry{Name: n, Ino: ino("thread", d.thread.ID, n), Mode: syscall.S_IFREG})
	}
	return fusefs.NewListDirStream(out), 0
}

func (d *threadDir) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fusefs.Inode, syscall.Errno) {
	data, ok := d.content(name)
	if !ok {
		return nil, syscall.ENOENT
	}
	f := &staticFile{root: d.root, data: data}
	ch := d.NewInode(ctx, f, fusefs.StableAttr{Mode: syscall.S_IFREG, Ino: ino("thread", d.thread.ID, name)})
	d.root.fileAttr(&out.Attr, 0400, int64(len(data)), d.root.start, d.root.start)
	// A thread's id and info never change while the thread exists.
	out.SetEntryTimeout(skeletonTTL)
	out.SetAttrTimeout(skeletonTTL)
	return ch, 0
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
