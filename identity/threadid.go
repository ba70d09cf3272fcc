package identity

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"

	"github.com/multiformats/go-multibase"
)

// ThreadID variants the JS client accepts (@textile/threads-id).
const (
	VariantRaw              = 0x55 // what the hub uses for mailboxes
	VariantAccessControlled = 0x70
)

// threadIDRandom is how many random bytes the hub and JS put in new IDs;
// minThreadIDRandom is the least the JS parser accepts.
const (
	threadIDRandom    = 32
	minThreadIDRandom = 16
)

// ThreadID names a thread DB such as a user's "hubmail" mailbox. Its bytes
// are uvarint(1) || uvarint(variant) || random. It is a comparable value so
// it can key maps; the zero value is "no thread" and String returns "".
type ThreadID struct {
	b string // the raw bytes, kept as given so they round-trip unchanged
}

// NewThreadID makes the kind of ID SetupMailbox returns on the real hub:
// 01 55 followed by 32 random bytes.
func NewThreadID() ThreadID {
	b := make([]byte, 2+threadIDRandom)
	b[0], b[1] = 1, VariantRaw
	// crypto/rand.Read never fails since Go 1.24: it crashes the program
	// rather than return predictable bytes.
	_, _ = rand.Read(b[2:])
	return ThreadID{b: string(b)}
}

// ThreadIDFromBytes validates b as the JS ThreadID.fromBytes does, because
// an ID JS rejects makes the JS client throw: version 1, variant Raw or
// AccessControlled, and at least 16 random bytes.
func ThreadIDFromBytes(b []byte) (ThreadID, error) {
	version, n := binary.Uvarint(b)
	if n <= 0 {
		return ThreadID{}, fmt.Errorf("%w: truncated version", ErrInvalidThreadID)
	}
	if version != 1 {
		return ThreadID{}, fmt.Errorf("%w: version %d, want 1", ErrInvalidThreadID, version)
	}
	rest := b[n:]
	variant, n := binary.Uvarint(rest)
	if n <= 0 {
		return ThreadID{}, fmt.Errorf("%w: truncated variant", ErrInvalidThreadID)
	}
	if variant != VariantRaw && variant != VariantAccessControlled {
		return ThreadID{}, fmt.Errorf("%w: unknown variant %#x", ErrInvalidThreadID, variant)
	}
	if r := len(rest) - n; r < minThreadIDRandom {
		return ThreadID{}, fmt.Errorf("%w: random part is %d bytes, want at least %d", ErrInvalidThreadID, r, minThreadIDRandom)
	}
	return ThreadID{b: string(b)}, nil
}

// ParseThreadID reads the string form, accepting any multibase prefix as
// JS ThreadID.fromString does.
func ParseThreadID(s string) (ThreadID, error) {
	if len(s) > maxKeyString {
		return ThreadID{}, fmt.Errorf("%w: %d characters", ErrInvalidThreadID, len(s))
	}
	_, b, err := multibase.Decode(s)
	if err != nil {
		return ThreadID{}, fmt.Errorf("%w: not multibase: %w", ErrInvalidThreadID, err)
	}
	return ThreadIDFromBytes(b)
}

// String is multibase base32, e.g. "bafk…" for a Raw ID: the form of the
// x-textile-thread header and of JS ThreadID.toString().
func (id ThreadID) String() string {
	if id.b == "" {
		return ""
	}
	return encodeMultibase([]byte(id.b))
}

// Bytes returns a copy of the raw ID, the form GetThreadResponse.id and
// ListenRequest.dbID carry.
func (id ThreadID) Bytes() []byte {
	if id.b == "" {
		return nil
	}
	return []byte(id.b)
}

// Variant returns VariantRaw or VariantAccessControlled, or 0 for the zero
// ID.
func (id ThreadID) Variant() uint64 {
	if id.b == "" {
		return 0
	}
	_, n := binary.Uvarint([]byte(id.b))
	v, _ := binary.Uvarint([]byte(id.b[n:]))
	return v
}

// IsZero reports whether id is the zero ThreadID.
func (id ThreadID) IsZero() bool { return id.b == "" }
