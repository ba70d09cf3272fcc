package hubd_test

import (
	"context"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/hubfs/hubfs/hub"
	"github.com/hubfs/hubfs/hub/hubtest"
	"github.com/hubfs/hubfs/hubd"
	"github.com/hubfs/hubfs/hubd/hubdtest"
	"github.com/hubfs/hubfs/identity"
)

// countingProxy forwards loopback TCP to a hub and counts the bytes the
// hub sends back: what a listing costs on the wire, framing included.
type countingProxy struct {
	addr, key, secret string
	down              atomic.Int64
}

func (p *countingProxy) Endpoint() (string, string, string) { return p.addr, p.key, p.secret }

func startProxy(b *testing.B, h *hubdtest.Hub) *countingProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	p := &countingProxy{addr: ln.Addr().String(), key: h.Key, secret: h.Secret}
	var wg sync.WaitGroup
	b.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", h.Addr)
			if err != nil {
				c.Close()
				continue
			}
			wg.Add(2)
			go func() { defer wg.Done(); io.Copy(s, c); s.Close() }()
			go func() { defer wg.Done(); io.Copy(countingWriter{c, &p.down}, s); c.Close() }()
			b.Cleanup(func() { c.Close(); s.Close() })
		}
	}()
	return p
}

// countingWriter counts what the proxy copies back as it goes.
type countingWriter struct {
	w io.Writer
	n *atomic.Int64
}

func (c countingWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.n.Add(int64(n))
	return n, err
}

func benchColdListing(b *testing.B, n, size int) {
	h := hubdtest.Start(b)
	alice, bob := hubtest.NewUser(b, h), hubtest.NewUser(b, h)
	body, err := bob.Key.Public().Encrypt(make([]byte, size-identity.Overhead))
	if err != nil {
		b.Fatal(err)
	}
	sig, _ := alice.Key.Sign(body)
	if _, err := hubd.SeedMessages(h.Server, alice.Key.Public().String(), bob.Key.Public().String(), n, body, sig); err != nil {
		b.Fatal(err)
	}
	for _, without := range []bool{false, true} {
		name := "withBodies"
		if without {
			name = "withoutBodies"
		}
		b.Run(name, func(b *testing.B) {
			p := startProxy(b, h)
			u := hubtest.UserWithKey(b, p, bob.Key)
			ctx := context.Background()
			start := p.down.Load()
			for b.Loop() {
				got := 0
				for m, err := range u.Client.InboxMessages(ctx, hub.InboxListOptions{Ascending: true, WithoutBodies: without}) {
					if err != nil {
						b.Fatal(err)
					}
					if m.Size() != int64(size-identity.Overhead) {
						b.Fatalf("size %d", m.Size())
					}
					got++
				}
				if got != n {
					b.Fatalf("%d messages, want %d", got, n)
				}
			}
			b.ReportMetric(float64(p.down.Load()-start)/float64(b.N), "replyB/op")
		})
	}
}

// A cold listing of 10,000 messages through the Go client, with bodies
// and metadata only; compare ns/op and replyB/op (the hub's bytes on the
// wire, token and setup included):
// go test -run ^$ -bench ColdListing ./hubd
func BenchmarkColdListing10000x1KiB(b *testing.B) { benchColdListing(b, 10000, 1<<10) }
func BenchmarkColdListing10000x7KB(b *testing.B)  { benchColdListing(b, 10000, 7000) }
