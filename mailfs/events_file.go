package mailfs

import (
	"context"
	"errors"
	"sync"
	"syscall"

	fusefs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/hubfs/hubfs/events"
)

// eventsFile is .hubfs/events: like `tail -f` of the mailbox. Each open is a
// subscription that sees every event from that moment on, one JSON line
// each; a read blocks until there is one. The kernel must not cache or read
// ahead (direct I/O), and a reader that stops reading only loses its own
// events (events.Broker bounds its queue).
type eventsFile struct {
	fusefs.Inode
	root *Root
}

var (
	_ = (fusefs.NodeGetattrer)((*eventsFile)(nil))
	_ = (fusefs.NodeOpener)((*eventsFile)(nil))
	_ = (fusefs.NodeSetattrer)((*eventsFile)(nil))
)

func (f *eventsFile) Getattr(ctx context.Context, fh fusefs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	f.root.fileAttr(&out.Attr, 0400, 0, f.root.start, f.root.start)
	return 0
}

func (f *eventsFile) Open(ctx context.Context, flags uint32) (fusefs.FileHandle, uint32, syscall.Errno) {
	if flags&syscall.O_ACCMODE != syscall.O_RDONLY {
		return nil, 0, syscall.EACCES
	}
	// A stream: no offsets, no page cache.
	return &eventsHandle{sub: f.root.events.Subscribe()}, fuse.FOPEN_DIRECT_IO | fuse.FOPEN_NONSEEKABLE | fuse.FOPEN_STREAM, 0
}

func (f *eventsFile) Setattr(ctx context.Context, fh fusefs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	return syscall.EPERM
}

// eventsHandle is one reader's subscription.
type eventsHandle struct {
	sub *events.Subscription

	mu   sync.Mutex // serialises reads: one reader's lines stay in order
	rest []byte     // the part of a line a short read did not take
}

var (
	_ = (fusefs.FileReader)((*eventsHandle)(nil))
	_ = (fusefs.FileReleaser)((*eventsHandle)(nil))
)

// Read blocks for the first line, then adds whatever else is queued and fits,
// without blocking again. An interrupted read (Ctrl-C) returns EINTR and
// loses nothing: an event leaves the queue only into a reply.
func (h *eventsHandle) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.rest) == 0 {
		ev, err := h.sub.Next(ctx)
		switch {
		case errors.Is(err, events.ErrClosed):
			return fuse.ReadResultData(nil), 0 // unmounting: EOF
		case err != nil:
			return nil, syscall.EINTR
		}
		h.rest = ev.Line()
	}
	n := 0
	for {
		c := copy(dest[n:], h.rest)
		n += c
		h.rest = h.rest[c:]
		if len(h.rest) > 0 || n == len(dest) {
			break
		}
		ev, ok := h.sub.TryNext()
		if !ok {
			break
		}
		h.rest = ev.Line()
	}
	return fuse.ReadResultData(dest[:n]), 0
}

func (h *eventsHandle) Release(ctx context.Context) syscall.Errno {
	h.sub.Close()
	return 0
}
