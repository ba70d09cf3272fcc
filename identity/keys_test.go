package identity

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/multiformats/go-multibase"
)

func seq32() []byte {
	seed := make([]byte, 32)
	for i := range seed {
		seed[i] = byte(i)
	}
	return seed
}

// TestProtocolVector is protocol.md §4 (seed 00..1f) and the §3.4 GetToken
// challenge signature.
func TestProtocolVector(t *testing.T) {
	k, err := PrivateKeyFromSeed(seq32())
	if err != nil {
		t.Fatal(err)
	}
	const (
		pub       = "03a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8"
		pubStr    = "bbaareiadued3746occ7b24g5ddtuxqezm7snmme3uugv6ho4qzsbevjrxa"
		privStr   = "bbaareqaaaebagbafaydqqcikbmga2dqpcaireeyuculbogazdinryhi6d4b2cb576phbbpq5odorrz2lycmwpzgwgcn2kdk7dxoimzaskuy3q"
		helloSig  = "e1a7fca94a835127885b99e2eba733d6ee5bf5dc463ed8385eb6f1dcaa1117c0f151750a10f46f5b3796a91203578f702c85c67c334b5689a516284d499f710f"
		challenge = "b6c87903" // §3.4 gives only the first and last four bytes
		chalEnd   = "f7ae04"
	)
	if got := hex.EncodeToString(k.PubKey()); got != pub {
		t.Errorf("pub = %s, want %s", got, pub)
	}
	if got := k.Public().String(); got != pubStr || len(got) != 59 || !strings.HasPrefix(got, "bbaareia") {
		t.Errorf("public string = %s, want %s", got, pubStr)
	}
	if got := k.String(); got != privStr || len(got) != 110 || !strings.HasPrefix(got, "bbaareqa") {
		t.Errorf("private string = %s, want %s", got, privStr)
	}
	sig, _ := k.Sign([]byte("hello"))
	if got := hex.EncodeToString(sig); got != helloSig {
		t.Errorf("sign(hello) = %s, want %s", got, helloSig)
	}
	sig, _ = k.Sign(bytes.Repeat([]byte{7}, 32))
	if got := hex.EncodeToString(sig); !strings.HasPrefix(got, challenge) || !strings.HasSuffix(got, chalEnd) {
		t.Errorf("sign(challenge) = %s, want %s…%s", got, challenge, chalEnd)
	}
	if k.Type() != "ed25519" || k.Public().Type() != "ed25519" || !k.CanSign() {
		t.Errorf("Type = %q/%q, CanSign = %v", k.Type(), k.Public().Type(), k.CanSign())
	}
}

func TestRoundTrip(t *testing.T) {
	for range 20 {
		k, err := NewPrivateKey()
		if err != nil {
			t.Fatal(err)
		}
		k2, err := ParsePrivateKey(k.String())
		if err != nil {
			t.Fatal(err)
		}
		if k2.String() != k.String() || !bytes.Equal(k2.PrivKey(), k.PrivKey()) {
			t.Fatalf("private key did not round-trip: %s", k.String())
		}
		pk, err := ParsePublicKey(k.Public().String())
		if err != nil {
			t.Fatal(err)
		}
		if !pk.Equal(k.Public()) || pk.String() != k.Public().String() {
			t.Fatalf("public key did not round-trip: %s", pk)
		}
		raw, err := PublicKeyFromBytes(k.PubKey())
		if err != nil || !raw.Equal(pk) {
			t.Fatalf("PublicKeyFromBytes = %v, %v", raw, err)
		}
		msg := []byte("round trip")
		sig, err := k.Sign(msg)
		if err != nil {
			t.Fatal(err)
		}
		if ok, err := pk.Verify(msg, sig); !ok || err != nil {
			t.Fatalf("verify own signature = %v, %v", ok, err)
		}
		if ok, _ := pk.Verify([]byte("round trip!"), sig); ok {
			t.Fatal("signature verified for other data")
		}
	}
	a, _ := NewPrivateKey()
	b, _ := NewPrivateKey()
	if a.Public().Equal(b.Public()) || a.String() == b.String() {
		t.Fatal("two random keys are equal")
	}
}

