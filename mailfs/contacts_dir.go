package mailfs

import (
	"context"
	"syscall"
	"time"

	fusefs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/hubfs/hubfs/contacts"
)

// contactsTTL is how long the kernel keeps a contacts/ name and its
// attributes: about the contacts.File's own recheck interval, so an edit of
// the address book shows within two seconds without the mount watching the
// file. Lookups of contacts/ are rare; the cost of asking again is a map
// lookup and, once a second, a stat.
const contactsTTL = time.Second

// contactsDir is MNT/contacts/: one read-only file per name of the address
// book, holding the key. It is a view of the file; it is edited with
// `hubfs contacts` or an editor, never through the mount.
type contactsDir struct {
	fusefs.Inode
	fixedNames
	root *Root
}

var (
	_ = (fusefs.NodeGetattrer)((*contactsDir)(nil))
	_ = (fusefs.NodeLookuper)((*contactsDir)(nil))
	_ = (fusefs.NodeReaddirer)((*contactsDir)(nil))
	_ = (fusefs.NodeUnlinker)((*contactsDir)(nil))
	_ = (fusefs.NodeCreater)((*contactsDir)(nil))   // fixedNames
	_ = (fusefs.NodeMkdirer)((*contactsDir)(nil))   // fixedNames
	_ = (fusefs.NodeMknoder)((*contactsDir)(nil))   // fixedNames
	_ = (fusefs.NodeSymlinker)((*contactsDir)(nil)) // fixedNames
	_ = (fusefs.NodeLinker)((*contactsDir)(nil))    // fixedNames
	_ = (fusefs.NodeRenamer)((*contactsDir)(nil))   // fixedNames
)

// book is the address book now; empty without one.
func (r *Root) book() *contacts.Book {
	if r.opts.Contacts == nil {
		return nil
	}
	return r.opts.Contacts.Book()
}

func (d *contactsDir) Getattr(ctx context.Context, f fusefs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	d.root.dirAttr(&out.Attr, 0500)
	out.SetTimeout(contactsTTL)
	return 0
}

func (d *contactsDir) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fusefs.Inode, syscall.Errno) {
	key, ok := d.root.book().Key(name)
	if !ok {
		out.SetEntryTimeout(0) // a contact added a moment later must show
		return nil, syscall.ENOENT
	}
	f := &contactFile{root: d.root, data: []byte(key + "\n")}
	// The number names the pair, so a name given another key is another
	// inode, and what the kernel cached of the old one is never served.
	ch := d.NewInode(ctx, f, fusefs.StableAttr{Mode: syscall.S_IFREG, Ino: ino("contact", name, key)})
	ch.Operations().(*contactFile).attr(&out.Attr)
	out.SetEntryTimeout(contactsTTL)
	out.SetAttrTimeout(contactsTTL)
	return ch, 0
}

func (d *contactsDir) Readdir(ctx context.Context) (fusefs.DirStream, syscall.Errno) {
	all := d.root.book().All()
	entries := make([]fuse.DirEntry, 0, len(all))
	for _, c := range all {
		entries = append(entries, fuse.DirEntry{Name: c.Name, Mode: syscall.S_IFREG, Ino: ino("contact", c.Name, c.Key)})
	}
	return fusefs.NewListDirStream(entries), 0
}

// Unlink is refused: the address book is edited with `hubfs contacts rm`.
func (d *contactsDir) Unlink(ctx context.Context, name string) syscall.Errno {
	if _, ok := d.root.book().Key(name); !ok {
		return syscall.ENOENT
	}
	return syscall.EPERM
}

// contactFile is contacts/NAME: the contact's key and a newline, so that
// `hubfs send --to "$(cat MNT/contacts/alice)"` and `cat` both read well.
type contactFile struct {
	fusefs.Inode
	root *Root
	data []byte // never changes: another key is another inode
}

var (
	_ = (fusefs.NodeGetattrer)((*contactFile)(nil))
	_ = (fusefs.NodeSetattrer)((*contactFile)(nil))
	_ = (fusefs.NodeOpener)((*contactFile)(nil))
)

func (f *contactFile) attr(a *fuse.Attr) {
	f.root.fileAttr(a, 0400, int64(len(f.data)), f.root.start, f.root.start)
}

func (f *contactFile) Getattr(ctx context.Context, fh fusefs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	f.attr(&out.Attr)
	out.SetTimeout(contactsTTL)
	return 0
}

func (f *contactFile) Setattr(ctx context.Context, fh fusefs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	return syscall.EPERM
}

func (f *contactFile) Open(ctx context.Context, flags uint32) (fusefs.FileHandle, uint32, syscall.Errno) {
	if flags&syscall.O_ACCMODE != syscall.O_RDONLY {
		return nil, 0, syscall.EACCES
	}
	return &bytesHandle{data: f.data}, fuse.FOPEN_KEEP_CACHE, 0
}
