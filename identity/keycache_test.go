package identity

import (
	"errors"
	"testing"
)

// TestParsedKeyCache: a key parsed twice is served from the cache and is
// the same key; a refused key is not cached and is refused again; what the
// caller's slice holds afterwards does not reach the cached key.
func TestParsedKeyCache(t *testing.T) {
	k, _ := NewPrivateKey()
	b := k.PubKey()
	first, err := PublicKeyFromBytes(b)
	if err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0xff
	second, err := PublicKeyFromBytes(k.PubKey())
	if err != nil {
		t.Fatal(err)
	}
	if first != second {
		t.Error("second parse of the same bytes was not served from the cache")
	}
	if !second.Equal(k.Public()) || second.x25519 != k.Public().x25519 {
		t.Errorf("cached key %s differs from %s", second, k.Public())
	}

	bad := findNotOnCurve(t)
	for range 2 {
		if _, err := PublicKeyFromBytes(bad); !errors.Is(err, ErrInvalidKey) {
			t.Fatalf("off-curve key accepted: %v", err)
		}
	}
	if parsedKeys.Contains([32]byte(bad)) {
		t.Error("a refused key was cached")
	}
}
