package mailfs

import (
	"context"
	"errors"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hubfs/hubfs/events"
	"github.com/hubfs/hubfs/identity"
	"github.com/hubfs/hubfs/mailbox"
)

// errnoRules is the errno table of docs/semantics.md, in order: the first
// rule whose error matches wins. Anything unmatched is EIO.
var errnoRules = []struct {
	err   error
	errno syscall.Errno
}{
	{context.Canceled, syscall.EINTR},
	{context.DeadlineExceeded, syscall.ETIMEDOUT},
	{mailbox.ErrBadSignature, syscall.EBADMSG},
	{mailbox.ErrDecrypt, syscall.EBADMSG},
	{identity.ErrDecrypt, syscall.EBADMSG},
	{identity.ErrInvalidSignature, syscall.EBADMSG},
	{mailbox.ErrNoMailbox, syscall.ENXIO},
	{mailbox.ErrTooLarge, syscall.EFBIG},
	{mailbox.ErrNoSpace, syscall.ENOSPC},
	// A revoked or unknown API key is NotFound on the wire but is no
	// missing file: the docs promise EACCES, and it must be recorded.
	{mailbox.ErrBadAPIKey, syscall.EACCES},
	{mailbox.ErrNotFound, syscall.ENOENT},
	{mailbox.ErrNotEmpty, syscall.ENOTEMPTY},
	{mailbox.ErrExists, syscall.EEXIST},
	{mailbox.ErrInvalid, syscall.EINVAL},
	{identity.ErrInvalidKey, syscall.EINVAL},
	{mailbox.ErrPermission, syscall.EACCES},
	{mailbox.ErrUnauthenticated, syscall.EACCES},
	{mailbox.ErrUnavailable, syscall.EHOSTDOWN},
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
		if errors.Is(err, r.err) {
			return r.errno
		}
	}
	return syscall.EIO
}

// fail maps err for the kernel and logs its cause once, in the log and in
// .hubfs/errors, so a user who saw "Input/output error" can find out why.
// Plain misses (ENOENT) and interrupted calls are not worth a line.
func (r *Root) fail(op, path string, err error) syscall.Errno {
	errno := toErrno(err)
	if errno != syscall.ENOENT && errno != syscall.EINTR {
		r.log.Warn("operation failed", "op", op, "path", path, "errno", errno.Error(), "err", err)
		r.recordError(op, path, err)
	}
	return errno
}

// recordError keeps err for .hubfs/errors. Error texts come from the hub
// client and the crypto, which never put bodies, tokens or secrets in them.
func (r *Root) recordError(op, path string, err error) {
	if err == nil {
		return
	}
	// The code is the hub's own answer, so a user can tell "the hub said
	// NotFound" from a check made here before any call (no code).
	r.errors.Add(events.ErrorEntry{Time: time.Now().UTC(), Op: op, Path: path, Code: mailbox.Code(err), Errno: errnoName(toErrno(err)), Message: err.Error()})
}

// errnoName is the errno's C name, as a script would grep for it.
func errnoName(e syscall.Errno) string {
	if n := unix.ErrnoName(e); n != "" {
		return n
	}
	return e.Error()
}
