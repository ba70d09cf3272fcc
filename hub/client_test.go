package hub_test

import (
	"context"
	"crypto/tls"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hubfs/hubfs/hub"
	"github.com/hubfs/hubfs/hubd/hubdtest"
	"github.com/hubfs/hubfs/identity"
)

func TestDialRejects(t *testing.T) {
	ctx := testCtx(t)
	for _, tc := range []struct {
		name string
		addr string
		opts []hub.Option
	}{
		{"empty address", "", nil},
		{"url", "https://hub.example:443", nil},
		{"bad host", "a b:1", nil},
		{"zero timeout", "127.0.0.1:1", []hub.Option{hub.WithTimeout(0)}},
		{"secret without key", "127.0.0.1:1", []hub.Option{hub.WithKeyInfo("", "bsecret")}},
		{"malformed secret", "127.0.0.1:1", []hub.Option{hub.WithKeyInfo("bkey", "not multibase!")}},
		{"insecure and a TLS config", "hub.example:443", []hub.Option{
			hub.WithInsecure(), hub.WithTLSConfig(&tls.Config{MinVersion: tls.VersionTLS12}),
		}},
		{"key info and user auth", "127.0.0.1:1", []hub.Option{
			hub.WithKeyInfo("bkey", ""),
			hub.WithUserAuth(func(context.Context) (hub.UserAuth, error) { return hub.UserAuth{}, nil }),
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := hub.Dial(ctx, tc.addr, tc.opts...)
			if !errors.Is(err, hub.ErrInvalid) {
				if c != nil {
					c.Close()
				}
				t.Fatalf("got %v, want ErrInvalid", err)
			}
			if strings.Contains(err.Error(), "not multibase!") {
				t.Errorf("the error echoes the secret: %v", err)
			}
		})
	}
}

func TestUnavailable(t *testing.T) {
	h := hubdtest.Start(t)
	c := dial(t, h, hub.WithTimeout(3*time.Second))
	h.Stop(t)
	key, _ := identity.NewPrivateKey()
	start := time.Now()
	_, err := c.GetToken(testCtx(t), key)
	if !errors.Is(err, hub.ErrUnavailable) && !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a stopped hub: got %v, want ErrUnavailable", err)
	}
	t.Logf("gave up after %v", time.Since(start).Round(time.Millisecond))
}

func TestAuthErrors(t *testing.T) {
	h := hubdtest.Start(t)
	ctx := testCtx(t)
	key, _ := identity.NewPrivateKey()

	t.Run("wrong key", func(t *testing.T) {
		c, err := hub.Dial(ctx, h.Addr, hub.WithKeyInfo("bwrongkeywrongkeywrongkeyw", h.Secret))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		// Our hub says which NotFound this is: a bad API key is no
		// missing thing but a refusal.
		_, err = c.GetToken(ctx, key)
		if !errors.Is(err, hub.ErrBadAPIKey) || !errors.Is(err, hub.ErrUnauthenticated) || errors.Is(err, hub.ErrNotFound) || hub.Code(err) != "NotFound" {
			t.Fatalf("unknown API key: got %v (code %q), want ErrBadAPIKey, not ErrNotFound", err, hub.Code(err))
		}
	})
	t.Run("wrong secret", func(t *testing.T) {
		other := hubdtest.Start(t) // a valid secret, but for another key
		c, err := hub.Dial(ctx, h.Addr, hub.WithKeyInfo(h.Key, other.Secret))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_, err = c.GetToken(ctx, key)
		if !errors.Is(err, hub.ErrUnauthenticated) {
			t.Fatalf("wrong secret: got %v, want ErrUnauthenticated", err)
		}
	})
	t.Run("no secret for a secure key", func(t *testing.T) {
		c, err := hub.Dial(ctx, h.Addr, hub.WithKeyInfo(h.Key, ""))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err = c.GetToken(ctx, key); !errors.Is(err, hub.ErrUnauthenticated) {
			t.Fatalf("got %v, want ErrUnauthenticated", err)
		}
	})
	t.Run("no token", func(t *testing.T) {
		c := dial(t, h)
		if _, err := c.SetupMailbox(ctx); !errors.Is(err, hub.ErrUnauthenticated) {
			t.Fatalf("setup mailbox without a token: got %v, want ErrUnauthenticated", err)
		}
		if _, err := c.ListThreads(ctx); !errors.Is(err, hub.ErrUnauthenticated) {
			t.Fatalf("list threads without a token: got %v, want ErrUnauthenticated", err)
		}
	})
	t.Run("forged token", func(t *testing.T) {
		c := dial(t, h)
		if err := c.SetToken("eyJhbGciOiJFZDI1NTE5In0.eyJzdWIiOiJ4In0.c2ln"); err != nil {
			t.Fatal(err)
		}
		if _, err := c.SetupMailbox(ctx); !errors.Is(err, hub.ErrPermission) && !errors.Is(err, hub.ErrUnauthenticated) {
			t.Fatalf("forged token: got %v, want ErrPermission or ErrUnauthenticated", err)
		}
	})
	t.Run("bad token strings", func(t *testing.T) {
		c := dial(t, h)
		for _, tok := range []string{"two words", "line\nbreak", "tab\t", "caf\xc3\xa9"} {
			if err := c.SetToken(tok); !errors.Is(err, hub.ErrInvalid) {
				t.Errorf("SetToken(%q): got %v, want ErrInvalid", tok, err)
			}
		}
	})
	t.Run("challenge signed by another key", func(t *testing.T) {
		c := dial(t, h)
		other, _ := identity.NewPrivateKey()
		_, err := c.GetTokenChallenge(ctx, key.Public().String(), other.Sign)
		if err == nil {
			t.Fatal("a challenge signed by the wrong key got a token")
		}
		if c.Token() != "" {
			t.Error("a failed handshake left a token behind")
		}
	})
	t.Run("sign callback fails", func(t *testing.T) {
		c := dial(t, h)
		boom := errors.New("hardware key unplugged")
		_, err := c.GetTokenChallenge(ctx, key.Public().String(), func([]byte) ([]byte, error) { return nil, boom })
		if !errors.Is(err, boom) {
			t.Fatalf("got %v, want the sign error", err)
		}
	})
	t.Run("bad public key", func(t *testing.T) {
		c := dial(t, h)
		_, err := c.GetTokenChallenge(ctx, "bnotakey", key.Sign)
		if !errors.Is(err, hub.ErrInvalid) {
			t.Fatalf("got %v, want ErrInvalid", err)
		}
	})
}

