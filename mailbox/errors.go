package mailbox

import "errors"

// Kinds of failure, for the layers above the hub client (the node tree's
// errno table) to tell apart without importing it: the hub backend
// (mailbox/hubmail) marks every error it passes up with the kinds of its
// hub.Err* sentinels and the hub's status code (Mark), keeping the error's
// text and chain, so errors.Is matches hub's sentinel and the kind alike.
var (
	ErrNotFound        = errors.New("not found")
	ErrExists          = errors.New("already exists")
	ErrPermission      = errors.New("permission denied")
	ErrUnauthenticated = errors.New("unauthenticated")
	ErrInvalid         = errors.New("invalid argument")
	ErrUnavailable     = errors.New("hub unavailable")
	ErrTooLarge        = errors.New("too large")
	ErrNoMailbox       = errors.New("mailbox not set up")
	ErrBadSignature    = errors.New("bad message signature")
	ErrDecrypt         = errors.New("cannot decrypt message")
	ErrBadAPIKey       = errors.New("unknown or revoked API key") // marked together with ErrUnauthenticated
	ErrNoSpace         = errors.New("no space left on the hub")
	ErrUnknownOutcome  = errors.New("outcome unknown")
)

// The outbox queue's own refusals of a cancel.
var (
	// ErrBusy: another process is delivering the queued item right now.
	ErrBusy = errors.New("queue: the message is being delivered right now")
	// ErrNotQueued: no such item (it may have been delivered meanwhile).
	ErrNotQueued = errors.New("queue: no such queued message")
)

// Mark returns err as it is (same text, same chain) that also matches each
// of kinds with errors.Is, and whose Code is code: the hub's status code
// name ("NotFound"), or "" when the hub gave none. A nil err stays nil.
func Mark(err error, code string, kinds ...error) error {
	if err == nil || (code == "" && len(kinds) == 0) {
		return err
	}
	return &markedError{err: err, code: code, kinds: kinds}
}

type markedError struct {
	err   error
	code  string
	kinds []error
}

func (e *markedError) Error() string { return e.err.Error() }

func (e *markedError) Unwrap() []error { return append([]error{e.err}, e.kinds...) }

// Code returns the hub's status code name behind err ("NotFound",
// "Unavailable", ...), "" when the hub gave no status (a check made before
// any call, a message that does not open).
func Code(err error) string {
	var m *markedError
	if errors.As(err, &m) {
		return m.code
	}
	return ""
}
