package mailbox_test

import (
	"context"
	"testing"
	"time"

	"github.com/hubfs/hubfs/mailbox"
	"github.com/hubfs/hubfs/mailbox/mailboxtest"
)

// waitUntil polls cond; the live machinery runs on its own goroutines.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after 20s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestFollow runs the model (over the cache) against the real hub's watch: it lists both
// boxes once, applies events without listing again, reports each change
// once (a local delete and its echo are one), polls while the hub is
// down, and after the hub comes back lists again and reports what it
// missed.
func TestFollow(t *testing.T) {
	f := newFixture(t, mailbox.Config{ListTTL: time.Minute, WatchTTL: time.Hour, CiphertextBytes: 1 << 20, PlaintextBytes: 1 << 20, PollInterval: time.Hour})
	ctx := context.Background()
	lv := f.Model.Follow(ctx)
	defer lv.Close()
	waitUntil(t, "watch mode and both boxes listed", func() bool {
		return f.Model.Mode() == mailbox.ModeWatch && f.Calls("ListInboxMessages") == 1 && f.Calls("ListSentboxMessages") == 1
	})
	f.TakeChanges()

	m := f.Bob.Send(t, f.Alice, "hello")
	waitUntil(t, "create applied", func() bool { _, err := f.Model.Lookup(ctx, mailbox.Inbox, m.ID); return err == nil })
	if b, err := f.Model.Open(ctx, mailbox.Inbox, m.ID); err != nil || string(b) != "hello" {
		t.Fatalf("Open = %q, %v (the body came with the event)", b, err)
	}
	if err := f.Model.Delete(ctx, mailbox.Inbox, m.ID); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "delete echoed", func() bool { return f.Model.Stats().WatchEvents >= 2 })
	if n := f.Calls("ListInboxMessages"); n != 1 {
		t.Errorf("%d inbox listings, want the first only", n)
	}
	got := f.TakeChanges()
	if len(got) != 2 || got[0].Kind != mailbox.Added || got[1].Kind != mailbox.Removed || got[1].ID != m.ID {
		t.Fatalf("changes %+v, want one Added and one Removed", got)
	}

	// The hub goes away: poll mode, with the reason reported.
	f.hub.Stop(t)
	waitUntil(t, "poll mode", func() bool { return f.Model.Mode() == mailbox.ModePoll })
	f.hub.Restart(t)
	bob := mailboxtest.NewUser(t, f.hub) // a fresh connection: the old one may still be backing off
	m2, err := bob.Client.SendMessage(ctx, bob.Key, f.Alice.Key.Public(), []byte("meanwhile"))
	if err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "back in watch mode with the message", func() bool {
		_, err := f.Model.Lookup(ctx, mailbox.Inbox, m2.ID)
		return f.Model.Mode() == mailbox.ModeWatch && err == nil
	})
	var kinds []mailbox.ChangeKind
	added := 0
	for _, c := range f.TakeChanges() {
		kinds = append(kinds, c.Kind)
		if c.Kind == mailbox.Added && c.ID == m2.ID {
			added++
		}
		if c.Kind == mailbox.ModeChanged && c.Mode == mailbox.ModePoll && c.Err == nil {
			t.Errorf("switch to poll mode without a reason")
		}
	}
	if added != 1 {
		t.Errorf("the message sent meanwhile was reported %d times, want once (changes %v)", added, kinds)
	}
	if kinds[0] != mailbox.LiveError && kinds[0] != mailbox.ModeChanged {
		t.Errorf("first change after the hub stopped: %v", kinds[0])
	}
	if s := f.Model.Stats(); s.WatchReconnects < 2 {
		t.Errorf("watch_reconnects = %d, want both boxes", s.WatchReconnects)
	}
}

// TestApplyWithoutAListing: with no listing to compare against, a save is
// reported as a change of read state and a delete is reported at all (the
// kernel may know the name).
func TestApplyWithoutAListing(t *testing.T) {
	f := newFixture(t, mailbox.Config{ListTTL: time.Minute})
	m := mailbox.Message{Entry: mailbox.Entry{ID: "01jc0000000000000000000000", ReadAt: time.Unix(1_800_000_000, 0)}}
	f.Model.Apply(mailbox.Inbox, mailbox.Event{Kind: mailbox.EventSave, ID: m.ID, Message: &m})
	f.Model.Apply(mailbox.Inbox, mailbox.Event{Kind: mailbox.EventDelete, ID: m.ID})
	f.Model.Apply(mailbox.Inbox, mailbox.Event{Kind: mailbox.EventCreate, Message: &mailbox.Message{Entry: mailbox.Entry{ID: "../etc"}}})
	got := f.TakeChanges()
	if len(got) != 2 || got[0].Kind != mailbox.Read || got[1].Kind != mailbox.Removed {
		t.Fatalf("changes %+v, want Read then Removed (and nothing for a bad id)", got)
	}
}
