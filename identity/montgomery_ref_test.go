package identity

import (
	"fmt"
	"math/big"
)

// The math/big Edwards-to-Montgomery map that identity shipped before it
// used filippo.io/edwards25519. It is kept here, and only here, as the
// reference the field-arithmetic version is checked against
// (TestMontgomeryMatchesReference, FuzzMontgomeryMatchesReference).

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

// bigEdwardsToMontgomery is ed2curve.convertPublicKey, u = (1+y)/(1-y), in
// math/big: it ignores the sign bit, reduces a non-canonical y, and refuses
// encodings off the curve and small-order points.
func bigEdwardsToMontgomery(pub [32]byte) ([32]byte, error) {
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
