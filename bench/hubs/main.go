// Command hubs measures the hub as its clients see it, through gRPC to
// `hubfs serve` subprocesses of the built binary on loopback: sends per
// second with concurrent senders (SQLite, one PostgreSQL node, two
// PostgreSQL nodes on one database with the senders split between them),
// a ListInboxMessages page of 1,000 at 100,000 stored, and how long a send
// takes to reach a watching client's Listen stream, on one node and from
// one PostgreSQL node to the other. It prints one table, every figure next
// to its ratio to SQLite's. It is not part of `make test`; bench/hubs.sh
// builds hubfs, provides a PostgreSQL database and runs it.
//
// Usage: hubs -hubfs BIN -postgres URL [flags]
// URL names a fresh database the run may fill (it is not cleaned).
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hubfs/hubfs/hub"
	"github.com/hubfs/hubfs/identity"
)

type config struct {
	bin, postgres    string
	senders          int
	warmup, duration time.Duration
	stored, page     int
	lists, latency   int
}

// figures is one column of the table: one store and node count.
type figures struct {
	sendsPerSec    float64
	cpu            cpuUse          // during the counted sends
	newest, middle []time.Duration // list calls, sorted
	event, send    []time.Duration // send -> Listen event, the send alone; sorted
	first          time.Duration   // the untimed first send -> its events on both nodes
	eventNote      string
}

func main() {
	var cfg config
	flag.StringVar(&cfg.bin, "hubfs", "", "the built hubfs `BIN`ary to run as the hub")
	flag.StringVar(&cfg.postgres, "postgres", os.Getenv("HUBFS_BENCH_POSTGRES"), "PostgreSQL `URL` of a fresh database to fill")
	flag.IntVar(&cfg.senders, "senders", 16, "concurrent senders, each its own identity and client")
	flag.DurationVar(&cfg.warmup, "warmup", 2*time.Second, "sending before the count starts")
	flag.DurationVar(&cfg.duration, "duration", 10*time.Second, "sending counted")
	flag.IntVar(&cfg.stored, "stored", 100000, "messages stored in the listed inbox")
	flag.IntVar(&cfg.page, "page", 1000, "messages per listed page")
	flag.IntVar(&cfg.lists, "lists", 50, "list calls timed per kind of page")
	flag.IntVar(&cfg.latency, "latency", 100, "sends timed until their Listen event")
	timeout := flag.Duration("timeout", 10*time.Minute, "give up (and stop the hubs) after this long")
	flag.Parse()
	if cfg.bin == "" || cfg.postgres == "" {
		log.Fatal("give -hubfs BIN and -postgres URL (or HUBFS_BENCH_POSTGRES)")
	}
	log.SetFlags(log.Ltime)
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		select {
		case s := <-sigs:
			die(fmt.Errorf("%v", s))
		case <-time.After(*timeout):
			die(fmt.Errorf("the run took over -timeout %v", *timeout))
		}
	}()

	ctx := context.Background()
	dir, err := os.MkdirTemp("", "hubfs-bench-hubs-")
	if err != nil {
		die(err)
	}
	scratch.Store(&dir)

	lite, err := runSQLite(ctx, cfg, dir)
	if err != nil {
		die(err)
	}
	pg1, pg2, err := runPostgres(ctx, cfg, dir)
	if err != nil {
		die(err)
	}
	printTable(cfg, lite, pg1, pg2)
	os.RemoveAll(dir)
}

// scratch is the run's temporary directory (SQLite store, data dirs), for
// die to remove.
var scratch atomic.Pointer[string]

// die stops the hubs, removes the scratch directory and exits: no node
// and no store outlives the run.
func die(err error) {
	stopAll()
	if dir := scratch.Load(); dir != nil {
		os.RemoveAll(*dir)
	}
	log.Fatal(err)
}

