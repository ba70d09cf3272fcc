// Package wire holds the facts of the Textile Hub wire protocol that the
// client (hub) and the server (hubd) must agree on: the generated code lives
// in wire/pb, and the constants and checks that are not in any .proto file
// live here, written once so the two sides cannot drift.
package wire

import (
	"errors"
	"fmt"
	"strings"

	"github.com/oklog/ulid/v2"
)

// MailboxName is the thread DB that holds a user's inbox and sentbox on
// every Textile hub.
const MailboxName = "hubmail"

// Box names one of a mailbox's two collections. String gives the
// collection name the hub's Listen filters and events use. Hubs store the
// numbers: never renumber.
type Box int

// The collections of a mailbox.
const (
	Inbox   Box = 0
	Sentbox Box = 1
)

func (b Box) String() string {
	switch b {
	case Inbox:
		return "inbox"
	case Sentbox:
		return "sentbox"
	}
	return fmt.Sprintf("box(%d)", int(b))
}

// MaxPageSize is the largest page a Textile hub returns: it caps a list
// request's Limit at this many messages.
const MaxPageSize = 10000

// IdempotencyKeyHeader is the gRPC metadata key under which a client names
// one logical send. hubfs serve answers a repeat of the key with the first
// message's id instead of storing a copy; other Textile hubs ignore it.
const IdempotencyKeyHeader = "x-hubfs-idempotency-key"

// MaxMessageSize is the largest ciphertext per copy that a hub of ours may be
// configured to accept. Every limit below is derived from it, so that any
// message a hub stores can also be received by every client: in a list page
// (binary protobuf) and in a watch event (JSON, the body base64-encoded).
const MaxMessageSize = 64 << 20

// ReplySlack bounds what a reply carrying one message holds besides its body:
// the signature, both keys, the id, times and framing.
const ReplySlack = 64 << 10

// MaxReceiveSize is the largest reply a client must accept: one watch event
// carrying a message of MaxMessageSize, whose body JSON holds as base64.
const MaxReceiveSize = (MaxMessageSize+2)/3*4 + ReplySlack

// Sealed is a message ready to send: both encrypted copies (to the
// recipient and to the sender) and the sender's signatures over them, the
// content of a SendMessageRequest. It holds no plaintext, so it may wait on
// disk for the hub: its JSON names are the outbox queue's file format.
type Sealed struct {
	From          string `json:"from"` // the sender's public key string
	To            string `json:"to"`   // the recipient's public key string
	ToBody        []byte `json:"to_body"`
	ToSignature   []byte `json:"to_signature"`
	FromBody      []byte `json:"from_body"`
	FromSignature []byte `json:"from_signature"`
}

// CheckMessageID says what is wrong with id as a message id, or nil: a
// message id is a 26-character ULID. Hubs send it in lower case; the check
// accepts either case, as a client reading another hub's replies must.
func CheckMessageID(id string) error {
	if id == "" {
		return errors.New("empty message id")
	}
	if len(id) != ulid.EncodedSize {
		return fmt.Errorf("message id %q: want %d characters, got %d", clip(id), ulid.EncodedSize, len(id))
	}
	if _, err := ulid.ParseStrict(id); err != nil {
		return fmt.Errorf("message id %q: not a ULID: %v", id, err)
	}
	return nil
}

// ValidMessageID reports whether s is a message id in the canonical form
// hubs mint and the mount names files by: a lowercase ULID. Anything else
// names no message and needs no hub call.
func ValidMessageID(s string) bool {
	return strings.ToLower(s) == s && CheckMessageID(s) == nil
}

// clip shortens what an error message echoes of a bad input.
func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

// ErrorDomain and the Reason constants are what hubfs serve puts in a
// google.rpc.ErrorInfo detail of an error status, so that our client can
// tell apart failures that share a gRPC code (the Textile hub answers
// NotFound for an unknown API key, ResourceExhausted both for a message
// that is too large and for a full disk) without reading message text.
// Other hubs send no detail; the client then falls back on the code alone.
const (
	ErrorDomain = "hubfs"
	// ReasonBadAPIKey: the API key is unknown or revoked (code NotFound,
	// as the Textile hub answers).
	ReasonBadAPIKey = "BAD_API_KEY"
	// ReasonBadToken: the user token does not verify (signed by another
	// host key, expired, malformed); a client gets a new token and retries.
	ReasonBadToken = "BAD_TOKEN"
	// ReasonNoSpace: the hub's disk is full (code ResourceExhausted);
	// nothing of the call was stored.
	ReasonNoSpace = "NO_SPACE"
)
