// Command peerseed fills the mailbox that bench/peers.sh mounts with hubfs:
// n messages from the identity to itself, each body one file of -src in
// turn (so the mount serves the bytes the other systems serve). By default
// it sends them through the Go client, -senders at a time, to a hub it runs
// in this process on -data (the directory a later `hubfs mount --data`
// opens); -direct stores them in the hub's database in batches instead
// (the seed of bench/hubs: fast enough for 100,000), each of up to 1,000
// sealed bodies repeated. The identity at -identity is created if missing.
//
// Usage: peerseed -data DIR -identity FILE -src DIR -n N [-senders S] [-direct]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hubfs/hubfs/hub"
	"github.com/hubfs/hubfs/hubd"
	"github.com/hubfs/hubfs/hubd/store"
	"github.com/hubfs/hubfs/identity"
)

func main() {
	data := flag.String("data", "", "the hub's data `DIR`")
	idPath := flag.String("identity", "", "the mailbox owner's key `FILE` (created if missing)")
	src := flag.String("src", "", "message bodies: the files of `DIR`, in turn")
	n := flag.Int("n", 1000, "messages to send")
	senders := flag.Int("senders", 16, "concurrent senders (clients) without -direct")
	direct := flag.Bool("direct", false, "store the messages in the database instead of sending them")
	flag.Parse()
	if *data == "" || *idPath == "" || *src == "" {
		log.Fatal("usage: peerseed -data DIR -identity FILE -src DIR -n N [-senders S] [-direct]")
	}
	key, err := loadOrCreate(*idPath)
	if err != nil {
		log.Fatal(err)
	}
	bodies, err := readBodies(*src)
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	start := time.Now()
	if *direct {
		err = storeDirect(ctx, *data, key, bodies, *n)
	} else {
		err = send(ctx, *data, key, bodies, *n, *senders)
	}
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("seeded %d messages in %v", *n, time.Since(start).Round(time.Millisecond))
}

func loadOrCreate(path string) (*identity.PrivateKey, error) {
	k, err := identity.LoadKeyFile(path)
	if !errors.Is(err, os.ErrNotExist) {
		return k, err
	}
	if k, err = identity.NewPrivateKey(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	return k, identity.SaveKeyFile(path, k, false)
}

func readBodies(dir string) ([][]byte, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var bodies [][]byte
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		bodies = append(bodies, b)
	}
	if len(bodies) == 0 {
		return nil, fmt.Errorf("%s: no files", dir)
	}
	return bodies, nil
}

// send runs a hub on data and sends n messages to key's own mailbox
// through senders clients, each with its own connection and token.
func send(ctx context.Context, data string, key *identity.PrivateKey, bodies [][]byte, n, senders int) error {
	srv, err := hubd.New(hubd.Config{Listen: "127.0.0.1:0", DataDir: data, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return err
	}
	go srv.Serve()
	defer srv.Shutdown(ctx)
	k, err := srv.CreateKey(ctx)
	if err != nil {
		return err
	}
	var next atomic.Int64
	errs := make(chan error, senders)
	var wg sync.WaitGroup
	for range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- sendSome(ctx, srv.Addr(), k, key, bodies, n, &next)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// sendSome sends messages numbered from next until n are taken.
func sendSome(ctx context.Context, addr string, k hubd.APIKey, key *identity.PrivateKey, bodies [][]byte, n int, next *atomic.Int64) error {
	c, err := hub.Dial(ctx, addr, hub.WithKeyInfo(k.Key, k.Secret), hub.WithIdentity(key))
	if err != nil {
		return err
	}
	defer c.Close()
	if _, err := c.GetToken(ctx, key); err != nil {
		return err
	}
	if _, err := c.SetupMailbox(ctx); err != nil {
		return err
	}
	for {
		i := int(next.Add(1)) - 1
		if i >= n {
			return nil
		}
		s, err := hub.Seal(key, key.Public(), bodies[i%len(bodies)])
		if err != nil {
			return err
		}
		if _, err := c.SendSealed(ctx, s, hub.NewIdempotencyKey()); err != nil {
			return fmt.Errorf("send %d: %w", i, err)
		}
	}
}

// storeDirect stores n messages from key to itself in the hub database of data,
// 1,000 to a transaction; at most 1,000 distinct bodies are sealed (on
// every core) and repeated: sealing each would cost more than storing.
func storeDirect(ctx context.Context, data string, key *identity.PrivateKey, bodies [][]byte, n int) error {
	st, err := hubd.OpenStore(ctx, hubd.DataDirStore(data))
	if err != nil {
		return err
	}
	defer st.Close()
	sealed := make([]store.Send, min(len(bodies), 1000))
	errs := make([]error, len(sealed))
	var wg sync.WaitGroup
	for i := range sealed {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := hub.Seal(key, key.Public(), bodies[i])
			sealed[i], errs[i] = store.Send{From: s.From, To: s.To,
				ToBody: s.ToBody, ToSignature: s.ToSignature, FromBody: s.FromBody, FromSignature: s.FromSignature}, err
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	const batch = 1000
	for done := 0; done < n; {
		sends := make([]store.Send, 0, batch)
		for ; done < n && len(sends) < batch; done++ {
			sends = append(sends, sealed[done%len(sealed)])
		}
		if _, err := st.AddMessages(ctx, sends); err != nil {
			return fmt.Errorf("store: %w", err)
		}
	}
	return nil
}
