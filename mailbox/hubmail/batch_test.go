package hubmail_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hubfs/hubfs/hub"
	"github.com/hubfs/hubfs/hub/hubtest"
	"github.com/hubfs/hubfs/hubd/hubdtest"
	"github.com/hubfs/hubfs/identity"
	"github.com/hubfs/hubfs/mailbox"
	"github.com/hubfs/hubfs/mailbox/hubmail"
)

// countingClient is the real client with its list calls counted: how many,
// and how many body bytes their replies carried. ignoreFlag makes it a
// hub that knows no hubfs_without_bodies (another Textile hub): the flag
// is dropped before the call, as such a hub drops the unknown field.
type countingClient struct {
	*hub.Client
	ignoreFlag bool

	mu         sync.Mutex // guards the fields below
	calls      int
	bodyBytes  int
	bodiesMove int // messages that came with a body
}

func (c *countingClient) count(page []hub.UserMessage) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls++
	for _, m := range page {
		c.bodyBytes += len(m.Body)
		if m.Body != nil {
			c.bodiesMove++
		}
	}
}

func (c *countingClient) figures() (calls, bodyBytes, bodies int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls, c.bodyBytes, c.bodiesMove
}

func (c *countingClient) ListInboxMessages(ctx context.Context, o hub.InboxListOptions) ([]hub.UserMessage, error) {
	if c.ignoreFlag {
		o.WithoutBodies = false
	}
	page, err := c.Client.ListInboxMessages(ctx, o)
	c.count(page)
	return page, err
}

func (c *countingClient) ListSentboxMessages(ctx context.Context, o hub.SentboxListOptions) ([]hub.UserMessage, error) {
	if c.ignoreFlag {
		o.WithoutBodies = false
	}
	page, err := c.Client.ListSentboxMessages(ctx, o)
	c.count(page)
	return page, err
}

// bodyOf is the plaintext of message i: sizes differ, so a size from the
// wrong message shows.
func bodyOf(i int) []byte { return []byte(fmt.Sprintf("message %d %*s", i, i, "")) }

// fixture is bob's inbox of n messages from alice on a real hub, and a
// backend over bob's counted client.
func fixture(t *testing.T, n int, ignoreFlag bool) (*hubmail.Backend, *countingClient, hubtest.User) {
	t.Helper()
	h := hubdtest.Start(t)
	alice, bob := hubtest.NewUser(t, h), hubtest.NewUser(t, h)
	for i := range n {
		if _, err := alice.Client.SendMessage(context.Background(), alice.Key, bob.Key.Public(), bodyOf(i)); err != nil {
			t.Fatal(err)
		}
	}
	cl := &countingClient{Client: bob.Client, ignoreFlag: ignoreFlag}
	return hubmail.NewBackend(cl, bob.Mailbox, mailbox.Config{}), cl, bob
}

