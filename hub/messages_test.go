package hub_test

import (
	"bytes"
	"errors"
	"slices"
	"testing"

	"github.com/hubfs/hubfs/hub"
	"github.com/hubfs/hubfs/hubd/hubdtest"
	"github.com/hubfs/hubfs/identity"
)

// bigBox is a hub whose page byte budget (64 largest messages) is small,
// and a user with n messages of nearly the largest size in both boxes (she
// wrote them to herself), ascending ids.
func bigBox(t *testing.T, n int) (user, []string) {
	t.Helper()
	const limit = 1 << 10
	h := hubdtest.Start(t, hubdtest.WithMaxMessageSize(limit))
	u := newUser(t, h)
	body := bytes.Repeat([]byte("x"), limit-identity.Overhead)
	ids := make([]string, n)
	for i := range ids {
		m, err := u.c.SendMessage(testCtx(t), u.key, u.pub(), body)
		if err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
		ids[i] = m.ID
	}
	return u, ids
}

// TestMessagesShrinkPagesTheHubRefuses: a box whose full pages the hub
// refuses as too large still lists whole, in either box and order, because
// the one pager halves a refused page; Message fetches one by id.
func TestMessagesShrinkPagesTheHubRefuses(t *testing.T) {
	const n = 100
	u, ids := bigBox(t, n)
	ctx := testCtx(t)
	if _, err := u.c.ListInboxMessages(ctx, hub.InboxListOptions{Limit: hub.MaxPageSize}); !errors.Is(err, hub.ErrTooLarge) {
		t.Fatalf("a full page of %d messages: %v; the test needs the hub to refuse it as too large", n, err)
	}
	for _, box := range []hub.Box{hub.Inbox, hub.Sentbox} {
		for _, asc := range []bool{true, false} {
			want := slices.Clone(ids)
			if !asc {
				slices.Reverse(want)
			}
			var got []string
			for m, err := range u.c.Messages(ctx, box, hub.ListOptions{Ascending: asc}) {
				if err != nil {
					t.Fatalf("%v ascending=%v after %d messages: %v", box, asc, len(got), err)
				}
				got = append(got, m.ID)
			}
			if !slices.Equal(got, want) {
				t.Errorf("%v ascending=%v: %d messages, want %d in order", box, asc, len(got), len(want))
			}
		}
		m, err := u.c.Message(ctx, box, ids[n/2])
		if err != nil || m.ID != ids[n/2] {
			t.Fatalf("%v: message %s: %v, %v", box, ids[n/2], m.ID, err)
		}
		if _, err := m.Open(u.key); err != nil {
			t.Errorf("%v: message %s does not open: %v", box, m.ID, err)
		}
	}
	// The old wrappers walk the same way.
	got := 0
	for _, err := range u.c.SentboxMessages(ctx, hub.SentboxListOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		got++
	}
	if got != n {
		t.Errorf("SentboxMessages yielded %d, want %d", got, n)
	}
}

func TestMessageByID(t *testing.T) {
	h := hubdtest.Start(t)
	alice, bob := newUser(t, h), newUser(t, h)
	ctx := testCtx(t)
	first := alice.send(t, bob, "first")
	gone := alice.send(t, bob, "deleted")
	second := alice.send(t, bob, "second")
	for _, m := range []hub.UserMessage{first, gone, second} {
		got, err := bob.c.Message(ctx, hub.Inbox, m.ID)
		if err != nil || got.ID != m.ID {
			t.Fatalf("inbox message %s: %+v, %v", m.ID, got, err)
		}
	}
	// The page that seeks to a deleted id starts at the next message.
	if err := bob.c.DeleteInboxMessage(ctx, gone.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.c.Message(ctx, hub.Inbox, gone.ID); !errors.Is(err, hub.ErrNotFound) {
		t.Errorf("a deleted message: %v, want ErrNotFound", err)
	}
	if _, err := bob.c.Message(ctx, hub.Sentbox, first.ID); !errors.Is(err, hub.ErrNotFound) {
		t.Errorf("an inbox message asked for in the sentbox: %v, want ErrNotFound", err)
	}
	if _, err := bob.c.Message(ctx, hub.Inbox, "not an id"); !errors.Is(err, hub.ErrInvalid) || hub.Code(err) != "" {
		t.Errorf("a malformed id: %v, want ErrInvalid before any call", err)
	}
	var last error
	for _, err := range bob.c.Messages(ctx, hub.Sentbox, hub.ListOptions{Status: hub.StatusUnread}) {
		last = err
	}
	if !errors.Is(last, hub.ErrInvalid) {
		t.Errorf("unread sentbox messages: %v, want ErrInvalid", last)
	}
}
