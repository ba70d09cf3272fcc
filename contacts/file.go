package contacts

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"syscall"
	"time"
)

// recheck is how often a File stats its path at most: cheap enough to do on
// every lookup, rare enough that a busy mount does not stat per syscall.
const recheck = time.Second

// File is a contacts file a long-running process reads: Book answers the
// file's current contents, re-reading it when its stat changed, at most one
// stat per second. A file that stops parsing keeps the last good book, and
// the error is reported once per broken version of the file.
type File struct {
	path string
	now  func() time.Time // injectable for tests

	mu      sync.Mutex // guards the fields below
	book    *Book
	err     error
	sig     fileSig
	checked time.Time // when the file was last stat'd
	known   bool      // sig is the version last read, good or not
	gen     uint64
	report  func(error)
}

// fileSig tells one version of the file from another without reading it.
// A rename (how Add writes) always changes the inode.
type fileSig struct {
	exists         bool
	dev, ino, size uint64
	mtime, ctime   int64
}

// Open returns a File over path and reads it now. A missing file is an
// empty book, not an error; see Err for the others.
func Open(path string) *File {
	f := &File{path: path, now: time.Now, book: &Book{}}
	f.mu.Lock()
	f.refreshLocked(f.now())
	f.mu.Unlock()
	return f
}

// Path is the file's path.
func (f *File) Path() string { return f.path }

// OnError sets what is told about a file that cannot be read or parsed:
// once per version of the file (the mount logs it). It is also told about
// the error Open met, if any.
func (f *File) OnError(report func(error)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.report = report
	if f.err != nil && report != nil {
		report(f.err)
	}
}

// Book is the current book: the file as last read, re-read first when it
// changed and a second has passed since the last look.
func (f *File) Book() *Book {
	f.mu.Lock()
	defer f.mu.Unlock()
	if now := f.now(); now.Sub(f.checked) >= recheck || now.Before(f.checked) {
		f.refreshLocked(now)
	}
	return f.book
}

// Generation counts the books this File has loaded; a cache of names keyed
// by it (the contacts/ directory) knows when to drop what it holds.
func (f *File) Generation() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.gen
}

// Err is why the file's current version could not be read, nil once it
// reads again. Book still answers the last good version meanwhile.
func (f *File) Err() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}

// refreshLocked reads the file if its stat differs from the version held.
// It reads under the lock: the file is small and local, and readers that
// arrive meanwhile want the new version anyway.
func (f *File) refreshLocked(now time.Time) {
	f.checked = now
	sig, err := stat(f.path)
	if err == nil && f.known && sig == f.sig {
		return
	}
	var book *Book
	if err == nil {
		book, err = Load(f.path)
	}
	if err != nil {
		if !f.known || sig != f.sig || f.err == nil {
			if f.report != nil {
				f.report(err)
			}
		}
		f.sig, f.known, f.err = sig, true, err
		return
	}
	f.sig, f.known, f.err, f.book = sig, true, nil, book
	f.gen++
}

func stat(path string) (fileSig, error) {
	fi, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return fileSig{}, nil
	}
	if err != nil {
		return fileSig{}, fmt.Errorf("contacts file: %w", err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fileSig{exists: true, size: uint64(fi.Size()), mtime: fi.ModTime().UnixNano()}, nil
	}
	return fileSig{
		exists: true,
		dev:    uint64(st.Dev), ino: st.Ino, size: uint64(st.Size),
		mtime: st.Mtim.Nano(), ctime: st.Ctim.Nano(),
	}, nil
}
