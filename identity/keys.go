package identity

import (
	"bytes"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha512"
	"encoding/base32"
	"encoding/binary"
	"fmt"

	"github.com/multiformats/go-multibase"
)

// Identity is what the hub client needs from a user: a public key to name
// them and a way to sign token challenges and message bodies. It mirrors the
// JS Identity interface so a key held elsewhere (an agent, hardware) can
// stand in for a *PrivateKey.
type Identity interface {
	Public() *PublicKey
	Sign(data []byte) ([]byte, error)
}

var _ Identity = (*PrivateKey)(nil)

// keyType is the only libp2p KeyType value Textile keys carry (Ed25519);
// RSA=0, Secp256k1=2 and ECDSA=3 are refused.
const (
	keyType    = 1
	keyTypeStr = "ed25519"
)

// maxKeyString bounds the text handed to the multibase decoder, whose base36
// and base58 decoders are quadratic. The largest legitimate key, a legacy
// 100-byte private protobuf in base2, is 801 characters.
const maxKeyString = 1024

// PrivateKey is a Textile user's ed25519 key. The zero value holds no key:
// CanSign reports false and Sign and Decrypt fail.
type PrivateKey struct {
	priv   ed25519.PrivateKey // seed||pub: nacl's "secret key", JS PrivateKey.privKey
	x25519 [32]byte           // clamped SHA-512(seed)[:32], computed once for Decrypt
	ecdh   *ecdh.PrivateKey   // x25519 ready for Decrypt's one scalar multiplication
	pub    *PublicKey
}

// NewPrivateKey makes a key from 32 random bytes, like JS
// PrivateKey.fromRandom.
func NewPrivateKey() (*PrivateKey, error) {
	seed := make([]byte, ed25519.SeedSize)
	if _, err := rand.Read(seed); err != nil {
		return nil, fmt.Errorf("read random seed: %w", err)
	}
	return PrivateKeyFromSeed(seed)
}

// PrivateKeyFromSeed is JS PrivateKey.fromRawEd25519Seed: the seed alone
// determines the key.
func PrivateKeyFromSeed(seed []byte) (*PrivateKey, error) {
	if len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("%w: seed is %d bytes, want %d", ErrInvalidKey, len(seed), ed25519.SeedSize)
	}
	priv := ed25519.NewKeyFromSeed(seed)
	pub, err := PublicKeyFromBytes(priv.Public().(ed25519.PublicKey))
	if err != nil {
		// A seed always gives a prime-order point; reaching here means the
		// curve arithmetic is broken, and silently returning a key that
		// cannot receive mail would be worse than failing.
		return nil, fmt.Errorf("derive public key: %w", err)
	}
	k := &PrivateKey{priv: priv, pub: pub}
	h := sha512.Sum512(seed)
	copy(k.x25519[:], h[:32])
	// ed2curve clamps explicitly; X25519 would clamp anyway, but the stored
	// value then matches the vectors' curve25519_private_hex.
	k.x25519[0] &= 248
	k.x25519[31] &= 127
	k.x25519[31] |= 64
	// NewPrivateKey computes the X25519 public key of the secret, once per
	// loaded identity. It must be the Montgomery form of the ed25519 key,
	// which is what senders encrypt to; checking costs one comparison.
	if k.ecdh, err = ecdh.X25519().NewPrivateKey(k.x25519[:]); err != nil {
		return nil, fmt.Errorf("%w: derive X25519 key: %w", ErrInvalidKey, err)
	}
	if !bytes.Equal(k.ecdh.PublicKey().Bytes(), pub.x25519[:]) {
		return nil, fmt.Errorf("%w: derived X25519 key is not the Montgomery form of the public key", ErrInvalidKey)
	}
	return k, nil
}

// ParsePrivateKey reads a JS PrivateKey.toString() string. Any multibase
// prefix is accepted, as in JS; the protobuf must be well formed with Type
// Ed25519 and Data of 64 bytes (seed||pub) or 96 bytes (legacy
// seed||pub||pub). Only the seed is used: like JS, a public half that does
// not match the seed is not an error.
func ParsePrivateKey(s string) (*PrivateKey, error) {
	data, err := decodeKeyString(s)
	if err != nil {
		return nil, err
	}
	if len(data) != ed25519.PrivateKeySize && len(data) != ed25519.PrivateKeySize+ed25519.PublicKeySize {
		return nil, fmt.Errorf("%w: private key data is %d bytes, want 64 or 96", ErrInvalidKey, len(data))
	}
	return PrivateKeyFromSeed(data[:ed25519.SeedSize])
}

// String is JS PrivateKey.toString(): 'b' + base32 of the 68-byte protobuf.
// It is the secret itself: keep it out of logs.
func (k *PrivateKey) String() string { return encodeMultibase(k.Bytes()) }

