package mailfs

import (
	"context"
	"strings"
	"syscall"
	"time"

	fusefs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/hubfs/hubfs/mailbox"
)

// messageFile is one message, in inbox/, unread/ or sentbox/. Its attributes
// come from the listing; its content is the plaintext, fetched and decrypted
// only when it is opened.
type messageFile struct {
	fusefs.Inode
	root *Root
	box  mailbox.Box
	id   string
}

var (
	_ = (fusefs.NodeGetattrer)((*messageFile)(nil))
	_ = (fusefs.NodeSetattrer)((*messageFile)(nil))
	_ = (fusefs.NodeOpener)((*messageFile)(nil))
	_ = (fusefs.NodeReader)((*messageFile)(nil))
	_ = (fusefs.NodeGetxattrer)((*messageFile)(nil))
	_ = (fusefs.NodeListxattrer)((*messageFile)(nil))
	_ = (fusefs.NodeSetxattrer)((*messageFile)(nil))
	_ = (fusefs.NodeRemovexattrer)((*messageFile)(nil))
)

// The xattr names are a contract with scripts.
const (
	xattrFrom      = "user.hubfs.from"
	xattrTo        = "user.hubfs.to"
	xattrCreatedAt = "user.hubfs.created_at"
	xattrReadAt    = "user.hubfs.read_at"
	xattrSignature = "user.hubfs.signature"
	xattrRead      = "user.hubfs.read" // write-only: setting it to 1 marks the message read
)

var messageXattrs = []string{xattrFrom, xattrTo, xattrCreatedAt, xattrReadAt, xattrSignature}

func (m *messageFile) path() string { return m.box.String() + "/" + m.id }

// messageAttr fills stat from list data alone: size is the plaintext length,
// mtime and ctime are created_at, atime is read_at (created_at while unread).
func (r *Root) messageAttr(a *fuse.Attr, e mailbox.Entry) {
	atime := e.ReadAt
	if atime.IsZero() {
		atime = e.CreatedAt
	}
	r.fileAttr(a, 0400, e.Size, e.CreatedAt, atime)
}

func (m *messageFile) entry(ctx context.Context) (mailbox.Entry, error) {
	ctx, cancel := m.root.opCtx(ctx)
	defer cancel()
	return m.root.mb.Lookup(ctx, m.box, m.id)
}

func (m *messageFile) Getattr(ctx context.Context, f fusefs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	e, err := m.entry(ctx)
	if err != nil {
		return m.root.fail("getattr", m.path(), err)
	}
	m.root.messageAttr(&out.Attr, e)
	out.SetTimeout(m.root.messageTTL())
	return 0
}

// Setattr refuses chmod, chown, truncate and utimes: a message is what the
// hub holds, and its times are the hub's.
func (m *messageFile) Setattr(ctx context.Context, f fusefs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	return syscall.EPERM
}

func (m *messageFile) Open(ctx context.Context, flags uint32) (fusefs.FileHandle, uint32, syscall.Errno) {
	if flags&(syscall.O_WRONLY|syscall.O_RDWR|syscall.O_TRUNC|syscall.O_APPEND) != 0 {
		return nil, 0, syscall.EACCES
	}
	ctx, cancel := m.root.opCtx(ctx)
	defer cancel()
	body, err := m.root.mb.Open(ctx, m.box, m.id)
	if err != nil {
		return nil, 0, m.root.fail("open", m.path(), err)
	}
	// The body never changes, so the kernel may keep its pages across
	// opens; and a close has nothing to write back, so it needs no FLUSH.
	return &bytesHandle{data: body}, fuse.FOPEN_KEEP_CACHE | fuse.FOPEN_NOFLUSH, 0
}

