package fs

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	fusefs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/hubfs/hubfs/identity"
)

// draftFile is outbox/<key> from one open(2) until it is sent or closed.
// Every open of the name is a new draftFile (see outboxDir.Lookup) with its
// own buffer, so several writers to one recipient send one message each.
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
	pending int        // handles neither sent nor released
	gone    bool       // the name has been removed from outbox/
	lastLen int64      // size of the last handle written, for stat
}

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
	return d.lastLen
}

func (d *draftFile) newHandle() *draftHandle {
	d.mu.Lock()
	d.pending++
	d.mu.Unlock()
	return &draftHandle{draft: d}
}

// settle is called once per handle, when it has sent or been released;
// the last one takes the name out of outbox/ so a sent file does not linger.
func (d *draftFile) settle() {
	d.mu.Lock()
	d.pending--
	remove := d.pending <= 0 && !d.gone
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
	size := d.size()
	if h, ok := f.(*draftHandle); ok {
		size = h.len()
	}
	d.root.fileAttr(&out.Attr, 0600, size, d.created, d.created)
	return 0
}

// Setattr allows what shells and cp do to a fresh file: truncate it (to
// zero, or within what was written) and set its mode or times, which are
// accepted and ignored.
func (d *draftFile) Setattr(ctx context.Context, f fusefs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	if size, ok := in.GetSize(); ok {
		h, isDraft := f.(*draftHandle)
		if !isDraft {
			if size != 0 {
				return syscall.EINVAL
			}
		} else if errno := h.truncate(int64(size)); errno != 0 {
			return errno
		}
	}
	return d.Getattr(ctx, f, out)
}

// Open of a draft's inode again (through /proc/PID/fd) starts a new, empty
// message; it shares the inode, so its close counts as a dup's.
func (d *draftFile) Open(ctx context.Context, flags uint32) (fusefs.FileHandle, uint32, syscall.Errno) {
	if flags&syscall.O_ACCMODE == syscall.O_RDONLY {
		return nil, 0, syscall.EACCES // a draft is write-only: reading it back would only echo
	}
	d.mu.Lock()
	d.gone = false
	d.mu.Unlock()
	return d.newHandle(), fuse.FOPEN_DIRECT_IO, 0
}

// draftHandle buffers one message in memory until the first flush after a
// write sends it.
type draftHandle struct {
	draft *draftFile

	mu      sync.Mutex // guards the fields below
	buf     []byte
	dirty   bool // written since open and not sent yet
	sending bool
	sent    bool
	settled bool
}

var (
	_ = (fusefs.FileWriter)((*draftHandle)(nil))
	_ = (fusefs.FileFlusher)((*draftHandle)(nil))
	_ = (fusefs.FileReleaser)((*draftHandle)(nil))
	_ = (fusefs.FileFsyncer)((*draftHandle)(nil))
)

func (h *draftHandle) len() int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return int64(len(h.buf))
}

func (h *draftHandle) truncate(size int64) syscall.Errno {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.sent || h.sending {
		return syscall.EBADF
	}
	if size > int64(len(h.buf)) {
		if size > int64(h.draft.root.opts.MaxMessageSize) {
			return syscall.EFBIG
		}
		h.buf = append(h.buf, make([]byte, size-int64(len(h.buf)))...)
	} else {
		h.buf = h.buf[:size]
	}
	return 0
}

func (h *draftHandle) Write(ctx context.Context, data []byte, off int64) (uint32, syscall.Errno) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.sent || h.sending {
		return 0, syscall.EBADF // one handle, one message: open the file again for another
	}
	end := off + int64(len(data))
	if off < 0 || end > int64(h.draft.root.opts.MaxMessageSize) {
		return 0, syscall.EFBIG
	}
	if end > int64(len(h.buf)) {
		h.buf = append(h.buf, make([]byte, end-int64(len(h.buf)))...)
	}
	copy(h.buf[off:], data)
	h.dirty = true
	h.draft.mu.Lock()
	h.draft.lastLen = int64(len(h.buf))
	h.draft.mu.Unlock()
	return uint32(len(data)), 0
}

