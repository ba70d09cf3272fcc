package mailfs

import (
	"context"
	"syscall"

	fusefs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// controlDir is .hubfs/: files that describe the mount itself.
type controlDir struct {
	fusefs.Inode
	fixedNames
	root *Root
}

var (
	_ = (fusefs.NodeOnAdder)((*controlDir)(nil))
	_ = (fusefs.NodeGetattrer)((*controlDir)(nil))
	_ = (fusefs.NodeLookuper)((*controlDir)(nil))
	_ = (fusefs.NodeCreater)((*controlDir)(nil))   // fixedNames
	_ = (fusefs.NodeMkdirer)((*controlDir)(nil))   // fixedNames
	_ = (fusefs.NodeMknoder)((*controlDir)(nil))   // fixedNames
	_ = (fusefs.NodeSymlinker)((*controlDir)(nil)) // fixedNames
	_ = (fusefs.NodeLinker)((*controlDir)(nil))    // fixedNames
	_ = (fusefs.NodeRenamer)((*controlDir)(nil))   // fixedNames
)

func (d *controlDir) OnAdd(ctx context.Context) {
	add := func(name string, f *controlFile) {
		d.AddChild(name, d.NewPersistentInode(ctx, f, fusefs.StableAttr{Mode: syscall.S_IFREG}), false)
	}
	add("identity", &controlFile{root: d.root, static: true, gen: d.root.identityFile})
	add("status", &controlFile{root: d.root, gen: d.root.statusFile})
	add("usage", &controlFile{root: d.root, gen: d.root.usageFile})
	add("errors", &controlFile{root: d.root, gen: d.root.errorsFile})
	d.AddChild("events", d.NewPersistentInode(ctx, &eventsFile{root: d.root}, fusefs.StableAttr{Mode: syscall.S_IFREG}), false)
}

func (d *controlDir) Getattr(ctx context.Context, f fusefs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	d.root.dirAttr(&out.Attr, 0500)
	out.SetTimeout(skeletonTTL)
	return 0
}

func (d *controlDir) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fusefs.Inode, syscall.Errno) {
	return d.root.lookupFixed(&d.Inode, name, out)
}
