package hubd_test

import (
	"bytes"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/hubfs/hubfs/hubd"
	"github.com/hubfs/hubfs/hubd/hubdtest"
	"github.com/hubfs/hubfs/identity"
	hubpb "github.com/hubfs/hubfs/wire/pb"
)

// TestListWithoutBodies: hubfs_without_bodies on either list call answers
// every message's metadata and body size with no body; without the flag
// the reply is the one a Textile client knows (bodies, and no field of
// ours on the wire).
func TestListWithoutBodies(t *testing.T) {
	h := hubdtest.Start(t)
	conn := dial(t, h)
	alice, bob := mailboxUser(t, h, conn), mailboxUser(t, h, conn)
	for i := range 5 {
		send(t, alice, bob.id, bytes.Repeat([]byte{'x'}, 100*i))
	}

	inbox := func(without bool) []*hubpb.Message {
		t.Helper()
		res, err := bob.users.ListInboxMessages(bob.ctx(), &hubpb.ListInboxMessagesRequest{Ascending: true, HubfsWithoutBodies: without})
		if err != nil {
			t.Fatal(err)
		}
		return res.Messages
	}
	sentbox := func(without bool) []*hubpb.Message {
		t.Helper()
		res, err := alice.users.ListSentboxMessages(alice.ctx(), &hubpb.ListSentboxMessagesRequest{Ascending: true, HubfsWithoutBodies: without})
		if err != nil {
			t.Fatal(err)
		}
		return res.Messages
	}
	for _, box := range []struct {
		name string
		list func(bool) []*hubpb.Message
	}{{"inbox", inbox}, {"sentbox", sentbox}} {
		full, bare := box.list(false), box.list(true)
		if len(full) != 5 || len(bare) != 5 {
			t.Fatalf("%s: %d messages with bodies, %d without; want 5", box.name, len(full), len(bare))
		}
		for i, m := range full {
			if m.HubfsBodySize != 0 {
				t.Errorf("%s %s listed with bodies carries hubfs_body_size %d: a Textile client's reply must not change", box.name, m.Id, m.HubfsBodySize)
			}
			if len(m.ProtoReflect().GetUnknown()) != 0 {
				t.Errorf("%s %s: unknown fields in a reply", box.name, m.Id)
			}
			if want := int64(100*i + identity.Overhead); int64(len(m.Body)) != want {
				t.Errorf("%s %s: body of %d bytes, want %d", box.name, m.Id, len(m.Body), want)
			}
			b := bare[i]
			if b.Body != nil || b.HubfsBodySize != int64(len(m.Body)) {
				t.Errorf("%s %s without bodies: body %d bytes, hubfs_body_size %d; want none and %d", box.name, b.Id, len(b.Body), b.HubfsBodySize, len(m.Body))
			}
			want := proto.Clone(m).(*hubpb.Message)
			want.Body, want.HubfsBodySize = nil, b.HubfsBodySize
			if !proto.Equal(b, want) {
				t.Errorf("%s without bodies: %v, want %v", box.name, b, want)
			}
		}
	}

	// The flag combines with seek, limit and the status filter.
	all := inbox(false)
	if _, err := bob.users.ReadInboxMessage(bob.ctx(), &hubpb.ReadInboxMessageRequest{Id: all[2].Id}); err != nil {
		t.Fatal(err)
	}
	res, err := bob.users.ListInboxMessages(bob.ctx(), &hubpb.ListInboxMessagesRequest{
		Seek: all[1].Id, Limit: 1, Ascending: true, HubfsWithoutBodies: true,
		Status: hubpb.ListInboxMessagesRequest_STATUS_READ,
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(res.Messages); len(got) != 1 || got[0] != all[2].Id || res.Messages[0].Body != nil || res.Messages[0].ReadAt == 0 {
		t.Errorf("read messages from %s without bodies: %v", all[1].Id, res.Messages)
	}
}

// TestPageWithoutBodiesFits: the reply budget counts what a reply holds,
// so a page of the largest messages that is too large with bodies (see
// TestPageTooLarge) is served whole without them.
func TestPageWithoutBodiesFits(t *testing.T) {
	const limit = 4 << 10
	h := hubdtest.Start(t, hubdtest.WithMaxMessageSize(limit))
	conn := dial(t, h)
	alice, bob := mailboxUser(t, h, conn), mailboxUser(t, h, conn)
	body, err := bob.key.Public().Encrypt(make([]byte, limit-identity.Overhead))
	if err != nil {
		t.Fatal(err)
	}
	sig, _ := alice.key.Sign(body)
	// 500 bodies of 4 KiB are 2 MiB, over the 256 KiB budget of a hub of
	// 4 KiB messages; their metadata, about 300 bytes each, is within it.
	const n = 500
	if _, err := hubd.SeedMessages(h.Server, alice.id, bob.id, n, body, sig); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.users.ListInboxMessages(bob.ctx(), &hubpb.ListInboxMessagesRequest{Limit: n}); err == nil {
		t.Fatalf("a page of %d messages of %d bytes with bodies was served: the test needs one over the budget", n, limit)
	}
	res, err := bob.users.ListInboxMessages(bob.ctx(), &hubpb.ListInboxMessagesRequest{Limit: n, HubfsWithoutBodies: true})
	if err != nil {
		t.Fatalf("the same page without bodies: %v", err)
	}
	if len(res.Messages) != n {
		t.Fatalf("the same page without bodies: %d messages, want %d", len(res.Messages), n)
	}
	for _, m := range res.Messages {
		if m.Body != nil || m.HubfsBodySize != limit {
			t.Fatalf("%s: body %d bytes, size %d", m.Id, len(m.Body), m.HubfsBodySize)
		}
	}
}
