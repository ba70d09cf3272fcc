package hubd_test

import (
	"bytes"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"

	"github.com/hubfs/hubfs/hubd"
	"github.com/hubfs/hubfs/hubd/hubdtest"
	"github.com/hubfs/hubfs/identity"
	hubpb "github.com/hubfs/hubfs/wire/pb"
)

func TestThreads(t *testing.T) {
	h := hubdtest.Start(t)
	conn := dial(t, h)
	u := newUser(t, h, conn)

	if list, err := u.users.ListThreads(u.ctx(), &hubpb.ListThreadsRequest{}); err != nil || len(list.List) != 0 {
		t.Fatalf("threads before SetupMailbox: %v, %v", list, err)
	}
	first, err := u.users.SetupMailbox(u.ctx(), &hubpb.SetupMailboxRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := identity.ThreadIDFromBytes(first.MailboxId); err != nil || first.MailboxId[0] != 1 || first.MailboxId[1] != 0x55 || len(first.MailboxId) != 34 {
		t.Fatalf("mailbox id %x: %v", first.MailboxId, err)
	}
	again, err := u.users.SetupMailbox(u.ctx(), &hubpb.SetupMailboxRequest{})
	if err != nil || !bytes.Equal(again.MailboxId, first.MailboxId) {
		t.Fatalf("SetupMailbox is not idempotent: %x then %x (%v)", first.MailboxId, again.GetMailboxId(), err)
	}

	notes := identity.NewThreadID()
	if _, err := u.threads.NewDB(u.ctx(), &hubpb.NewDBRequest{DbID: notes.Bytes(), Name: "notes"}); err != nil {
		t.Fatal(err)
	}
	// The JS client names a new DB in a header.
	viaHeader := identity.NewThreadID()
	ctx := metadata.AppendToOutgoingContext(u.ctx(), "x-textile-thread-name", "drafts")
	if _, err := u.threads.NewDB(ctx, &hubpb.NewDBRequest{DbID: viaHeader.Bytes()}); err != nil {
		t.Fatal(err)
	}
	list, err := u.users.ListThreads(u.ctx(), &hubpb.ListThreadsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, th := range list.List {
		names = append(names, th.Name)
		if !th.IsDb {
			t.Errorf("thread %s is not a DB", th.Name)
		}
	}
	if len(names) != 3 || names[0] != hubd.MailboxName || names[1] != "notes" || names[2] != "drafts" {
		t.Fatalf("threads = %v", names)
	}
	got, err := u.users.GetThread(u.ctx(), &hubpb.GetThreadRequest{Name: "notes"})
	if err != nil || !bytes.Equal(got.Id, notes.Bytes()) {
		t.Fatalf("GetThread notes = %v, %v", got, err)
	}

	t.Run("errors", func(t *testing.T) {
		_, err := u.threads.NewDB(u.ctx(), &hubpb.NewDBRequest{DbID: identity.NewThreadID().Bytes(), Name: "notes"})
		wantCode(t, err, codes.AlreadyExists, "")
		_, err = u.threads.NewDB(u.ctx(), &hubpb.NewDBRequest{DbID: notes.Bytes(), Name: "other"})
		wantCode(t, err, codes.AlreadyExists, "db already exists")
		_, err = u.threads.NewDB(u.ctx(), &hubpb.NewDBRequest{DbID: []byte{9, 9}, Name: "x"})
		wantCode(t, err, codes.InvalidArgument, "")
		_, err = u.threads.NewDB(u.ctx(), &hubpb.NewDBRequest{DbID: identity.NewThreadID().Bytes(), Name: "hubmail"})
		wantCode(t, err, codes.InvalidArgument, "")
		_, err = u.threads.DeleteDB(u.ctx(), &hubpb.DeleteDBRequest{DbID: first.MailboxId})
		wantCode(t, err, codes.FailedPrecondition, "")
		_, err = u.threads.DeleteDB(u.ctx(), &hubpb.DeleteDBRequest{DbID: identity.NewThreadID().Bytes()})
		wantCode(t, err, codes.NotFound, "Thread not found")
	})

	if _, err := u.threads.DeleteDB(u.ctx(), &hubpb.DeleteDBRequest{DbID: notes.Bytes()}); err != nil {
		t.Fatal(err)
	}
	_, err = u.users.GetThread(u.ctx(), &hubpb.GetThreadRequest{Name: "notes"})
	wantCode(t, err, codes.NotFound, "Thread not found")
	// The name is free again.
	if _, err := u.threads.NewDB(u.ctx(), &hubpb.NewDBRequest{DbID: identity.NewThreadID().Bytes(), Name: "notes"}); err != nil {
		t.Fatal(err)
	}
}

func TestUsage(t *testing.T) {
	h := hubdtest.Start(t)
	conn := dial(t, h)
	alice, bob := mailboxUser(t, h, conn), mailboxUser(t, h, conn)
	var sentBytes int64
	for range 3 {
		r := sendReq(t, alice, bob.id, []byte("12345"))
		if _, err := alice.users.SendMessage(alice.ctx(), r); err != nil {
			t.Fatal(err)
		}
		sentBytes += int64(len(r.FromBody) + len(r.FromSignature))
	}
	// Deleting a sent copy lowers what is stored, not what was sent.
	list, _ := alice.users.ListSentboxMessages(alice.ctx(), &hubpb.ListSentboxMessagesRequest{Limit: 1})
	if _, err := alice.users.DeleteSentboxMessage(alice.ctx(), &hubpb.DeleteSentboxMessageRequest{Id: list.Messages[0].Id}); err != nil {
		t.Fatal(err)
	}
	sentBytes -= int64(len(list.Messages[0].Body) + len(list.Messages[0].Signature))

	res, err := alice.users.GetUsage(alice.ctx(), &hubpb.GetUsageRequest{})
	if err != nil {
		t.Fatal(err)
	}
	u := res.GetUsage().GetUsage()
	if u[hubd.UsageSentMessages].GetTotal() != 3 || u[hubd.UsageStoredMessages].GetTotal() != 2 || u[hubd.UsageStoredData].GetTotal() != sentBytes {
		t.Fatalf("alice's usage = %v (want 3 sent, 2 stored, %d bytes)", u, sentBytes)
	}
	if res.GetCustomer().GetKey() != alice.id {
		t.Fatalf("customer key = %q", res.GetCustomer().GetKey())
	}
	// Asking for oneself by key is the same.
	if _, err := alice.users.GetUsage(alice.ctx(), &hubpb.GetUsageRequest{Key: alice.id}); err != nil {
		t.Fatal(err)
	}
	res, err = bob.users.GetUsage(bob.ctx(), &hubpb.GetUsageRequest{})
	if err != nil {
		t.Fatal(err)
	}
	u = res.GetUsage().GetUsage()
	if u[hubd.UsageSentMessages].GetTotal() != 0 || u[hubd.UsageStoredMessages].GetTotal() != 3 {
		t.Fatalf("bob's usage = %v", u)
	}
}
