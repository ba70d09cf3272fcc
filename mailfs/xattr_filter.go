package mailfs

import (
	"strings"
	"sync/atomic"

	"github.com/hanwen/go-fuse/v2/fuse"
)

// unservedXattr reports whether name is in a namespace hubfs stores
// nothing in: security.* (SELinux, SMACK, capabilities), system.* (POSIX
// ACLs) and trusted.*. Only user.hubfs.* names mean anything here.
func unservedXattr(name string) bool {
	return strings.HasPrefix(name, "security.") ||
		strings.HasPrefix(name, "system.") ||
		strings.HasPrefix(name, "trusted.")
}

// xattrFilter answers getxattr of the unserved namespaces with EOPNOTSUPP
// on every node, before the node tree sees the request. The kernel caches
// no getxattr answer for FUSE, so GNU ls -l asks security.selinux and
// system.posix_acl_access of every file; ENODATA ("this file has none")
// makes it ask again for the next file, EOPNOTSUPP ("this file system has
// none") makes it remember the device and stop asking. ENOSYS would be
// remembered by the kernel instead, but for every name, user.hubfs.*
// included. Everything else passes through unchanged.
type xattrFilter struct {
	fuse.RawFileSystem

	// unserved counts the requests answered here, for tests.
	unserved *atomic.Int64
}

func (f xattrFilter) GetXAttr(cancel <-chan struct{}, header *fuse.InHeader, attr string, dest []byte) (uint32, fuse.Status) {
	if unservedXattr(attr) {
		f.unserved.Add(1)
		return 0, fuse.ENOTSUP
	}
	return f.RawFileSystem.GetXAttr(cancel, header, attr, dest)
}

// SetXAttr of the unserved namespaces is EOPNOTSUPP too: go-fuse answers
// ENODATA for a node without Setxattr, and cp -p (libacl) takes that for a
// failure ("preserving permissions: No data available") where EOPNOTSUPP
// makes it fall back to fchmod, which the writable files accept.
func (f xattrFilter) SetXAttr(cancel <-chan struct{}, input *fuse.SetXAttrIn, attr string, data []byte) fuse.Status {
	if unservedXattr(attr) {
		f.unserved.Add(1)
		return fuse.ENOTSUP
	}
	return f.RawFileSystem.SetXAttr(cancel, input, attr, data)
}

// RemoveXAttr: as SetXAttr (setfacl -b, attr -r).
func (f xattrFilter) RemoveXAttr(cancel <-chan struct{}, header *fuse.InHeader, attr string) fuse.Status {
	if unservedXattr(attr) {
		f.unserved.Add(1)
		return fuse.ENOTSUP
	}
	return f.RawFileSystem.RemoveXAttr(cancel, header, attr)
}