// TestListMovesNoBodies: against our hub a listing carries no body, and
// each entry's size is the plaintext's, from the body size the hub sent.
func TestListMovesNoBodies(t *testing.T) {
	const n = 150
	b, cl, _ := fixture(t, n, false)
	lst, err := b.List(context.Background(), mailbox.Inbox, mailbox.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(lst.Messages) != n {
		t.Fatalf("listed %d messages, want %d", len(lst.Messages), n)
	}
	for i, m := range lst.Messages {
		if m.Body != nil {
			t.Errorf("message %d listed with a body of %d bytes", i, len(m.Body))
		}
		if m.Size != int64(len(bodyOf(i))) {
			t.Errorf("message %d: size %d, want %d", i, m.Size, len(bodyOf(i)))
		}
	}
	if _, bytes, bodies := cl.figures(); bytes != 0 || bodies != 0 {
		t.Errorf("the listing moved %d bodies, %d bytes; want none", bodies, bytes)
	}
}

// TestListFromAHubThatSendsBodies: a hub that ignores the flag sends
// bodies; the listing keeps them and sizes still come right.
func TestListFromAHubThatSendsBodies(t *testing.T) {
	const n = 20
	b, cl, _ := fixture(t, n, true)
	lst, err := b.List(context.Background(), mailbox.Inbox, mailbox.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(lst.Messages) != n {
		t.Fatalf("listed %d messages, want %d", len(lst.Messages), n)
	}
	for i, m := range lst.Messages {
		if m.Size != int64(len(bodyOf(i))) || int64(len(m.Body)) != m.Size+identity.Overhead {
			t.Errorf("message %d: size %d, body %d bytes; want %d and %d", i, m.Size, len(m.Body), len(bodyOf(i)), len(bodyOf(i))+identity.Overhead)
		}
	}
	if _, _, bodies := cl.figures(); bodies != n {
		t.Errorf("%d bodies came, want %d: the test's hub did not send them", bodies, n)
	}
}

// TestMessagesComeInBatches: reading 100 consecutive messages makes one
// hub call per batch of 64, each body the right one; OnlyIfCached answers
// from the batch's buffer and never reaches the hub.
func TestMessagesComeInBatches(t *testing.T) {
	const n = 100
	b, cl, bob := fixture(t, n, false)
	ctx := context.Background()
	lst, err := b.List(ctx, mailbox.Inbox, mailbox.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	listCalls, _, _ := cl.figures()
	sealer := hubmail.NewSealer(bob.Key)

	if _, err := b.Message(mailbox.OnlyIfCached(ctx), mailbox.Inbox, lst.Messages[0].ID); !errors.Is(err, mailbox.ErrNotCached) {
		t.Fatalf("OnlyIfCached before any read: %v, want ErrNotCached", err)
	}
	for i, e := range lst.Messages {
		ctx := ctx
		if i%64 != 0 {
			// Every message past a batch's first is in the buffer.
			ctx = mailbox.OnlyIfCached(ctx)
		}
		m, err := b.Message(ctx, mailbox.Inbox, e.ID)
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		plain, err := sealer.Open(m)
		if err != nil || string(plain) != string(bodyOf(i)) {
			t.Fatalf("message %d opens to %q, %v; want %q", i, plain, err, bodyOf(i))
		}
		if m.ID != e.ID || m.Size != e.Size {
			t.Fatalf("message %d: %s of %d bytes, listed as %s of %d", i, m.ID, m.Size, e.ID, e.Size)
		}
	}
	calls, _, _ := cl.figures()
	if got := calls - listCalls; got != 2 {
		t.Errorf("reading %d messages made %d hub calls, want 2 (batches of 64)", n, got)
	}
	// A body is taken once: a second read asks the hub again.
	if _, err := b.Message(mailbox.OnlyIfCached(ctx), mailbox.Inbox, lst.Messages[1].ID); !errors.Is(err, mailbox.ErrNotCached) {
		t.Errorf("OnlyIfCached of a body already taken: %v, want ErrNotCached", err)
	}
	if _, err := b.Message(ctx, mailbox.Inbox, "01jzzzzzzzzzzzzzzzzzzzzzzz"); !errors.Is(err, mailbox.ErrNotFound) {
		t.Errorf("an id past the newest: %v, want ErrNotFound", err)
	}
}

// TestCatStarThroughTheModel: opening every listed message through the
// model, as cat * does, costs a hub call per batch, with the decrypt-ahead
// off or on (then its runs fetch the batches; a reader that overtakes the
// workers may fetch one more).
func TestCatStarThroughTheModel(t *testing.T) {
	const n = 130
	for _, c := range []struct {
		cached bool
		ahead  int
	}{{false, 0}, {true, 0}, {false, 2}, {true, 2}} {
		cached, ahead := c.cached, c.ahead
		t.Run(fmt.Sprintf("cache=%v,ahead=%d", cached, ahead), func(t *testing.T) {
			h := hubdtest.Start(t)
			alice, bob := hubtest.NewUser(t, h), hubtest.NewUser(t, h)
			for i := range n {
				if _, err := alice.Client.SendMessage(context.Background(), alice.Key, bob.Key.Public(), bodyOf(i)); err != nil {
					t.Fatal(err)
				}
			}
			cfg := mailbox.DefaultConfig()
			cfg.DecryptAhead = ahead
			if !cached {
				cfg.ListTTL, cfg.WatchTTL, cfg.CiphertextBytes = 0, 0, 0
			}
			cl := &countingClient{Client: bob.Client}
			model := hubmail.New(cl, bob.Key, bob.Mailbox, cfg)
			ctx := context.Background()
			entries, err := model.List(ctx, mailbox.Inbox)
			if err != nil {
				t.Fatal(err)
			}
			listCalls, _, _ := cl.figures()
			for i, e := range entries {
				plain, err := model.Open(ctx, mailbox.Inbox, e.ID)
				if err != nil || string(plain) != string(bodyOf(i)) {
					t.Fatalf("open %d: %q, %v", i, plain, err)
				}
			}
			model.Close()
			calls, _, _ := cl.figures()
			want := (n + 63) / 64
			if got := calls - listCalls; got < want || got > want+min(ahead, 1) {
				t.Errorf("opening %d messages made %d hub calls, want %d", n, got, want)
			}
		})
	}
}

// TestListWithTheDecryptAheadOnMovesNoBodies: the decrypt-ahead fetches
// the bodies it opens in batches (Messages) when a read starts it, so a
// listing never asks for them, whatever the config.
func TestListWithTheDecryptAheadOnMovesNoBodies(t *testing.T) {
	h := hubdtest.Start(t)
	alice, bob := hubtest.NewUser(t, h), hubtest.NewUser(t, h)
	if _, err := alice.Client.SendMessage(context.Background(), alice.Key, bob.Key.Public(), bodyOf(3)); err != nil {
		t.Fatal(err)
	}
	cl := &countingClient{Client: bob.Client}
	b := hubmail.NewBackend(cl, bob.Mailbox, mailbox.Config{DecryptAhead: 2, Now: time.Now})
	lst, err := b.List(context.Background(), mailbox.Inbox, mailbox.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(lst.Messages) != 1 || lst.Messages[0].Body != nil {
		t.Fatalf("listing with the decrypt-ahead on: %+v, want one message without its body", lst.Messages)
	}
	if _, _, bodies := cl.figures(); bodies != 0 {
		t.Errorf("the listing moved %d bodies, want none", bodies)
	}
}

// TestMessagesFetchesRunsInBatches: Messages of a run of neighbours costs a
// call per 64; of ids with gaps, the pages cover the gaps and keep only
// what was asked; gone ids are left out; OnlyIfCached answers from the
// buffer only, and takes from it what a Message batch brought.
func TestMessagesFetchesRunsInBatches(t *testing.T) {
	const n = 150
	b, cl, bob := fixture(t, n, false)
	ctx := context.Background()
	lst, err := b.List(ctx, mailbox.Inbox, mailbox.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]string, n)
	for i, m := range lst.Messages {
		ids[i] = m.ID
	}
	sealer := hubmail.NewSealer(bob.Key)
	check := func(got []mailbox.Message, want []int) {
		t.Helper()
		if len(got) != len(want) {
			t.Fatalf("got %d messages, want %d", len(got), len(want))
		}
		for k, i := range want {
			plain, err := sealer.Open(got[k])
			if got[k].ID != ids[i] || err != nil || string(plain) != string(bodyOf(i)) {
				t.Fatalf("message %d: %s opens to %q, %v; want %s, %q", k, got[k].ID, plain, err, ids[i], bodyOf(i))
			}
		}
	}
	calls0, _, _ := cl.figures()
	if got, err := b.Messages(mailbox.OnlyIfCached(ctx), mailbox.Inbox, ids[:10]); err != nil || len(got) != 0 {
		t.Fatalf("OnlyIfCached with nothing buffered: %d messages, %v", len(got), err)
	}
	var want []int
	for i := range 100 {
		want = append(want, i)
	}
	got, err := b.Messages(ctx, mailbox.Inbox, ids[:100])
	if err != nil {
		t.Fatal(err)
	}
	check(got, want)
	calls1, _, _ := cl.figures()
	if calls1-calls0 != 2 {
		t.Errorf("100 neighbours took %d calls, want 2", calls1-calls0)
	}

	// Every third of the rest, one deleted meanwhile, and one past the newest.
	if err := bob.Client.DeleteInboxMessage(ctx, ids[103]); err != nil {
		t.Fatal(err)
	}
	var ask []string
	want = want[:0]
	for i := 100; i < n; i += 3 {
		ask = append(ask, ids[i])
		if i != 103 {
			want = append(want, i)
		}
	}
	ask = append(ask, "01jzzzzzzzzzzzzzzzzzzzzzzz")
	got, err = b.Messages(ctx, mailbox.Inbox, ask)
	if err != nil {
		t.Fatal(err)
	}
	check(got, want)
	calls2, _, _ := cl.figures()
	if calls2-calls1 != 2 {
		t.Errorf("17 ids over 50 neighbours took %d calls, want 2 (as many as asked, then a batch)", calls2-calls1)
	}

	// What a Message batch buffered is taken without a call.
	if _, err := b.Message(ctx, mailbox.Inbox, ids[0]); err != nil {
		t.Fatal(err)
	}
	calls3, _, _ := cl.figures()
	got, err = b.Messages(mailbox.OnlyIfCached(ctx), mailbox.Inbox, ids[1:5])
	if err != nil {
		t.Fatal(err)
	}
	check(got, []int{1, 2, 3, 4})
	if calls4, _, _ := cl.figures(); calls4 != calls3 {
		t.Errorf("OnlyIfCached made %d calls", calls4-calls3)
	}
}
