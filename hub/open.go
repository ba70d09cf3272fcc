package hub

import (
	"fmt"

	"github.com/hubfs/hubfs/identity"
)

// Decrypter opens bodies encrypted to its public key; *identity.PrivateKey
// is one.
type Decrypter interface {
	Decrypt(ciphertext []byte) ([]byte, error)
}

// Open checks the sender's signature over the body and decrypts it with key
// (the box owner's: the recipient's for an inbox message, the sender's own
// for a sentbox one). It fails with ErrBadSignature when the signature does
// not verify against From, and with ErrDecrypt (which also wraps
// identity.ErrDecrypt) when the body is not a box for key. Either concerns
// this message only.
//
// The signature is checked first: it covers the ciphertext, so a forged or
// corrupted body is rejected before it is ever decrypted.
func (m UserMessage) Open(key Decrypter) ([]byte, error) {
	if key == nil {
		return nil, invalidf("open message %s: nil key", m.ID)
	}
	from, err := identity.ParsePublicKey(m.From)
	if err != nil {
		return nil, fmt.Errorf("open message %s: %w: sender key: %w", m.ID, ErrBadSignature, err)
	}
	ok, err := from.Verify(m.Body, m.Signature)
	if err != nil {
		return nil, fmt.Errorf("open message %s: %w: %w", m.ID, ErrBadSignature, err)
	}
	if !ok {
		return nil, fmt.Errorf("open message %s: %w", m.ID, ErrBadSignature)
	}
	plain, err := key.Decrypt(m.Body)
	if err != nil {
		return nil, fmt.Errorf("open message %s: %w: %w", m.ID, ErrDecrypt, err)
	}
	return plain, nil
}