// TestParseAnyMultibase: JS multibase.decode takes any prefix, so a key
// pasted in base58 or base64 still works, and String gives it back in the
// one canonical form.
func TestParseAnyMultibase(t *testing.T) {
	k, _ := PrivateKeyFromSeed(seq32())
	for _, enc := range []multibase.Encoding{multibase.Base58BTC, multibase.Base64, multibase.Base16, multibase.Base32Upper, multibase.Base36, multibase.Base32pad} {
		s, err := multibase.Encode(enc, k.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		got, err := ParsePrivateKey(s)
		if err != nil || got.String() != k.String() {
			t.Errorf("%c: ParsePrivateKey = %v, %v", rune(enc), got, err)
		}
		s, _ = multibase.Encode(enc, k.Public().Bytes())
		pk, err := ParsePublicKey(s)
		if err != nil || pk.String() != k.Public().String() {
			t.Errorf("%c: ParsePublicKey = %v, %v", rune(enc), pk, err)
		}
	}
}

func b32(b []byte) string { return encodeMultibase(b) }

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func TestParseBadKeys(t *testing.T) {
	k, _ := PrivateKeyFromSeed(seq32())
	seedPub := k.PrivKey()
	pub := k.PubKey()
	notOnCurve := findNotOnCurve(t)
	// Order-8 point from libsodium's blocklist, and the identity.
	order8, _ := hex.DecodeString("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a")
	identityPt := cat([]byte{1}, make([]byte, 31))

	privCases := []struct{ name, in string }{
		{"empty", ""},
		{"prefix only", "b"},
		{"unknown multibase prefix", "q" + k.String()[1:]},
		{"not base32", "b!!!!"},
		{"digits outside the base32 alphabet", "b" + strings.Repeat("1", 40)},
		{"too long to be a key", "b" + strings.Repeat("a", maxKeyString)},
		{"public key as private", k.Public().String()},
		{"type RSA", b32(cat([]byte{0x08, 0x00, 0x12, 0x40}, seedPub))},
		{"type Secp256k1", b32(cat([]byte{0x08, 0x02, 0x12, 0x40}, seedPub))},
		{"type ECDSA", b32(cat([]byte{0x08, 0x03, 0x12, 0x40}, seedPub))},
		{"type missing", b32(cat([]byte{0x12, 0x40}, seedPub))},
		{"data missing", b32([]byte{0x08, 0x01})},
		{"data 32 bytes", b32(cat([]byte{0x08, 0x01, 0x12, 0x20}, seedPub[:32]))},
		{"data 63 bytes", b32(cat([]byte{0x08, 0x01, 0x12, 0x3f}, seedPub[:63]))},
		{"data 65 bytes", b32(cat([]byte{0x08, 0x01, 0x12, 0x41}, seedPub, []byte{0}))},
		{"data 128 bytes", b32(cat([]byte{0x08, 0x01, 0x12, 0x80, 0x01}, seedPub, seedPub))},
		{"data truncated", b32(cat([]byte{0x08, 0x01, 0x12, 0x40}, seedPub[:60]))},
		{"length overflows", b32(cat([]byte{0x08, 0x01, 0x12, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, seedPub))},
		{"type as bytes", b32(cat([]byte{0x0a, 0x01, 0x01, 0x12, 0x40}, seedPub))},
		{"data as varint", b32([]byte{0x08, 0x01, 0x10, 0x40})},
		{"field number 0", b32(cat([]byte{0x00, 0x08, 0x01, 0x12, 0x40}, seedPub))},
		{"group wire type", b32(cat([]byte{0x08, 0x01, 0x12, 0x40}, seedPub, []byte{0x1b}))},
		{"truncated tag", b32(cat([]byte{0x08, 0x01, 0x12, 0x40}, seedPub, []byte{0x80}))},
		{"truncated unknown field", b32(cat([]byte{0x08, 0x01, 0x12, 0x40}, seedPub, []byte{0x19, 1, 2}))},
	}
	for _, c := range privCases {
		if got, err := ParsePrivateKey(c.in); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("ParsePrivateKey(%s) = %v, %v, want ErrInvalidKey", c.name, got, err)
		}
	}

	pubCases := []struct{ name, in string }{
		{"empty", ""},
		{"private key as public", k.String()},
		{"type RSA", b32(cat([]byte{0x08, 0x00, 0x12, 0x20}, pub))},
		{"data 31 bytes", b32(cat([]byte{0x08, 0x01, 0x12, 0x1f}, pub[:31]))},
		{"data 33 bytes", b32(cat([]byte{0x08, 0x01, 0x12, 0x21}, pub, []byte{0}))},
		{"not on the curve", b32(cat([]byte{0x08, 0x01, 0x12, 0x20}, notOnCurve))},
		{"order-8 point", b32(cat([]byte{0x08, 0x01, 0x12, 0x20}, order8))},
		{"identity point", b32(cat([]byte{0x08, 0x01, 0x12, 0x20}, identityPt))},
		{"all zero (order 4)", b32(cat([]byte{0x08, 0x01, 0x12, 0x20}, make([]byte, 32)))},
	}
	for _, c := range pubCases {
		if got, err := ParsePublicKey(c.in); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("ParsePublicKey(%s) = %v, %v, want ErrInvalidKey", c.name, got, err)
		}
	}

	// The wrong-type error must say what was wrong, for the person who
	// pasted an RSA key.
	_, err := ParsePrivateKey(b32(cat([]byte{0x08, 0x00, 0x12, 0x40}, seedPub)))
	if err == nil || !strings.Contains(err.Error(), "RSA") {
		t.Errorf("wrong-type error %q does not name the type", err)
	}

	for _, n := range []int{0, 31, 33, 64} {
		if _, err := PrivateKeyFromSeed(make([]byte, n)); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("PrivateKeyFromSeed(%d bytes) = %v, want ErrInvalidKey", n, err)
		}
		if _, err := PublicKeyFromBytes(make([]byte, n)); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("PublicKeyFromBytes(%d bytes) = %v, want ErrInvalidKey", n, err)
		}
	}
}

