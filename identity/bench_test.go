package identity

import (
	"crypto/rand"
	"fmt"
	"testing"
)

var benchSizes = []int{256, 4 << 10, 1 << 20}

func benchEach(b *testing.B, fn func(b *testing.B, k *PrivateKey, data []byte)) {
	k, err := NewPrivateKey()
	if err != nil {
		b.Fatal(err)
	}
	for _, n := range benchSizes {
		data := make([]byte, n)
		rand.Read(data)
		b.Run(fmt.Sprintf("%dB", n), func(b *testing.B) {
			b.SetBytes(int64(n))
			fn(b, k, data)
		})
	}
}

func BenchmarkEncrypt(b *testing.B) {
	benchEach(b, func(b *testing.B, k *PrivateKey, data []byte) {
		pk := k.Public()
		for b.Loop() {
			if _, err := pk.Encrypt(data); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkDecrypt(b *testing.B) {
	benchEach(b, func(b *testing.B, k *PrivateKey, data []byte) {
		ct, _ := k.Public().Encrypt(data)
		for b.Loop() {
			if _, err := k.Decrypt(ct); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkSign(b *testing.B) {
	benchEach(b, func(b *testing.B, k *PrivateKey, data []byte) {
		for b.Loop() {
			if _, err := k.Sign(data); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkVerify(b *testing.B) {
	benchEach(b, func(b *testing.B, k *PrivateKey, data []byte) {
		sig, _ := k.Sign(data)
		pk := k.Public()
		for b.Loop() {
			if ok, err := pk.Verify(data, sig); !ok || err != nil {
				b.Fatal(ok, err)
			}
		}
	})
}

// BenchmarkParsePublicKey prices the curve check done once per parsed key.
func BenchmarkParsePublicKey(b *testing.B) {
	k, _ := NewPrivateKey()
	s := k.Public().String()
	for b.Loop() {
		if _, err := ParsePublicKey(s); err != nil {
			b.Fatal(err)
		}
	}
}
