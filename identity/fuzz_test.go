package identity

import (
	"bytes"
	"errors"
	"testing"
)

// The fuzz targets check that hostile key strings and ciphertexts, which
// arrive from the network and from hand-edited files, are refused with our
// sentinel errors and never panic, and that whatever parses round-trips.

func FuzzParsePrivateKey(f *testing.F) {
	v := loadVectors(f)
	for _, c := range v.Cases {
		f.Add(c.Recipient.Private)
		f.Add(c.Sender.Public)
	}
	for _, kp := range v.KeyParsing {
		f.Add(kp.Input)
	}
	k, _ := PrivateKeyFromSeed(seq32())
	f.Add(b32(cat([]byte{0x12, 0x40}, k.PrivKey(), []byte{0x08, 0x01})))
	f.Add("z" + k.String())
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		k, err := ParsePrivateKey(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidKey) {
				t.Fatalf("error %v is not ErrInvalidKey", err)
			}
			return
		}
		again, err := ParsePrivateKey(k.String())
		if err != nil || again.String() != k.String() || !bytes.Equal(again.PrivKey(), k.PrivKey()) {
			t.Fatalf("canonical form %s does not round-trip: %v", k, err)
		}
		if len(k.String()) != 110 || len(k.Bytes()) != 68 {
			t.Fatalf("canonical sizes %d/%d", len(k.String()), len(k.Bytes()))
		}
	})
}

func FuzzParsePublicKey(f *testing.F) {
	v := loadVectors(f)
	for _, c := range v.Cases {
		f.Add(c.Recipient.Public)
		f.Add(c.Sender.Private)
	}
	for _, n := range v.Negative {
		if n.Public != "" {
			f.Add(n.Public)
		}
	}
	f.Add(b32(cat([]byte{0x08, 0x01, 0x12, 0x20}, make([]byte, 32))))
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		pk, err := ParsePublicKey(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidKey) {
				t.Fatalf("error %v is not ErrInvalidKey", err)
			}
			return
		}
		again, err := ParsePublicKey(pk.String())
		if err != nil || !again.Equal(pk) || again.String() != pk.String() || len(pk.String()) != 59 {
			t.Fatalf("canonical form %s does not round-trip: %v", pk, err)
		}
		// Every accepted key must be usable as a recipient.
		if _, err := pk.Encrypt([]byte("x")); err != nil {
			t.Fatalf("accepted key cannot be encrypted to: %v", err)
		}
	})
}

func FuzzDecrypt(f *testing.F) {
	v := loadVectors(f)
	for _, c := range v.Cases {
		if len(c.Ciphertext) <= 2048 {
			f.Add(c.Recipient.Private, []byte(c.Ciphertext))
		}
	}
	for _, n := range v.Negative {
		if n.Kind == "decrypt" {
			f.Add(n.RecipientPrivate, []byte(n.Ciphertext))
		}
	}
	k := v.Cases[0].Recipient.Private
	f.Add(k, []byte{})
	f.Add(k, make([]byte, Overhead))
	f.Fuzz(func(t *testing.T, keyStr string, ct []byte) {
		k, err := ParsePrivateKey(keyStr)
		if err != nil {
			return
		}
		pt, err := k.Decrypt(ct)
		if err != nil {
			if !errors.Is(err, ErrDecrypt) || pt != nil {
				t.Fatalf("Decrypt = %x, %v, want nil, ErrDecrypt", pt, err)
			}
			return
		}
		if len(pt) != len(ct)-Overhead {
			t.Fatalf("plaintext %d bytes from %d-byte ciphertext", len(pt), len(ct))
		}
	})
}
