package fs

import (
	"context"
	"encoding/json"
	"errors"
	"syscall"
	"time"

	fusefs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/hubfs/hubfs/events"
	"github.com/hubfs/hubfs/identity"
	"github.com/hubfs/hubfs/queue"
)

// Outbox is the send path the filesystem consumes: a message handed to Send
// is on the hub or durably queued when Send returns nil. *queue.Outbox
// implements it.
type Outbox interface {
	Send(ctx context.Context, to *identity.PublicKey, body []byte) error
	// Refusal is a permanent refusal that would meet any send now (the API
	// key was revoked), for open to report before anything is written.
	Refusal() error
	Items() []queue.Item
	Item(id string) (queue.Item, bool)
	Cancel(id string) error
	Stats() queue.Stats
}

var _ Outbox = (*queue.Outbox)(nil)

// errNoOutbox: the tree was built without a send path.
var errNoOutbox = errors.New("this mount has no outbox")

// outboxSend hands a finished draft to the outbox.
func (r *Root) outboxSend(ctx context.Context, to *identity.PublicKey, body []byte) error {
	if r.opts.Outbox == nil {
		return errNoOutbox
	}
	return r.opts.Outbox.Send(ctx, to, body)
}

// queuedDir is queued/: one read-only file per message waiting in the
// outbox queue (or refused and kept). rm cancels a message.
type queuedDir struct {
	fusefs.Inode
	fixedNames
	root *Root
}

var (
	_ = (fusefs.NodeGetattrer)((*queuedDir)(nil))
	_ = (fusefs.NodeLookuper)((*queuedDir)(nil))
	_ = (fusefs.NodeReaddirer)((*queuedDir)(nil))
	_ = (fusefs.NodeUnlinker)((*queuedDir)(nil))
	_ = (fusefs.NodeCreater)((*queuedDir)(nil))   // fixedNames
	_ = (fusefs.NodeMkdirer)((*queuedDir)(nil))   // fixedNames
	_ = (fusefs.NodeMknoder)((*queuedDir)(nil))   // fixedNames
	_ = (fusefs.NodeSymlinker)((*queuedDir)(nil)) // fixedNames
	_ = (fusefs.NodeLinker)((*queuedDir)(nil))    // fixedNames
	_ = (fusefs.NodeRenamer)((*queuedDir)(nil))   // fixedNames
)

func (d *queuedDir) items() []queue.Item {
	if d.root.opts.Outbox == nil {
		return nil
	}
	return d.root.opts.Outbox.Items()
}

func (d *queuedDir) Getattr(ctx context.Context, f fusefs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	d.root.dirAttr(&out.Attr, 0700)
	return 0 // no attr timeout: the queue changes by itself
}

func (d *queuedDir) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fusefs.Inode, syscall.Errno) {
	if d.root.opts.Outbox == nil || !validMessageID(name) {
		return nil, syscall.ENOENT
	}
	it, ok := d.root.opts.Outbox.Item(name)
	if !ok {
		return nil, syscall.ENOENT
	}
	f := &queuedFile{root: d.root, id: name}
	f.attr(&out.Attr, it)
	return d.NewInode(ctx, f, fusefs.StableAttr{Mode: syscall.S_IFREG, Ino: ino("queued", name)}), 0
}

func (d *queuedDir) Readdir(ctx context.Context) (fusefs.DirStream, syscall.Errno) {
	items := d.items()
	out := make([]fuse.DirEntry, 0, len(items))
	for _, it := range items {
		out = append(out, fuse.DirEntry{Name: it.ID, Mode: syscall.S_IFREG, Ino: ino("queued", it.ID)})
	}
	return fusefs.NewListDirStream(out), 0
}

// Unlink cancels a queued message: it will never be sent.
func (d *queuedDir) Unlink(ctx context.Context, name string) syscall.Errno {
	if d.root.opts.Outbox == nil || !validMessageID(name) {
		return syscall.ENOENT
	}
	switch err := d.root.opts.Outbox.Cancel(name); {
	case err == nil:
		return 0
	case errors.Is(err, queue.ErrNotQueued):
		return syscall.ENOENT
	case errors.Is(err, queue.ErrBusy):
		return syscall.EBUSY
	default:
		return d.root.fail("unlink", "queued/"+name, err)
	}
}

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

func queuedContent(it queue.Item) []byte {
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

func (f *queuedFile) item() (queue.Item, bool) {
	if f.root.opts.Outbox == nil {
		return queue.Item{}, false
	}
	return f.root.opts.Outbox.Item(f.id)
}

func (f *queuedFile) attr(a *fuse.Attr, it queue.Item) {
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

// QueueChanged turns an outbox event into a .hubfs/events line (and a
// .hubfs/errors entry for a refusal). Delivery itself is reported by the
// mailbox as the "sent" event of the new sentbox copy.
func (r *Root) QueueChanged(ev queue.Event) {
	e := events.Event{Box: "queued", ID: ev.Item.ID, From: r.self.String(), To: ev.Item.To, At: time.Now().UTC()}
	switch ev.Kind {
	case queue.Queued:
		e.Type = events.TypeQueued
		e.At = ev.Item.QueuedAt
	case queue.Failed:
		e.Type = events.TypeFailed
		e.Message = ev.Item.LastError
		r.recordError("send", "queued/"+ev.Item.ID, ev.Err)
	default:
		return
	}
	r.events.Publish(e)
}
