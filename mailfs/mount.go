package mailfs

import (
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"regexp"
	"syscall"

	fusefs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// MountOptions are the kernel-facing settings of a mount.
type MountOptions struct {
	AllowOther bool // let other users in; the kernel then enforces the modes
	Debug      bool // log every FUSE request (never message contents)
	// NoOpen serves inbox/, unread/ and sentbox/ over connections of their
	// own on which the kernel opens message files without asking, so a
	// cached message is read with no request (noopen.go).
	NoOpen bool
	Logger *log.Logger
}

// Mount mounts root at dir and returns once the kernel has the mount, so
// the caller can report readiness. As root it mounts with mount(2) directly;
// otherwise (or when that fails) go-fuse falls back to fusermount3. With
// o.NoOpen the boxes get connections of their own on top (noopen.go).
func Mount(dir string, root *Root, o MountOptions) (*Server, error) {
	if err := CheckMountpoint(dir); err != nil {
		return nil, err
	}
	if o.Debug && o.Logger != nil {
		o.Logger = log.New(redactor{o.Logger.Writer()}, o.Logger.Prefix(), o.Logger.Flags())
	}
	// The node tree behind the xattr filter.
	srv, err := serve(dir, root, func(raw fuse.RawFileSystem) fuse.RawFileSystem { return raw }, root, o)
	if err != nil {
		return nil, err
	}
	dev := fuseDevice(dir)
	root.dev.Store(&dev)
	s := &Server{Server: srv, done: make(chan struct{})}
	go func() { srv.Wait(); close(s.done) }()
	if o.NoOpen {
		if err := s.mountNoOpen(dir, root, o); err != nil {
			if uerr := srv.Unmount(); uerr != nil {
				Unmount(dir, true)
			}
			return nil, err
		}
	}
	return s, nil
}

// serve mounts one connection at dir whose root node is node, its raw
// filesystem wrapped by wrap and then by the xattr filter, and serves it.
func serve(dir string, node fusefs.InodeEmbedder, wrap func(fuse.RawFileSystem) fuse.RawFileSystem, root *Root, o MountOptions) (*fuse.Server, error) {
	var extra []string
	if o.AllowOther {
		// With other users allowed in, the modes must mean something.
		extra = append(extra, "default_permissions")
	}
	opts := &fusefs.Options{
		MountOptions: fuse.MountOptions{
			AllowOther:  o.AllowOther,
			DirectMount: os.Geteuid() == 0,
			FsName:      "hubfs",
			Name:        "hubfs",
			Debug:       o.Debug,
			Logger:      o.Logger,
			Options:     extra,
			// Messages are read whole; a large read-ahead only wastes
			// requests on small files.
			MaxReadAhead: 128 << 10,
		},
		UID:    root.opts.UID,
		GID:    root.opts.GID,
		Logger: o.Logger,
	}
	raw := xattrFilter{RawFileSystem: wrap(fusefs.NewNodeFS(node, opts)), unserved: &root.unservedXattrs}
	srv, err := fuse.NewServer(raw, dir, &opts.MountOptions)
	if err != nil {
		return nil, fmt.Errorf("mount %s: %w", dir, err)
	}
	go srv.Serve()
	if err := srv.WaitMount(); err != nil {
		return nil, fmt.Errorf("mount %s: %w", dir, err)
	}
	return srv, nil
}

// prefixed is l with prefix added, so a --debug log tells the
// connections apart.
func prefixed(l *log.Logger, prefix string) *log.Logger {
	return log.New(l.Writer(), l.Prefix()+prefix, l.Flags())
}

// CheckMountpoint makes sure dir can be mounted on. A dead FUSE mount left by
// a crashed server ("transport endpoint is not connected") is unmounted; if
// that is not possible the error says what to run.
func CheckMountpoint(dir string) error {
	fi, err := os.Stat(dir)
	switch {
	case err == nil:
		if !fi.IsDir() {
			return fmt.Errorf("mount point %s is not a directory", dir)
		}
		return nil
	case errors.Is(err, syscall.ENOTCONN):
		if uerr := Unmount(dir, true); uerr != nil {
			return fmt.Errorf("%s is a dead mount left by a crashed hubfs (transport endpoint is not connected) and cleaning it up failed: %v; run `fusermount3 -uz %s` (or, as root, `umount -l %s`) and mount again", dir, uerr, dir, dir)
		}
		if _, err := os.Stat(dir); err != nil {
			return fmt.Errorf("mount point %s after cleaning up a dead mount: %w", dir, err)
		}
		return nil
	case errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("mount point %s does not exist: create it with `mkdir -p %s`", dir, dir)
	default:
		return fmt.Errorf("mount point: %w", err)
	}
}

// Unmount unmounts dir: with umount(2) as root, else with fusermount3.
// lazy detaches a mount that is busy or dead, with everything mounted under
// it. Otherwise the no-open box connections on top of it (NoOpen) go
// first: while they are mounted, dir is busy.
func Unmount(dir string, lazy bool) error {
	if !lazy {
		for _, sub := range submountsOf(dir) {
			if err := unmountOne(sub, false); err != nil {
				return err
			}
		}
	}
	return unmountOne(dir, lazy)
}

func unmountOne(dir string, lazy bool) error {
	if os.Geteuid() == 0 {
		flags := 0
		if lazy {
			flags = syscall.MNT_DETACH
		}
		if err := syscall.Unmount(dir, flags); err == nil {
			return nil
		} else if !errors.Is(err, syscall.EPERM) {
			return fmt.Errorf("umount %s: %w", dir, err)
		}
	}
	prog, err := exec.LookPath("fusermount3")
	if err != nil {
		if prog, err = exec.LookPath("fusermount"); err != nil {
			return errors.New("neither umount(2) (needs root) nor fusermount3 is available")
		}
	}
	args := []string{"-u"}
	if lazy {
		args = append(args, "-z")
	}
	out, err := exec.Command(prog, append(args, "--", dir)...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s -u %s: %v: %s", prog, dir, err, out)
	}
	return nil
}

// payloadRE matches how go-fuse's request log quotes the first bytes of a
// payload ("hello wo"... 16b): for a WRITE to the outbox that is plaintext.
var payloadRE = regexp.MustCompile(`"(?:[^"\\]|\\.)*"(?:\.\.\.)? (\d+)b`)

// redactor keeps plaintext out of --debug logs: it replaces every quoted
// payload in go-fuse's request log with its length.
type redactor struct{ w io.Writer }

func (r redactor) Write(p []byte) (int, error) {
	if _, err := r.w.Write(payloadRE.ReplaceAll(p, []byte("<${1} bytes>"))); err != nil {
		return 0, err
	}
	return len(p), nil
}
