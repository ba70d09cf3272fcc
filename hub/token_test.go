package hub_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/hubfs/hubfs/hub"
	"github.com/hubfs/hubfs/hubd/hubdtest"
	"github.com/hubfs/hubfs/identity"
)

// newHostKey restarts h with a new token-signing key, as when a hub's data
// directory loses it: every token issued before is refused.
func newHostKey(t *testing.T, h *hubdtest.Hub) {
	t.Helper()
	h.Stop(t)
	if err := os.Remove(filepath.Join(h.DataDir, "host.key")); err != nil {
		t.Fatal(err)
	}
	h.Restart(t)
}

// TestNewHostKeyRenewsTheToken: after the hub's host key changed, a mount
// never asked for a new token and failed everything with EACCES until it
// was remounted. A client that holds its identity (WithIdentity) gets its
// token itself, and a new one when the hub refuses it: its calls and its
// watch carry on without a new Dial.
func TestNewHostKeyRenewsTheToken(t *testing.T) {
	h := hubdtest.Start(t)
	ctx := testCtx(t)
	key, err := identity.NewPrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	// Two clients of one identity: one watches, one calls, so each renews
	// on its own.
	dial := func() *hub.Client {
		c, err := hub.Dial(ctx, h.Addr, hub.WithKeyInfo(h.Key, h.Secret), hub.WithIdentity(key))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	watcher, c := dial(), dial()
	// No GetToken: the first call that needs a token gets one.
	mailbox, err := c.SetupMailbox(ctx)
	if err != nil {
		t.Fatalf("a first call without a token: %v", err)
	}
	first := c.Token()
	if first == "" {
		t.Fatal("no token kept")
	}
	ev := make(events, 100)
	w, err := watcher.WatchInbox(ctx, mailbox, ev.fn)
	if err != nil {
		t.Fatalf("a first watch without a token: %v", err)
	}
	t.Cleanup(w.Close)
	<-w.Ready()
	watchToken := watcher.Token()

	// A client that cannot get a token itself sees the refusal.
	other := newUser(t, h)

	newHostKey(t, h)
	ev.next(t, hub.MailboxEventDisconnected)
	ev.next(t, hub.MailboxEventReconnected)
	if watcher.Token() == watchToken {
		t.Error("the watch's token was not renewed")
	}
	if _, err := c.ListInboxMessages(ctx, hub.InboxListOptions{}); err != nil {
		t.Fatalf("a call after the host key changed: %v", err)
	}
	if c.Token() == first {
		t.Error("the token was not renewed")
	}
	sender := newUser(t, h)
	m := sender.send(t, user{c: c, key: key, mailbox: mailbox}, "after the new host key")
	if e := ev.next(t, hub.MailboxEventCreate); e.MessageID != m.ID {
		t.Errorf("created %s, want %s", e.MessageID, m.ID)
	}

	if _, err := other.c.ListInboxMessages(ctx, hub.InboxListOptions{}); !errors.Is(err, hub.ErrPermission) {
		t.Errorf("a client without its identity after the host key changed: %v, want ErrPermission", err)
	}
}

// TestTokenRenewedOnce: a refusal that a new token does not cure (the hub
// refuses the API signature) costs one handshake, not a loop.
func TestTokenRenewedOnce(t *testing.T) {
	h := hubdtest.Start(t)
	ctx := testCtx(t)
	key, _ := identity.NewPrivateKey()
	c, err := hub.Dial(ctx, h.Addr, hub.WithKeyInfo(h.Key, ""), hub.WithIdentity(key))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := c.SetupMailbox(ctx); !errors.Is(err, hub.ErrUnauthenticated) {
		t.Errorf("no API signature: %v, want ErrUnauthenticated", err)
	}
}
