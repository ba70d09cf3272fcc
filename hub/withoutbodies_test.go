package hub_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/hubfs/hubfs/hub"
	"github.com/hubfs/hubfs/hubd/hubdtest"
	"github.com/hubfs/hubfs/identity"
)

// TestListWithoutBodies: a listing with WithoutBodies brings every
// message without its body and with BodySize, so Size is right without a
// body; with bodies, BodySize is the body's length. Both boxes, one page
// and the walk.
func TestListWithoutBodies(t *testing.T) {
	h := hubdtest.Start(t)
	alice, bob := newUser(t, h), newUser(t, h)
	ctx := testCtx(t)
	bodies := []string{"", "a", strings.Repeat("b", 1000), strings.Repeat("c", 7000)}
	for _, b := range bodies {
		alice.send(t, bob, b)
	}

	full, err := bob.c.ListInboxMessages(ctx, hub.InboxListOptions{Ascending: true})
	if err != nil {
		t.Fatal(err)
	}
	bare, err := bob.c.ListInboxMessages(ctx, hub.InboxListOptions{Ascending: true, WithoutBodies: true})
	if err != nil {
		t.Fatal(err)
	}
	sentFull, err := alice.c.ListSentboxMessages(ctx, hub.SentboxListOptions{Ascending: true})
	if err != nil {
		t.Fatal(err)
	}
	sentBare, err := alice.c.ListSentboxMessages(ctx, hub.SentboxListOptions{Ascending: true, WithoutBodies: true})
	if err != nil {
		t.Fatal(err)
	}
	for box, pair := range map[string][2][]hub.UserMessage{"inbox": {full, bare}, "sentbox": {sentFull, sentBare}} {
		full, bare := pair[0], pair[1]
		if len(full) != len(bodies) || len(bare) != len(bodies) {
			t.Fatalf("%s: %d with bodies, %d without; want %d", box, len(full), len(bare), len(bodies))
		}
		for i, b := range bodies {
			f, m := full[i], bare[i]
			want := int64(len(b) + identity.Overhead)
			if f.BodySize != want || int64(len(f.Body)) != want || f.Size() != int64(len(b)) {
				t.Errorf("%s %d with its body: BodySize %d, body %d bytes, Size %d; want %d, %d, %d", box, i, f.BodySize, len(f.Body), f.Size(), want, want, len(b))
			}
			if m.Body != nil || m.BodySize != want || m.Size() != int64(len(b)) {
				t.Errorf("%s %d without its body: body %d bytes, BodySize %d, Size %d; want none, %d, %d", box, i, len(m.Body), m.BodySize, m.Size(), want, len(b))
			}
			if m.ID != f.ID || m.From != f.From || m.To != f.To || !bytes.Equal(m.Signature, f.Signature) || !m.CreatedAt.Equal(f.CreatedAt) || !m.ReadAt.Equal(f.ReadAt) {
				t.Errorf("%s %d: metadata without bodies %+v differs from %+v", box, i, m, f)
			}
		}
	}

	n := 0
	for m, err := range bob.c.Messages(ctx, hub.Inbox, hub.ListOptions{Limit: 2, Ascending: true, WithoutBodies: true}) {
		if err != nil {
			t.Fatal(err)
		}
		if m.Body != nil || m.Size() != int64(len(bodies[n])) {
			t.Errorf("walk without bodies, message %d: body %d bytes, Size %d", n, len(m.Body), m.Size())
		}
		n++
	}
	if n != len(bodies) {
		t.Errorf("walk without bodies: %d messages, want %d", n, len(bodies))
	}

	// The sender's copy and a hand-made message know their size too.
	sent := alice.send(t, bob, "hello")
	if sent.BodySize != int64(len(sent.Body)) || sent.Size() != 5 {
		t.Errorf("sent copy: BodySize %d, body %d bytes, Size %d", sent.BodySize, len(sent.Body), sent.Size())
	}
	if got := (hub.UserMessage{Body: sent.Body}).Size(); got != 5 {
		t.Errorf("a message with a body and no BodySize: Size %d, want 5", got)
	}
}
