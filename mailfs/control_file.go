package mailfs

import (
	"context"
	"encoding/json"
	"syscall"

	fusefs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/hubfs/hubfs/mailbox"
)

// controlFile is a file under .hubfs/ whose content is computed at open.
// Dynamic ones are direct I/O (never cached by the kernel) and report size
// 0, as /proc files do: readers read to EOF.
type controlFile struct {
	fusefs.Inode
	root   *Root
	static bool // content never changes: report its size, let the kernel cache it
	gen    func(ctx context.Context) ([]byte, error)
}

var (
	_ = (fusefs.NodeGetattrer)((*controlFile)(nil))
	_ = (fusefs.NodeOpener)((*controlFile)(nil))
	_ = (fusefs.NodeSetattrer)((*controlFile)(nil))
)

func (f *controlFile) Getattr(ctx context.Context, fh fusefs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	var size int64
	if f.static {
		b, _ := f.gen(ctx)
		size = int64(len(b))
		out.SetTimeout(skeletonTTL)
	}
	f.root.fileAttr(&out.Attr, 0400, size, f.root.start, f.root.start)
	return 0
}

func (f *controlFile) Open(ctx context.Context, flags uint32) (fusefs.FileHandle, uint32, syscall.Errno) {
	if flags&syscall.O_ACCMODE != syscall.O_RDONLY {
		return nil, 0, syscall.EACCES
	}
	opCtx, cancel := f.root.opCtx(ctx)
	defer cancel()
	b, err := f.gen(opCtx)
	if err != nil {
		return nil, 0, f.root.fail("open", ".hubfs/"+f.name(), err)
	}
	if f.static {
		return &bytesHandle{data: b}, fuse.FOPEN_KEEP_CACHE, 0
	}
	return &bytesHandle{data: b}, fuse.FOPEN_DIRECT_IO, 0
}

func (f *controlFile) Setattr(ctx context.Context, fh fusefs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	return syscall.EPERM
}

func (f *controlFile) name() string {
	name, _ := f.Parent()
	return name
}

func (r *Root) identityFile(context.Context) ([]byte, error) {
	return []byte(r.self.String() + "\n"), nil
}

// Status is the JSON of .hubfs/status. Its field names are a contract with
// scripts.
type Status struct {
	Hub       string `json:"hub"`
	Identity  string `json:"identity"`
	MailboxID string `json:"mailbox_id"`
	Online    bool   `json:"online"`
	// Mode is "watch" (the hub pushes every change), "poll" (the watch is
	// down: listed every poll interval), "ttl" (no live updates) or
	// "offline" (the hub does not answer: served from the disk cache).
	Mode         string             `json:"mode"`
	EventReaders int                `json:"event_readers"` // open .hubfs/events
	Errors       int                `json:"errors"`        // failed operations since the mount (.hubfs/errors keeps the last ones)
	Queue        mailbox.QueueStats `json:"queue"`         // messages waiting in queued/
	Cache        interface{}        `json:"cache"`
}

func (r *Root) statusFile(context.Context) ([]byte, error) {
	st := r.mb.Stats()
	b, err := json.MarshalIndent(Status{
		Hub:          r.opts.HubAddr,
		Identity:     r.self.String(),
		MailboxID:    r.opts.MailboxID,
		Online:       st.Online,
		Mode:         st.ShownMode(r.mb.Mode()).String(),
		EventReaders: r.events.Subscribers(),
		Errors:       r.errors.Total(),
		Queue:        r.queueStats(),
		Cache:        st,
	}, "", "  ")
	return append(b, '\n'), err
}

func (r *Root) queueStats() mailbox.QueueStats {
	if r.opts.Outbox == nil {
		return mailbox.QueueStats{}
	}
	return r.opts.Outbox.Stats()
}

func (r *Root) usageFile(ctx context.Context) ([]byte, error) {
	u, err := r.mb.Usage(ctx)
	if err != nil {
		return nil, err
	}
	b, err := json.MarshalIndent(toUsageJSON(u), "", "  ")
	return append(b, '\n'), err
}

// errorsFile is .hubfs/errors: the last failed operations, one JSON object a
// line, oldest first.
func (r *Root) errorsFile(context.Context) ([]byte, error) {
	return r.errors.JSONLines(), nil
}
