package hubd_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"

	"github.com/hubfs/hubfs/hubd"
	"github.com/hubfs/hubfs/hubd/hubdtest"
	hubpb "github.com/hubfs/hubfs/wire/pb"
)

// TestHealthWithoutAuth: the health service answers with no API key, over
// native gRPC and grpc-web, for the whole hub and each API service, while
// every other call without a key is still refused.
func TestHealthWithoutAuth(t *testing.T) {
	h := hubdtest.Start(t)
	hc := healthpb.NewHealthClient(dial(t, h))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, svc := range []string{"", "api.usersd.pb.APIService", "threads.pb.API"} {
		res, err := hc.Check(ctx, &healthpb.HealthCheckRequest{Service: svc})
		if err != nil {
			t.Fatalf("Check(%q) without a key: %v", svc, err)
		}
		if res.Status != healthpb.HealthCheckResponse_SERVING {
			t.Errorf("Check(%q) = %v, want SERVING", svc, res.Status)
		}
	}
	_, err := hc.Check(ctx, &healthpb.HealthCheckRequest{Service: "no.such.Service"})
	wantCode(t, err, codes.NotFound, "")

	// With a key it answers too (a balancer may send one).
	_, err = hc.Check(metadataCtx(ctx, keyMD(t, h.Key, h.Secret)), &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatalf("Check with a key: %v", err)
	}

	var res healthpb.HealthCheckResponse
	st := unaryWS(t, h.Addr, "/grpc.health.v1.Health/Check", nil, &healthpb.HealthCheckRequest{}, &res)
	if st.code != codes.OK || res.Status != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("Check over grpc-web without a key: %v %q, status %v", st.code, st.msg, res.Status)
	}

	// The exception is the health service only.
	_, err = hubpb.NewAPIServiceClient(dial(t, h)).ListThreads(ctx, &hubpb.ListThreadsRequest{})
	wantCode(t, err, codes.Unauthenticated, "Session or API key required")
	st = unaryWS(t, h.Addr, "/api.usersd.pb.APIService/ListThreads", nil, &hubpb.ListThreadsRequest{}, &hubpb.ListThreadsResponse{})
	if st.code != codes.Unauthenticated {
		t.Fatalf("ListThreads over grpc-web without a key: %v %q", st.code, st.msg)
	}
}

// TestHealthDuringDrain: once Shutdown starts, health says NOT_SERVING
// (to a Watch and to a Check on an open connection) while a call in
// flight finishes, new calls are refused with Unavailable, and the Watch
// stream ends rather than holding up the stop.
func TestHealthDuringDrain(t *testing.T) {
	h := hubdtest.Start(t)
	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	hubd.SetSendHook(h.Server, func() {
		once.Do(func() {
			close(entered)
			<-release
		})
	})
	conn := dial(t, h)
	alice, bob := mailboxUser(t, h, conn), mailboxUser(t, h, conn)
	hc := healthpb.NewHealthClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	watch, err := hc.Watch(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if res, err := watch.Recv(); err != nil || res.Status != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("first Watch update: %v, %v; want SERVING", res, err)
	}

	sendErr := make(chan error, 1)
	go func() {
		_, err := alice.users.SendMessage(alice.ctx(), sendReq(t, alice, bob.id, []byte("in flight")))
		sendErr <- err
	}()
	<-entered
	stopped := make(chan struct{})
	go func() {
		h.Stop(t)
		close(stopped)
	}()

	res, err := watch.Recv()
	if err != nil || res.Status != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("Watch update after Shutdown began: %v, %v; want NOT_SERVING", res, err)
	}
	// Health turns first, so once a call is refused health must say so.
	for {
		_, err := bob.users.ListThreads(bob.ctx(), &hubpb.ListThreadsRequest{})
		if codeOf(err) == codes.Unavailable {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	chk, err := hc.Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil || chk.Status != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("Check while draining: %v, %v; want NOT_SERVING", chk, err)
	}
	_, err = watch.Recv()
	wantCode(t, err, codes.Unavailable, "hub is shutting down")
	select {
	case <-stopped:
		t.Fatal("Shutdown returned with a call in flight")
	default:
	}
	close(release)
	if err := <-sendErr; err != nil {
		t.Fatalf("the in-flight send failed: %v", err)
	}
	<-stopped
}

func metadataCtx(ctx context.Context, md metadata.MD) context.Context {
	return metadata.NewOutgoingContext(ctx, md)
}
