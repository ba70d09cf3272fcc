package hubd_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/hubfs/hubfs/hubd"
	"github.com/hubfs/hubfs/hubd/hubdtest"
	"github.com/hubfs/hubfs/identity"
	hubpb "github.com/hubfs/hubfs/wire/pb"
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
		{"too many filters", &hubpb.ListenRequest{DbID: mb.Id, Filters: make([]*hubpb.ListenRequest_Filter, 65)}, codes.InvalidArgument},
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

// TestListenEndsOnRevoke: a Listen stream opened with an API key ends once
// the key is revoked, like every call made with it after that.
func TestListenEndsOnRevoke(t *testing.T) {
	h := hubdtest.Start(t, func(c *hubd.Config) { c.KeyRecheck = 20 * time.Millisecond })
	conn := dial(t, h)
	u := mailboxUser(t, h, conn)
	st := listen(t, u)
	if err := h.Server.RevokeKey(context.Background(), h.Key); err != nil {
		t.Fatal(err)
	}
	_, err := st.Recv() // the stream's 30 s context fails the test if never ended
	wantCode(t, err, codes.NotFound, "API key not found or is invalid")
}

// windowedInboxListener is a user listening to its inbox on a connection of
// its own whose flow-control windows stay at 64 KiB: grpc would otherwise
// grow them and take in megabytes the test is not reading yet.
func windowedInboxListener(t testing.TB, h *hubdtest.Hub) (*user, hubpb.API_ListenClient) {
	t.Helper()
	conn, err := grpc.NewClient(h.Addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithInitialWindowSize(64<<10), grpc.WithInitialConnWindowSize(64<<10))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	u := mailboxUser(t, h, conn)
	return u, listen(t, u, &hubpb.ListenRequest_Filter{CollectionName: "inbox"})
}

// TestListenSlowConsumerCut: a listener that stops reading is cut with
// ResourceExhausted once the events waiting for it pass the byte bound (16
// largest events), well before subBuffer events of a megabyte each could
// pile up in the server.
func TestListenSlowConsumerCut(t *testing.T) {
	const limit = 4 << 10
	h := hubdtest.Start(t, hubdtest.WithMaxMessageSize(limit))
	alice := mailboxUser(t, h, dial(t, h))
	bob, st := windowedInboxListener(t, h)

	// 100 events of about 6 KiB: far past the windows (128 KiB) and the
	// bound (about 100 KiB), far short of subBuffer events.
	const n = 100
	req := sendReq(t, alice, bob.id, make([]byte, limit-identity.Overhead))
	for range n {
		if _, err := alice.users.SendMessage(alice.ctx(), req); err != nil {
			t.Fatal(err)
		}
	}
	for i := range n {
		if _, err := st.Recv(); err != nil {
			wantCode(t, err, codes.ResourceExhausted, "")
			t.Logf("cut after %d events", i)
			return
		}
	}
	t.Fatalf("a listener that read nothing while %d events of %d bytes were sent was not cut", n, limit)
}

// TestListenBurstNotCut: a burst of hundreds of small events that a
// listener is momentarily not reading is queued, not a reason to cut it
// (a 256-event bound cut a busy mount's watch, docs/perf.md).
func TestListenBurstNotCut(t *testing.T) {
	h := hubdtest.Start(t)
	alice := mailboxUser(t, h, dial(t, h))
	bob, st := windowedInboxListener(t, h)

	// About 3 KiB each: the windows (128 KiB) take some 60, so over 300
	// wait in the hub, about 1 MiB, far under its byte bound.
	const n, workers = 400, 8
	req := sendReq(t, alice, bob.id, make([]byte, 2<<10))
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range n / workers {
				if _, err := alice.users.SendMessage(alice.ctx(), req); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for i := range n {
		if _, err := st.Recv(); err != nil {
			t.Fatalf("listener cut after %d of %d events: %v", i, n, err)
		}
	}
}
