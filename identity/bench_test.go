package identity

import (
	"crypto/rand"
	"fmt"
	"testing"
)

var benchSizes = []int{256, 1 << 10, 4 << 10, 1 << 20}

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

// BenchmarkParsePublicKey parses one sender's key again and again, as the
// mount does for a mailbox of mail from one sender.
func BenchmarkParsePublicKey(b *testing.B) {
	k, _ := NewPrivateKey()
	s := k.Public().String()
	for b.Loop() {
		if _, err := ParsePublicKey(s); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkOpenMessage prices what the mount does for each message it reads
// (hub.UserMessage.Open): parse the sender's key string, verify the
// signature over the ciphertext, decrypt it. 1 KiB is the size of the
// issue's cold `cat *` profile.
func BenchmarkOpenMessage(b *testing.B) {
	recipient, _ := NewPrivateKey()
	sender, _ := NewPrivateKey()
	from := sender.Public().String()
	pt := make([]byte, 1<<10)
	rand.Read(pt)
	ct, _ := recipient.Public().Encrypt(pt)
	sig, _ := sender.Sign(ct)
	b.SetBytes(int64(len(pt)))
	for b.Loop() {
		pk, err := ParsePublicKey(from)
		if err != nil {
			b.Fatal(err)
		}
		if ok, err := pk.Verify(ct, sig); !ok || err != nil {
			b.Fatal(ok, err)
		}
		if _, err := recipient.Decrypt(ct); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParsePrivateKey prices loading an identity, which derives its
// X25519 secret once.
func BenchmarkParsePrivateKey(b *testing.B) {
	k, _ := NewPrivateKey()
	s := k.String()
	for b.Loop() {
		if _, err := ParsePrivateKey(s); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParsePublicKeyMiss parses keys that are never in the parsed-key
// cache (twice as many distinct keys as it holds, in turn).
func BenchmarkParsePublicKeyMiss(b *testing.B) {
	keys := make([]string, 2048)
	for i := range keys {
		k, _ := NewPrivateKey()
		keys[i] = k.Public().String()
	}
	i := 0
	for b.Loop() {
		if _, err := ParsePublicKey(keys[i%len(keys)]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkEdwardsToMontgomery prices the curve check and key conversion
// alone.
func BenchmarkEdwardsToMontgomery(b *testing.B) {
	k, _ := NewPrivateKey()
	pub := [32]byte(k.PubKey())
	for b.Loop() {
		if _, err := edwardsToMontgomery(pub); err != nil {
			b.Fatal(err)
		}
	}
}
