package identity

import (
	"crypto/ecdh"
	"crypto/rand"
	"fmt"

	"filippo.io/edwards25519"
	"golang.org/x/crypto/nacl/box"
	"golang.org/x/crypto/salsa20/salsa"
)

const (
	nonceSize = 24
	keySize   = 32

	// Overhead is how much longer a ciphertext is than its plaintext:
	// nonce(24) + ephemeral X25519 key(32) + Poly1305 tag(16). Listings use
	// it to report a message's plaintext size without decrypting.
	Overhead = nonceSize + keySize + box.Overhead
)

// Encrypt seals plaintext so only the holder of pk's private key can read
// it, byte-compatible with JS PublicKey.encrypt: a fresh X25519 key pair and
// a random nonce per call, output nonce || ephemeral public key || box. The
// sender is anonymous; Textile authenticates bodies by signing the
// ciphertext instead.
//
// It costs two scalar multiplications, the ephemeral public key and the
// shared secret. box.GenerateKey followed by box.Seal costs three: x/crypto's
// curve25519.ScalarMult goes through crypto/ecdh.NewPrivateKey, which
// computes (and there discards) the public key of the scalar it is given.
func (pk *PublicKey) Encrypt(plaintext []byte) ([]byte, error) {
	if pk == nil || pk.x25519 == [32]byte{} {
		return nil, fmt.Errorf("%w: empty public key", ErrInvalidKey)
	}
	eph, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate ephemeral key: %w", err)
	}
	recipient, err := ecdh.X25519().NewPublicKey(pk.x25519[:])
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidKey, err)
	}
	shared, err := eph.ECDH(recipient)
	if err != nil {
		// Only a small-order recipient makes the shared secret zero, and
		// PublicKeyFromBytes refuses those.
		return nil, fmt.Errorf("%w: %w", ErrInvalidKey, err)
	}
	key := boxKey(shared)
	out := make([]byte, nonceSize+keySize, len(plaintext)+Overhead)
	if _, err := rand.Read(out[:nonceSize]); err != nil {
		return nil, fmt.Errorf("read random nonce: %w", err)
	}
	copy(out[nonceSize:], eph.PublicKey().Bytes())
	return box.SealAfterPrecomputation(out, plaintext, (*[nonceSize]byte)(out[:nonceSize]), &key), nil
}

// Decrypt opens a ciphertext made by Encrypt here or in JS. Every failure is
// ErrDecrypt: which check failed would only help an attacker. It costs one
// scalar multiplication: the identity's X25519 secret was derived when the
// key was loaded.
func (k *PrivateKey) Decrypt(ciphertext []byte) ([]byte, error) {
	if !k.CanSign() {
		return nil, fmt.Errorf("%w: empty private key", ErrInvalidKey)
	}
	if len(ciphertext) < Overhead {
		return nil, fmt.Errorf("%w: ciphertext is %d bytes, shorter than the %d-byte overhead", ErrDecrypt, len(ciphertext), Overhead)
	}
	nonce := (*[nonceSize]byte)(ciphertext[:nonceSize])
	eph, err := ecdh.X25519().NewPublicKey(ciphertext[nonceSize : nonceSize+keySize])
	if err != nil {
		return nil, ErrDecrypt
	}
	shared, err := k.ecdh.ECDH(eph)
	if err != nil {
		// A small-order ephemeral key makes the shared secret all zero.
		// It is accepted, as tweetnacl and box.Open do: it lets the
		// sender, who knows the plaintext anyway, predict the box key, and
		// nothing more.
		shared = make([]byte, keySize)
	}
	key := boxKey(shared)
	plain, ok := box.OpenAfterPrecomputation(nil, ciphertext[nonceSize+keySize:], nonce, &key)
	if !ok {
		return nil, ErrDecrypt
	}
	if plain == nil {
		// box.Open returns nil for an empty message; callers should be able
		// to tell "decrypted to nothing" from "no result" without the error.
		plain = []byte{}
	}
	return plain, nil
}

// boxKey is nacl's crypto_box_beforenm (box.Precompute after its scalar
// multiplication): HSalsa20 of the X25519 shared secret under a zero nonce.
func boxKey(shared []byte) [32]byte {
	var zeros [16]byte
	var key [32]byte
	salsa.HSalsa20(&key, &zeros, (*[32]byte)(shared), &salsa.Sigma)
	return key
}

// edwardsToMontgomery is ed2curve.convertPublicKey: u = (1+y)/(1-y). Like
// tweetnacl it ignores the sign bit (u is the same for a point and its
// negation) and reduces a non-canonical y, because the JS and Go ed25519
// verifiers accept those encodings too. Unlike ed2curve it refuses
// encodings that are not curve points and small-order points, for which
// the box key would be public.
func edwardsToMontgomery(pub [32]byte) ([32]byte, error) {
	var u [32]byte
	pub[31] &= 0x7f
	p, err := new(edwards25519.Point).SetBytes(pub[:])
	if err != nil {
		return u, fmt.Errorf("%w: public key is not a point on the curve", ErrInvalidKey)
	}
	if new(edwards25519.Point).MultByCofactor(p).Equal(edwards25519.NewIdentityPoint()) == 1 {
		return u, fmt.Errorf("%w: public key is a small-order point", ErrInvalidKey)
	}
	copy(u[:], p.BytesMontgomery())
	return u, nil
}
