package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hubfs/hubfs/hub"
	"github.com/hubfs/hubfs/hubd"
	"github.com/hubfs/hubfs/hubd/store"
	"github.com/hubfs/hubfs/identity"
)

// bodySize is the plaintext of every message sent or seeded.
const bodySize = 1024

// user is an identity signed up on one node: its own client, a token and
// a mailbox.
type user struct {
	key     *identity.PrivateKey
	c       *hub.Client
	mailbox identity.ThreadID
}

// signUp dials n as key (a new identity when nil) with the run's API key,
// gets a token and sets up the mailbox.
func signUp(ctx context.Context, n *node, apiKey, secret string, key *identity.PrivateKey) (*user, error) {
	if key == nil {
		var err error
		if key, err = identity.NewPrivateKey(); err != nil {
			return nil, err
		}
	}
	c, err := hub.Dial(ctx, n.addr, hub.WithKeyInfo(apiKey, secret), hub.WithIdentity(key))
	if err != nil {
		return nil, err
	}
	if _, err := c.GetToken(ctx, key); err != nil {
		c.Close()
		return nil, fmt.Errorf("%s: get token: %w", n.name, err)
	}
	mb, err := c.SetupMailbox(ctx)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("%s: setup mailbox: %w", n.name, err)
	}
	return &user{key: key, c: c, mailbox: mb}, nil
}

func closeAll(users []*user) {
	for _, u := range users {
		u.c.Close()
	}
}

// seed stores n messages of bodySize plaintext to owner's inbox directly
// in the store at url, in batches of one transaction each, from 100
// senders in turn, before any node serves it. Each sender's body is one
// real sealed message repeated: what a list returns is as big as real mail.
// It returns the ids in send order.
func seed(ctx context.Context, url string, owner *identity.PrivateKey, n int) ([]string, error) {
	st, err := hubd.OpenStore(ctx, url)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	var sealed []store.Send // one per sender: sealing each would cost more than storing
	for range 100 {
		k, err := identity.NewPrivateKey()
		if err != nil {
			return nil, err
		}
		s, err := hub.Seal(k, owner.Public(), make([]byte, bodySize))
		if err != nil {
			return nil, err
		}
		sealed = append(sealed, store.Send{From: s.From, To: s.To,
			ToBody: s.ToBody, ToSignature: s.ToSignature, FromBody: s.FromBody, FromSignature: s.FromSignature})
	}
	const batch = 1000
	ids := make([]string, 0, n)
	for len(ids) < n {
		sends := make([]store.Send, 0, batch)
		for i := len(ids); i < n && len(sends) < batch; i++ {
			sends = append(sends, sealed[i%len(sealed)])
		}
		sent, err := st.AddMessages(ctx, sends)
		if err != nil {
			return nil, fmt.Errorf("seed: %w", err)
		}
		for _, s := range sent {
			ids = append(ids, s.ID)
		}
	}
	return ids, nil
}

// pages lists one page of limit messages n times after one untimed call
// and returns each call's time, sorted.
func pages(ctx context.Context, u *user, opts hub.InboxListOptions, n int) ([]time.Duration, error) {
	var took []time.Duration
	for i := range n + 1 {
		start := time.Now()
		page, err := u.c.ListInboxMessages(ctx, opts)
		if err != nil {
			return nil, fmt.Errorf("list inbox: %w", err)
		}
		if len(page) != opts.Limit {
			return nil, fmt.Errorf("list inbox: a page of %d, want %d", len(page), opts.Limit)
		}
		if i > 0 {
			took = append(took, time.Since(start))
		}
	}
	slices.Sort(took)
	return took, nil
}

