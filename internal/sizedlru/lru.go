// Package sizedlru is an LRU bounded by the bytes of its values, for the
// ciphertext (cache) and plaintext (mailbox) budgets.
package sizedlru

import (
	"github.com/hashicorp/golang-lru/v2/simplelru"
)

// LRU is bounded by the bytes of its values rather than their count: a
// mailbox of many small messages and one of a few large ones should cost the
// same memory. It is not safe for concurrent use; its owner guards it.
type LRU[V any] struct {
	max   int64
	bytes int64
	size  func(V) int64
	l     *simplelru.LRU[string, V]
}

// New makes an LRU of max bytes, size telling the bytes of a value.
func New[V any](max int64, size func(V) int64) *LRU[V] {
	c := &LRU[V]{max: max, size: size}
	// The count bound is never the binding one: bytes are.
	l, err := simplelru.NewLRU[string, V](1<<30, func(_ string, v V) { c.bytes -= c.size(v) })
	if err != nil {
		panic(err) // only for a non-positive size, which 1<<30 is not
	}
	c.l = l
	return c
}

func (c *LRU[V]) Get(k string) (V, bool) { return c.l.Get(k) }

func (c *LRU[V]) Contains(k string) bool { return c.l.Contains(k) }

// Add keeps v unless it alone is larger than the whole budget, then evicts
// the least recently used values until the budget holds.
func (c *LRU[V]) Add(k string, v V) {
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

func (c *LRU[V]) Remove(k string) { c.l.Remove(k) }

// Bytes is what the values kept weigh.
func (c *LRU[V]) Bytes() int64 { return c.bytes }
