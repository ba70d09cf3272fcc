package mailfs

import (
	"context"
	"sync"
	"syscall"

	fusefs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// saver is a file whose content is saved to the hub, whole, when the last
// descriptor written through closes: a document (<_id>.json) or a
// collection's schema (.schema.json). Its node gives the saveBuffer what
// only it knows.
type saver interface {
	// current is what the file holds now: where a write that does not
	// truncate starts from (nil for a file just created).
	current(ctx context.Context) ([]byte, error)
	// save sends what was written; its error is the last close's.
	save(ctx context.Context, body []byte) error
	// ended is told when the last handle of a write goes, and whether
	// the write was saved.
	ended(saved bool)
	// path names the file in logs and .hubfs/errors.
	path() string
	embedded() *fusefs.Inode
}

// saveBuffer is the write side of a saver, with the outbox's send contract
// (draft_file.go): every descriptor on the inode writes into one buffer, the
// close after which no process involved holds a descriptor for writing
// saves it, complete or nothing: a write that failed (EFBIG) or a writer
// killed by a signal poisons the write, and nothing of it is saved. A
// buffer that was never written, or was left empty, saves nothing (an
// empty file never deletes a document: rm does). After the write ends (its
// last handle is released) the next open starts another.
type saveBuffer struct {
	root  *Root
	node  saver
	limit int // bytes a write may hold

	mu sync.Mutex // guards w
	w  *write     // the write under way; nil when none
}

// write is one write of the file: from the first open for writing to the
// release of the last handle.
type write struct {
	buf     []byte
	dirty   bool // written or truncated: the close has something to save
	handles int
	state   draftState
	poison  syscall.Errno
	// opener is the process that opened the file for writing first (0:
	// unknown): a shell lends a redirect to children, whose exit must not
	// save while the shell holds it.
	opener uint32
	saved  bool
}

// size is the length of the write under way, and whether there is one.
func (b *saveBuffer) size() (int64, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.w == nil || b.w.state == poisoned {
		return 0, false
	}
	return int64(len(b.w.buf)), true
}

// open joins the write under way or starts one: from the current content,
// or empty under O_TRUNC.
func (b *saveBuffer) open(ctx context.Context, flags uint32) (*saveHandle, syscall.Errno) {
	trunc := flags&syscall.O_TRUNC != 0
	if h, errno, ok := b.join(trunc); ok {
		return h, errno
	}
	var initial []byte
	if !trunc {
		cur, err := b.node.current(ctx)
		if err != nil {
			return nil, b.root.fail("open", b.node.path(), err)
		}
		initial = append([]byte(nil), cur...)
	}
	var opener uint32
	if caller, ok := fuse.FromContext(ctx); ok {
		opener = tgid(caller.Pid)
	}
	b.mu.Lock()
	if b.w == nil {
		b.w = &write{buf: initial, opener: opener, dirty: trunc}
		b.w.handles++
		b.mu.Unlock()
		return &saveHandle{b: b}, 0
	}
	b.mu.Unlock()
	h, errno, _ := b.join(trunc) // another open started it meanwhile
	return h, errno
}

// join adds a handle to the write under way; ok is false when there is none.
func (b *saveBuffer) join(trunc bool) (*saveHandle, syscall.Errno, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	w := b.w
	if w == nil {
		return nil, 0, false
	}
	switch w.state {
	case poisoned:
		return nil, w.poison, true
	case sending, sent:
		return nil, syscall.EBADF, true // saved: wait for its handles to go, then write again
	}
	if trunc {
		w.buf, w.dirty = w.buf[:0], true
	}
	w.handles++
	return &saveHandle{b: b}, 0, true
}

// writableLocked says whether the write takes data now; b.mu is held.
func (b *saveBuffer) writableLocked() syscall.Errno {
	if b.w == nil {
		return syscall.EBADF
	}
	switch b.w.state {
	case poisoned:
		return b.w.poison
	case sending, sent:
		return syscall.EBADF
	}
	return 0
}

func (b *saveBuffer) poisonLocked(errno syscall.Errno) {
	if b.w != nil && b.w.state == drafting {
		b.w.state, b.w.poison, b.w.buf = poisoned, errno, nil
	}
}

// truncate is ftruncate(2) or the O_TRUNC of an open; ok is false when no
// write is under way (truncate(1) of a file nobody writes).
func (b *saveBuffer) truncate(size int64) (errno syscall.Errno, ok bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.w == nil {
		return 0, false
	}
	if errno := b.writableLocked(); errno != 0 {
		return errno, true
	}
	if size > int64(b.limit) {
		b.poisonLocked(syscall.EFBIG)
		return syscall.EFBIG, true
	}
	w := b.w
	if size > int64(len(w.buf)) {
		w.buf = append(w.buf, make([]byte, size-int64(len(w.buf)))...)
	} else {
		w.buf = w.buf[:size]
	}
	w.dirty = true
	return 0, true
}

func (b *saveBuffer) write(data []byte, off int64) (uint32, syscall.Errno) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if errno := b.writableLocked(); errno != 0 {
		return 0, errno
	}
	end := off + int64(len(data))
	if off < 0 {
		b.poisonLocked(syscall.EINVAL)
		return 0, syscall.EINVAL
	}
	if end > int64(b.limit) {
		// Part of it cannot be held, so none of it is saved.
		b.poisonLocked(syscall.EFBIG)
		return 0, syscall.EFBIG
	}
	w := b.w
	if end > int64(len(w.buf)) {
		w.buf = append(w.buf, make([]byte, end-int64(len(w.buf)))...)
	}
	copy(w.buf[off:], data)
	w.dirty = true
	return uint32(len(data)), 0
}