// throughput signs up senders users, sender i on nodes[i%len(nodes)], each
// sending 1 KiB bodies with SendMessage as fast as its round trips allow
// to one of 4 recipients (so that sends share mailboxes, as a busy hub's
// do). After warmup it counts the sends acknowledged for d, and returns
// sends per second and the CPU used meanwhile.
func throughput(ctx context.Context, nodes []*node, apiKey, secret string, senders int, warmup, d time.Duration) (float64, cpuUse, error) {
	var recipients, from []*user
	defer func() { closeAll(recipients); closeAll(from) }()
	for i := range 4 {
		u, err := signUp(ctx, nodes[i%len(nodes)], apiKey, secret, nil)
		if err != nil {
			return 0, cpuUse{}, err
		}
		recipients = append(recipients, u)
	}
	for i := range senders {
		u, err := signUp(ctx, nodes[i%len(nodes)], apiKey, secret, nil)
		if err != nil {
			return 0, cpuUse{}, err
		}
		from = append(from, u)
	}

	var acked atomic.Int64
	var stop atomic.Bool
	errs := make(chan error, senders)
	var wg sync.WaitGroup
	body := make([]byte, bodySize)
	for i, s := range from {
		wg.Add(1)
		go func() {
			defer wg.Done()
			to := recipients[i%len(recipients)].key.Public()
			for !stop.Load() {
				if _, err := s.c.SendMessage(ctx, s.key, to, body); err != nil {
					errs <- err
					return
				}
				acked.Add(1)
			}
		}()
	}
	wait := func(d time.Duration) error {
		select {
		case <-time.After(d):
			return nil
		case err := <-errs:
			return err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	err := wait(warmup)
	start, before := time.Now(), acked.Load()
	cpu0, cerr := cpuSample(nodes)
	if err == nil {
		err = wait(d)
	}
	perSec := float64(acked.Load()-before) / time.Since(start).Seconds()
	cpu1, cerr1 := cpuSample(nodes)
	cpu := cpu1.minus(cpu0)
	if err == nil {
		err = errors.Join(cerr, cerr1)
	}
	stop.Store(true)
	wg.Wait()
	if err == nil {
		select {
		case err = <-errs:
		default:
		}
	}
	if err != nil {
		return 0, cpuUse{}, fmt.Errorf("send: %w", err)
	}
	return perSec, cpu, nil
}

// latency times n sends, one at a time, from a sender on via to a
// recipient watching its inbox on at, each from just before SendMessage
// until the recipient's watch has its Create event (so the send's own
// round trip is in). It returns the times sorted, the sends' own round
// trips sorted, and the time of a first, untimed send, which also waits
// for the sender's own sentbox event on via: each node hears every
// commit in commit order, so that send's events come once both nodes have
// caught up with whatever load came before.
func latency(ctx context.Context, via, at *node, apiKey, secret string, n int) (event, send []time.Duration, first time.Duration, err error) {
	to, err := signUp(ctx, at, apiKey, secret, nil)
	if err != nil {
		return nil, nil, 0, err
	}
	defer to.c.Close()
	from, err := signUp(ctx, via, apiKey, secret, nil)
	if err != nil {
		return nil, nil, 0, err
	}
	defer from.c.Close()

	arrived := make(chan string, 64)
	w, err := to.c.WatchInbox(ctx, to.mailbox, func(e hub.MailboxEvent) {
		if e.Type == hub.MailboxEventCreate {
			arrived <- e.MessageID
		}
	})
	if err != nil {
		return nil, nil, 0, fmt.Errorf("watch inbox: %w", err)
	}
	defer w.Close()
	echoed := make(chan string, 64)
	echo, err := from.c.WatchSentbox(ctx, from.mailbox, func(e hub.MailboxEvent) {
		if e.Type == hub.MailboxEventCreate {
			echoed <- e.MessageID
		}
	})
	if err != nil {
		return nil, nil, 0, fmt.Errorf("watch sentbox: %w", err)
	}
	defer echo.Close()
	if err := ready(w); err != nil {
		return nil, nil, 0, fmt.Errorf("watch inbox: %w", err)
	}
	if err := ready(echo); err != nil {
		return nil, nil, 0, fmt.Errorf("watch sentbox: %w", err)
	}

	body := make([]byte, bodySize)
	for i := range n + 1 {
		start := time.Now()
		m, err := from.c.SendMessage(ctx, from.key, to.key.Public(), body)
		if err != nil {
			return nil, nil, 0, fmt.Errorf("send: %w", err)
		}
		acked := time.Since(start)
		if err := await(arrived, m.ID, at.name); err != nil {
			return nil, nil, 0, err
		}
		if i == 0 {
			if err := await(echoed, m.ID, via.name); err != nil {
				return nil, nil, 0, err
			}
			first = time.Since(start)
			echo.Close() // the timed sends are watched on one node only
			continue
		}
		event = append(event, time.Since(start))
		send = append(send, acked)
	}
	slices.Sort(event)
	slices.Sort(send)
	return event, send, first, nil
}

// ready waits for the hub to confirm w.
func ready(w *hub.Watch) error {
	select {
	case <-w.Ready():
		return nil
	case <-w.Done():
		return w.Err()
	case <-time.After(10 * time.Second):
		return fmt.Errorf("not confirmed in 10 s")
	}
}

// await reads ids from ch until id comes, for up to a minute (a node may
// be catching up with a load's events).
func await(ch <-chan string, id, where string) error {
	timeout := time.After(time.Minute)
	for {
		select {
		case got := <-ch:
			if got == id {
				return nil
			}
		case <-timeout:
			return fmt.Errorf("no event for %s on %s in a minute", id, where)
		}
	}
}

func median(d []time.Duration) time.Duration { return d[len(d)/2] }

// p90 is the 90th percentile of sorted durations.
func p90(d []time.Duration) time.Duration { return d[(len(d)*9)/10] }
