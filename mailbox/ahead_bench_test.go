package mailbox_test

import (
	"bytes"
	"context"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/hubfs/hubfs/cache"
	"github.com/hubfs/hubfs/hub"
	"github.com/hubfs/hubfs/hub/hubtest"
	"github.com/hubfs/hubfs/hubd/hubdtest"
	"github.com/hubfs/hubfs/mailbox"
	"github.com/hubfs/hubfs/mailbox/hubmail"
)

// BenchmarkColdOpen: a fresh model over the mount's default stack lists
// 1,000 messages of 1 KiB and a reader then opens them one after another,
// as a first cat * does, with decrypt-ahead off and on. The floor is the
// sealer opening the same messages on one core; the ratio printed is "on"
// against floor / GOMAXPROCS, the target.
func BenchmarkColdOpen(b *testing.B) {
	const n = 1000
	h := hubdtest.Start(b)
	alice, bob := hubtest.NewUser(b, h), hubtest.NewUser(b, h)
	ctx := context.Background()
	body := bytes.Repeat([]byte("x"), 1024)
	for range n {
		if _, err := bob.Client.SendMessage(ctx, bob.Key, alice.Key.Public(), body); err != nil {
			b.Fatal(err)
		}
	}
	mbox, err := alice.Client.GetMailboxID(ctx)
	if err != nil {
		b.Fatal(err)
	}
	msgs, err := alice.Client.ListInboxMessages(ctx, hub.InboxListOptions{Limit: hub.MaxPageSize - 1, Ascending: true})
	if err != nil || len(msgs) != n {
		b.Fatalf("listing %d messages: %v", len(msgs), err)
	}

	perMsg := map[string]time.Duration{}
	var mu sync.Mutex
	record := func(b *testing.B, name string) {
		d := b.Elapsed() / time.Duration(b.N*n)
		b.ReportMetric(float64(d.Nanoseconds()), "ns/msg")
		mu.Lock()
		perMsg[name] = d
		mu.Unlock()
	}

	b.Run("floor", func(b *testing.B) {
		for b.Loop() {
			for _, m := range msgs {
				if _, err := m.Open(alice.Key); err != nil {
					b.Fatal(err)
				}
			}
		}
		record(b, "floor")
	})
	for _, workers := range []int{0, runtime.GOMAXPROCS(0)} {
		name := fmt.Sprintf("ahead=%d", workers)
		b.Run(name, func(b *testing.B) {
			cfg := mailbox.DefaultConfig()
			cfg.DecryptAhead = workers
			for b.Loop() {
				var be mailbox.Backend = cache.New(hubmail.NewBackend(alice.Client, mbox, cfg), cfg)
				m := mailbox.New(be, hubmail.NewSealer(alice.Key), cfg)
				es, err := m.List(ctx, mailbox.Inbox)
				if err != nil || len(es) != n {
					b.Fatalf("List = %d, %v", len(es), err)
				}
				for _, e := range es {
					if _, err := m.Open(ctx, mailbox.Inbox, e.ID); err != nil {
						b.Fatal(err)
					}
				}
				m.Close()
			}
			record(b, name)
		})
	}
	off, on, floor := perMsg["ahead=0"], perMsg[fmt.Sprintf("ahead=%d", runtime.GOMAXPROCS(0))], perMsg["floor"]
	if off > 0 && on > 0 && floor > 0 {
		target := floor / time.Duration(runtime.GOMAXPROCS(0))
		b.Logf("cold list+open of %d: off %v/msg, on %v/msg (%.2fx faster); crypto floor %v/msg, /%d cores %v: on is %.2fx of that",
			n, off, on, float64(off)/float64(on), floor, runtime.GOMAXPROCS(0), target, float64(on)/float64(target))
	}
}
