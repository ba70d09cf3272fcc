package mailfs

import (
	"context"
	"syscall"

	fusefs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// fixedNames refuses, with EPERM, every operation that would add, move or
// link a name in a directory whose entries come from the hub or from the
// fixed skeleton (docs/semantics.md, "Not supported"). Every directory node
// embeds it, so the refusal is the same everywhere: without a method,
// go-fuse would answer ENOTSUP for some operations and EROFS for others. A
// directory that does support one of them (outbox/ creates drafts,
// threads/ makes threads) defines its own method, which takes precedence.
type fixedNames struct{}

var (
	_ = (fusefs.NodeCreater)(fixedNames{})
	_ = (fusefs.NodeMkdirer)(fixedNames{})
	_ = (fusefs.NodeMknoder)(fixedNames{})
	_ = (fusefs.NodeSymlinker)(fixedNames{})
	_ = (fusefs.NodeLinker)(fixedNames{})
	_ = (fusefs.NodeRenamer)(fixedNames{})
)

func (fixedNames) Create(ctx context.Context, name string, flags, mode uint32, out *fuse.EntryOut) (*fusefs.Inode, fusefs.FileHandle, uint32, syscall.Errno) {
	return nil, nil, 0, syscall.EPERM
}

func (fixedNames) Mkdir(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (*fusefs.Inode, syscall.Errno) {
	return nil, syscall.EPERM
}

func (fixedNames) Mknod(ctx context.Context, name string, mode, dev uint32, out *fuse.EntryOut) (*fusefs.Inode, syscall.Errno) {
	return nil, syscall.EPERM
}

func (fixedNames) Symlink(ctx context.Context, target, name string, out *fuse.EntryOut) (*fusefs.Inode, syscall.Errno) {
	return nil, syscall.EPERM
}

func (fixedNames) Link(ctx context.Context, target fusefs.InodeEmbedder, name string, out *fuse.EntryOut) (*fusefs.Inode, syscall.Errno) {
	return nil, syscall.EPERM
}

// Rename is refused everywhere: message ids are minted by the hub, a
// message cannot move between boxes, and the hub cannot rename a thread.
func (fixedNames) Rename(ctx context.Context, name string, newParent fusefs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	return syscall.EPERM
}
