// Package hubtest gives tests real users of a test hub: an identity, a
// client holding its token, and its mailbox, over loopback to a hubdtest
// server. One helper serves every package's tests, so they all exercise the
// same auth path a mount takes. It knows the server only as an address and
// an API key (Hub), so that no client package imports the server's.
package hubtest

import (
	"context"
	"testing"
	"time"

	"github.com/hubfs/hubfs/hub"
	"github.com/hubfs/hubfs/identity"
)

// Hub is a test hub as a client sees it: where it listens and an API key
// with its secret. hubdtest.Hub is one.
type Hub interface {
	Endpoint() (addr, key, secret string)
}

// User is an identity with a token and a mailbox on a test hub.
type User struct {
	Client  *hub.Client
	Key     *identity.PrivateKey
	Mailbox identity.ThreadID
}

// NewUser makes a new identity and signs it up on h.
func NewUser(t testing.TB, h Hub, opts ...hub.Option) User {
	t.Helper()
	key, err := identity.NewPrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	return UserWithKey(t, h, key, opts...)
}

// UserWithKey signs key up on h: a client with h's API key (opts come
// after it, so they can override it), a token and a mailbox. The client is
// closed when the test ends.
func UserWithKey(t testing.TB, h Hub, key *identity.PrivateKey, opts ...hub.Option) User {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	addr, apiKey, secret := h.Endpoint()
	opts = append([]hub.Option{hub.WithKeyInfo(apiKey, secret)}, opts...)
	cl, err := hub.Dial(ctx, addr, opts...)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { cl.Close() })
	if _, err := cl.GetToken(ctx, key); err != nil {
		t.Fatalf("get token: %v", err)
	}
	id, err := cl.SetupMailbox(ctx)
	if err != nil {
		t.Fatalf("setup mailbox: %v", err)
	}
	return User{Client: cl, Key: key, Mailbox: id}
}
