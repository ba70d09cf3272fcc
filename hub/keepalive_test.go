package hub_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/hubfs/hubfs/faultnet"
	"github.com/hubfs/hubfs/hub"
	"github.com/hubfs/hubfs/hub/hubtest"
	"github.com/hubfs/hubfs/hubd"
	"github.com/hubfs/hubfs/hubd/hubdtest"
)

// TestKeepaliveNoticesAStalledConnection: a connection that goes silent
// without closing (packets held, nothing forwarded) used to leave calls
// waiting for their whole deadline and a watch that never knew, so the
// mount kept saying "watch" and missed new mail. Keepalive pings find it
// dead: the call in flight fails Unavailable, the watch reports
// Disconnected, and once traffic flows again it reconnects and a new
// message arrives.
func TestKeepaliveNoticesAStalledConnection(t *testing.T) {
	// Our client pings every 10 s at the shortest (grpc's floor); the hub
	// must permit that.
	h := hubdtest.Start(t, func(c *hubd.Config) { c.KeepaliveMinTime = time.Second })
	p, err := faultnet.Listen(h.Addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	alice, direct := newUser(t, h), hubtest.NewUser(t, h)

	// bob's client goes through the proxy, with a call deadline far
	// beyond the keepalive bound: only keepalive can end a stalled call
	// early.
	ctx := testCtx(t)
	bob, err := hub.Dial(ctx, p.Addr(), hub.WithKeyInfo(h.Key, h.Secret), hub.WithTimeout(time.Minute), hub.WithKeepalive(10*time.Second, time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bob.Close() })
	if _, err := bob.GetToken(ctx, direct.Key); err != nil {
		t.Fatal(err)
	}
	ev := make(events, 100)
	w, err := bob.WatchInbox(ctx, direct.Mailbox, ev.fn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Close)
	<-w.Ready()

	if err := p.Set(faultnet.Stall); err != nil {
		t.Fatal(err)
	}
	listed := make(chan error, 1)
	go func() {
		_, err := bob.ListInboxMessages(ctx, hub.InboxListOptions{})
		listed <- err
	}()
	if e := ev.next(t, hub.MailboxEventDisconnected); !errors.Is(e.Err, hub.ErrUnavailable) {
		t.Errorf("disconnected because %v, want ErrUnavailable", e.Err)
	}
	select {
	case err := <-listed:
		if !errors.Is(err, hub.ErrUnavailable) {
			t.Errorf("a call on the stalled connection: %v, want ErrUnavailable", err)
		}
	case <-time.After(30 * time.Second):
		t.Error("a call on the stalled connection still waits after the watch saw it dead")
	}

	if err := p.Set(faultnet.Pass); err != nil {
		t.Fatal(err)
	}
	ev.next(t, hub.MailboxEventReconnected)
	m, err := alice.c.SendMessage(context.Background(), alice.key, direct.Key.Public(), []byte("after the stall"))
	if err != nil {
		t.Fatal(err)
	}
	if e := ev.next(t, hub.MailboxEventCreate); e.MessageID != m.ID {
		t.Errorf("created %s, want %s", e.MessageID, m.ID)
	}
}

func TestKeepaliveMustBePositive(t *testing.T) {
	for _, kp := range [][2]time.Duration{{0, time.Second}, {time.Second, 0}, {-time.Second, time.Second}} {
		if _, err := hub.Dial(context.Background(), "127.0.0.1:1", hub.WithKeepalive(kp[0], kp[1])); !errors.Is(err, hub.ErrInvalid) {
			t.Errorf("keepalive %v: %v, want ErrInvalid", kp, err)
		}
	}
}
