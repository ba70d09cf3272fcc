// Command stores measures the hub's stores under the Store contract, the
// layer where SQLite and PostgreSQL differ: sends per second with
// concurrent senders (SQLite, PostgreSQL through one open, PostgreSQL
// through two opens of one database as two hub nodes), and how long a send
// committed through one node takes to reach a subscriber of the other.
// It is not part of `make test`; bench/stores.sh runs it.
//
// Usage: go run ./bench/stores -postgres URL [-senders 16] [-sends 4000] [-latency 100]
// URL names a database the run may fill (a fresh one: it is not cleaned).
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hubfs/hubfs/hubd/store"
	"github.com/hubfs/hubfs/hubd/store/postgres"
	"github.com/hubfs/hubfs/hubd/store/sqlite"
)

func main() {
	pgURL := flag.String("postgres", os.Getenv("HUBFS_BENCH_POSTGRES"), "PostgreSQL `URL` of a database to fill")
	senders := flag.Int("senders", 16, "concurrent senders")
	sends := flag.Int("sends", 4000, "sends per configuration")
	latency := flag.Int("latency", 100, "sends timed from one node to the other's subscriber")
	flag.Parse()
	if *pgURL == "" {
		log.Fatal("give -postgres URL (or HUBFS_BENCH_POSTGRES)")
	}
	ctx := context.Background()

	dir, err := os.MkdirTemp("", "hubfs-bench-sqlite-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	lite, err := sqlite.Open(ctx, filepath.Join(dir, "hub.db"))
	if err != nil {
		log.Fatal(err)
	}
	report("SQLite, one process", throughput([]store.Store{lite}, *senders, *sends))
	lite.Close()

	pg1, err := postgres.Open(ctx, *pgURL)
	if err != nil {
		log.Fatal(err)
	}
	defer pg1.Close()
	pg2, err := postgres.Open(ctx, *pgURL)
	if err != nil {
		log.Fatal(err)
	}
	defer pg2.Close()
	report("PostgreSQL, one node", throughput([]store.Store{pg1}, *senders, *sends))
	report("PostgreSQL, two nodes", throughput([]store.Store{pg1, pg2}, *senders, *sends))

	med, worst := crossNode(pg2, pg1, *latency)
	fmt.Printf("| send on node 2 -> its event on node 1, %d sends | median %v | worst %v |\n", *latency, med, worst)
}

func report(what string, perSec float64) {
	fmt.Printf("| %s | %.0f sends/s |\n", what, perSec)
}

// throughput runs senders goroutines, spread over the stores, each
// sending 1 KiB bodies from its own user to one of 4 recipients (so that
// sends share mailboxes, as a busy hub's do), and returns sends per
// second.
func throughput(stores []store.Store, senders, total int) float64 {
	ctx := context.Background()
	body := make([]byte, 1024)
	var next atomic.Int64
	run := time.Now().UnixNano()
	start := time.Now()
	var wg sync.WaitGroup
	for w := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st := stores[w%len(stores)]
			from := fmt.Sprintf("bench-%d-sender-%d", run, w)
			to := fmt.Sprintf("bench-%d-recipient-%d", run, w%4)
			for next.Add(1) <= int64(total) {
				if _, err := st.AddMessage(ctx, store.Send{From: from, To: to,
					ToBody: body, ToSignature: body[:64], FromBody: body, FromSignature: body[:64]}); err != nil {
					log.Fatal(err)
				}
			}
		}()
	}
	wg.Wait()
	return float64(total) / time.Since(start).Seconds()
}

// crossNode sends n messages one at a time through from and times each
// until to's subscriber has its inbox create. HUBFS_BENCH_VERBOSE=1 prints
// every latency in send order.
func crossNode(from, to store.Store, n int) (median, worst time.Duration) {
	ctx := context.Background()
	owner := fmt.Sprintf("bench-latency-%d", time.Now().UnixNano())
	arrived := make(chan string, 16)
	defer to.Subscribe(func(e store.Event) {
		if e.Action == store.Create && e.Message.Owner == owner && e.Message.Box == store.Inbox {
			arrived <- e.Message.ID
		}
	})()
	// One untimed send first: the first read-back opens a connection in the
	// receiving node's pool and prepares its statements (about 40-230 ms
	// here), a cost of a node's start, not of a send.
	var took []time.Duration
	for i := range n + 1 {
		start := time.Now()
		sent, err := from.AddMessage(ctx, store.Send{From: owner + "-from", To: owner,
			ToBody: []byte("x"), ToSignature: []byte("s"), FromBody: []byte("x"), FromSignature: []byte("s")})
		if err != nil {
			log.Fatal(err)
		}
		for id := range arrived {
			if id == sent.ID {
				break
			}
		}
		if i > 0 {
			took = append(took, time.Since(start))
		}
	}
	if os.Getenv("HUBFS_BENCH_VERBOSE") != "" {
		fmt.Println("latencies in send order:", took)
	}
	slices.Sort(took)
	return took[len(took)/2], took[len(took)-1]
}
