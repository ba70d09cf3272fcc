package hubd_test

import (
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/hubfs/hubfs/hubd"
	"github.com/hubfs/hubfs/hubd/hubdtest"
	"github.com/hubfs/hubfs/identity"
	"github.com/hubfs/hubfs/wire"
	hubpb "github.com/hubfs/hubfs/wire/pb"
)

// TestLimitsDerived: at every message size up to the cap, a message of
// that size fits a list page of one and a watch event, both within the
// client's receive limit, and a send of two such copies within the receive
// limit of the hub.
func TestLimitsDerived(t *testing.T) {
	if hubd.MaxMaxMessageSize != wire.MaxMessageSize {
		t.Fatalf("MaxMaxMessageSize %d, want wire.MaxMessageSize %d", hubd.MaxMaxMessageSize, wire.MaxMessageSize)
	}
	for _, size := range []int{1 << 10, hubd.DefaultMaxMessageSize, 16 << 20, wire.MaxMessageSize} {
		l := hubd.LimitsFor(size)
		// A message of size with a 64-byte signature, keys and id.
		row := size + 64 + 2*60 + 26
		jsonEvent := (size+2)/3*4 + (64+2)/3*4 + 2*60 + 26 + 200
		for _, c := range []struct {
			what      string
			ok        bool
			have, cap int
		}{
			{"a page of one message fits the page budget", row <= l.PageBytes, row, l.PageBytes},
			{"the page budget fits the client's receive limit with room for framing", l.PageBytes+wire.ReplySlack/2 <= wire.MaxReceiveSize, l.PageBytes, wire.MaxReceiveSize},
			{"an event fits the event budget", jsonEvent <= l.EventBytes, jsonEvent, l.EventBytes},
			{"an event fits the client's receive limit", l.EventBytes+1<<10 <= wire.MaxReceiveSize, l.EventBytes, wire.MaxReceiveSize},
			{"a listener can hold one event", l.EventBytes <= l.ListenerBytes, l.EventBytes, l.ListenerBytes},
			{"a send of two copies fits grpc's receive limit", 2*row <= l.MaxRecv, 2 * row, l.MaxRecv},
			{"a send fits one websocket message", int64(l.MaxRecv) <= l.WSReadLimit, l.MaxRecv, int(l.WSReadLimit)},
		} {
			if !c.ok {
				t.Errorf("size %d: %s: %d > %d", size, c.what, c.have, c.cap)
			}
		}
	}
}

// TestLargestMessageReceivable: on a hub configured for 16 MiB, a message
// of exactly that size lists in a page of one and arrives in a Listen
// event through a Go client with the receive limit our client uses.
func TestLargestMessageReceivable(t *testing.T) {
	const size = 16 << 20
	h := hubdtest.Start(t, hubdtest.WithMaxMessageSize(size))
	conn, err := grpc.NewClient(h.Addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(wire.MaxReceiveSize), grpc.MaxCallSendMsgSize(4*size)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	alice, bob := mailboxUser(t, h, conn), mailboxUser(t, h, conn)
	events := listen(t, bob, &hubpb.ListenRequest_Filter{CollectionName: "inbox"})

	res := send(t, alice, bob.id, make([]byte, size-identity.Overhead))
	ev, err := events.Recv()
	if err != nil {
		t.Fatalf("Listen event of a %d-byte message: %v", size, err)
	}
	if ev.InstanceID != res.Id || len(ev.Instance) < size*4/3 {
		t.Errorf("event for %s with %d bytes of record, want %s with the body", ev.InstanceID, len(ev.Instance), res.Id)
	}
	in, err := bob.users.ListInboxMessages(bob.ctx(), &hubpb.ListInboxMessagesRequest{Limit: 1})
	if err != nil {
		t.Fatalf("list a page of one %d-byte message: %v", size, err)
	}
	if len(in.Messages) != 1 || len(in.Messages[0].Body) != size {
		t.Fatalf("page of %d messages", len(in.Messages))
	}
	sent, err := alice.users.ListSentboxMessages(alice.ctx(), &hubpb.ListSentboxMessagesRequest{})
	if err != nil || len(sent.Messages) != 1 {
		t.Fatalf("sentbox with the default page: %v", err)
	}
}
