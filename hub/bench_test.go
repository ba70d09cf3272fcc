package hub_test

import (
	"testing"

	"github.com/hubfs/hubfs/hub"
	"github.com/hubfs/hubfs/hubd/hubdtest"
)

// Speed figures against hubd on loopback; run with
// go test -run ^$ -bench . ./hub

func BenchmarkSendMessage1KiB(b *testing.B) {
	h := hubdtest.Start(b)
	alice, bob := newUser(b, h), newUser(b, h)
	body := make([]byte, 1024)
	ctx := testCtx(b)
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := alice.c.SendMessage(ctx, alice.key, bob.pub(), body); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkListInboxPage100(b *testing.B) {
	h := hubdtest.Start(b)
	alice, bob := newUser(b, h), newUser(b, h)
	sendN(b, alice, bob, 100)
	ctx := testCtx(b)
	for b.Loop() {
		page, err := bob.c.ListInboxMessages(ctx, hub.InboxListOptions{Limit: 100})
		if err != nil || len(page) != 100 {
			b.Fatal(len(page), err)
		}
	}
}

// BenchmarkWalkAndOpen1000 lists a 1000-message inbox to the end and opens
// every message: what `hubfs ls` plus reading everything costs.
func BenchmarkWalkAndOpen1000(b *testing.B) {
	h := hubdtest.Start(b)
	alice, bob := newUser(b, h), newUser(b, h)
	sendN(b, alice, bob, 1000)
	ctx := testCtx(b)
	for b.Loop() {
		n := 0
		for m, err := range bob.c.InboxMessages(ctx, hub.InboxListOptions{}) {
			if err != nil {
				b.Fatal(err)
			}
			if _, err := m.Open(bob.key); err != nil {
				b.Fatal(err)
			}
			n++
		}
		if n != 1000 {
			b.Fatal(n)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/1000, "µs/msg")
}

func BenchmarkGetToken(b *testing.B) {
	h := hubdtest.Start(b)
	u := newUser(b, h)
	ctx := testCtx(b)
	for b.Loop() {
		if _, err := u.c.GetToken(ctx, u.key); err != nil {
			b.Fatal(err)
		}
	}
}
