package identity

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"math/big"
	"testing"

	"filippo.io/edwards25519"
)

// montgomeryInputs returns encodings that exercise every branch of the
// Edwards-to-Montgomery map: keys from seeds, the same keys plus each
// torsion point (mixed order: accepted, and their u is not that of the
// prime-order part), every small-order point, random bytes (about half are
// off the curve), non-canonical y, and both sign bits of each.
func montgomeryInputs(t testing.TB, n int) [][32]byte {
	t.Helper()
	var torsion []*edwards25519.Point
	for _, h := range []string{
		"0100000000000000000000000000000000000000000000000000000000000000",
		"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
		"0000000000000000000000000000000000000000000000000000000000000080",
		"0000000000000000000000000000000000000000000000000000000000000000",
		"c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
		"c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
		"26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
		"26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
	} {
		b, _ := hex.DecodeString(h)
		p, err := new(edwards25519.Point).SetBytes(b)
		if err != nil {
			t.Fatalf("torsion point %s: %v", h, err)
		}
		torsion = append(torsion, p)
	}
	var in [][32]byte
	add := func(b []byte) {
		for _, sign := range []byte{0, 0x80} {
			var e [32]byte
			copy(e[:], b)
			e[31] = e[31]&0x7f | sign
			in = append(in, e)
		}
	}
	for _, p := range torsion {
		add(p.Bytes())
	}
	for y := int64(0); y < 19; y++ { // y+p for every y with y+p < 2^255
		nc := new(big.Int).Add(fieldP, big.NewInt(y))
		var be [32]byte
		nc.FillBytes(be[:])
		add(reverse(be[:]))
	}
	for range n {
		k, _ := NewPrivateKey()
		p, _ := new(edwards25519.Point).SetBytes(k.PubKey())
		add(p.Bytes())
		for _, q := range torsion {
			add(new(edwards25519.Point).Add(p, q).Bytes())
		}
		r := make([]byte, 32)
		rand.Read(r)
		add(r)
	}
	return in
}

// TestMontgomeryMatchesReference: the field-arithmetic map agrees with the
// math/big one it replaced on every input, accepted or refused.
func TestMontgomeryMatchesReference(t *testing.T) {
	refused := 0
	for _, in := range montgomeryInputs(t, 100) {
		got, gotErr := edwardsToMontgomery(in)
		want, wantErr := bigEdwardsToMontgomery(in)
		if (gotErr == nil) != (wantErr == nil) || got != want {
			t.Fatalf("%x: got %x, %v; reference %x, %v", in, got, gotErr, want, wantErr)
		}
		if gotErr != nil {
			refused++
			if !errors.Is(gotErr, ErrInvalidKey) {
				t.Fatalf("%x: error %v is not ErrInvalidKey", in, gotErr)
			}
		}
	}
	if refused == 0 {
		t.Fatal("no input was refused: the inputs miss the refusal branches")
	}
}

func FuzzMontgomeryMatchesReference(f *testing.F) {
	for _, in := range montgomeryInputs(f, 4) {
		f.Add(in[:])
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) != 32 {
			return
		}
		got, gotErr := edwardsToMontgomery([32]byte(b))
		want, wantErr := bigEdwardsToMontgomery([32]byte(b))
		if (gotErr == nil) != (wantErr == nil) || got != want {
			t.Fatalf("%x: got %x, %v; reference %x, %v", b, got, gotErr, want, wantErr)
		}
	})
}
