// Command sendload measures a running hub's send throughput through the Go
// client: N senders, each its own identity and connection, send pre-sealed
// messages (so the client's crypto does not share the hub's cores) under
// fresh idempotency keys for a fixed time, to 4 recipients. It prints one
// line: sends/s. bench/hubd-send.sh runs it against hubs built from two
// trees, alternating.
//
// Usage: HUBFS_SECRET=... sendload -hub ADDR -key KEY [-senders 16] [-duration 10s] [-size 1024]
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hubfs/hubfs/hub"
	"github.com/hubfs/hubfs/identity"
)

func main() {
	addr := flag.String("hub", "127.0.0.1:3006", "hub `ADDR`")
	apiKey := flag.String("key", os.Getenv("HUBFS_KEY"), "API `KEY`")
	senders := flag.Int("senders", 16, "concurrent senders")
	duration := flag.Duration("duration", 10*time.Second, "how long to send")
	size := flag.Int("size", 1024, "plaintext body `BYTES`")
	flag.Parse()
	secret := os.Getenv("HUBFS_SECRET")
	ctx := context.Background()

	connect := func() (*hub.Client, *identity.PrivateKey) {
		id, err := identity.NewPrivateKey()
		if err != nil {
			log.Fatal(err)
		}
		cl, err := hub.Dial(ctx, *addr, hub.WithKeyInfo(*apiKey, secret), hub.WithIdentity(id))
		if err != nil {
			log.Fatal(err)
		}
		if _, err := cl.GetToken(ctx, id); err != nil {
			log.Fatal(err)
		}
		if _, err := cl.SetupMailbox(ctx); err != nil {
			log.Fatal(err)
		}
		return cl, id
	}
	var recipients []*identity.PublicKey
	for range 4 {
		cl, id := connect()
		cl.Close()
		recipients = append(recipients, id.Public())
	}
	type sender struct {
		cl     *hub.Client
		sealed hub.Sealed
	}
	body := make([]byte, *size)
	var ss []sender
	for w := range *senders {
		cl, id := connect()
		sealed, err := hub.Seal(id, recipients[w%len(recipients)], body)
		if err != nil {
			log.Fatal(err)
		}
		ss = append(ss, sender{cl, sealed})
	}

	var sent atomic.Int64
	deadline := time.Now().Add(*duration)
	start := time.Now()
	var wg sync.WaitGroup
	for _, s := range ss {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				if _, err := s.cl.SendSealed(ctx, s.sealed, hub.NewIdempotencyKey()); err != nil {
					log.Fatal(err)
				}
				sent.Add(1)
			}
		}()
	}
	wg.Wait()
	took := time.Since(start)
	fmt.Printf("%.0f sends/s (%d sends in %v, %d senders, %d-byte bodies)\n",
		float64(sent.Load())/took.Seconds(), sent.Load(), took.Round(time.Millisecond), *senders, *size)
}