// Bytes is the libp2p protobuf 08 01 12 40 <seed||pub>, JS PrivateKey.bytes.
func (k *PrivateKey) Bytes() []byte { return marshalKey(k.priv) }

// Seed returns a copy of the 32-byte seed.
func (k *PrivateKey) Seed() []byte {
	if !k.CanSign() {
		return nil
	}
	return k.priv.Seed()
}

// PrivKey returns a copy of the 64-byte seed||pub.
func (k *PrivateKey) PrivKey() []byte {
	if !k.CanSign() {
		return nil
	}
	return append([]byte(nil), k.priv...)
}

// PubKey returns a copy of the raw 32-byte public key.
func (k *PrivateKey) PubKey() []byte { return k.Public().PubKey() }

// Public returns the matching public key. It never returns nil, so a zero
// PrivateKey yields a PublicKey that fails to encrypt instead of a panic.
func (k *PrivateKey) Public() *PublicKey {
	if k == nil || k.pub == nil {
		return &PublicKey{}
	}
	return k.pub
}

// Type is "ed25519", the only kind of key Textile has.
func (k *PrivateKey) Type() string { return keyTypeStr }

// CanSign reports whether k holds a key, as in JS.
func (k *PrivateKey) CanSign() bool {
	return k != nil && len(k.priv) == ed25519.PrivateKeySize
}

// Sign returns the 64-byte ed25519 signature of data, unhashed and
// unprefixed, which is what the hub checks for token challenges and message
// bodies.
func (k *PrivateKey) Sign(data []byte) ([]byte, error) {
	if !k.CanSign() {
		return nil, fmt.Errorf("%w: empty private key", ErrInvalidKey)
	}
	return ed25519.Sign(k.priv, data), nil
}

// PublicKey is a Textile user's public key; its String form names users on
// the wire. The zero value is not a usable key.
type PublicKey struct {
	key    [ed25519.PublicKeySize]byte
	x25519 [32]byte // Montgomery u of key; all zero when the key is unset
}

// PublicKeyFromBytes takes the raw 32-byte ed25519 key (JS PublicKey.pubKey).
// It rejects encodings that are not curve points and points of small order.
// Keys parsed recently are served from a small cache, so the result may be
// shared with other callers; a PublicKey never changes.
func PublicKeyFromBytes(b []byte) (*PublicKey, error) {
	if len(b) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("%w: public key is %d bytes, want %d", ErrInvalidKey, len(b), ed25519.PublicKeySize)
	}
	key := [ed25519.PublicKeySize]byte(b)
	if pk, ok := parsedKeys.Get(key); ok {
		return pk, nil
	}
	u, err := edwardsToMontgomery(key)
	if err != nil {
		return nil, err
	}
	pk := &PublicKey{key: key, x25519: u}
	parsedKeys.Add(key, pk)
	return pk, nil
}

// ParsePublicKey reads a JS PublicKey.toString() string (any multibase
// prefix). Data must be exactly 32 bytes: JS would keep the first 32 of a
// longer Data, but no Textile client writes one.
func ParsePublicKey(s string) (*PublicKey, error) {
	data, err := decodeKeyString(s)
	if err != nil {
		return nil, err
	}
	return PublicKeyFromBytes(data)
}

// String is JS PublicKey.toString(): 59 characters starting "bbaareia". The
// hub stores and compares these strings, so it is always this canonical form
// whatever was parsed.
func (pk *PublicKey) String() string { return encodeMultibase(pk.Bytes()) }

// Bytes is the libp2p protobuf 08 01 12 20 <pub>, JS PublicKey.bytes.
func (pk *PublicKey) Bytes() []byte {
	if pk == nil {
		return marshalKey(make([]byte, ed25519.PublicKeySize))
	}
	return marshalKey(pk.key[:])
}

// PubKey returns a copy of the raw 32-byte key.
func (pk *PublicKey) PubKey() []byte {
	if pk == nil {
		return make([]byte, ed25519.PublicKeySize)
	}
	return append([]byte(nil), pk.key[:]...)
}

// Type is "ed25519".
func (pk *PublicKey) Type() string { return keyTypeStr }

// Equal reports whether pk and o are the same key.
func (pk *PublicKey) Equal(o *PublicKey) bool {
	if pk == nil || o == nil {
		return pk == o
	}
	return pk.key == o.key
}

// Verify checks an ed25519 signature over data. A signature of the wrong
// length is an error (JS throws); a signature that does not match is
// (false, nil).
func (pk *PublicKey) Verify(data, sig []byte) (bool, error) {
	if len(sig) != ed25519.SignatureSize {
		return false, fmt.Errorf("%w: signature is %d bytes, want %d", ErrInvalidSignature, len(sig), ed25519.SignatureSize)
	}
	if pk == nil || pk.x25519 == [32]byte{} {
		return false, fmt.Errorf("%w: empty public key", ErrInvalidKey)
	}
	return ed25519.Verify(pk.key[:], data, sig), nil
}

