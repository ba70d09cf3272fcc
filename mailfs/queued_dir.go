package mailfs

import (
	"context"
	"errors"
	"syscall"
	"time"

	fusefs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/hubfs/hubfs/events"
	"github.com/hubfs/hubfs/identity"
	"github.com/hubfs/hubfs/mailbox"
)

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

func (d *queuedDir) items() []mailbox.QueueItem {
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
	case errors.Is(err, mailbox.ErrNotQueued):
		return syscall.ENOENT
	case errors.Is(err, mailbox.ErrBusy):
		return syscall.EBUSY
	default:
		return d.root.fail("unlink", "queued/"+name, err)
	}
}

// QueueChanged turns an outbox event into a .hubfs/events line (and a
// .hubfs/errors entry for a refusal). Delivery itself is reported by the
// mailbox as the "sent" event of the new sentbox copy.
func (r *Root) QueueChanged(ev mailbox.QueueEvent) {
	e := events.Event{Box: "queued", ID: ev.Item.ID, From: r.self.String(), To: ev.Item.To, At: time.Now().UTC()}
	switch ev.Kind {
	case mailbox.ItemQueued:
		e.Type = events.TypeQueued
		e.At = ev.Item.QueuedAt
	case mailbox.ItemFailed:
		e.Type = events.TypeFailed
		e.Message = ev.Item.LastError
		if !ev.AtClose { // else the failed close records it, once
			r.recordError("send", "queued/"+ev.Item.ID, ev.Err)
		}
	default:
		return
	}
	r.events.Publish(e)
}
