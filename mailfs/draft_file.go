package mailfs

import (
	"context"
	"sync"
	"syscall"
	"time"

	fusefs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/hubfs/hubfs/identity"
)

// draftFile is outbox/<key> from its create until it is sent. The message
// is the inode's content, not a handle's: every descriptor on it (dups,
// children, /dev/stdout, /proc/PID/fd/N reopening it) writes into one
// buffer, and it goes out once, whole, at the close after which no process
// involved holds it any more (see lastClose). A draft that a write failed
// on, or whose writer was killed, is poisoned: nothing of it is ever sent.
type draftFile struct {
	fusefs.Inode
	root    *Root
	name    string
	to      *identity.PublicKey
	created time.Time
	// opener is the process (thread group) that created the draft, 0 when
	// unknown. A shell that redirects a group (`{ echo a; /bin/echo b; }
	// > outbox/KEY`) lends its descriptor to children; a child's exit
	// must not send while the shell still holds it.
	opener uint32

	mu      sync.Mutex // guards the fields below
	buf     []byte
	state   draftState
	poison  syscall.Errno // why the draft is poisoned: what every later write and close returns
	handles int           // handles not released yet
	gone    bool          // the name has been removed from outbox/
}

// draftState is where a draft is on its way out.
type draftState int

const (
	drafting draftState = iota // being written
	sending                    // its last close is handing it to the outbox
	sent                       // delivered or durably queued: it is done
	poisoned                   // a write failed or a writer died: never sent
)

var (
	_ = (fusefs.NodeGetattrer)((*draftFile)(nil))
	_ = (fusefs.NodeSetattrer)((*draftFile)(nil))
	_ = (fusefs.NodeOpener)((*draftFile)(nil))
)

func newDraft(r *Root, name string, to *identity.PublicKey, opener uint32) *draftFile {
	return &draftFile{root: r, name: name, to: to, created: time.Now(), opener: opener}
}

func (d *draftFile) size() int64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return int64(len(d.buf))
}

func (d *draftFile) newHandle() *draftHandle {
	d.mu.Lock()
	d.handles++
	d.mu.Unlock()
	return &draftHandle{draft: d}
}

// release is called once per handle; the last one drops the buffer and takes
// the name out of outbox/, so a sent (or abandoned) file does not linger.
func (d *draftFile) release() {
	d.mu.Lock()
	d.handles--
	last := d.handles <= 0
	remove := last && !d.gone
	if last {
		d.buf = nil
		if d.state == drafting {
			// Written but never closed by a process we saw (it cannot
			// happen through close(2), which always flushes): the kernel
			// dropped it, and a half-written message must not go out.
			d.state, d.poison = poisoned, syscall.ECANCELED
		}
	}
	if remove {
		d.gone = true
	}
	d.mu.Unlock()
	if remove {
		if parent := d.root.outbox; parent != nil {
			if parent.GetChild(d.name) == d.EmbeddedInode() {
				parent.RmChild(d.name)
			}
		}
	}
}

func (d *draftFile) Getattr(ctx context.Context, f fusefs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	d.root.fileAttr(&out.Attr, 0600, d.size(), d.created, d.created)
	return 0
}

// Setattr allows what shells and cp do to a fresh file: truncate it (to
// zero, or within what was written) and set its mode or times, which are
// accepted and ignored.
func (d *draftFile) Setattr(ctx context.Context, f fusefs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	if size, ok := in.GetSize(); ok {
		if errno := d.truncate(int64(size)); errno != 0 {
			return errno
		}
	}
	return setattrDone(&d.Inode, out, d.Getattr(ctx, f, out))
}

// Open of a draft's inode again (/dev/stdout, /dev/fd/N, /proc/PID/fd/N)
// joins the same message.
func (d *draftFile) Open(ctx context.Context, flags uint32) (fusefs.FileHandle, uint32, syscall.Errno) {
	if flags&syscall.O_ACCMODE == syscall.O_RDONLY {
		return nil, 0, syscall.EACCES // a draft is write-only: reading it back would only echo
	}
	d.mu.Lock()
	state, poison := d.state, d.poison
	d.mu.Unlock()
	switch state {
	case poisoned:
		return nil, 0, poison
	case sending, sent:
		return nil, 0, syscall.EBADF // one draft, one message: create the name again for another
	}
	return d.newHandle(), fuse.FOPEN_DIRECT_IO, 0
}

// writableLocked says whether the draft takes data now; d.mu is held.
func (d *draftFile) writableLocked() syscall.Errno {
	switch d.state {
	case poisoned:
		return d.poison
	case sending, sent:
		return syscall.EBADF
	}
	return 0
}

// poisonLocked makes the draft unsendable for good; the first cause stays.
func (d *draftFile) poisonLocked(errno syscall.Errno) {
	if d.state == drafting {
		d.state, d.poison, d.buf = poisoned, errno, nil
	}
}

