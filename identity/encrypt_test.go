package identity

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"math/big"
	"testing"

	"golang.org/x/crypto/curve25519"
)

func TestEncryptRoundTrip(t *testing.T) {
	k, _ := NewPrivateKey()
	for _, n := range []int{0, 1, 16, 1000, 64 << 10} {
		pt := make([]byte, n)
		rand.Read(pt)
		ct, err := k.Public().Encrypt(pt)
		if err != nil {
			t.Fatal(err)
		}
		if len(ct) != n+Overhead {
			t.Errorf("%d bytes encrypt to %d, want %d", n, len(ct), n+Overhead)
		}
		got, err := k.Decrypt(ct)
		if err != nil {
			t.Fatalf("%d bytes: %v", n, err)
		}
		if got == nil || !bytes.Equal(got, pt) {
			t.Fatalf("%d bytes: round trip gave %d bytes", n, len(got))
		}
		again, _ := k.Public().Encrypt(pt)
		if bytes.Equal(again[:nonceSize+keySize], ct[:nonceSize+keySize]) {
			t.Fatal("nonce and ephemeral key repeated across calls")
		}
	}
	if Overhead != 72 {
		t.Fatalf("Overhead = %d, protocol.md §4 says 72", Overhead)
	}
}

func TestDecryptBadInput(t *testing.T) {
	k, _ := NewPrivateKey()
	other, _ := NewPrivateKey()
	pt := []byte("a message of some length")
	ct, _ := k.Public().Encrypt(pt)
	flip := func(i int) []byte {
		c := bytes.Clone(ct)
		c[i] ^= 0x01
		return c
	}
	cases := []struct {
		name string
		key  *PrivateKey
		ct   []byte
	}{
		{"nil", k, nil},
		{"empty", k, []byte{}},
		{"nonce only", k, ct[:nonceSize]},
		{"no tag", k, ct[:nonceSize+keySize]},
		{"one short of overhead", k, ct[:Overhead-1]},
		{"overhead only", k, ct[:Overhead]},
		{"last byte dropped", k, ct[:len(ct)-1]},
		{"byte appended", k, append(bytes.Clone(ct), 0)},
		{"nonce flipped", k, flip(0)},
		{"ephemeral key flipped", k, flip(nonceSize + 3)},
		{"tag flipped", k, flip(nonceSize + keySize)},
		{"body flipped", k, flip(len(ct) - 1)},
		{"wrong recipient", other, ct},
		{"all zero", k, make([]byte, 200)},
	}
	for _, c := range cases {
		got, err := c.key.Decrypt(c.ct)
		if !errors.Is(err, ErrDecrypt) || got != nil {
			t.Errorf("%s: Decrypt = %x, %v, want ErrDecrypt", c.name, got, err)
		}
	}
}

// TestSmallOrderU checks our small-order table against x/crypto, which
// refuses exactly the points whose X25519 output is all zero.
func TestSmallOrderU(t *testing.T) {
	scalar := make([]byte, 32)
	rand.Read(scalar)
	for _, u := range smallOrderU {
		var b [32]byte
		u.FillBytes(b[:])
		if _, err := curve25519.X25519(scalar, reverse(b[:])); err == nil {
			t.Errorf("u=%v: X25519 accepted it, so it is not small order", u)
		}
	}
}

// TestSmallOrderPointsRejected feeds every ed25519 point of order dividing 8,
// in canonical and non-canonical encodings and with either sign bit.
func TestSmallOrderPointsRejected(t *testing.T) {
	yHex := []string{
		"0100000000000000000000000000000000000000000000000000000000000000", // identity
		"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // y = -1, order 2
		"0000000000000000000000000000000000000000000000000000000000000000", // y = 0, order 4
		"c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a", // order 8
		"26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05", // order 8
		"eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // p+1: identity again
		"edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // p: y = 0 again
	}
	for _, h := range yHex {
		b, _ := hex.DecodeString(h)
		for _, sign := range []byte{0, 0x80} {
			p := bytes.Clone(b)
			p[31] |= sign
			if _, err := PublicKeyFromBytes(p); !errors.Is(err, ErrInvalidKey) {
				t.Errorf("%x accepted: %v", p, err)
			}
		}
	}
}

// TestMontgomeryMatchesX25519: for keys made from seeds, u(pub) computed by
// edwardsToMontgomery must be the X25519 public key of the derived secret,
// or recipients could not open what we seal.
func TestMontgomeryMatchesX25519(t *testing.T) {
	for range 50 {
		k, _ := NewPrivateKey()
		pubFromSecret, err := curve25519.X25519(k.x25519[:], curve25519.Basepoint)
		if err != nil {
			t.Fatal(err)
		}
		if got := k.Public().x25519; !bytes.Equal(got[:], pubFromSecret) {
			t.Fatalf("u(pub) = %x, X25519(secret, 9) = %x", got, pubFromSecret)
		}
	}
	// A non-canonical y (y+p) names the same point, and JS and Go's ed25519
	// accept it, so it converts to the same u. y=2..18 with y+p < 2^255.
	for y := int64(2); y < 19; y++ {
		canon := make([]byte, 32)
		canon[0] = byte(y)
		u1, err1 := edwardsToMontgomery([32]byte(canon))
		nc := new(big.Int).Add(fieldP, big.NewInt(y))
		var be [32]byte
		nc.FillBytes(be[:])
		u2, err2 := edwardsToMontgomery([32]byte(reverse(be[:])))
		if (err1 == nil) != (err2 == nil) || u1 != u2 {
			t.Errorf("y=%d: canonical %x %v, non-canonical %x %v", y, u1, err1, u2, err2)
		}
	}
}
