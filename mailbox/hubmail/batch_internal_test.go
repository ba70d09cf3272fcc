package hubmail

import (
	"fmt"
	"testing"

	"github.com/hubfs/hubfs/mailbox"
)

func batchOf(from, n, size int) []mailbox.Message {
	out := make([]mailbox.Message, n)
	for i := range out {
		out[i] = mailbox.Message{Entry: mailbox.Entry{ID: fmt.Sprintf("%026d", from+i)}, Body: make([]byte, size)}
	}
	return out
}

// TestPrefetchIsBounded: the buffer never holds more than its bytes or
// count; a batch too large for it keeps its nearest bodies, and a newer
// batch evicts older ones first; a body is taken once.
func TestPrefetchIsBounded(t *testing.T) {
	p := newPrefetch()
	p.add(mailbox.Inbox, batchOf(0, 40, prefetchBytes/10))
	if n, bytes := p.size(); n != 10 || bytes > prefetchBytes {
		t.Fatalf("a batch of 4x the budget: %d bodies, %d bytes; want the 10 nearest within %d", n, bytes, prefetchBytes)
	}
	if _, ok := p.take(mailbox.Inbox, fmt.Sprintf("%026d", 9)); !ok {
		t.Fatal("the 10th nearest body is not buffered")
	}
	if _, ok := p.take(mailbox.Inbox, fmt.Sprintf("%026d", 9)); ok {
		t.Fatal("a body was taken twice")
	}
	if _, ok := p.take(mailbox.Sentbox, fmt.Sprintf("%026d", 0)); ok {
		t.Fatal("the inbox's body answered for the sentbox")
	}
	p.add(mailbox.Inbox, batchOf(100, 5, prefetchBytes/10))
	if n, bytes := p.size(); n != 10 || bytes > prefetchBytes {
		t.Fatalf("after a newer batch: %d bodies, %d bytes", n, bytes)
	}
	if _, ok := p.take(mailbox.Inbox, fmt.Sprintf("%026d", 0)); ok {
		t.Error("the oldest body survived a newer batch that needed its room")
	}
	if _, ok := p.take(mailbox.Inbox, fmt.Sprintf("%026d", 104)); !ok {
		t.Error("the newer batch's farthest body is not buffered")
	}
	for i := range 50 {
		p.add(mailbox.Sentbox, batchOf(1000+i*64, 64, 10))
	}
	if n, _ := p.size(); n > prefetchCount {
		t.Errorf("%d bodies buffered, over the bound of %d", n, prefetchCount)
	}
	if len(p.order) > 2*prefetchCount+batchSize {
		t.Errorf("the eviction order holds %d keys for %d bodies", len(p.order), prefetchCount)
	}
}
