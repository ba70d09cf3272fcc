package mailbox_test

import (
	"context"
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

// The fixture of the model's tests: the real hub and real clients, the
// model built as a mount builds it (hubmail.New), every change recorded.

// clock is a stepped clock: tests move time instead of sleeping.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Step(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

type tuser struct {
	key *identity.PrivateKey
	cl  *hub.Client
}

// newUser is a real client with a token and a mailbox on the test hub.
func newUser(t *testing.T, h *hubdtest.Hub) tuser {
	t.Helper()
	u := hubtest.NewUser(t, h)
	return tuser{key: u.Key, cl: u.Client}
}

func (u tuser) send(t *testing.T, to tuser, body string) hub.UserMessage {
	t.Helper()
	m, err := u.cl.SendMessage(context.Background(), u.key, to.key.Public(), []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

type fixture struct {
	hub        *hubdtest.Hub
	alice, bob tuser
	clock      *clock
	model      *mailbox.Model
	mu         sync.Mutex
	changes    []mailbox.Change
}

func newFixture(t *testing.T, cfg mailbox.Config) *fixture {
	t.Helper()
	h := hubdtest.Start(t)
	f := &fixture{hub: h, alice: newUser(t, h), bob: newUser(t, h), clock: &clock{now: time.Unix(1_800_000_000, 0)}}
	cfg.Now = f.clock.Now
	mbox, err := f.alice.cl.GetMailboxID(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	f.model = hubmail.New(f.alice.cl, f.alice.key, mbox, cfg)
	f.model.OnChange(func(c mailbox.Change) {
		f.mu.Lock()
		f.changes = append(f.changes, c)
		f.mu.Unlock()
	})
	return f
}

func (f *fixture) takeChanges() []mailbox.Change {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.changes
	f.changes = nil
	return c
}

func (f *fixture) calls(op string) int64 { return f.model.Stats().HubCallsByOp[op] }
