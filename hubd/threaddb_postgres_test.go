package hubd_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/hubfs/hubfs/hubd"
	"github.com/hubfs/hubfs/hubd/hubdtest"
	"github.com/hubfs/hubfs/hubd/store/postgres/pgtest"
	hubpb "github.com/hubfs/hubfs/wire/pb"
)

// pgNode is one hub process's server on a shared PostgreSQL store.
func pgNode(t *testing.T, url string) (*hubd.Server, *grpc.ClientConn) {
	t.Helper()
	srv, err := hubd.New(hubd.Config{Listen: "127.0.0.1:0", StoreURL: url})
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve()
	t.Cleanup(func() { shutdown(t, srv) })
	conn, err := grpc.NewClient(srv.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return srv, conn
}

// TestThreadDBAcrossPostgresNodes: two hubs on one PostgreSQL database: a
// write through one reaches a Listen stream on the other, the other reads
// it, and writers on both racing for one unique value: exactly one wins.
func TestThreadDBAcrossPostgresNodes(t *testing.T) {
	url := pgtest.NewDatabase(t)
	a, connA := pgNode(t, url)
	_, connB := pgNode(t, url)
	key, err := a.CreateKey(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	h := &hubdtest.Hub{Key: key.Key, Secret: key.Secret}
	onA := newUser(t, h, connA)
	onB := *onA // the same user, the same token, through node B
	onB.conn, onB.users, onB.threads = connB, hubpb.NewAPIServiceClient(connB), hubpb.NewAPIClient(connB)

	db := newDB(t, onA)
	events := listenDB(t, &onB, db, &hubpb.ListenRequest_Filter{CollectionName: "people"})
	if _, err := onA.threads.Create(onA.ctx(), &hubpb.CreateRequest{DbID: db, CollectionName: "people", Instances: raws(`{"_id":"a","name":"A"}`)}); err != nil {
		t.Fatal(err)
	}
	ev, err := events.Recv()
	if err != nil || ev.InstanceID != "a" || ev.Action != hubpb.ListenReply_CREATE || doc(t, ev.Instance)["name"] != "A" {
		t.Fatalf("node B's listener got %v, %v", ev, err)
	}
	if _, err := onB.threads.FindByID(onB.ctx(), &hubpb.FindByIDRequest{DbID: db, CollectionName: "people", InstanceID: "a"}); err != nil {
		t.Fatalf("node B reads node A's instance: %v", err)
	}

	// 8 writers, half on each node, all for one email: one wins.
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		u := onA
		if i%2 == 1 {
			u = &onB
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(u.ctx(), 30*time.Second)
			defer cancel()
			_, errs[i] = u.threads.Create(ctx, &hubpb.CreateRequest{DbID: db, CollectionName: "people",
				Instances: raws(fmt.Sprintf(`{"_id":"w%d","name":"W","email":"same@x"}`, i))})
		}()
	}
	wg.Wait()
	won := 0
	for i, err := range errs {
		switch status.Code(err) {
		case codes.OK:
			won++
		case codes.AlreadyExists:
		default:
			t.Errorf("writer %d: %v", i, err)
		}
	}
	if won != 1 {
		t.Fatalf("%d writers won one unique value, want 1 (%v)", won, errs)
	}
}