// Read serves from the handle fixed at open or, on a no-open connection
// (noopen.go), where the kernel opened the file without asking and so
// without a handle, from the model: the plaintext cache, or a fetch and
// decryption, whose failure (EBADMSG for a message that does not verify)
// then comes at the read. The kernel keeps the pages, so a body is read
// once while cached.
func (m *messageFile) Read(ctx context.Context, f fusefs.FileHandle, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	if h, ok := f.(*bytesHandle); ok {
		return h.Read(ctx, dest, off)
	}
	octx, cancel := m.root.opCtx(ctx)
	defer cancel()
	body, err := m.root.mb.Open(octx, m.box, m.id)
	if err != nil {
		return nil, m.root.fail("read", m.path(), err)
	}
	return (&bytesHandle{data: body}).Read(ctx, dest, off)
}

func (m *messageFile) Getxattr(ctx context.Context, attr string, dest []byte) (uint32, syscall.Errno) {
	v, errno := m.xattr(ctx, attr)
	if errno != 0 {
		return 0, errno
	}
	if len(dest) < len(v) {
		return uint32(len(v)), syscall.ERANGE
	}
	return uint32(copy(dest, v)), 0
}

func (m *messageFile) xattr(ctx context.Context, attr string) (string, syscall.Errno) {
	if attr == xattrSignature {
		ctx, cancel := m.root.opCtx(ctx)
		defer cancel()
		_, err := m.root.mb.Open(ctx, m.box, m.id)
		switch {
		case err == nil:
			return "valid", 0
		case toErrno(err) == syscall.EBADMSG:
			return "invalid", 0
		default:
			return "", m.root.fail("getxattr", m.path(), err)
		}
	}
	if !isMessageXattr(attr) {
		return "", syscall.ENODATA
	}
	e, err := m.entry(ctx)
	if err != nil {
		return "", m.root.fail("getxattr", m.path(), err)
	}
	switch attr {
	case xattrFrom:
		return e.From, 0
	case xattrTo:
		return e.To, 0
	case xattrCreatedAt:
		return e.CreatedAt.UTC().Format(time.RFC3339Nano), 0
	case xattrReadAt:
		if e.ReadAt.IsZero() {
			return "", 0
		}
		return e.ReadAt.UTC().Format(time.RFC3339Nano), 0
	}
	return "", syscall.ENODATA
}

func isMessageXattr(name string) bool {
	for _, n := range messageXattrs {
		if n == name {
			return true
		}
	}
	return false
}

func (m *messageFile) Listxattr(ctx context.Context, dest []byte) (uint32, syscall.Errno) {
	var b strings.Builder
	for _, n := range messageXattrs {
		b.WriteString(n)
		b.WriteByte(0)
	}
	if len(dest) < b.Len() {
		return uint32(b.Len()), syscall.ERANGE
	}
	return uint32(copy(dest, b.String())), 0
}

// Setxattr of user.hubfs.read=1 marks an inbox message read on the hub; the
// message attributes are read-only.
func (m *messageFile) Setxattr(ctx context.Context, attr string, data []byte, flags uint32) syscall.Errno {
	switch {
	case attr == xattrRead:
	case isMessageXattr(attr):
		return syscall.EPERM
	default:
		return syscall.ENOTSUP
	}
	if m.box != mailbox.Inbox {
		return syscall.EPERM // only received mail has a read state
	}
	if v := strings.TrimSpace(string(data)); v != "1" {
		return syscall.EINVAL // there is no way to mark a message unread
	}
	ctx, cancel := m.root.changeCtx(ctx)
	defer cancel()
	if _, err := m.root.mb.MarkRead(ctx, m.id); err != nil {
		return m.root.fail("setxattr", m.path(), err)
	}
	return 0
}

func (m *messageFile) Removexattr(ctx context.Context, attr string) syscall.Errno {
	if isMessageXattr(attr) || attr == xattrRead {
		return syscall.EPERM
	}
	return syscall.ENODATA
}

// bytesHandle serves reads from content fixed at open.
type bytesHandle struct {
	data []byte
}

var _ = (fusefs.FileReader)((*bytesHandle)(nil))

func (h *bytesHandle) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	if off >= int64(len(h.data)) {
		return fuse.ReadResultData(nil), 0
	}
	end := min(off+int64(len(dest)), int64(len(h.data)))
	return fuse.ReadResultData(h.data[off:end]), 0
}
