package identity

import (
	"crypto/ecdh"
	"crypto/rand"
	"fmt"
	"math/big"

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

// Curve constants for the Edwards-to-Montgomery map. math/big keeps this
// package free of new module dependencies (filippo.io/edwards25519 is not in
// our module graph); the map runs once per parsed public key, not per
// message.
var (
	fieldP = new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 255), big.NewInt(19))
	// edwardsD is -121665/121666 mod p.
	edwardsD = mustBig("37095705934669439343138083508754565189542113879843219016388785533085940283555")
	bigOne   = big.NewInt(1)

	// smallOrderU holds the Montgomery u of every ed25519 point of order
	// dividing 8: 0 for the identity and the order-2 point, 1 for the
	// order-4 points, and the two order-8 values from RFC 7748's list.
	smallOrderU = []*big.Int{
		big.NewInt(0),
		big.NewInt(1),
		mustBig("325606250916557431795983626356110631294008115727848805560023387167927233504"),
		mustBig("39382357235489614581723060781553021112529911719440698176882885853963445705823"),
	}
)

func mustBig(s string) *big.Int {
	n, ok := new(big.Int).SetString(s, 10)
	if !ok {
		panic("identity: bad constant " + s)
	}
	return n
}

// edwardsToMontgomery is ed2curve.convertPublicKey: u = (1+y)/(1-y). Like
// tweetnacl it ignores the sign bit and reduces a non-canonical y, because
// the JS and Go ed25519 verifiers accept those encodings too. Unlike
// ed2curve it refuses small-order points, for which the box key would be
// public.
func edwardsToMontgomery(pub [32]byte) ([32]byte, error) {
	var u [32]byte
	le := pub
	le[31] &= 0x7f
	y := new(big.Int).SetBytes(reverse(le[:]))
	y.Mod(y, fieldP)

	// (x, y) is on -x² + y² = 1 + d·x²·y² iff x² = (y²-1)/(d·y²+1) has a
	// square root. The denominator is never zero because -1/d is not a
	// square mod p.
	y2 := new(big.Int).Mul(y, y)
	y2.Mod(y2, fieldP)
	num := new(big.Int).Sub(y2, bigOne)
	den := new(big.Int).Mul(edwardsD, y2)
	den.Add(den, bigOne)
	den.ModInverse(den, fieldP)
	x2 := num.Mul(num, den)
	x2.Mod(x2, fieldP)
	if big.Jacobi(x2, fieldP) < 0 {
		return u, fmt.Errorf("%w: public key is not a point on the curve", ErrInvalidKey)
	}

	oneMinusY := new(big.Int).Sub(bigOne, y)
	oneMinusY.Mod(oneMinusY, fieldP)
	m := new(big.Int)
	if oneMinusY.Sign() != 0 { // y = 1 is the identity: u stays 0, as in tweetnacl
		m.ModInverse(oneMinusY, fieldP)
		m.Mul(m, new(big.Int).Add(bigOne, y))
		m.Mod(m, fieldP)
	}
	for _, s := range smallOrderU {
		if m.Cmp(s) == 0 {
			return u, fmt.Errorf("%w: public key is a small-order point", ErrInvalidKey)
		}
	}
	m.FillBytes(u[:])
	copy(u[:], reverse(u[:]))
	return u, nil
}

func reverse(b []byte) []byte {
	r := make([]byte, len(b))
	for i, c := range b {
		r[len(b)-1-i] = c
	}
	return r
}
