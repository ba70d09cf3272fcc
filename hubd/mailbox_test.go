package hubd_test

import (
	"bytes"
	"context"
	"sync"
	"testing"

	"github.com/hubfs/hubfs/hubd/hubdtest"
	"github.com/hubfs/hubfs/identity"
	hubpb "github.com/hubfs/hubfs/wire/pb"
)

func TestSendAndRead(t *testing.T) {
	h := hubdtest.Start(t)
	conn := dial(t, h)
	alice, bob := mailboxUser(t, h, conn), mailboxUser(t, h, conn)

	res := send(t, alice, bob.id, []byte("hello bob"))
	if len(res.Id) != 26 || res.CreatedAt == 0 {
		t.Fatalf("SendMessage = %+v", res)
	}

	in, err := bob.users.ListInboxMessages(bob.ctx(), &hubpb.ListInboxMessagesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(in.Messages) != 1 {
		t.Fatalf("bob's inbox has %d messages, want 1", len(in.Messages))
	}
	m := in.Messages[0]
	if m.Id != res.Id || m.From != alice.id || m.To != bob.id || m.CreatedAt != res.CreatedAt || m.ReadAt != 0 {
		t.Fatalf("inbox message = %+v", m)
	}
	plain, err := bob.key.Decrypt(m.Body)
	if err != nil || !bytes.Equal(plain, []byte("hello bob")) {
		t.Fatalf("decrypt inbox copy = %q, %v", plain, err)
	}
	if ok, _ := alice.key.Public().Verify(m.Body, m.Signature); !ok {
		t.Fatal("inbox signature does not verify")
	}

	sent, err := alice.users.ListSentboxMessages(alice.ctx(), &hubpb.ListSentboxMessagesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(sent.Messages) != 1 || sent.Messages[0].Id != res.Id {
		t.Fatalf("alice's sentbox = %+v", sent.Messages)
	}
	if plain, err := alice.key.Decrypt(sent.Messages[0].Body); err != nil || string(plain) != "hello bob" {
		t.Fatalf("decrypt sentbox copy = %q, %v", plain, err)
	}

	rd, err := bob.users.ReadInboxMessage(bob.ctx(), &hubpb.ReadInboxMessageRequest{Id: res.Id})
	if err != nil || rd.ReadAt == 0 {
		t.Fatalf("ReadInboxMessage = %v, %v", rd, err)
	}
	if _, err := bob.users.DeleteInboxMessage(bob.ctx(), &hubpb.DeleteInboxMessageRequest{Id: res.Id}); err != nil {
		t.Fatal(err)
	}
	in, err = bob.users.ListInboxMessages(bob.ctx(), &hubpb.ListInboxMessagesRequest{})
	if err != nil || len(in.Messages) != 0 {
		t.Fatalf("after delete: %v, %v", in, err)
	}

	mb, err := bob.users.GetThread(bob.ctx(), &hubpb.GetThreadRequest{Name: "hubmail"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := identity.ThreadIDFromBytes(mb.Id); err != nil || !mb.IsDb {
		t.Fatalf("mailbox thread = %+v (%v)", mb, err)
	}
}

// TestTamperMessage checks the harness other packages use to test
// bad-signature handling: a tampered copy no longer verifies, the other
// copy is untouched.
func TestTamperMessage(t *testing.T) {
	h := hubdtest.Start(t)
	conn := dial(t, h)
	alice, bob := mailboxUser(t, h, conn), mailboxUser(t, h, conn)
	res := send(t, alice, bob.id, []byte("soon tampered"))
	h.TamperMessage(t, "inbox", res.Id)

	in, err := bob.users.ListInboxMessages(bob.ctx(), &hubpb.ListInboxMessagesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := alice.key.Public().Verify(in.Messages[0].Body, in.Messages[0].Signature); ok {
		t.Fatal("tampered inbox copy still verifies")
	}
	if _, err := bob.key.Decrypt(in.Messages[0].Body); err == nil {
		t.Fatal("tampered inbox copy still decrypts")
	}
	sent, err := alice.users.ListSentboxMessages(alice.ctx(), &hubpb.ListSentboxMessagesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := alice.key.Public().Verify(sent.Messages[0].Body, sent.Messages[0].Signature); !ok {
		t.Fatal("the sentbox copy was tampered too")
	}
}

// TestConcurrentUse: sends, reads, lists and deletes from several clients
// at once, with API keys created through the same store, never fail with a
// busy database and lose nothing.
func TestConcurrentUse(t *testing.T) {
	h := hubdtest.Start(t)
	conn := dial(t, h)
	const workers, each = 4, 15
	hubUsers := make([]*user, workers)
	for i := range hubUsers {
		hubUsers[i] = mailboxUser(t, h, conn)
	}
	var wg sync.WaitGroup
	errs := make(chan error, workers*each*3+10)
	for i, u := range hubUsers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			to := hubUsers[(i+1)%workers]
			for range each {
				res, err := u.users.SendMessage(u.ctx(), sendReq(t, u, to.id, []byte("concurrent")))
				if err != nil {
					errs <- err
					return
				}
				if _, err := to.users.ReadInboxMessage(to.ctx(), &hubpb.ReadInboxMessageRequest{Id: res.Id}); err != nil {
					errs <- err
				}
				if _, err := u.users.ListSentboxMessages(u.ctx(), &hubpb.ListSentboxMessagesRequest{Limit: 10}); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for range 5 {
			if _, err := h.Server.CreateKey(context.Background()); err != nil {
				errs <- err
			}
		}
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for _, u := range hubUsers {
		in, err := u.users.ListInboxMessages(u.ctx(), &hubpb.ListInboxMessagesRequest{Status: hubpb.ListInboxMessagesRequest_STATUS_READ})
		if err != nil || len(in.Messages) != each {
			t.Fatalf("inbox has %d read messages, want %d (%v)", len(in.GetMessages()), each, err)
		}
	}
}
