package hubd_test

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"

	"github.com/hubfs/hubfs/hubd/hubdtest"
	"github.com/hubfs/hubfs/identity"
	hubpb "github.com/hubfs/hubfs/wire/pb"
)

// TestIsolation: Mallory, with her own valid token, can neither see nor
// change Alice's and Bob's mail, threads or usage.
func TestIsolation(t *testing.T) {
	h := hubdtest.Start(t)
	conn := dial(t, h)
	alice, bob, mallory := mailboxUser(t, h, conn), mailboxUser(t, h, conn), mailboxUser(t, h, conn)
	msg := send(t, alice, bob.id, []byte("for bob only"))

	tid := identity.NewThreadID()
	if _, err := bob.threads.NewDB(bob.ctx(), &hubpb.NewDBRequest{DbID: tid.Bytes(), Name: "bobs-notes"}); err != nil {
		t.Fatal(err)
	}
	bobMailbox, err := bob.users.GetThread(bob.ctx(), &hubpb.GetThreadRequest{Name: "hubmail"})
	if err != nil {
		t.Fatal(err)
	}

	t.Run("list", func(t *testing.T) {
		in, err := mallory.users.ListInboxMessages(mallory.ctx(), &hubpb.ListInboxMessagesRequest{})
		if err != nil || len(in.Messages) != 0 {
			t.Fatalf("mallory's inbox: %v, %v", in, err)
		}
		sent, err := mallory.users.ListSentboxMessages(mallory.ctx(), &hubpb.ListSentboxMessagesRequest{})
		if err != nil || len(sent.Messages) != 0 {
			t.Fatalf("mallory's sentbox: %v, %v", sent, err)
		}
	})
	t.Run("read", func(t *testing.T) {
		_, err := mallory.users.ReadInboxMessage(mallory.ctx(), &hubpb.ReadInboxMessageRequest{Id: msg.Id})
		wantCode(t, err, codes.NotFound, "instance not found")
	})
	t.Run("delete", func(t *testing.T) {
		if _, err := mallory.users.DeleteInboxMessage(mallory.ctx(), &hubpb.DeleteInboxMessageRequest{Id: msg.Id}); err != nil {
			t.Fatal(err)
		}
		if _, err := mallory.users.DeleteSentboxMessage(mallory.ctx(), &hubpb.DeleteSentboxMessageRequest{Id: msg.Id}); err != nil {
			t.Fatal(err)
		}
		in, _ := bob.users.ListInboxMessages(bob.ctx(), &hubpb.ListInboxMessagesRequest{})
		sent, _ := alice.users.ListSentboxMessages(alice.ctx(), &hubpb.ListSentboxMessagesRequest{})
		if len(in.GetMessages()) != 1 || len(sent.GetMessages()) != 1 || in.Messages[0].ReadAt != 0 {
			t.Fatalf("mallory changed someone's mail: inbox %v sentbox %v", in, sent)
		}
	})
	t.Run("watch", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(mallory.ctx(), 5*time.Second)
		defer cancel()
		st, err := mallory.threads.Listen(ctx, &hubpb.ListenRequest{DbID: bobMailbox.Id})
		if err != nil {
			t.Fatal(err)
		}
		_, err = st.Recv()
		wantCode(t, err, codes.PermissionDenied, "User does not own thread")
	})
	t.Run("threads", func(t *testing.T) {
		list, err := mallory.users.ListThreads(mallory.ctx(), &hubpb.ListThreadsRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if len(list.List) != 1 || list.List[0].Name != "hubmail" {
			t.Fatalf("mallory's threads = %v", list.List)
		}
		_, err = mallory.users.GetThread(mallory.ctx(), &hubpb.GetThreadRequest{Name: "bobs-notes"})
		wantCode(t, err, codes.NotFound, "Thread not found")
		_, err = mallory.threads.DeleteDB(mallory.ctx(), &hubpb.DeleteDBRequest{DbID: tid.Bytes()})
		wantCode(t, err, codes.PermissionDenied, "User does not own thread")
		if _, err := bob.users.GetThread(bob.ctx(), &hubpb.GetThreadRequest{Name: "bobs-notes"}); err != nil {
			t.Fatalf("bob's thread after mallory's delete: %v", err)
		}
		// A thread header naming someone else's thread is refused.
		ctx := metadata.AppendToOutgoingContext(mallory.ctx(), "x-textile-thread", tid.String())
		_, err = mallory.users.ListInboxMessages(ctx, &hubpb.ListInboxMessagesRequest{})
		wantCode(t, err, codes.PermissionDenied, "User does not own thread")
	})
	t.Run("usage", func(t *testing.T) {
		_, err := mallory.users.GetUsage(mallory.ctx(), &hubpb.GetUsageRequest{Key: bob.id})
		wantCode(t, err, codes.PermissionDenied, "")
	})
}
