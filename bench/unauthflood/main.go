// Command unauthflood sends SendMessage requests without an API key to a
// hub on loopback from many connections at once, for bench/unauth-flood.sh:
// the hub's memory under such a flood should not grow with the requests.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	hubpb "github.com/hubfs/hubfs/wire/pb"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:3006", "hub `ADDR` (loopback only)")
	clients := flag.Int("clients", 256, "concurrent connections, one call in flight each")
	size := flag.Int("size", 8_000_000, "request `BYTES` (two bodies of half each)")
	dur := flag.Duration("duration", 10*time.Second, "how long to flood")
	flag.Parse()
	host, _, err := net.SplitHostPort(*addr)
	if err != nil || !net.ParseIP(host).IsLoopback() {
		log.Fatalf("unauthflood: %q is not a loopback address", *addr)
	}
	if *clients < 1 || *clients > 1024 || *size < 0 || *size > 64<<20 || *dur > 5*time.Minute {
		log.Fatal("unauthflood: clients 1..1024, size up to 64 MiB, duration up to 5 minutes")
	}

	req := &hubpb.SendMessageRequest{To: "x", ToBody: make([]byte, *size/2), FromBody: make([]byte, *size/2)}
	ctx, cancel := context.WithTimeout(context.Background(), *dur)
	defer cancel()
	var calls, refused atomic.Int64
	codes := sync.Map{}
	var wg sync.WaitGroup
	for range *clients {
		conn, err := grpc.NewClient(*addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(64<<20)))
		if err != nil {
			log.Fatal(err)
		}
		defer conn.Close()
		c := hubpb.NewAPIServiceClient(conn)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				cctx, ccancel := context.WithTimeout(ctx, 5*time.Second)
				_, err := c.SendMessage(cctx, req)
				ccancel()
				calls.Add(1)
				if err != nil {
					refused.Add(1)
					codes.Store(status.Code(err).String(), true)
				}
			}
		}()
	}
	wg.Wait()
	var seen []string
	codes.Range(func(k, _ any) bool { seen = append(seen, k.(string)); return true })
	fmt.Fprintf(os.Stdout, "calls=%d refused=%d codes=%v\n", calls.Load(), refused.Load(), seen)
}