// Flush is close(2). The first flush after data was written sends it, and
// close returns only after the hub acknowledged; a flush with nothing
// written (a shell setting up a redirect, an empty file) sends nothing.
// After a failed send the data stays, and a later flush of a dup of the
// descriptor tries again.
func (h *draftHandle) Flush(ctx context.Context) syscall.Errno {
	h.mu.Lock()
	if !h.dirty || h.sent || h.sending {
		h.mu.Unlock()
		return 0
	}
	h.mu.Unlock()
	// A flush comes with every close of every descriptor. A shell writing
	// in chunks through `exec 3>outbox/KEY; printf a >&3; printf b >&3`
	// closes a dup of the file after each chunk, and a child that wrote
	// to a descriptor it inherited closes it when it exits; only a close
	// after which neither the caller nor the opener holds a descriptor on
	// this file sends.
	if caller, ok := fuse.FromContext(ctx); ok && h.draft.heldElsewhere(caller.Pid) {
		return 0
	}
	h.mu.Lock()
	if !h.dirty || h.sent || h.sending {
		h.mu.Unlock()
		return 0
	}
	h.sending = true
	body := h.buf
	h.mu.Unlock()

	r := h.draft.root
	opCtx, cancel := r.changeCtx(ctx)
	_, err := r.mb.Send(opCtx, h.draft.to, body)
	cancel()

	h.mu.Lock()
	h.sending = false
	if err == nil {
		h.sent, h.dirty = true, false
		h.buf = nil
	}
	settle := err == nil && !h.settled
	if settle {
		h.settled = true
	}
	h.mu.Unlock()
	if err != nil {
		return r.fail("send", "outbox/"+h.draft.name, err)
	}
	if settle {
		h.draft.settle()
	}
	return 0
}

// Fsync does not send: only close does, so that a message is never split.
func (h *draftHandle) Fsync(ctx context.Context, flags uint32) syscall.Errno { return 0 }

func (h *draftHandle) Release(ctx context.Context) syscall.Errno {
	h.mu.Lock()
	settle := !h.settled
	h.settled = true
	h.buf = nil
	h.mu.Unlock()
	if settle {
		h.draft.settle()
	}
	return 0
}

// heldElsewhere reports whether the process closing a descriptor (pid) or
// the one that opened the draft still holds another descriptor on it.
func (d *draftFile) heldElsewhere(pid uint32) bool {
	ino := d.StableAttr().Ino
	return stillOpenIn(pid, ino) || (d.opener != 0 && d.opener != pid && stillOpenIn(d.opener, ino))
}

// tgid is the process (thread group) of the thread tid, which FUSE names
// as a request's caller, or 0 when /proc does not say. A thread may end
// before its process does.
func tgid(tid uint32) uint32 {
	if tid == 0 {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", tid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "Tgid:"); ok {
			n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 32)
			if err != nil {
				return 0
			}
			return uint32(n)
		}
	}
	return 0
}

// stillOpenIn reports whether process pid has a descriptor open on the
// inode ino of a FUSE file. At flush time the descriptor being closed is
// already gone from the process's table, so any match is another one.
// /proc/PID/fdinfo gives the inode without a request to this filesystem (a
// stat of /proc/PID/fd/N would ask us, from inside our own handler). When
// /proc cannot be read, the close counts as the last.
func stillOpenIn(pid uint32, ino uint64) bool {
	if pid == 0 {
		return false
	}
	dir := fmt.Sprintf("/proc/%d/fdinfo", pid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	want := strconv.FormatUint(ino, 10)
	for _, e := range ents {
		if fdinfoIno(filepath.Join(dir, e.Name())) == want {
			return true
		}
	}
	return false
}

func fdinfoIno(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "ino:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
