package hubd_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	hubpb "github.com/hubfs/hubfs/hub/pb"
	"github.com/hubfs/hubfs/hubd/hubdtest"
	"github.com/hubfs/hubfs/identity"
)

// listen opens a Listen stream and waits until the server has subscribed
// it (the server sends headers once it has).
func listen(t testing.TB, u *user, filters ...*hubpb.ListenRequest_Filter) hubpb.API_ListenClient {
	t.Helper()
	mb, err := u.users.GetThread(u.ctx(), &hubpb.GetThreadRequest{Name: "hubmail"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(u.ctx(), 30*time.Second)
	t.Cleanup(cancel)
	st, err := u.threads.Listen(ctx, &hubpb.ListenRequest{DbID: mb.Id, Filters: filters})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Header(); err != nil {
		t.Fatal(err)
	}
	return st
}

type instance struct {
	ID        string  `json:"_id"`
	From      string  `json:"from"`
	To        string  `json:"to"`
	Body      []byte  `json:"body"`
	Signature []byte  `json:"signature"`
	CreatedAt int64   `json:"created_at"`
	ReadAt    *int64  `json:"read_at"`
	Extra     *string `json:"extra"`
}

func recvEvent(t testing.TB, st hubpb.API_ListenClient) (*hubpb.ListenReply, instance) {
	t.Helper()
	ev, err := st.Recv()
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	var in instance
	if len(ev.Instance) > 0 {
		if err := json.Unmarshal(ev.Instance, &in); err != nil {
			t.Fatalf("instance %q: %v", ev.Instance, err)
		}
	}
	return ev, in
}

func TestListenEvents(t *testing.T) {
	h := hubdtest.Start(t)
	conn := dial(t, h)
	alice, bob := mailboxUser(t, h, conn), mailboxUser(t, h, conn)
	bobIn := listen(t, bob, &hubpb.ListenRequest_Filter{CollectionName: "inbox"})
	aliceSent := listen(t, alice, &hubpb.ListenRequest_Filter{CollectionName: "sentbox"})
	bobAll := listen(t, bob) // no filter: both collections
	// Only DELETEs of the inbox.
	bobDeletes := listen(t, bob, &hubpb.ListenRequest_Filter{CollectionName: "inbox", Action: hubpb.ListenRequest_Filter_DELETE})

	res := send(t, alice, bob.id, []byte("watch this"))

	ev, in := recvEvent(t, bobIn)
	if ev.CollectionName != "inbox" || ev.InstanceID != res.Id || ev.Action != hubpb.ListenReply_CREATE {
		t.Fatalf("inbox CREATE = %v", ev)
	}
	if in.ID != res.Id || in.From != alice.id || in.To != bob.id || in.CreatedAt != res.CreatedAt || in.ReadAt == nil || *in.ReadAt != 0 {
		t.Fatalf("inbox instance = %+v", in)
	}
	if plain, err := bob.key.Decrypt(in.Body); err != nil || string(plain) != "watch this" {
		t.Fatalf("instance body: %q %v", plain, err)
	}
	if ok, _ := alice.key.Public().Verify(in.Body, in.Signature); !ok {
		t.Fatal("instance signature does not verify")
	}

	ev, in = recvEvent(t, aliceSent)
	if ev.CollectionName != "sentbox" || ev.Action != hubpb.ListenReply_CREATE || in.ReadAt != nil {
		t.Fatalf("sentbox CREATE = %v %+v", ev, in)
	}
	if plain, err := alice.key.Decrypt(in.Body); err != nil || string(plain) != "watch this" {
		t.Fatalf("sentbox instance body: %q %v", plain, err)
	}

	rd, err := bob.users.ReadInboxMessage(bob.ctx(), &hubpb.ReadInboxMessageRequest{Id: res.Id})
	if err != nil {
		t.Fatal(err)
	}
	ev, in = recvEvent(t, bobIn)
	if ev.Action != hubpb.ListenReply_SAVE || in.ReadAt == nil || *in.ReadAt != rd.ReadAt {
		t.Fatalf("inbox SAVE = %v %+v", ev, in)
	}

	if _, err := bob.users.DeleteInboxMessage(bob.ctx(), &hubpb.DeleteInboxMessageRequest{Id: res.Id}); err != nil {
		t.Fatal(err)
	}
	ev, _ = recvEvent(t, bobIn)
	if ev.Action != hubpb.ListenReply_DELETE || ev.InstanceID != res.Id || len(ev.Instance) != 0 {
		t.Fatalf("inbox DELETE = %v", ev)
	}
	if _, err := alice.users.DeleteSentboxMessage(alice.ctx(), &hubpb.DeleteSentboxMessageRequest{Id: res.Id}); err != nil {
		t.Fatal(err)
	}
	ev, _ = recvEvent(t, aliceSent)
	if ev.Action != hubpb.ListenReply_DELETE || ev.CollectionName != "sentbox" {
		t.Fatalf("sentbox DELETE = %v", ev)
	}

	// The unfiltered stream saw CREATE, SAVE, DELETE in order; the
	// DELETE-only stream saw just the DELETE.
	for _, want := range []hubpb.ListenReply_Action{hubpb.ListenReply_CREATE, hubpb.ListenReply_SAVE, hubpb.ListenReply_DELETE} {
		if ev, _ := recvEvent(t, bobAll); ev.Action != want || ev.CollectionName != "inbox" {
			t.Fatalf("unfiltered stream: %v, want %v", ev, want)
		}
	}
	if ev, _ := recvEvent(t, bobDeletes); ev.Action != hubpb.ListenReply_DELETE {
		t.Fatalf("DELETE filter let through %v", ev.Action)
	}
}

func TestListenErrors(t *testing.T) {
	h := hubdtest.Start(t)
	conn := dial(t, h)
	u := mailboxUser(t, h, conn)
	mb, _ := u.users.GetThread(u.ctx(), &hubpb.GetThreadRequest{Name: "hubmail"})
	cases := []struct {
		name string
		req  *hubpb.ListenRequest
		code codes.Code
	}{
		{"bad db id", &hubpb.ListenRequest{DbID: []byte{1, 2, 3}}, codes.InvalidArgument},
		{"unknown db", &hubpb.ListenRequest{DbID: identity.NewThreadID().Bytes()}, codes.NotFound},
		{"unknown collection", &hubpb.ListenRequest{DbID: mb.Id, Filters: []*hubpb.ListenRequest_Filter{{CollectionName: "outbox"}}}, codes.NotFound},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(u.ctx(), 5*time.Second)
			defer cancel()
			st, err := u.threads.Listen(ctx, tc.req)
			if err != nil {
				t.Fatal(err)
			}
			_, err = st.Recv()
			wantCode(t, err, tc.code, "")
		})
	}
}

// TestListenEndsAtShutdown: a stream that never ends on its own must not
// hold up a graceful stop.
func TestListenEndsAtShutdown(t *testing.T) {
	h := hubdtest.Start(t)
	conn := dial(t, h)
	u := mailboxUser(t, h, conn)
	st := listen(t, u)
	done := make(chan struct{})
	go func() {
		h.Stop(t)
		close(done)
	}()
	_, err := st.Recv()
	wantCode(t, err, codes.Unavailable, "")
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Stop did not return with a Listen stream open")
	}
}
