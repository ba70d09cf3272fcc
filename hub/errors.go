package hub

import (
	"context"
	"errors"
	"fmt"
	"io"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/hubfs/hubfs/wire"
)

// Domain errors. Every error this package returns for a failed call wraps at
// most one of these (or context.Canceled, context.DeadlineExceeded,
// errors.ErrUnsupported), so callers can test with errors.Is. Two
// exceptions: ErrBadAPIKey is also ErrUnauthenticated, and
// ErrUnknownOutcome comes alongside the sentinel of the failure's code.
var (
	// ErrNotFound: the thread, message or API key does not exist (NotFound).
	// A real hub also answers NotFound for an unknown API key.
	ErrNotFound = errors.New("not found")
	// ErrExists: the thread or DB already exists (AlreadyExists).
	ErrExists = errors.New("already exists")
	// ErrPermission: the caller may not touch this thread (PermissionDenied).
	ErrPermission = errors.New("permission denied")
	// ErrUnauthenticated: missing or bad API signature or token, or the hub
	// rejected a message signature (Unauthenticated).
	ErrUnauthenticated = errors.New("unauthenticated")
	// ErrInvalid: a bad argument, caught here before any call or reported by
	// the hub (InvalidArgument, OutOfRange, FailedPrecondition outside the
	// mailbox calls), or a malformed reply from the hub.
	ErrInvalid = errors.New("invalid argument")
	// ErrUnavailable: the hub cannot be reached right now (Unavailable).
	ErrUnavailable = errors.New("hub unavailable")
	// ErrTooLarge: a message or reply above a size limit (ResourceExhausted,
	// which gRPC also uses for its own message-size limits).
	ErrTooLarge = errors.New("too large")
	// ErrNoMailbox: the caller or the recipient has no mailbox yet; see
	// classify for how it is told apart from "Invalid public key".
	ErrNoMailbox = errors.New("mailbox not set up")
	// ErrBadSignature: a message's signature does not verify against its
	// sender's key (from UserMessage.Open).
	ErrBadSignature = errors.New("bad message signature")
	// ErrDecrypt: a message body cannot be decrypted with the given key (from
	// UserMessage.Open; it also wraps identity.ErrDecrypt).
	ErrDecrypt = errors.New("cannot decrypt message")
	// ErrBadAPIKey: the hub does not know the API key, or it was revoked
	// (NotFound with the reason wire.ReasonBadAPIKey, which our hub sends).
	// It is also ErrUnauthenticated, never ErrNotFound: no retry and no new
	// token help, only another key. A hub that sends no reason answers a
	// plain NotFound, which stays ErrNotFound.
	ErrBadAPIKey error = &subError{"unknown or revoked API key", ErrUnauthenticated}
	// ErrNoSpace: the hub's disk is full and nothing of the call was stored
	// (ResourceExhausted with the reason wire.ReasonNoSpace). Unlike
	// ErrTooLarge it may pass: the same call can succeed later.
	ErrNoSpace = errors.New("no space left on the hub")
	// ErrUnknownOutcome: a call that changes state failed in a way that
	// leaves unknown whether the hub carried it out (the connection broke
	// or the deadline passed after the request was sent). It is wrapped
	// alongside the code's sentinel (ErrUnavailable,
	// context.DeadlineExceeded): repeat the send under the same
	// idempotency key, never under a new one.
	ErrUnknownOutcome = errors.New("outcome unknown")
)

// subError is a sentinel that is a special case of another: errors.Is
// matches both.
type subError struct {
	msg    string
	parent error
}

func (e *subError) Error() string { return e.msg }
func (e *subError) Unwrap() error { return e.parent }

// callKind says how a call's FailedPrecondition is read. The hub answers
// FailedPrecondition both for "mail not found" (a mailbox is missing) and for
// "Invalid public key". We never classify by message text, so the call
// decides: every key this client sends is parsed and re-encoded locally first,
// so on the mailbox calls a FailedPrecondition can only mean a missing
// mailbox; elsewhere it means a bad argument.
type callKind int

const (
	plainCall   callKind = iota // FailedPrecondition -> ErrInvalid
	mailboxCall                 // FailedPrecondition -> ErrNoMailbox
	tokenCall                   // as plainCall; the token handshake, which needs no token
)