// TestTokenReuse: a token is issued once and serves any number of calls,
// on this client, on its copies, and on a new client given it by SetToken.
func TestTokenReuse(t *testing.T) {
	h := hubdtest.Start(t)
	ctx := testCtx(t)
	u := newUser(t, h)
	tok := u.c.Token()
	if tok == "" {
		t.Fatal("no token after GetToken")
	}
	for range 3 {
		if _, err := u.c.GetMailboxID(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if u.c.Token() != tok {
		t.Error("the token changed between calls")
	}

	c2 := dial(t, h)
	if err := c2.SetToken(tok); err != nil {
		t.Fatal(err)
	}
	id, err := c2.GetMailboxID(ctx)
	if err != nil {
		t.Fatalf("a reused token: %v", err)
	}
	if id != u.mailbox {
		t.Errorf("the reused token sees mailbox %v, want %v", id, u.mailbox)
	}

	// A token is the user's, whichever of the hub's API keys carries it.
	u.c.Close()
	c3 := dial(t, h)
	c3.SetToken(tok)
	if _, err := c3.ListInboxMessages(ctx, hub.InboxListOptions{}); err != nil {
		t.Fatal(err)
	}
}

// TestCopyAuth: copies share the connection and the auth, as
// @textile/hub's copyAuth shares its Context.
func TestCopyAuth(t *testing.T) {
	h := hubdtest.Start(t)
	ctx := testCtx(t)
	c := dial(t, h)
	cp := c.CopyAuth()
	key, _ := identity.NewPrivateKey()
	if _, err := cp.GetToken(ctx, key); err != nil {
		t.Fatal(err)
	}
	if c.Token() != cp.Token() {
		t.Fatal("a token got through a copy is not seen by the original")
	}
	if _, err := c.SetupMailbox(ctx); err != nil {
		t.Fatalf("the original with the copy's token: %v", err)
	}
	c.SetToken("")
	if _, err := cp.ListThreads(ctx); !errors.Is(err, hub.ErrUnauthenticated) {
		t.Fatalf("after the original cleared the token, the copy got %v, want ErrUnauthenticated", err)
	}
}

// TestSignatureRenewal steps a fake clock through the signature's life:
// the client signs a date 30 minutes ahead, keeps it while it has time
// left, signs again before it runs out, and the hub accepts each one.
func TestSignatureRenewal(t *testing.T) {
	h := hubdtest.Start(t)
	ctx := testCtx(t)
	clock := newClock()
	u := newUser(t, h, hub.WithClock(clock.Now))
	first := u.c.SigMsg()
	exp, err := time.Parse(time.RFC3339, first)
	if err != nil {
		t.Fatalf("signed date %q: %v", first, err)
	}
	if d := exp.Sub(clock.Now()); d < 29*time.Minute || d > 31*time.Minute {
		t.Fatalf("the signed date is %v ahead, want 30 minutes", d)
	}

	clock.step(10 * time.Minute)
	if _, err := u.c.GetMailboxID(ctx); err != nil {
		t.Fatal(err)
	}
	if got := u.c.SigMsg(); got != first {
		t.Errorf("renewed with 20 minutes left: %q -> %q", first, got)
	}

	clock.step(10 * time.Minute) // 10 minutes left: time to renew
	if _, err := u.c.GetMailboxID(ctx); err != nil {
		t.Fatalf("after renewal: %v", err)
	}
	second := u.c.SigMsg()
	exp2, _ := time.Parse(time.RFC3339, second)
	if second == first || exp2.Sub(clock.Now()) < 29*time.Minute {
		t.Fatalf("not renewed with 10 minutes left: %q -> %q", first, second)
	}

	// The hub checks expiry: a client whose clock is 31 minutes behind signs
	// a date already past, and is refused. Renewal is what keeps a
	// long-lived mount away from that.
	late := dial(t, h, hub.WithClock(func() time.Time { return time.Now().Add(-31 * time.Minute) }))
	if err := late.SetToken(u.c.Token()); err != nil {
		t.Fatal(err)
	}
	if _, err := late.ListThreads(ctx); !errors.Is(err, hub.ErrUnauthenticated) {
		t.Fatalf("an expired signature: got %v, want ErrUnauthenticated", err)
	}
	onTime := dial(t, h)
	onTime.SetToken(u.c.Token())
	if _, err := onTime.ListThreads(ctx); err != nil {
		t.Fatalf("the same token with a fresh signature: %v", err)
	}
}

// TestUserAuth: auth from a callback, asked again when it is about to
// expire, as @textile/hub's withUserAuth does.
func TestUserAuth(t *testing.T) {
	h := hubdtest.Start(t)
	ctx := testCtx(t)
	clock := newClock()
	calls := 0
	cb := func(context.Context) (hub.UserAuth, error) {
		calls++
		return signedAuth(h, clock.Now().Add(5*time.Minute))
	}
	c, _ := userAuthUser(t, h, cb, hub.WithClock(clock.Now))
	if calls != 1 {
		t.Fatalf("callback called %d times for two calls, want once", calls)
	}
	clock.step(4*time.Minute + 30*time.Second)
	if _, err := c.GetMailboxID(ctx); err != nil {
		t.Fatal(err)
	}
	if calls != 2 {
		t.Fatalf("callback called %d times, want a second call near expiry", calls)
	}

	// A callback that fails, or hands back expired auth, fails the call.
	bad, _ := hub.Dial(ctx, h.Addr, hub.WithUserAuth(func(context.Context) (hub.UserAuth, error) {
		return hub.UserAuth{Key: h.Key, Sig: "bx", Msg: "2001-01-01T00:00:00Z"}, nil
	}))
	defer bad.Close()
	if _, err := bad.ListThreads(ctx); !errors.Is(err, hub.ErrUnauthenticated) {
		t.Fatalf("expired user auth: got %v, want ErrUnauthenticated", err)
	}
}

// TestDeadline: every call has one, and the caller's sooner one wins.
func TestDeadline(t *testing.T) {
	h := hubdtest.Start(t)
	u := newUser(t, h)
	ctx, cancel := context.WithCancel(testCtx(t))
	cancel()
	if _, err := u.c.ListThreads(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("a canceled context: got %v, want context.Canceled", err)
	}
	ctx, cancel = context.WithDeadline(testCtx(t), time.Now().Add(-time.Second))
	defer cancel()
	if _, err := u.c.ListThreads(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a past deadline: got %v, want context.DeadlineExceeded", err)
	}
}

// TestRetry: a read waits out a short outage by retrying, and succeeds once
// the hub is back; SendMessage fails at once instead, since repeating a
// send whose reply was lost could deliver it twice.
func TestRetry(t *testing.T) {
	h := hubdtest.Start(t)
	ctx := testCtx(t)
	alice, bob := newUser(t, h, hub.WithTimeout(5*time.Second)), newUser(t, h)

	// outage runs call while the hub is down for 300 ms.
	outage := func(call func() error) error {
		h.Stop(t)
		res := make(chan error, 1)
		go func() { res <- call() }()
		time.Sleep(300 * time.Millisecond)
		h.Restart(t)
		return <-res
	}
	if err := outage(func() error { _, err := alice.c.ListThreads(ctx); return err }); err != nil {
		t.Fatalf("a read across a short outage: %v", err)
	}
	err := outage(func() error {
		_, err := alice.c.SendMessage(ctx, alice.key, bob.pub(), []byte("once"))
		return err
	})
	if !errors.Is(err, hub.ErrUnavailable) {
		t.Fatalf("a send across a short outage: got %v, want ErrUnavailable", err)
	}
	if page, err := alice.c.ListSentboxMessages(ctx, hub.SentboxListOptions{}); err != nil || len(page) != 0 {
		t.Fatalf("after a failed send the sentbox has %d messages (%v), want none", len(page), err)
	}
}
