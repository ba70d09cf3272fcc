// Package mailboxtest is the fixture of the model's and the cache's tests:
// real clients of a real test hub, the model built as a mount builds it
// (hubmail.New), a stepped clock, and every change recorded. It knows the
// hub only as a hubtest.Hub, so that no client package imports the server.
package mailboxtest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/hubfs/hubfs/hub"
	"github.com/hubfs/hubfs/hub/hubtest"
	"github.com/hubfs/hubfs/identity"
	"github.com/hubfs/hubfs/mailbox"
	"github.com/hubfs/hubfs/mailbox/hubmail"
)

// Clock is a stepped clock: tests move time instead of sleeping.
type Clock struct {
	mu  sync.Mutex // guards now
	now time.Time
}

// Now is the clock's time.
func (c *Clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

// Step moves the clock on by d.
func (c *Clock) Step(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// User is a real client with a token and a mailbox on the test hub.
type User struct {
	Key    *identity.PrivateKey
	Client *hub.Client
}

// NewUser signs a new identity up on h.
func NewUser(t *testing.T, h hubtest.Hub) User {
	t.Helper()
	u := hubtest.NewUser(t, h)
	return User{Key: u.Key, Client: u.Client}
}

// Send sends body from u to to with the Go client, bypassing the model.
func (u User) Send(t *testing.T, to User, body string) hub.UserMessage {
	t.Helper()
	m, err := u.Client.SendMessage(context.Background(), u.Key, to.Key.Public(), []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// Fixture is Alice's model over the test hub, with Bob to send to her.
type Fixture struct {
	Alice, Bob User
	Clock      *Clock
	Model      *mailbox.Model

	mu      sync.Mutex // guards changes
	changes []mailbox.Change
}

// NewFixture builds Alice's model with cfg (its clock replaced by the
// fixture's) and records every change it reports.
func NewFixture(t *testing.T, h hubtest.Hub, cfg mailbox.Config) *Fixture {
	t.Helper()
	f := &Fixture{Alice: NewUser(t, h), Bob: NewUser(t, h), Clock: &Clock{now: time.Unix(1_800_000_000, 0)}}
	cfg.Now = f.Clock.Now
	mbox, err := f.Alice.Client.GetMailboxID(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	f.Model = hubmail.New(f.Alice.Client, f.Alice.Key, mbox, cfg)
	f.Model.OnChange(f.Record)
	return f
}

// Record is the OnChange callback: a test that builds its own model hands
// it this too.
func (f *Fixture) Record(c mailbox.Change) {
	f.mu.Lock()
	f.changes = append(f.changes, c)
	f.mu.Unlock()
}

// TakeChanges returns the changes recorded since the last call.
func (f *Fixture) TakeChanges() []mailbox.Change {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.changes
	f.changes = nil
	return c
}

// Calls is how many hub calls of op the model's stack has made.
func (f *Fixture) Calls(op string) int64 { return f.Model.Stats().HubCallsByOp[op] }
