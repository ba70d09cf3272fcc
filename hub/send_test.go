package hub_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/hubfs/hubfs/faultnet"
	"github.com/hubfs/hubfs/hub"
	"github.com/hubfs/hubfs/hub/hubtest"
	"github.com/hubfs/hubfs/hubd/hubdtest"
)

// proxiedSender is a user whose client reaches h only through a fault
// proxy, with short attempts, and a recipient that talks to h directly.
func proxiedSender(t *testing.T, h *hubdtest.Hub) (sender user, to user, p *faultnet.Proxy) {
	t.Helper()
	p, err := faultnet.Listen(h.Addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	direct := hubtest.NewUser(t, h) // signs the sender up
	ctx := testCtx(t)
	c, err := hub.Dial(ctx, p.Addr(), hub.WithKeyInfo(h.Key, h.Secret), hub.WithTimeout(500*time.Millisecond), hub.WithIdentity(direct.Key))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := c.SetupMailbox(ctx); err != nil {
		t.Fatal(err)
	}
	return user{c: c, key: direct.Key, mailbox: direct.Mailbox}, newUser(t, h), p
}

// inboxIDs lists u's inbox through its own client.
func inboxIDs(t *testing.T, u user) []string {
	t.Helper()
	var ids []string
	for m, err := range u.c.Messages(testCtx(t), hub.Inbox, hub.ListOptions{Ascending: true}) {
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, m.ID)
	}
	return ids
}

// TestSendSealedRetriesAnAmbiguousFailure: the hub stored the message but
// its answer was lost (the sender's attempt ran out of time). SendSealed
// tries again under the same key, and the hub's answer to the repeat is the
// first message: delivered once, reported sent.
func TestSendSealedRetriesAnAmbiguousFailure(t *testing.T) {
	h := hubdtest.Start(t)
	alice, bob, p := proxiedSender(t, h)
	s, err := hub.Seal(alice.key, bob.pub(), []byte("once"))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Set(faultnet.DropReplies); err != nil {
		t.Fatal(err)
	}
	type result struct {
		m   hub.UserMessage
		err error
	}
	done := make(chan result, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		m, err := alice.c.SendSealed(ctx, s, hub.NewIdempotencyKey())
		done <- result{m, err}
	}()
	var stored []string
	waitFor(t, "the hub to store the message whose answer it cannot deliver", func() bool {
		stored = inboxIDs(t, bob)
		return len(stored) > 0
	})
	if err := p.Set(faultnet.Pass); err != nil {
		t.Fatal(err)
	}
	r := <-done
	if r.err != nil {
		t.Fatalf("send after a lost answer: %v", r.err)
	}
	if r.m.ID != stored[0] {
		t.Errorf("send returned %s, the hub stored %s", r.m.ID, stored[0])
	}
	if got := inboxIDs(t, bob); len(got) != 1 {
		t.Errorf("inbox holds %d messages, want 1", len(got))
	}
}

// TestSendOutcomeUnknown: when no answer ever comes, the error says the
// outcome is unknown (and still why: a deadline), so a queue retries under
// the same key instead of reporting a failure; the tries stored one copy.
// A send without a key tries once.
func TestSendOutcomeUnknown(t *testing.T) {
	h := hubdtest.Start(t)
	alice, bob, p := proxiedSender(t, h)
	if err := p.Set(faultnet.DropReplies); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{hub.NewIdempotencyKey(), ""} {
		s, err := hub.Seal(alice.key, bob.pub(), []byte("lost answer"))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err = alice.c.SendSealed(ctx, s, key)
		cancel()
		if !errors.Is(err, hub.ErrUnknownOutcome) || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("key %q: %v, want ErrUnknownOutcome and DeadlineExceeded", key, err)
		}
	}
	waitFor(t, "both sends to be stored", func() bool { return len(inboxIDs(t, bob)) >= 2 })
	if got := inboxIDs(t, bob); len(got) != 2 {
		t.Errorf("two sends, retried under a key or not at all, stored %d messages, want 2", len(got))
	}
}

// TestSendNotSentIsKnown: a hub that cannot be reached never got the
// message: the error is ErrUnavailable, not an unknown outcome.
func TestSendNotSentIsKnown(t *testing.T) {
	h := hubdtest.Start(t)
	alice, bob, p := proxiedSender(t, h)
	if err := p.Set(faultnet.Refuse); err != nil {
		t.Fatal(err)
	}
	// A client that never connected: its first connection is refused.
	ctx := testCtx(t)
	c, err := hub.Dial(ctx, p.Addr(), hub.WithKeyInfo(h.Key, h.Secret), hub.WithTimeout(500*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.SetToken(alice.c.Token()); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{hub.NewIdempotencyKey(), ""} {
		s, err := hub.Seal(alice.key, bob.pub(), []byte("never left"))
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.SendSealed(ctx, s, key)
		if !errors.Is(err, hub.ErrUnavailable) || errors.Is(err, hub.ErrUnknownOutcome) {
			t.Errorf("key %q, a refused connection: %v, want ErrUnavailable and a known outcome", key, err)
		}
	}
	if got := inboxIDs(t, bob); len(got) != 0 {
		t.Errorf("inbox holds %d messages, want none", len(got))
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
