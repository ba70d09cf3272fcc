package hub_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/hubfs/hubfs/hub"
	"github.com/hubfs/hubfs/hub/hubtest"
	"github.com/hubfs/hubfs/hubd/hubdtest"
	"github.com/hubfs/hubfs/identity"
)

// testCtx is a context that ends with the test, bounded so a hang fails
// instead of stalling the suite.
func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// dial makes a client of h with its API key, closed with the test.
func dial(t testing.TB, h *hubdtest.Hub, opts ...hub.Option) *hub.Client {
	t.Helper()
	opts = append([]hub.Option{hub.WithKeyInfo(h.Key, h.Secret)}, opts...)
	c, err := hub.Dial(testCtx(t), h.Addr, opts...)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// user is a new identity with a token and a mailbox on h.
type user struct {
	c       *hub.Client
	key     *identity.PrivateKey
	mailbox identity.ThreadID
}

func newUser(t testing.TB, h *hubdtest.Hub, opts ...hub.Option) user {
	t.Helper()
	u := hubtest.NewUser(t, h, opts...)
	return user{c: u.Client, key: u.Key, mailbox: u.Mailbox}
}

func (u user) pub() *identity.PublicKey { return u.key.Public() }

// send sends body from u to to and fails the test on error.
func (u user) send(t testing.TB, to user, body string) hub.UserMessage {
	t.Helper()
	m, err := u.c.SendMessage(testCtx(t), u.key, to.pub(), []byte(body))
	if err != nil {
		t.Fatalf("send: %v", err)
	}
	return m
}

// fakeClock is a time.Now that a test steps by hand.
type fakeClock struct {
	mu  sync.Mutex // guards now
	now time.Time
}

func newClock() *fakeClock { return &fakeClock{now: time.Now()} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) step(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// signedAuth is what an app's auth server hands a WithUserAuth callback:
// h's API key and a signature over a date good until expires.
func signedAuth(h *hubdtest.Hub, expires time.Time) (hub.UserAuth, error) {
	msg := expires.UTC().Format(time.RFC3339)
	sig, err := identity.APISig(h.Secret, msg)
	return hub.UserAuth{Key: h.Key, Sig: sig, Msg: msg}, err
}

// userAuthUser signs a new identity up on h with a client whose auth
// comes from cb, and returns the client (closed with the test) and the
// user's mailbox.
func userAuthUser(t testing.TB, h *hubdtest.Hub, cb func(context.Context) (hub.UserAuth, error), opts ...hub.Option) (*hub.Client, identity.ThreadID) {
	t.Helper()
	ctx := testCtx(t)
	c, err := hub.Dial(ctx, h.Addr, append([]hub.Option{hub.WithUserAuth(cb)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	key, _ := identity.NewPrivateKey()
	if _, err := c.GetToken(ctx, key); err != nil {
		t.Fatal(err)
	}
	mailbox, err := c.SetupMailbox(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return c, mailbox
}
