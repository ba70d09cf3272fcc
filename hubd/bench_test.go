package hubd_test

import (
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hubfs/hubfs/hubd"
	"github.com/hubfs/hubfs/hubd/hubdtest"
	hubpb "github.com/hubfs/hubfs/wire/pb"
)

// benchHub is a hub on loopback whose Bob already has stored messages from
// Alice (both boxes), each with a 1 KiB plaintext body.
func benchHub(b *testing.B, stored int) (alice, bob *user) {
	b.Helper()
	h := hubdtest.Start(b)
	conn := dial(b, h)
	alice, bob = mailboxUser(b, h, conn), mailboxUser(b, h, conn)
	req := sendReq(b, alice, bob.id, make([]byte, 1024))
	if _, err := hubd.SeedMessages(h.Server, alice.id, bob.id, stored, req.ToBody, req.ToSignature); err != nil {
		b.Fatal(err)
	}
	return alice, bob
}

func BenchmarkSendMessage(b *testing.B) {
	for _, stored := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("stored=%d", stored), func(b *testing.B) {
			alice, bob := benchHub(b, stored)
			req := sendReq(b, alice, bob.id, make([]byte, 1024))
			ctx := alice.ctx()
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if _, err := alice.users.SendMessage(ctx, req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkListInboxMessages(b *testing.B) {
	for _, stored := range []int{1000, 10000} {
		for _, limit := range []int64{100, 500} {
			b.Run(fmt.Sprintf("stored=%d/limit=%d", stored, limit), func(b *testing.B) {
				_, bob := benchHub(b, stored)
				ctx := bob.ctx()
				// Seek to the middle, so the page is not just the index's end.
				mid, err := bob.users.ListInboxMessages(ctx, &hubpb.ListInboxMessagesRequest{Limit: int64(stored / 2)})
				if err != nil {
					b.Fatal(err)
				}
				seek := mid.Messages[len(mid.Messages)-1].Id
				b.ReportAllocs()
				b.ResetTimer()
				for b.Loop() {
					res, err := bob.users.ListInboxMessages(ctx, &hubpb.ListInboxMessagesRequest{Seek: seek, Limit: limit})
					if err != nil || len(res.Messages) != int(limit) {
						b.Fatalf("%d messages, %v", len(res.GetMessages()), err)
					}
				}
			})
		}
	}
}

// BenchmarkSendMessageParallel is 16 senders (8 per GOMAXPROCS on this
// 2-core machine; b.SetParallelism) sending 1 KiB bodies through gRPC on
// loopback, each from its own user to one of 4 recipients: group commit's
// case. It reports sends/s; -cpuprofile shows where the hub's CPU goes.
func BenchmarkSendMessageParallel(b *testing.B) {
	h := hubdtest.Start(b)
	conn := dial(b, h)
	var recipients []*user
	for range 4 {
		recipients = append(recipients, mailboxUser(b, h, conn))
	}
	var next atomic.Int64
	b.SetParallelism(max(1, 16/runtime.GOMAXPROCS(0)))
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		n := next.Add(1)
		from := mailboxUser(b, h, dial(b, h))
		req := sendReq(b, from, recipients[n%4].id, make([]byte, 1024))
		ctx := from.ctx()
		for pb.Next() {
			if _, err := from.users.SendMessage(ctx, req); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "sends/s")
}
