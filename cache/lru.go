package cache

import (
	"github.com/hashicorp/golang-lru/v2/simplelru"
)

// sizedLRU is an LRU bounded by the bytes of its values rather than their
// count: a mailbox of many small messages and one of a few large ones should
// cost the same memory. It is not safe for concurrent use; Cache guards it.
type sizedLRU[V any] struct {
	max   int64
	bytes int64
	size  func(V) int64
	l     *simplelru.LRU[string, V]
}

func newSizedLRU[V any](max int64, size func(V) int64) *sizedLRU[V] {
	c := &sizedLRU[V]{max: max, size: size}
	// The count bound is never the binding one: bytes are.
	l, err := simplelru.NewLRU[string, V](1<<30, func(_ string, v V) { c.bytes -= c.size(v) })
	if err != nil {
		panic(err) // only for a non-positive size, which 1<<30 is not
	}
	c.l = l
	return c
}

func (c *sizedLRU[V]) get(k string) (V, bool) { return c.l.Get(k) }

func (c *sizedLRU[V]) contains(k string) bool { return c.l.Contains(k) }

// add keeps v unless it alone is larger than the whole budget, then evicts
// the least recently used values until the budget holds.
func (c *sizedLRU[V]) add(k string, v V) {
	n := c.size(v)
	if n > c.max {
		c.l.Remove(k)
		return
	}
	if old, ok := c.l.Peek(k); ok {
		c.bytes -= c.size(old) // Add replaces without the evict callback
	}
	c.l.Add(k, v)
	c.bytes += n
	for c.bytes > c.max {
		if _, _, ok := c.l.RemoveOldest(); !ok {
			break
		}
	}
}

func (c *sizedLRU[V]) remove(k string) { c.l.Remove(k) }
