package mailfs

import (
	"context"
	"encoding/json"
	"syscall"
	"time"

	fusefs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/hubfs/hubfs/mailbox"
)

// queuedFile is queued/<local-id>: the message's metadata as JSON (its
// plaintext is not kept), with xattrs user.hubfs.to and user.hubfs.error.
type queuedFile struct {
	fusefs.Inode
	root *Root
	id   string
}

var (
	_ = (fusefs.NodeGetattrer)((*queuedFile)(nil))
	_ = (fusefs.NodeOpener)((*queuedFile)(nil))
	_ = (fusefs.NodeGetxattrer)((*queuedFile)(nil))
	_ = (fusefs.NodeListxattrer)((*queuedFile)(nil))
)

// The xattr names of a queued message; they are a contract with scripts.
const xattrError = "user.hubfs.error"

// queuedJSON is what reading queued/<id> gives. Its field names are a
// contract with scripts.
type queuedJSON struct {
	ID        string    `json:"id"`
	To        string    `json:"to"`
	Size      int       `json:"size"`
	QueuedAt  time.Time `json:"queued_at"`
	Attempts  int       `json:"attempts"`
	LastError string    `json:"last_error"`
	State     string    `json:"state"` // "pending" or "failed"
	Hub       string    `json:"hub"`
}

func queuedContent(it mailbox.QueueItem) []byte {
	state := "pending"
	if it.Failed {
		state = "failed"
	}
	b, _ := json.MarshalIndent(queuedJSON{
		ID: it.ID, To: it.To, Size: it.Size, QueuedAt: it.QueuedAt,
		Attempts: it.Attempts, LastError: it.LastError, State: state, Hub: it.Hub,
	}, "", "  ")
	return append(b, '\n')
}

func (f *queuedFile) item() (mailbox.QueueItem, bool) {
	if f.root.opts.Outbox == nil {
		return mailbox.QueueItem{}, false
	}
	return f.root.opts.Outbox.Item(f.id)
}

func (f *queuedFile) attr(a *fuse.Attr, it mailbox.QueueItem) {
	f.root.fileAttr(a, 0400, int64(len(queuedContent(it))), it.QueuedAt, it.QueuedAt)
}

func (f *queuedFile) Getattr(ctx context.Context, fh fusefs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	it, ok := f.item()
	if !ok {
		return syscall.ENOENT
	}
	f.attr(&out.Attr, it)
	return 0
}

func (f *queuedFile) Open(ctx context.Context, flags uint32) (fusefs.FileHandle, uint32, syscall.Errno) {
	if flags&syscall.O_ACCMODE != syscall.O_RDONLY {
		return nil, 0, syscall.EACCES
	}
	it, ok := f.item()
	if !ok {
		return nil, 0, syscall.ENOENT
	}
	// Attempts and errors change while it waits: never cache the content.
	return &bytesHandle{data: queuedContent(it)}, fuse.FOPEN_DIRECT_IO, 0
}

func (f *queuedFile) Getxattr(ctx context.Context, attr string, dest []byte) (uint32, syscall.Errno) {
	it, ok := f.item()
	if !ok {
		return 0, syscall.ENOENT
	}
	var v string
	switch attr {
	case xattrTo:
		v = it.To
	case xattrError:
		v = it.LastError
	default:
		return 0, syscall.ENODATA
	}
	if len(dest) < len(v) {
		return uint32(len(v)), syscall.ERANGE
	}
	return uint32(copy(dest, v)), 0
}

func (f *queuedFile) Listxattr(ctx context.Context, dest []byte) (uint32, syscall.Errno) {
	names := xattrTo + "\x00" + xattrError + "\x00"
	if len(dest) < len(names) {
		return uint32(len(names)), syscall.ERANGE
	}
	return uint32(copy(dest, names)), 0
}
