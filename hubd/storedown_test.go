package hubd_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/hubfs/hubfs/hubd"
	"github.com/hubfs/hubfs/hubd/hubdtest"
	"github.com/hubfs/hubfs/hubd/store/sqlite"
	hubpb "github.com/hubfs/hubfs/wire/pb"
)

// Store modes of flakyStore.
const (
	storeOK   int32 = iota
	storeFail       // every call fails at once, unreachable
	storeHang       // every call waits for its context, as on a dead connection
)

// flakyStore is the real SQLite store behind a switch that makes it
// unreachable, as a database server that went away would be. Only the
// methods the tests' calls reach are switched.
type flakyStore struct {
	*sqlite.Store
	mode atomic.Int32
}

var errUnreachable = fmt.Errorf("dial database: connection refused: %w", hubd.ErrUnavailable)

func (f *flakyStore) down(ctx context.Context) error {
	switch f.mode.Load() {
	case storeFail:
		return errUnreachable
	case storeHang:
		<-ctx.Done()
		return fmt.Errorf("query: %w", ctx.Err())
	}
	return nil
}

func (f *flakyStore) Ping(ctx context.Context) error {
	if err := f.down(ctx); err != nil {
		return err
	}
	return f.Store.Ping(ctx)
}

func (f *flakyStore) GetKey(ctx context.Context, key string) (hubd.APIKey, error) {
	if err := f.down(ctx); err != nil {
		return hubd.APIKey{}, err
	}
	return f.Store.GetKey(ctx, key)
}

func (f *flakyStore) ListThreads(ctx context.Context, owner string) ([]hubd.Thread, error) {
	if err := f.down(ctx); err != nil {
		return nil, err
	}
	return f.Store.ListThreads(ctx, owner)
}

// startFlaky serves a hub on a flakyStore, pinged every checkEvery.
func startFlaky(t *testing.T, checkEvery time.Duration) (*hubdtest.Hub, *flakyStore) {
	t.Helper()
	dir := t.TempDir()
	st, err := sqlite.Open(context.Background(), filepath.Join(dir, "hub.db"))
	if err != nil {
		t.Fatal(err)
	}
	fs := &flakyStore{Store: st}
	srv, err := hubd.New(hubd.Config{Listen: "127.0.0.1:0", DataDir: dir, Store: fs, StoreCheckEvery: checkEvery})
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve() }()
	t.Cleanup(func() {
		fs.mode.Store(storeOK)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := <-served; err != nil {
			t.Errorf("serve: %v", err)
		}
		st.Close()
	})
	k, err := srv.CreateKey(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return &hubdtest.Hub{Addr: srv.Addr(), Key: k.Key, Secret: k.Secret, Server: srv}, fs
}

// waitHealth polls the health service until it reports want.
func waitHealth(t *testing.T, hc healthpb.HealthClient, want healthpb.HealthCheckResponse_ServingStatus) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		res, err := hc.Check(ctx, &healthpb.HealthCheckRequest{})
		if err != nil {
			t.Fatalf("health check waiting for %v: %v", want, err)
		}
		if res.Status == want {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestStoreUnreachableIsUnavailable: a store error that says the database
// cannot be reached is answered Unavailable (which clients retry), not
// Internal; it makes the hub check its store at once, which turns health
// NOT_SERVING, and both recover when the store does.
func TestStoreUnreachableIsUnavailable(t *testing.T) {
	// No periodic check within the test: only the failed call triggers one.
	h, fs := startFlaky(t, time.Hour)
	conn := dial(t, h)
	u := mailboxUser(t, h, conn)
	hc := healthpb.NewHealthClient(conn)

	fs.mode.Store(storeFail)
	_, err := u.users.ListThreads(u.ctx(), &hubpb.ListThreadsRequest{})
	// Its own mapping, or the gate's if the ping it set off was quicker.
	wantCode(t, err, codes.Unavailable, "")
	waitHealth(t, hc, healthpb.HealthCheckResponse_NOT_SERVING)
	// A new connection's key the tap has not seen needs the store too.
	_, err = hubpb.NewAPIServiceClient(dial(t, h)).ListThreads(metadataCtx(context.Background(), keyMD(t, "unknown-key", h.Secret)), &hubpb.ListThreadsRequest{})
	wantCode(t, err, codes.Unavailable, "")

	fs.mode.Store(storeOK)
	waitHealth(t, hc, healthpb.HealthCheckResponse_SERVING)
	if _, err := u.users.ListThreads(u.ctx(), &hubpb.ListThreadsRequest{}); err != nil {
		t.Fatalf("after the store came back: %v", err)
	}
}

// TestStoreHangingFailsFast: a store that hangs (every query waits for its
// context) does not hold calls for the client's deadline: the call in
// flight when the ping finds the store down is answered Unavailable, and
// so are later ones at once, until the store answers again.
func TestStoreHangingFailsFast(t *testing.T) {
	h, fs := startFlaky(t, 20*time.Millisecond)
	conn := dial(t, h)
	u := mailboxUser(t, h, conn)
	hc := healthpb.NewHealthClient(conn)

	fs.mode.Store(storeHang)
	// Far longer than the ping's timeout: a DeadlineExceeded would mean
	// the call hung for all of it.
	ctx, cancel := context.WithTimeout(u.ctx(), 2*time.Minute)
	defer cancel()
	_, err := u.users.ListThreads(ctx, &hubpb.ListThreadsRequest{})
	wantCode(t, err, codes.Unavailable, "the hub cannot reach its store: try again")
	waitHealth(t, hc, healthpb.HealthCheckResponse_NOT_SERVING)
	_, err = u.users.ListThreads(ctx, &hubpb.ListThreadsRequest{})
	wantCode(t, err, codes.Unavailable, "the hub cannot reach its store: try again")

	fs.mode.Store(storeOK)
	waitHealth(t, hc, healthpb.HealthCheckResponse_SERVING)
	if _, err := u.users.ListThreads(u.ctx(), &hubpb.ListThreadsRequest{}); err != nil {
		t.Fatalf("after the store came back: %v", err)
	}
}
