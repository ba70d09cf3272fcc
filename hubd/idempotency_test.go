package hubd_test

import (
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"

	"github.com/hubfs/hubfs/hubd"
	"github.com/hubfs/hubfs/hubd/hubdtest"
	"github.com/hubfs/hubfs/wire"
	hubpb "github.com/hubfs/hubfs/wire/pb"
)

// sendKeyed sends req under an idempotency key.
func sendKeyed(u *user, req *hubpb.SendMessageRequest, key string) (*hubpb.SendMessageResponse, error) {
	ctx := metadata.AppendToOutgoingContext(u.ctx(), wire.IdempotencyKeyHeader, key)
	return u.users.SendMessage(ctx, req)
}

// boxCounts is how many messages bob's inbox and alice's sentbox hold.
func boxCounts(t *testing.T, alice, bob *user) (inbox, sentbox int) {
	t.Helper()
	in, err := bob.users.ListInboxMessages(bob.ctx(), &hubpb.ListInboxMessagesRequest{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	sent, err := alice.users.ListSentboxMessages(alice.ctx(), &hubpb.ListSentboxMessagesRequest{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	return len(in.Messages), len(sent.Messages)
}

// TestIdempotentSend: a repeat of a send under the same key, in turn or at
// the same time, even after a restart, answers with the first message's id
// and time and stores nothing; listeners hear of the message once.
func TestIdempotentSend(t *testing.T) {
	h := hubdtest.Start(t)
	conn := dial(t, h)
	alice, bob := mailboxUser(t, h, conn), mailboxUser(t, h, conn)
	events := listen(t, bob, &hubpb.ListenRequest_Filter{CollectionName: "inbox"})
	req := sendReq(t, alice, bob.id, []byte("once"))

	first, err := sendKeyed(alice, req, "k-1")
	if err != nil {
		t.Fatal(err)
	}
	again, err := sendKeyed(alice, req, "k-1")
	if err != nil {
		t.Fatal(err)
	}
	if again.Id != first.Id || again.CreatedAt != first.CreatedAt {
		t.Errorf("repeat answered %s at %d, want the first send's %s at %d", again.Id, again.CreatedAt, first.Id, first.CreatedAt)
	}

	// Concurrent repeats of a new key: one message.
	var wg sync.WaitGroup
	ids := make([]string, 8)
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := sendKeyed(alice, req, "k-2")
			if err != nil {
				t.Error(err)
				return
			}
			ids[i] = res.Id
		}()
	}
	wg.Wait()
	for _, id := range ids[1:] {
		if id != ids[0] {
			t.Errorf("concurrent sends under one key got ids %v, want one", ids)
			break
		}
	}
	// The key is the sender's: another sender's same key is another send.
	carol := mailboxUser(t, h, conn)
	if res, err := sendKeyed(carol, sendReq(t, carol, bob.id, []byte("mine")), "k-1"); err != nil || res.Id == first.Id {
		t.Errorf("another sender's k-1: %v, id %v (alice's %s)", err, res.GetId(), first.Id)
	}
	// No key: every send is stored.
	send(t, alice, bob.id, []byte("plain"))
	send(t, alice, bob.id, []byte("plain"))

	h.Restart(t)
	conn = dial(t, h)
	alice.conn, alice.users = conn, hubpb.NewAPIServiceClient(conn)
	bob.users = hubpb.NewAPIServiceClient(conn)
	if res, err := sendKeyed(alice, req, "k-1"); err != nil || res.Id != first.Id {
		t.Errorf("repeat after a restart: %v, id %v, want %s", err, res.GetId(), first.Id)
	}
	if in, sent := boxCounts(t, alice, bob); in != 5 || sent != 4 {
		t.Errorf("bob's inbox holds %d, alice's sentbox %d; want 5 and 4 (k-1, k-2, carol's, two unkeyed)", in, sent)
	}

	// Each stored message made one event: k-1, k-2, carol's, two plain.
	seen := map[string]int{}
	for range 5 {
		ev, err := events.Recv()
		if err != nil {
			break // the restart ended the stream; what came before counts
		}
		seen[ev.InstanceID]++
	}
	for id, n := range seen {
		if n > 1 {
			t.Errorf("message %s announced %d times", id, n)
		}
	}
}

// TestIdempotencyKeyRetention: a key is remembered for at least
// hubd.SendKeyRetention, and forgotten after it.
func TestIdempotencyKeyRetention(t *testing.T) {
	h := hubdtest.Start(t)
	conn := dial(t, h)
	alice, bob := mailboxUser(t, h, conn), mailboxUser(t, h, conn)
	req := sendReq(t, alice, bob.id, []byte("kept"))
	first, err := sendKeyed(alice, req, "week")
	if err != nil {
		t.Fatal(err)
	}
	hubd.PruneSendKeysAt(h.Server, time.Now().Add(hubd.SendKeyRetention-time.Hour))
	if res, err := sendKeyed(alice, req, "week"); err != nil || res.Id != first.Id {
		t.Fatalf("repeat within the retention: %v, id %v, want %s", err, res.GetId(), first.Id)
	}
	hubd.PruneSendKeysAt(h.Server, time.Now().Add(hubd.SendKeyRetention+time.Hour))
	if res, err := sendKeyed(alice, req, "week"); err != nil || res.Id == first.Id {
		t.Fatalf("repeat after the retention: %v, id %v, want a new message", err, res.GetId())
	}
}

func TestIdempotencyKeyInvalid(t *testing.T) {
	h := hubdtest.Start(t)
	conn := dial(t, h)
	alice, bob := mailboxUser(t, h, conn), mailboxUser(t, h, conn)
	req := sendReq(t, alice, bob.id, []byte("x"))
	// (grpc-go itself refuses to send control characters and non-ASCII.)
	for _, key := range []string{strings.Repeat("k", 129), "has space"} {
		_, err := sendKeyed(alice, req, key)
		wantCode(t, err, codes.InvalidArgument, "")
	}
	if in, _ := boxCounts(t, alice, bob); in != 0 {
		t.Errorf("refused sends stored %d messages", in)
	}
	if _, err := sendKeyed(alice, req, strings.Repeat("k", 128)); err != nil {
		t.Errorf("a key of 128 bytes: %v", err)
	}
}
