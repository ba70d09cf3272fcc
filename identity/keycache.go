package identity

import (
	lru "github.com/hashicorp/golang-lru/v2"
)

// parsedKeysSize bounds the parsed-key cache. A mailbox names few distinct
// senders, and a hub few distinct users per second, so a thousand covers
// them; an entry is about 200 bytes.
const parsedKeysSize = 1024

// parsedKeys maps raw public key bytes to the key parsed from them. The
// curve check and the Montgomery conversion are two field exponentiations,
// about 6% of opening a 1 KiB message, paid again for every message from
// the same sender without it. A *PublicKey is immutable, so one value can
// be shared by every caller. Only keys that parsed are cached: a refusal
// is cheap to repeat and a stream of bad keys should not evict good ones.
var parsedKeys = mustLRU(parsedKeysSize)

func mustLRU(n int) *lru.Cache[[32]byte, *PublicKey] {
	c, err := lru.New[[32]byte, *PublicKey](n)
	if err != nil {
		panic("identity: " + err.Error()) // only for n <= 0
	}
	return c
}