// TestParseLenientLikeJS covers inputs JS accepts that we accept too.
func TestParseLenientLikeJS(t *testing.T) {
	k, _ := PrivateKeyFromSeed(seq32())
	seedPub := k.PrivKey()
	other, _ := NewPrivateKey()
	cases := []struct {
		name string
		in   []byte
	}{
		{"legacy 96 bytes", cat([]byte{0x08, 0x01, 0x12, 0x60}, seedPub, k.PubKey())},
		{"legacy 96 bytes, mismatched public halves", cat([]byte{0x08, 0x01, 0x12, 0x60}, seedPub, other.PubKey())},
		{"64 bytes, public half of another key", cat([]byte{0x08, 0x01, 0x12, 0x40}, seedPub[:32], other.PubKey())},
		{"fields reversed", cat([]byte{0x12, 0x40}, seedPub, []byte{0x08, 0x01})},
		{"unknown fields", cat([]byte{0x08, 0x01, 0x18, 0x05, 0x21}, make([]byte, 8), []byte{0x2a, 0x01, 0x00, 0x35, 1, 2, 3, 4, 0x12, 0x40}, seedPub)},
		{"type repeated, last wins", cat([]byte{0x08, 0x00, 0x08, 0x01, 0x12, 0x40}, seedPub)},
		{"non-minimal varint type", cat([]byte{0x08, 0x81, 0x00, 0x12, 0x40}, seedPub)},
	}
	for _, c := range cases {
		got, err := ParsePrivateKey(b32(c.in))
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if got.String() != k.String() {
			t.Errorf("%s: parsed to %s, want the seed's key %s", c.name, got, k)
		}
	}
	// base64 with padding under the 'M' prefix, as a JS user might paste.
	s := "M" + base64.StdEncoding.EncodeToString(k.Public().Bytes())
	if pk, err := ParsePublicKey(s); err != nil || !pk.Equal(k.Public()) {
		t.Errorf("base64pad public key = %v, %v", pk, err)
	}
}

// findNotOnCurve returns an encoding that is not a curve point; about half
// of all y values are not.
func findNotOnCurve(t *testing.T) []byte {
	t.Helper()
	for i := range 256 {
		b := make([]byte, 32)
		b[0] = byte(i)
		b[1] = 0x42
		if _, err := edwardsToMontgomery([32]byte(b)); err != nil {
			return b
		}
	}
	t.Fatal("no invalid point among 256 candidates")
	return nil
}

func TestZeroValues(t *testing.T) {
	var k PrivateKey
	if k.CanSign() {
		t.Error("zero PrivateKey can sign")
	}
	if _, err := k.Sign([]byte("x")); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("zero Sign = %v", err)
	}
	if _, err := k.Decrypt(make([]byte, 100)); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("zero Decrypt = %v", err)
	}
	if _, err := k.Public().Encrypt([]byte("x")); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("zero Public().Encrypt = %v", err)
	}
	var nilKey *PrivateKey
	if nilKey.CanSign() || nilKey.Seed() != nil || nilKey.PrivKey() != nil {
		t.Error("nil PrivateKey reports a key")
	}
	var pk *PublicKey
	if _, err := pk.Encrypt(nil); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("nil Encrypt = %v", err)
	}
	if _, err := pk.Verify(nil, make([]byte, 64)); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("nil Verify = %v", err)
	}
	if !pk.Equal(nil) || pk.Equal(&PublicKey{}) {
		t.Error("nil Equal")
	}
	_ = pk.String()
	_ = k.String()
}

func TestVerifyBadSignatureLength(t *testing.T) {
	k, _ := PrivateKeyFromSeed(seq32())
	for _, n := range []int{0, 63, 65} {
		ok, err := k.Public().Verify([]byte("hello"), make([]byte, n))
		if ok || !errors.Is(err, ErrInvalidSignature) {
			t.Errorf("%d-byte signature: %v, %v", n, ok, err)
		}
	}
}

// TestAccessorsCopy: callers may scribble on returned slices without
// changing the key.
func TestAccessorsCopy(t *testing.T) {
	k, _ := PrivateKeyFromSeed(seq32())
	before := k.String()
	for _, b := range [][]byte{k.Seed(), k.PrivKey(), k.PubKey(), k.Bytes(), k.Public().PubKey(), k.Public().Bytes()} {
		for i := range b {
			b[i] ^= 0xff
		}
	}
	if k.String() != before {
		t.Fatal("mutating a returned slice changed the key")
	}
}
