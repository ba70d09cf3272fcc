package mailfs

import (
	"fmt"
	"path/filepath"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fuse"
)

// With MountOptions.NoOpen, inbox/, unread/ and sentbox/ are each served
// over a FUSE connection of their own, mounted on top of the main mount's
// directory of that name. Such a connection answers the first OPEN with
// ENOSYS: the kernel (FUSE_NO_OPEN_SUPPORT, which go-fuse negotiates at
// INIT) then opens every file of that connection without asking, with no
// file handle, keeps its pages (FOPEN_KEEP_CACHE is the no-open default)
// and never sends RELEASE; the first FLUSH is answered ENOSYS too, so the
// kernel stops sending those. A warm cat of a message is then no request
// at all. The flag is per connection, which is why the boxes need their
// own: outbox/ drafts, .hubfs/ files and the thread files must be opened.

// noOpenBoxes are the box directories the no-open connections serve, in
// the order they are mounted (and unmounted in reverse).
func (r *Root) noOpenBoxes() []*mailboxDir {
	return []*mailboxDir{r.noOpenInbox, r.noOpenUnread, r.noOpenSentbox}
}

// noOpenFS is the raw filesystem of a no-open connection: the box's node
// tree, with OPEN, FLUSH and WRITE answered here. Only message files are
// opened on it (directories use OPENDIR, which it serves as usual).
type noOpenFS struct {
	fuse.RawFileSystem
}

// Open refuses what the main connection refuses (a message is read-only)
// as long as the kernel still asks; a read-only open is ENOSYS, which the
// kernel takes for "never ask again" on this connection.
func (noOpenFS) Open(cancel <-chan struct{}, in *fuse.OpenIn, out *fuse.OpenOut) fuse.Status {
	if in.Flags&(syscall.O_WRONLY|syscall.O_RDWR|syscall.O_TRUNC|syscall.O_APPEND) != 0 {
		return fuse.EACCES
	}
	return fuse.ENOSYS
}

// Flush has nothing to write back; ENOSYS makes the kernel stop sending it.
func (noOpenFS) Flush(cancel <-chan struct{}, in *fuse.FlushIn) fuse.Status {
	return fuse.ENOSYS
}

// Write is reached only once the kernel no longer asks at open, by a
// descriptor opened for writing: a message stays what the hub holds.
func (noOpenFS) Write(cancel <-chan struct{}, in *fuse.WriteIn, data []byte) (uint32, fuse.Status) {
	return 0, fuse.EACCES
}

func (noOpenFS) Writev(cancel <-chan struct{}, in *fuse.WriteIn, data [][]byte) (uint32, fuse.Status) {
	return 0, fuse.EACCES
}

// Server is a running mount: the main connection, and with NoOpen the box
// connections on top of it, which go down first (the main one is busy
// while they are mounted on it).
type Server struct {
	*fuse.Server
	done chan struct{} // closed when the main connection is unmounted
	subs []submount
}

type submount struct {
	srv  *fuse.Server
	dir  string
	done chan struct{} // closed when it is unmounted, by us or anyone
}

// Unmount takes the box connections down, then the main one. A connection
// that someone else unmounted already (umount -R MNT, hubfs umount) is
// skipped.
func (s *Server) Unmount() error {
	for i := len(s.subs) - 1; i >= 0; i-- {
		sub := s.subs[i]
		select {
		case <-sub.done:
			continue
		default:
		}
		if err := sub.srv.Unmount(); err != nil {
			return fmt.Errorf("unmount %s: %w", sub.dir, err)
		}
	}
	select {
	case <-s.done:
		return nil
	default:
	}
	return s.Server.Unmount()
}

// Wait returns once every connection of the mount has been unmounted.
func (s *Server) Wait() {
	<-s.done
	for _, sub := range s.subs {
		<-sub.done
	}
}

// mountNoOpen mounts the no-open box connections on dir's box
// directories; on failure it unmounts what it mounted.
func (s *Server) mountNoOpen(dir string, root *Root, o MountOptions) error {
	for _, d := range root.noOpenBoxes() {
		sub := filepath.Join(dir, d.name())
		so := o
		if o.Logger != nil {
			so.Logger = prefixed(o.Logger, d.name()+": ")
		}
		srv, err := serve(sub, d, func(raw fuse.RawFileSystem) fuse.RawFileSystem { return noOpenFS{raw} }, root, so)
		if err != nil {
			for i := len(s.subs) - 1; i >= 0; i-- {
				s.subs[i].srv.Unmount()
			}
			s.subs = nil
			return err
		}
		d.mounted.Store(true)
		done := make(chan struct{})
		go func() { srv.Wait(); d.mounted.Store(false); close(done) }()
		s.subs = append(s.subs, submount{srv: srv, dir: sub, done: done})
	}
	return nil
}
