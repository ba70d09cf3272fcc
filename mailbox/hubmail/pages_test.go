package hubmail_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/hubfs/hubfs/hub/hubtest"
	"github.com/hubfs/hubfs/hubd/hubdtest"
	"github.com/hubfs/hubfs/identity"
	"github.com/hubfs/hubfs/mailbox"
	"github.com/hubfs/hubfs/mailbox/hubmail"
)

// TestListsABoxWhoseFullPagesTheHubRefuses: the mount's lister never shrank
// a page, so a box whose full page is over the hub's reply budget (70
// messages of 1 MB at the default limits; here 100 of 1 KiB under a hub
// with a 1 KiB limit, whose pages hold about 64) failed every ls, stat and
// cat with "too large". It lists whole now, and its messages open.
func TestListsABoxWhoseFullPagesTheHubRefuses(t *testing.T) {
	const limit, n = 1 << 10, 100
	h := hubdtest.Start(t, hubdtest.WithMaxMessageSize(limit))
	alice, bob := hubtest.NewUser(t, h), hubtest.NewUser(t, h)
	body := bytes.Repeat([]byte("y"), limit-identity.Overhead)
	for range n {
		if _, err := bob.Client.SendMessage(context.Background(), bob.Key, alice.Key.Public(), body); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	mbox, err := alice.Client.GetMailboxID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c := hubmail.New(alice.Client, alice.Key, mbox, mailbox.Config{})
	got, err := c.List(ctx, mailbox.Inbox)
	if err != nil {
		t.Fatalf("list an inbox of %d messages of %d bytes: %v", n, limit, err)
	}
	if len(got) != n {
		t.Fatalf("listed %d messages, want %d", len(got), n)
	}
	plain, err := c.Open(ctx, mailbox.Inbox, got[n-1].ID)
	if err != nil || !bytes.Equal(plain, body) {
		t.Fatalf("open the last message: %d bytes, %v", len(plain), err)
	}
}
