package fs

import (
	"context"
	"errors"
	"syscall"

	"github.com/hubfs/hubfs/hub"
	"github.com/hubfs/hubfs/identity"
)

// errnoRules is the errno table of docs/semantics.md, in order: the first
// rule whose error matches wins. Anything unmatched is EIO.
var errnoRules = []struct {
	err   error
	errno syscall.Errno
}{
	{context.Canceled, syscall.EINTR},
	{context.DeadlineExceeded, syscall.ETIMEDOUT},
	{hub.ErrBadSignature, syscall.EBADMSG},
	{hub.ErrDecrypt, syscall.EBADMSG},
	{identity.ErrDecrypt, syscall.EBADMSG},
	{identity.ErrInvalidSignature, syscall.EBADMSG},
	{hub.ErrNoMailbox, syscall.ENXIO},
	{hub.ErrTooLarge, syscall.EFBIG},
	{hub.ErrNotFound, syscall.ENOENT},
	{hub.ErrExists, syscall.EEXIST},
	{hub.ErrInvalid, syscall.EINVAL},
	{identity.ErrInvalidKey, syscall.EINVAL},
	{hub.ErrPermission, syscall.EACCES},
	{hub.ErrUnauthenticated, syscall.EACCES},
	{hub.ErrUnavailable, syscall.EHOSTDOWN},
	{errors.ErrUnsupported, syscall.ENOTSUP},
}

// toErrno maps a domain error to the errno a program sees. It is the only
// such mapping in hubfs (go-fuse's own ToErrno would turn wrapped errors into
// ENOTSUP).
func toErrno(err error) syscall.Errno {
	if err == nil {
		return 0
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return errno
	}
	for _, r := range errnoRules {
		if r.err != nil && errors.Is(err, r.err) {
			return r.errno
		}
	}
	return syscall.EIO
}

// fail maps err for the kernel and logs its cause once, so a user who saw
// "Input/output error" can find out why. Plain misses (ENOENT) are not worth
// a log line.
func (r *Root) fail(op, path string, err error) syscall.Errno {
	errno := toErrno(err)
	if errno != syscall.ENOENT {
		r.log.Warn("operation failed", "op", op, "path", path, "errno", errno.Error(), "err", err)
	}
	return errno
}
