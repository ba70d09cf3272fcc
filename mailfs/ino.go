package mailfs

import (
	"hash/fnv"
	"strings"
	"syscall"

	fusefs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/oklog/ulid/v2"
)

// ino derives a stable inode number from a node's identity (its kind and
// id), so that the same message looked up twice, or through inbox/ and
// unread/, is one inode, and nothing has to remember the mapping. The top bit
// is cleared because go-fuse hands out automatic numbers from 2^63 up (the
// skeleton and drafts), and the low numbers are left to the root.
func ino(parts ...string) uint64 {
	h := fnv.New64a()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	n := h.Sum64() &^ (1 << 63)
	if n < 16 {
		n += 16
	}
	return n
}

// validMessageID reports whether name can be a message id: a lowercase ULID.
// Anything else is ENOENT without asking the hub.
func validMessageID(name string) bool {
	if len(name) != ulid.EncodedSize || strings.ToLower(name) != name {
		return false
	}
	_, err := ulid.ParseStrict(name)
	return err == nil
}

// setattrDone completes a successful SETATTR's reply with n's inode number.
// The kernel copies a SETATTR reply's attributes into its inode, i_ino
// included (fuse_change_attributes_common), and go-fuse fills the number in
// for GETATTR but not for SETATTR: without it i_ino became 0, and
// /proc/PID/fdinfo then showed "ino: 0" for every descriptor of the file,
// hiding them from the last-close check (proc.go) until the next GETATTR.
func setattrDone(n *fusefs.Inode, out *fuse.AttrOut, errno syscall.Errno) syscall.Errno {
	if errno == 0 {
		out.Ino = n.StableAttr().Ino
	}
	return errno
}
