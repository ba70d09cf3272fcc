package hub_test

import (
	"context"
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