func runSQLite(ctx context.Context, cfg config, dir string) (figures, error) {
	data := filepath.Join(dir, "sqlite")
	url := "sqlite:" + filepath.Join(data, "hub.db")
	log.Printf("SQLite: seeding %d messages", cfg.stored)
	lister, ids, err := seedInbox(ctx, url, cfg.stored)
	if err != nil {
		return figures{}, err
	}
	key, secret, err := createKey(cfg.bin, url)
	if err != nil {
		return figures{}, err
	}
	n1, err := startNode(cfg.bin, "sqlite", url, data)
	if err != nil {
		return figures{}, err
	}
	defer n1.stop()
	var f figures
	if err := f.measureLists(ctx, cfg, n1, key, secret, lister, ids); err != nil {
		return f, err
	}
	log.Printf("SQLite: sends")
	if f.sendsPerSec, f.cpu, err = throughput(ctx, []*node{n1}, key, secret, cfg.senders, cfg.warmup, cfg.duration); err != nil {
		return f, err
	}
	log.Printf("SQLite: latency")
	if f.event, f.send, f.first, err = latency(ctx, n1, n1, key, secret, cfg.latency); err != nil {
		return f, err
	}
	f.eventNote = "same node"
	return f, n1.stop()
}

// runPostgres measures one node, then starts a second on the same
// database (so that it takes no share of the machine before) for the
// two-node sends and the node 2 -> node 1 latency.
func runPostgres(ctx context.Context, cfg config, dir string) (one, two figures, err error) {
	data1, data2 := filepath.Join(dir, "pg1"), filepath.Join(dir, "pg2")
	log.Printf("PostgreSQL: seeding %d messages", cfg.stored)
	lister, ids, err := seedInbox(ctx, cfg.postgres, cfg.stored)
	if err != nil {
		return one, two, err
	}
	key, secret, err := createKey(cfg.bin, cfg.postgres)
	if err != nil {
		return one, two, err
	}
	n1, err := startNode(cfg.bin, "node 1", cfg.postgres, data1)
	if err != nil {
		return one, two, err
	}
	defer n1.stop()
	if err := one.measureLists(ctx, cfg, n1, key, secret, lister, ids); err != nil {
		return one, two, err
	}
	log.Printf("PostgreSQL: sends, one node")
	if one.sendsPerSec, one.cpu, err = throughput(ctx, []*node{n1}, key, secret, cfg.senders, cfg.warmup, cfg.duration); err != nil {
		return one, two, err
	}
	log.Printf("PostgreSQL: latency, one node")
	if one.event, one.send, one.first, err = latency(ctx, n1, n1, key, secret, cfg.latency); err != nil {
		return one, two, err
	}
	one.eventNote = "same node"

	n2, err := startNode(cfg.bin, "node 2", cfg.postgres, data2)
	if err != nil {
		return one, two, err
	}
	defer n2.stop()
	log.Printf("PostgreSQL: sends, two nodes")
	if two.sendsPerSec, two.cpu, err = throughput(ctx, []*node{n1, n2}, key, secret, cfg.senders, cfg.warmup, cfg.duration); err != nil {
		return one, two, err
	}
	log.Printf("PostgreSQL: latency, node 2 -> node 1")
	if two.event, two.send, two.first, err = latency(ctx, n2, n1, key, secret, cfg.latency); err != nil {
		return one, two, err
	}
	two.eventNote = "node 2 → node 1"
	if err := n2.stop(); err != nil {
		return one, two, err
	}
	return one, two, n1.stop()
}

// seedInbox makes the listing user's identity and stores its inbox.
func seedInbox(ctx context.Context, url string, n int) (*identity.PrivateKey, []string, error) {
	k, err := identity.NewPrivateKey()
	if err != nil {
		return nil, nil, err
	}
	start := time.Now()
	ids, err := seed(ctx, url, k, n)
	if err != nil {
		return nil, nil, err
	}
	log.Printf("seeded in %v", time.Since(start).Round(time.Millisecond))
	return k, ids, nil
}

// measureLists times pages of the seeded inbox through n: the newest page
// (what a client lists first) and an ascending page seeking to the middle
// of the box (a walk's page deep in the index).
func (f *figures) measureLists(ctx context.Context, cfg config, n *node, apiKey, secret string, lister *identity.PrivateKey, ids []string) error {
	log.Printf("%s: lists", n.name)
	u, err := signUp(ctx, n, apiKey, secret, lister)
	if err != nil {
		return err
	}
	defer u.c.Close()
	if f.newest, err = pages(ctx, u, hub.InboxListOptions{Limit: cfg.page}, cfg.lists); err != nil {
		return err
	}
	f.middle, err = pages(ctx, u, hub.InboxListOptions{Seek: ids[len(ids)/2], Limit: cfg.page, Ascending: true}, cfg.lists)
	return err
}
