package hub_test

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/hubfs/hubfs/hub"
	"github.com/hubfs/hubfs/hubd/hubdtest"
	"github.com/hubfs/hubfs/identity"
)

func TestMailboxSetup(t *testing.T) {
	h := hubdtest.Start(t)
	ctx := testCtx(t)
	c := dial(t, h)
	key, _ := identity.NewPrivateKey()
	if _, err := c.GetToken(ctx, key); err != nil {
		t.Fatal(err)
	}
	_, err := c.GetMailboxID(ctx)
	if !errors.Is(err, hub.ErrNoMailbox) || !errors.Is(err, hub.ErrNotFound) {
		t.Fatalf("mailbox id before setup: got %v, want ErrNoMailbox and ErrNotFound", err)
	}
	if _, err := c.ListInboxMessages(ctx, hub.InboxListOptions{}); !errors.Is(err, hub.ErrNoMailbox) {
		t.Fatalf("list before setup: got %v, want ErrNoMailbox", err)
	}
	id, err := c.SetupMailbox(ctx)
	if err != nil {
		t.Fatal(err)
	}
	again, err := c.SetupMailbox(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.GetMailboxID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if id.IsZero() || again != id || got != id {
		t.Fatalf("setup %v, setup again %v, get %v: want one id", id, again, got)
	}
}

func TestSendAndRead(t *testing.T) {
	h := hubdtest.Start(t)
	ctx := testCtx(t)
	alice, bob := newUser(t, h), newUser(t, h)

	before := time.Now()
	sent, err := alice.c.SendMessage(ctx, alice.key, bob.pub(), []byte("hello bob"))
	if err != nil {
		t.Fatal(err)
	}
	if err := hub.CheckMessageID(sent.ID); err != nil {
		t.Fatalf("sent id: %v", err)
	}
	if sent.From != alice.pub().String() || sent.To != bob.pub().String() {
		t.Errorf("sent from %s to %s, want alice to bob", sent.From, sent.To)
	}
	if sent.CreatedAt.Before(before.Add(-time.Minute)) || !sent.ReadAt.IsZero() {
		t.Errorf("sent at %v, read at %v", sent.CreatedAt, sent.ReadAt)
	}
	if p, err := sent.Open(alice.key); err != nil || string(p) != "hello bob" {
		t.Fatalf("the returned sentbox copy opens to %q, %v", p, err)
	}

	in, err := bob.c.ListInboxMessages(ctx, hub.InboxListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(in) != 1 || in[0].ID != sent.ID || !in[0].Unread() || !in[0].CreatedAt.Equal(sent.CreatedAt) {
		t.Fatalf("bob's inbox: %+v", in)
	}
	if p, err := in[0].Open(bob.key); err != nil || string(p) != "hello bob" {
		t.Fatalf("bob opens %q, %v", p, err)
	}
	if in[0].Size() != int64(len("hello bob")) {
		t.Errorf("size %d, want %d", in[0].Size(), len("hello bob"))
	}
	// The inbox copy is encrypted to bob alone.
	if _, err := in[0].Open(alice.key); !errors.Is(err, hub.ErrDecrypt) || !errors.Is(err, identity.ErrDecrypt) {
		t.Errorf("alice opening bob's copy: got %v, want ErrDecrypt", err)
	}

	out, err := alice.c.ListSentboxMessages(ctx, hub.SentboxListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 1 || out[0].ID != sent.ID || !bytes.Equal(out[0].Body, sent.Body) {
		t.Fatalf("alice's sentbox: %+v", out)
	}
	if p, err := out[0].Open(alice.key); err != nil || string(p) != "hello bob" {
		t.Fatalf("alice opens her sent copy: %q, %v", p, err)
	}
	if n, _ := alice.c.ListInboxMessages(ctx, hub.InboxListOptions{}); len(n) != 0 {
		t.Errorf("alice's inbox has %d messages, want none", len(n))
	}

	// Read state and the status filter.
	unread := func() int {
		m, err := bob.c.ListInboxMessages(ctx, hub.InboxListOptions{Status: hub.StatusUnread})
		if err != nil {
			t.Fatal(err)
		}
		return len(m)
	}
	read := func() []hub.UserMessage {
		m, err := bob.c.ListInboxMessages(ctx, hub.InboxListOptions{Status: hub.StatusRead})
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	if unread() != 1 || len(read()) != 0 {
		t.Fatal("a new message is not unread")
	}
	at, err := bob.c.ReadInboxMessage(ctx, sent.ID)
	if err != nil {
		t.Fatal(err)
	}
	if at.IsZero() {
		t.Fatal("read at the zero time")
	}
	if r := read(); unread() != 0 || len(r) != 1 || !r[0].ReadAt.Equal(at) {
		t.Fatalf("after reading: %d unread, read %+v", unread(), r)
	}

	// Deleting one copy leaves the other.
	if err := bob.c.DeleteInboxMessage(ctx, sent.ID); err != nil {
		t.Fatal(err)
	}
	if n, _ := bob.c.ListInboxMessages(ctx, hub.InboxListOptions{}); len(n) != 0 {
		t.Fatalf("deleted message still listed: %+v", n)
	}
	if n, _ := alice.c.ListSentboxMessages(ctx, hub.SentboxListOptions{}); len(n) != 1 {
		t.Fatal("deleting bob's copy removed alice's")
	}
	if err := alice.c.DeleteSentboxMessage(ctx, sent.ID); err != nil {
		t.Fatal(err)
	}
	if n, _ := alice.c.ListSentboxMessages(ctx, hub.SentboxListOptions{}); len(n) != 0 {
		t.Fatalf("deleted sent message still listed: %+v", n)
	}
	if _, err := bob.c.ReadInboxMessage(ctx, sent.ID); !errors.Is(err, hub.ErrNotFound) {
		t.Errorf("reading a deleted message: got %v, want ErrNotFound", err)
	}
}

func TestSendEmptyAndBinary(t *testing.T) {
	h := hubdtest.Start(t)
	alice, bob := newUser(t, h), newUser(t, h)
	body := make([]byte, 64<<10)
	for i := range body {
		body[i] = byte(i * 7)
	}
	for _, b := range [][]byte{nil, {0}, body} {
		m, err := alice.c.SendMessage(testCtx(t), alice.key, bob.pub(), b)
		if err != nil {
			t.Fatalf("send %d bytes: %v", len(b), err)
		}
		in, err := bob.c.ListInboxMessages(testCtx(t), hub.InboxListOptions{Seek: m.ID, Limit: 1})
		if err != nil || len(in) != 1 {
			t.Fatalf("list: %v %v", in, err)
		}
		if p, err := in[0].Open(bob.key); err != nil || !bytes.Equal(p, b) {
			t.Fatalf("%d bytes came back as %d, %v", len(b), len(p), err)
		}
	}
}

func TestSendErrors(t *testing.T) {
	h := hubdtest.Start(t, hubdtest.WithMaxMessageSize(1024))
	ctx := testCtx(t)
	alice, bob := newUser(t, h), newUser(t, h)

	nobody, _ := identity.NewPrivateKey() // no mailbox
	if _, err := alice.c.SendMessage(ctx, alice.key, nobody.Public(), []byte("x")); !errors.Is(err, hub.ErrNoMailbox) {
		t.Errorf("to a user without a mailbox: got %v, want ErrNoMailbox", err)
	}
	noBox := dial(t, h)
	if _, err := noBox.GetToken(ctx, nobody); err != nil {
		t.Fatal(err)
	}
	if _, err := noBox.SendMessage(ctx, nobody, bob.pub(), []byte("x")); !errors.Is(err, hub.ErrNoMailbox) {
		t.Errorf("from a user without a mailbox: got %v, want ErrNoMailbox", err)
	}
	// Signing as someone other than the token's user.
	if _, err := alice.c.SendMessage(ctx, bob.key, alice.pub(), []byte("x")); !errors.Is(err, hub.ErrUnauthenticated) {
		t.Errorf("signed by another key: got %v, want ErrUnauthenticated", err)
	}
	if _, err := alice.c.SendMessage(ctx, alice.key, bob.pub(), make([]byte, 2048)); !errors.Is(err, hub.ErrTooLarge) {
		t.Errorf("over the hub's size limit: got %v, want ErrTooLarge", err)
	}
	if _, err := alice.c.SendMessage(ctx, nil, bob.pub(), nil); !errors.Is(err, hub.ErrInvalid) {
		t.Errorf("nil sender: got %v", err)
	}
	if _, err := alice.c.SendMessage(ctx, alice.key, nil, nil); !errors.Is(err, hub.ErrInvalid) {
		t.Errorf("nil recipient: got %v", err)
	}
	if n, _ := bob.c.ListInboxMessages(ctx, hub.InboxListOptions{}); len(n) != 0 {
		t.Errorf("failed sends delivered %d messages", len(n))
	}
}

func TestBadInput(t *testing.T) {
	h := hubdtest.Start(t)
	ctx := testCtx(t)
	u := newUser(t, h)
	for _, id := range []string{"", "../../etc/passwd", "01J9ZQ3K8M5V7W2X4Y6Z8A0B1", "01j9zq3k8m5v7w2x4y6z8a0b1cd", "81j9zq3k8m5v7w2x4y6z8a0b1c", "01j9zq3k8m5v7w2x4y6z8a0b1u"} {
		if _, err := u.c.ReadInboxMessage(ctx, id); !errors.Is(err, hub.ErrInvalid) {
			t.Errorf("read %q: got %v, want ErrInvalid", id, err)
		}
		if err := u.c.DeleteInboxMessage(ctx, id); !errors.Is(err, hub.ErrInvalid) {
			t.Errorf("delete inbox %q: got %v, want ErrInvalid", id, err)
		}
		if err := u.c.DeleteSentboxMessage(ctx, id); !errors.Is(err, hub.ErrInvalid) {
			t.Errorf("delete sentbox %q: got %v, want ErrInvalid", id, err)
		}
		if id != "" {
			if _, err := u.c.ListInboxMessages(ctx, hub.InboxListOptions{Seek: id}); !errors.Is(err, hub.ErrInvalid) {
				t.Errorf("seek %q: got %v, want ErrInvalid", id, err)
			}
		}
	}
	if _, err := u.c.ListInboxMessages(ctx, hub.InboxListOptions{Limit: -1}); !errors.Is(err, hub.ErrInvalid) {
		t.Errorf("negative limit: got %v", err)
	}
	if _, err := u.c.ListSentboxMessages(ctx, hub.SentboxListOptions{Limit: -1}); !errors.Is(err, hub.ErrInvalid) {
		t.Errorf("negative limit: got %v", err)
	}
	if _, err := u.c.ListInboxMessages(ctx, hub.InboxListOptions{Status: 7}); !errors.Is(err, hub.ErrInvalid) {
		t.Errorf("unknown status: got %v", err)
	}
	// Upper-case ids are ULIDs too.
	if _, err := u.c.ReadInboxMessage(ctx, "01J9ZQ3K8M5V7W2X4Y6Z8A0B1C"); !errors.Is(err, hub.ErrNotFound) {
		t.Errorf("an unknown id: got %v, want ErrNotFound", err)
	}
}

// sendN sends n numbered messages from alice to bob and returns their ids
// in the order sent.
func sendN(t testing.TB, alice, bob user, n int) []string {
	t.Helper()
	ids := make([]string, n)
	for i := range ids {
		ids[i] = alice.send(t, bob, fmt.Sprintf("message %d", i)).ID
	}
	return ids
}

// TestPaging walks 250 messages in pages of 100 in both orders: each
// message once, none missing, in order, through the hub's inclusive seek.
func TestPaging(t *testing.T) {
	h := hubdtest.Start(t)
	ctx := testCtx(t)
	alice, bob := newUser(t, h), newUser(t, h)
	sent := sendN(t, alice, bob, 250)
	want := slices.Clone(sent)
	slices.Sort(want) // the hub orders by id

	walkInbox := func(opts hub.InboxListOptions) []string {
		var got []string
		for m, err := range bob.c.InboxMessages(ctx, opts) {
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, m.ID)
		}
		return got
	}
	for _, size := range []int{100, 0, 7} {
		for _, asc := range []bool{true, false} {
			t.Run(fmt.Sprintf("inbox/page=%d/ascending=%v", size, asc), func(t *testing.T) {
				w := slices.Clone(want)
				if !asc {
					slices.Reverse(w)
				}
				if got := walkInbox(hub.InboxListOptions{Limit: size, Ascending: asc}); !slices.Equal(got, w) {
					t.Fatalf("got %d ids, want %d in order (dups or gaps)", len(got), len(w))
				}
			})
			t.Run(fmt.Sprintf("sentbox/page=%d/ascending=%v", size, asc), func(t *testing.T) {
				w := slices.Clone(want)
				if !asc {
					slices.Reverse(w)
				}
				var got []string
				for m, err := range alice.c.SentboxMessages(ctx, hub.SentboxListOptions{Limit: size, Ascending: asc}) {
					if err != nil {
						t.Fatal(err)
					}
					got = append(got, m.ID)
				}
				if !slices.Equal(got, w) {
					t.Fatalf("got %d ids, want %d in order", len(got), len(w))
				}
			})
		}
	}

	t.Run("seek is inclusive", func(t *testing.T) {
		page, err := bob.c.ListInboxMessages(ctx, hub.InboxListOptions{Seek: want[10], Limit: 1})
		if err != nil || len(page) != 1 || page[0].ID != want[10] {
			t.Fatalf("a page from %s starts with %+v, %v", want[10], page, err)
		}
		got := walkInbox(hub.InboxListOptions{Seek: want[200], Limit: 100, Ascending: true})
		if !slices.Equal(got, want[200:]) {
			t.Fatalf("walk from the 201st: %d ids, want %d", len(got), 50)
		}
	})

	t.Run("status", func(t *testing.T) {
		for _, id := range want[:30] {
			if _, err := bob.c.ReadInboxMessage(ctx, id); err != nil {
				t.Fatal(err)
			}
		}
		got := walkInbox(hub.InboxListOptions{Limit: 100, Ascending: true, Status: hub.StatusUnread})
		if !slices.Equal(got, want[30:]) {
			t.Fatalf("unread walk: %d ids, want 220", len(got))
		}
		got = walkInbox(hub.InboxListOptions{Limit: 10, Status: hub.StatusRead})
		if len(got) != 30 {
			t.Fatalf("read walk: %d ids, want 30", len(got))
		}
	})
}

// TestTamperedMessage: a message corrupted on the hub fails Open with
// ErrBadSignature; the rest of its page opens.
func TestTamperedMessage(t *testing.T) {
	h := hubdtest.Start(t)
	ctx := testCtx(t)
	alice, bob := newUser(t, h), newUser(t, h)
	ids := sendN(t, alice, bob, 5)
	slices.Sort(ids)
	h.TamperMessage(t, "inbox", ids[2])

	page, err := bob.c.ListInboxMessages(ctx, hub.InboxListOptions{Ascending: true})
	if err != nil {
		t.Fatalf("a page with a tampered message: %v", err)
	}
	if len(page) != 5 {
		t.Fatalf("got %d messages, want 5", len(page))
	}
	for i, m := range page {
		p, err := m.Open(bob.key)
		if i == 2 {
			if !errors.Is(err, hub.ErrBadSignature) || p != nil {
				t.Errorf("tampered message: got %q, %v; want ErrBadSignature", p, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("message %d of the page: %v", i, err)
		}
	}

	// A message whose sender field lies is a bad signature too.
	m := page[0]
	m.From = bob.pub().String()
	if _, err := m.Open(bob.key); !errors.Is(err, hub.ErrBadSignature) {
		t.Errorf("forged sender: got %v, want ErrBadSignature", err)
	}
	m.From = "bnotakey"
	if _, err := m.Open(bob.key); !errors.Is(err, hub.ErrBadSignature) {
		t.Errorf("unparsable sender: got %v, want ErrBadSignature", err)
	}
	if _, err := page[0].Open(nil); !errors.Is(err, hub.ErrInvalid) {
		t.Errorf("nil key: got %v", err)
	}
}
