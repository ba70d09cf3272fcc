// Command floor is the go-fuse floor of bench/peers.sh: the smallest
// filesystem a go-fuse mount of read-only files can be, for the other
// FUSE systems to be measured against. It reads every file of -src into
// memory once and serves them read-only in one flat directory, with what a
// filesystem of immutable files can tell the kernel: 1 h entry and attr
// timeouts, FOPEN_KEEP_CACHE on every open, FOPEN_CACHE_DIR on the
// directory, and ENODATA to every getxattr (as tmpfs without xattrs set).
// It serves until unmounted or signalled.
//
// Usage: floor -src DIR [-debug] MNT
package main

import (
	"context"
	"flag"
	"fmt"
	"hash/fnv"
	"log"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	fusefs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// timeout is how long the kernel keeps names and attributes: the files never change.
const timeout = time.Hour

func main() {
	src := flag.String("src", "", "serve the files of `DIR` (read once, at start)")
	debug := flag.Bool("debug", false, "log every FUSE request (go-fuse's debug log, to stderr)")
	flag.Parse()
	if *src == "" || flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: floor -src DIR [-debug] MNT")
		os.Exit(2)
	}
	root, err := load(*src)
	if err != nil {
		log.Fatal(err)
	}
	ttl := timeout
	srv, err := fusefs.Mount(flag.Arg(0), root, &fusefs.Options{
		EntryTimeout: &ttl,
		AttrTimeout:  &ttl,
		MountOptions: fuse.MountOptions{
			FsName:      "floor",
			Name:        "floor",
			DirectMount: os.Geteuid() == 0,
			Debug:       *debug,
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sig
		srv.Unmount()
	}()
	srv.Wait()
}

// load reads every regular file of dir into a root holding them.
func load(dir string) (*rootDir, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	r := &rootDir{files: make(map[string][]byte, len(ents))}
	for _, e := range ents {
		if !e.Type().IsRegular() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		r.files[e.Name()] = b
	}
	return r, nil
}

// rootDir is the one directory. Its children are added once, at mount, as
// persistent inodes, so lookups and listings are answered from go-fuse's
// own tree.
type rootDir struct {
	fusefs.Inode
	files map[string][]byte
}

var (
	_ = (fusefs.NodeOnAdder)((*rootDir)(nil))
	_ = (fusefs.NodeGetattrer)((*rootDir)(nil))
	_ = (fusefs.NodeOpendirHandler)((*rootDir)(nil))
	_ = (fusefs.NodeGetxattrer)((*rootDir)(nil))
)

func (r *rootDir) OnAdd(ctx context.Context) {
	for name, b := range r.files {
		h := fnv.New64a()
		h.Write([]byte(name))
		ch := r.NewPersistentInode(ctx, &file{data: b}, fusefs.StableAttr{Mode: fuse.S_IFREG, Ino: h.Sum64() | 1<<63})
		r.AddChild(name, ch, false)
	}
	r.files = nil
}

func (r *rootDir) Getattr(ctx context.Context, fh fusefs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	out.Mode = fuse.S_IFDIR | 0755
	out.SetTimeout(timeout)
	return 0
}

// OpendirHandle lets the kernel keep the listing: it never changes.
func (r *rootDir) OpendirHandle(ctx context.Context, flags uint32) (fusefs.FileHandle, uint32, syscall.Errno) {
	return &dirHandle{dir: &r.Inode}, fuse.FOPEN_CACHE_DIR | fuse.FOPEN_KEEP_CACHE, 0
}

func (r *rootDir) Getxattr(ctx context.Context, attr string, dest []byte) (uint32, syscall.Errno) {
	return 0, syscall.ENODATA
}

// dirHandle lists the directory's children, made at the first read.
type dirHandle struct {
	dir *fusefs.Inode
	ds  fusefs.DirStream
}

var _ = (fusefs.FileReaddirenter)((*dirHandle)(nil))

func (h *dirHandle) Readdirent(ctx context.Context) (*fuse.DirEntry, syscall.Errno) {
	if h.ds == nil {
		kids := h.dir.Children()
		list := make([]fuse.DirEntry, 0, len(kids))
		for name, ch := range kids {
			list = append(list, fuse.DirEntry{Name: name, Mode: ch.Mode(), Ino: ch.StableAttr().Ino})
		}
		h.ds = fusefs.NewListDirStream(list)
	}
	if !h.ds.HasNext() {
		return nil, 0
	}
	e, errno := h.ds.Next()
	return &e, errno
}

// file is one file's bytes.
type file struct {
	fusefs.Inode
	data []byte
}

var (
	_ = (fusefs.NodeGetattrer)((*file)(nil))
	_ = (fusefs.NodeOpener)((*file)(nil))
	_ = (fusefs.NodeReader)((*file)(nil))
	_ = (fusefs.NodeGetxattrer)((*file)(nil))
)

func (f *file) Getattr(ctx context.Context, fh fusefs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	out.Mode = fuse.S_IFREG | 0444
	out.Nlink = 1
	out.Size = uint64(len(f.data))
	out.SetTimeout(timeout)
	return 0
}

// Open keeps the kernel's pages of the file across opens.
func (f *file) Open(ctx context.Context, flags uint32) (fusefs.FileHandle, uint32, syscall.Errno) {
	if flags&(syscall.O_WRONLY|syscall.O_RDWR) != 0 {
		return nil, 0, syscall.EROFS
	}
	return nil, fuse.FOPEN_KEEP_CACHE, 0
}

func (f *file) Read(ctx context.Context, fh fusefs.FileHandle, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	if off >= int64(len(f.data)) {
		return fuse.ReadResultData(nil), 0
	}
	end := min(off+int64(len(dest)), int64(len(f.data)))
	return fuse.ReadResultData(f.data[off:end]), 0
}

func (f *file) Getxattr(ctx context.Context, attr string, dest []byte) (uint32, syscall.Errno) {
	return 0, syscall.ENODATA
}
