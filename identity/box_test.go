package identity

import (
	"bytes"
	"crypto/rand"
	"errors"
	"testing"

	"golang.org/x/crypto/nacl/box"
)

// TestBoxInterop: what Encrypt seals opens with x/crypto's plain box.Open,
// and what box.GenerateKey and box.Seal make (the construction Encrypt used
// before) opens with Decrypt, so the precomputed path changed no byte of
// the format.
func TestBoxInterop(t *testing.T) {
	for _, n := range []int{0, 1, 31, 32, 33, 1000, 70000} {
		k, _ := NewPrivateKey()
		pt := make([]byte, n)
		rand.Read(pt)

		ct, err := k.Public().Encrypt(pt)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := box.Open(nil, ct[nonceSize+keySize:], (*[nonceSize]byte)(ct[:nonceSize]), (*[keySize]byte)(ct[nonceSize:nonceSize+keySize]), &k.x25519)
		if !ok || !bytes.Equal(got, pt) {
			t.Fatalf("%d bytes: box.Open of Encrypt's output: ok=%v", n, ok)
		}

		ephPub, ephPriv, _ := box.GenerateKey(rand.Reader)
		old := make([]byte, nonceSize+keySize, n+Overhead)
		rand.Read(old[:nonceSize])
		copy(old[nonceSize:], ephPub[:])
		pkU := k.Public().x25519
		old = box.Seal(old, pt, (*[nonceSize]byte)(old[:nonceSize]), &pkU, ephPriv)
		if got, err := k.Decrypt(old); err != nil || !bytes.Equal(got, pt) {
			t.Fatalf("%d bytes: Decrypt of box.Seal's output: %v", n, err)
		}
	}
}

// TestDecryptSmallOrderEphemeral: a ciphertext whose ephemeral key is a
// small-order point, boxed under the all-zero shared secret such a key
// gives, opens as it does with tweetnacl and box.Open. crypto/ecdh reports
// that case as an error; Decrypt must not turn it into ErrDecrypt.
func TestDecryptSmallOrderEphemeral(t *testing.T) {
	k, _ := NewPrivateKey()
	pt := []byte("from a sender who chose a small-order key")
	for _, u := range smallOrderU {
		var be [32]byte
		u.FillBytes(be[:])
		eph := [32]byte(reverse(be[:]))
		var zero, key [32]byte
		key = boxKey(zero[:])
		ct := make([]byte, nonceSize+keySize, len(pt)+Overhead)
		rand.Read(ct[:nonceSize])
		copy(ct[nonceSize:], eph[:])
		ct = box.SealAfterPrecomputation(ct, pt, (*[nonceSize]byte)(ct[:nonceSize]), &key)
		if _, ok := box.Open(nil, ct[nonceSize+keySize:], (*[nonceSize]byte)(ct[:nonceSize]), &eph, &k.x25519); !ok {
			t.Fatalf("u=%v: box.Open refuses it, so the test is wrong", u)
		}
		if got, err := k.Decrypt(ct); err != nil || !bytes.Equal(got, pt) {
			t.Errorf("u=%v: Decrypt = %q, %v", u, got, err)
		}
	}
}

// FuzzEncryptRoundTrip: decrypt(encrypt(x)) == x for any x, and no other
// key opens it.
func FuzzEncryptRoundTrip(f *testing.F) {
	k, _ := NewPrivateKey()
	other, _ := NewPrivateKey()
	f.Add([]byte{})
	f.Add([]byte("hello"))
	f.Add(make([]byte, 4096))
	f.Fuzz(func(t *testing.T, pt []byte) {
		ct, err := k.Public().Encrypt(pt)
		if err != nil {
			t.Fatal(err)
		}
		got, err := k.Decrypt(ct)
		if err != nil || !bytes.Equal(got, pt) {
			t.Fatalf("round trip of %d bytes: %v", len(pt), err)
		}
		if _, err := other.Decrypt(ct); !errors.Is(err, ErrDecrypt) {
			t.Fatalf("another key opened it: %v", err)
		}
	})
}