func (b *saveBuffer) read(dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.w == nil || off >= int64(len(b.w.buf)) {
		return fuse.ReadResultData(nil), 0
	}
	end := min(off+int64(len(dest)), int64(len(b.w.buf)))
	return fuse.ReadResultData(append([]byte(nil), b.w.buf[off:end]...)), 0
}

// flush is close(2) of one descriptor by the task tid (0 when unknown).
func (b *saveBuffer) flush(ctx context.Context, tid uint32) syscall.Errno {
	if diedBySignal(tid) {
		b.mu.Lock()
		b.poisonLocked(syscall.ECANCELED)
		b.mu.Unlock()
		b.root.log.Info("a writer was killed: its write is dropped", "path", b.node.path())
	}
	b.mu.Lock()
	w := b.w
	if w == nil {
		b.mu.Unlock()
		return 0
	}
	switch w.state {
	case poisoned:
		errno := w.poison
		b.mu.Unlock()
		return errno
	case sending, sent:
		b.mu.Unlock()
		return 0
	}
	idle := !w.dirty || len(w.buf) == 0
	opener := w.opener
	b.mu.Unlock()
	if idle {
		return 0 // opened and never written, or left empty: nothing to save
	}
	ino := b.node.embedded().StableAttr().Ino
	dev := b.root.device()
	if stillOpenForWriteIn(tid, dev, ino) || (opener != 0 && opener != tid && stillOpenForWriteIn(opener, dev, ino)) {
		return 0 // not the last writer's close
	}
	b.mu.Lock()
	if b.w != w || w.state != drafting || !w.dirty || len(w.buf) == 0 {
		b.mu.Unlock()
		return 0
	}
	w.state = sending
	body := w.buf
	b.mu.Unlock()

	err := b.node.save(ctx, body)

	b.mu.Lock()
	if err == nil {
		w.state, w.buf, w.saved = sent, nil, true
	} else {
		// Saving it again at a later close would only fail again.
		w.state, w.poison, w.buf = poisoned, toErrno(err), nil
	}
	b.mu.Unlock()
	if err != nil {
		return b.root.fail("save", b.node.path(), err)
	}
	return 0
}

// release is called once per handle; the last one ends the write.
func (b *saveBuffer) release() {
	b.mu.Lock()
	w := b.w
	if w == nil {
		b.mu.Unlock()
		return
	}
	w.handles--
	if w.handles > 0 {
		b.mu.Unlock()
		return
	}
	b.w = nil
	saved := w.saved
	b.mu.Unlock()
	b.node.ended(saved)
}

// saveHandle is one open file description of a write. Its state is the
// buffer's: descriptors differ only in who closes them.
type saveHandle struct {
	b    *saveBuffer
	once sync.Once // releases the handle once
}

var (
	_ = (fusefs.FileReader)((*saveHandle)(nil))
	_ = (fusefs.FileWriter)((*saveHandle)(nil))
	_ = (fusefs.FileFlusher)((*saveHandle)(nil))
	_ = (fusefs.FileReleaser)((*saveHandle)(nil))
	_ = (fusefs.FileFsyncer)((*saveHandle)(nil))
)

// Read of a file opened O_RDWR reads what is being written.
func (h *saveHandle) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	return h.b.read(dest, off)
}

func (h *saveHandle) Write(ctx context.Context, data []byte, off int64) (uint32, syscall.Errno) {
	return h.b.write(data, off)
}

// Flush is close(2): the last writer's close saves, and returns once the
// hub has it, or with the errno of its refusal.
func (h *saveHandle) Flush(ctx context.Context) syscall.Errno {
	var tid uint32
	if caller, ok := fuse.FromContext(ctx); ok {
		tid = caller.Pid
	}
	return h.b.flush(ctx, tid)
}

// Fsync does not save: only close does, so that a document is never split.
func (h *saveHandle) Fsync(ctx context.Context, flags uint32) syscall.Errno { return 0 }

func (h *saveHandle) Release(ctx context.Context) syscall.Errno {
	h.once.Do(h.b.release)
	return 0
}