func (d *draftFile) truncate(size int64) syscall.Errno {
	d.mu.Lock()
	defer d.mu.Unlock()
	if errno := d.writableLocked(); errno != 0 {
		return errno
	}
	if size > int64(d.root.cfg.MaxMessageSize) {
		d.poisonLocked(syscall.EFBIG)
		return syscall.EFBIG
	}
	if size > int64(len(d.buf)) {
		d.buf = append(d.buf, make([]byte, size-int64(len(d.buf)))...)
	} else {
		d.buf = d.buf[:size]
	}
	return 0
}

func (d *draftFile) write(data []byte, off int64) (uint32, syscall.Errno) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if errno := d.writableLocked(); errno != 0 {
		return 0, errno
	}
	end := off + int64(len(data))
	if off < 0 {
		d.poisonLocked(syscall.EINVAL)
		return 0, syscall.EINVAL
	}
	if end > int64(d.root.cfg.MaxMessageSize) {
		// Part of the message cannot be held, so none of it is sent: a
		// writer that sees EFBIG and carries on must not deliver a prefix.
		d.poisonLocked(syscall.EFBIG)
		return 0, syscall.EFBIG
	}
	if end > int64(len(d.buf)) {
		d.buf = append(d.buf, make([]byte, end-int64(len(d.buf)))...)
	}
	copy(d.buf[off:], data)
	return uint32(len(data)), 0
}

// flush is close(2) of one descriptor by the task tid (0 when unknown).
func (d *draftFile) flush(ctx context.Context, tid uint32) syscall.Errno {
	// A writer killed by a signal closes its descriptors on its way out:
	// whatever it wrote is a fragment, so the draft is dropped, even if
	// another process (the shell that opened the redirect) closes last.
	if diedBySignal(tid) {
		d.mu.Lock()
		d.poisonLocked(syscall.ECANCELED)
		d.mu.Unlock()
		d.root.log.Info("outbox: a writer was killed: its draft is dropped", "name", d.name)
	}
	d.mu.Lock()
	switch d.state {
	case poisoned:
		errno := d.poison
		d.mu.Unlock()
		return errno
	case sending, sent:
		d.mu.Unlock()
		return 0
	}
	empty := len(d.buf) == 0
	d.mu.Unlock()
	if empty {
		return 0 // a shell setting up a redirect, or a file left empty: nothing to send
	}
	// A flush comes with every close of every descriptor. A shell writing
	// in chunks through `exec 3>outbox/KEY; printf a >&3; printf b >&3`
	// closes a dup after each chunk, and a child that wrote to a
	// descriptor it inherited closes it when it exits; only the close
	// after which neither the caller nor the opener holds a descriptor on
	// this draft sends.
	if d.heldElsewhere(tid) {
		return 0
	}
	d.mu.Lock()
	if d.state != drafting || len(d.buf) == 0 {
		d.mu.Unlock()
		return 0
	}
	d.state = sending
	body := d.buf
	d.mu.Unlock()

	r := d.root
	err := r.outboxSend(ctx, d.to, body)

	d.mu.Lock()
	if err == nil {
		d.state, d.buf = sent, nil
	} else {
		// Refused for good (or not storable here): sending it again at a
		// later close would only fail again, or queue a second copy.
		d.state, d.poison, d.buf = poisoned, toErrno(err), nil
	}
	d.mu.Unlock()
	if err != nil {
		return r.fail("send", "outbox/"+d.name, err)
	}
	return 0
}

// heldElsewhere reports whether the task closing a descriptor (tid) or the
// process that created the draft still holds another descriptor on it.
func (d *draftFile) heldElsewhere(tid uint32) bool {
	ino := d.StableAttr().Ino
	dev := d.root.device()
	return stillOpenIn(tid, dev, ino) || (d.opener != 0 && d.opener != tid && stillOpenIn(d.opener, dev, ino))
}

// draftHandle is one open file description of a draft. All its state is
// the draft's: descriptors differ only in who closes them.
type draftHandle struct {
	draft *draftFile

	once sync.Once // releases the handle once
}

var (
	_ = (fusefs.FileReader)((*draftHandle)(nil))
	_ = (fusefs.FileWriter)((*draftHandle)(nil))
	_ = (fusefs.FileFlusher)((*draftHandle)(nil))
	_ = (fusefs.FileReleaser)((*draftHandle)(nil))
	_ = (fusefs.FileFsyncer)((*draftHandle)(nil))
)

// Read of a draft opened O_RDWR: a draft is write-only (docs/semantics.md).
func (h *draftHandle) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	return nil, syscall.EACCES
}

func (h *draftHandle) Write(ctx context.Context, data []byte, off int64) (uint32, syscall.Errno) {
	return h.draft.write(data, off)
}

// Flush is close(2). The last close sends; close returns once the message
// is on the hub or durably in the queue, or with the errno of a refusal.
func (h *draftHandle) Flush(ctx context.Context) syscall.Errno {
	var tid uint32
	if caller, ok := fuse.FromContext(ctx); ok {
		tid = caller.Pid
	}
	return h.draft.flush(ctx, tid)
}

// Fsync does not send: only close does, so that a message is never split.
func (h *draftHandle) Fsync(ctx context.Context, flags uint32) syscall.Errno { return 0 }

func (h *draftHandle) Release(ctx context.Context) syscall.Errno {
	h.once.Do(h.draft.release)
	return 0
}