// classify turns a gRPC error into a domain error for operation op.
func classify(op string, kind callKind, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, io.EOF) {
		return fmt.Errorf("%s: %w: stream ended early", op, ErrUnavailable)
	}
	st, ok := status.FromError(err)
	if !ok {
		// Context errors from our own deadline, and errors we made ourselves.
		return fmt.Errorf("%s: %w", op, err)
	}
	var sentinel error
	reason := reasonOf(st)
	switch st.Code() {
	case codes.OK:
		return nil
	case codes.Canceled:
		sentinel = context.Canceled
	case codes.DeadlineExceeded:
		sentinel = context.DeadlineExceeded
	case codes.NotFound:
		sentinel = ErrNotFound
		if reason == wire.ReasonBadAPIKey {
			sentinel = ErrBadAPIKey
		}
	case codes.AlreadyExists:
		sentinel = ErrExists
	case codes.PermissionDenied:
		sentinel = ErrPermission
	case codes.Unauthenticated:
		sentinel = ErrUnauthenticated
	case codes.InvalidArgument, codes.OutOfRange:
		sentinel = ErrInvalid
	case codes.FailedPrecondition:
		sentinel = ErrInvalid
		if kind == mailboxCall {
			sentinel = ErrNoMailbox
		}
	case codes.Unavailable:
		sentinel = ErrUnavailable
	case codes.ResourceExhausted:
		sentinel = ErrTooLarge
		if reason == wire.ReasonNoSpace {
			sentinel = ErrNoSpace
		}
	case codes.Unimplemented:
		sentinel = errors.ErrUnsupported
	default:
		// Unknown, Internal, Aborted, DataLoss: no domain meaning.
	}
	return &statusError{op: op, code: st.Code(), sentinel: sentinel, msg: st.Message(), badToken: tokenRefused(st)}
}

// statusError is a failed call as the hub answered it. It wraps the domain
// sentinel, which is what callers test, and keeps the gRPC code, which Code
// reports, so that callers can show the hub's own words without importing
// grpc.
type statusError struct {
	op       string
	code     codes.Code
	sentinel error // nil for codes without a domain meaning
	msg      string
	badToken bool // the hub refused the call's token (see tokenRefused)
}

func (e *statusError) Error() string {
	switch {
	case e.sentinel == nil:
		return fmt.Sprintf("%s: hub error (%s): %s", e.op, e.code, e.msg)
	case e.msg == "":
		return fmt.Sprintf("%s: %v", e.op, e.sentinel)
	}
	return fmt.Sprintf("%s: %v: %s", e.op, e.sentinel, e.msg)
}

func (e *statusError) Unwrap() error { return e.sentinel }

// Code returns the name of the gRPC status code behind err ("NotFound",
// "Unavailable", ...) when err is, or wraps, the failure of a call this
// package made; "" when the hub gave no status, e.g. for a bad argument
// caught before any call or a message that does not open.
func Code(err error) string {
	var se *statusError
	if errors.As(err, &se) {
		return se.code.String()
	}
	return ""
}

// reasonOf returns the reason of the status's ErrorInfo detail from our
// hub (wire.ErrorDomain), "" when there is none: other hubs send no detail,
// and a detail of another domain is not ours to read.
func reasonOf(st *status.Status) string {
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok && info.GetDomain() == wire.ErrorDomain {
			return info.GetReason()
		}
	}
	return ""
}

// tokenRefused reports whether the hub refused the call's user token: a
// missing token or API signature (Unauthenticated), or a token it cannot
// verify (PermissionDenied with wire.ReasonBadToken, our hub's answer for a
// token signed by another host key). A new token may cure either.
func tokenRefused(st *status.Status) bool {
	switch st.Code() {
	case codes.Unauthenticated:
		return true
	case codes.PermissionDenied:
		return reasonOf(st) == wire.ReasonBadToken
	}
	return false
}

// retryable reports whether an unchanged repeat of the call may succeed.
func retryable(err error) bool {
	return status.Code(err) == codes.Unavailable
}

// permanent reports whether a domain error will not go away by reconnecting.
func permanent(err error) bool {
	for _, e := range []error{ErrUnauthenticated, ErrPermission, ErrNotFound, ErrInvalid, ErrNoMailbox, errors.ErrUnsupported} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// invalidf reports a bad argument caught before any call.
func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}