// base32Lower is multibase 'b': RFC 4648 base32, lower case, no padding.
// Encoding with the standard library spares an error path that could never
// be taken.
var base32Lower = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

func encodeMultibase(b []byte) string { return "b" + base32Lower.EncodeToString(b) }

// marshalKey writes the libp2p PublicKey/PrivateKey protobuf in the field
// order and encoding every libp2p implementation emits, so our bytes and
// strings are identical to JS's.
func marshalKey(data []byte) []byte {
	b := make([]byte, 0, 4+len(data))
	b = append(b, 0x08, keyType, 0x12)
	b = binary.AppendUvarint(b, uint64(len(data)))
	return append(b, data...)
}

// decodeKeyString multibase-decodes s and returns the Data of the key
// protobuf inside, which must be an Ed25519 key.
func decodeKeyString(s string) ([]byte, error) {
	if len(s) > maxKeyString {
		return nil, fmt.Errorf("%w: key string is %d characters, longer than any key", ErrInvalidKey, len(s))
	}
	_, b, err := multibase.Decode(s)
	if err != nil {
		return nil, fmt.Errorf("%w: not multibase: %w", ErrInvalidKey, err)
	}
	typ, data, err := unmarshalKey(b)
	if err != nil {
		return nil, err
	}
	if typ != keyType {
		return nil, fmt.Errorf("%w: key type is %s, want Ed25519", ErrInvalidKey, keyTypeName(typ))
	}
	return data, nil
}

func keyTypeName(t uint64) string {
	switch t {
	case 0:
		return "RSA (0)"
	case 1:
		return "Ed25519 (1)"
	case 2:
		return "Secp256k1 (2)"
	case 3:
		return "ECDSA (3)"
	}
	return fmt.Sprintf("unknown (%d)", t)
}

// unmarshalKey decodes the proto2 message {required KeyType Type = 1;
// required bytes Data = 2;} with protobuf's own rules, as the JS and Go
// decoders do: fields in any order, the last occurrence wins, unknown fields
// are skipped. What it rejects, they reject too: truncation, bad wire types
// and missing required fields.
func unmarshalKey(b []byte) (typ uint64, data []byte, err error) {
	var haveType, haveData bool
	for len(b) > 0 {
		tag, n := binary.Uvarint(b)
		if n <= 0 {
			return 0, nil, fmt.Errorf("%w: truncated protobuf tag", ErrInvalidKey)
		}
		b = b[n:]
		field, wire := tag>>3, tag&7
		if field == 0 {
			return 0, nil, fmt.Errorf("%w: protobuf field number 0", ErrInvalidKey)
		}
		switch {
		case field == 1 && wire == 0:
			typ, n = binary.Uvarint(b)
			if n <= 0 {
				return 0, nil, fmt.Errorf("%w: truncated key type", ErrInvalidKey)
			}
			b, haveType = b[n:], true
		case field == 2 && wire == 2:
			data, b, err = protoBytes(b)
			if err != nil {
				return 0, nil, err
			}
			haveData = true
		case field == 1 || field == 2:
			return 0, nil, fmt.Errorf("%w: protobuf field %d has wire type %d", ErrInvalidKey, field, wire)
		default:
			if b, err = skipField(b, wire); err != nil {
				return 0, nil, err
			}
		}
	}
	if !haveType || !haveData {
		return 0, nil, fmt.Errorf("%w: protobuf lacks the Type or Data field", ErrInvalidKey)
	}
	return typ, data, nil
}

func protoBytes(b []byte) (field, rest []byte, err error) {
	l, n := binary.Uvarint(b)
	if n <= 0 || l > uint64(len(b)-n) {
		return nil, nil, fmt.Errorf("%w: truncated protobuf bytes field", ErrInvalidKey)
	}
	return b[n : n+int(l)], b[n+int(l):], nil
}

func skipField(b []byte, wire uint64) ([]byte, error) {
	switch wire {
	case 0:
		if _, n := binary.Uvarint(b); n > 0 {
			return b[n:], nil
		}
	case 1:
		if len(b) >= 8 {
			return b[8:], nil
		}
	case 2:
		if _, rest, err := protoBytes(b); err == nil {
			return rest, nil
		}
	case 5:
		if len(b) >= 4 {
			return b[4:], nil
		}
	default:
		return nil, fmt.Errorf("%w: protobuf wire type %d", ErrInvalidKey, wire)
	}
	return nil, fmt.Errorf("%w: truncated protobuf field", ErrInvalidKey)
}
