package hubd_test

import (
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/hubfs/hubfs/hubd"
	"github.com/hubfs/hubfs/hubd/hubdtest"
	hubpb "github.com/hubfs/hubfs/wire/pb"
)

// TestRevokedElsewhereRefusedWithinASecond: the interceptor takes API keys
// from the cache the tap keeps, so a key revoked in the store by another
// process (`hubfs keys revoke`) is not seen on the next call; once the
// cache's second for the interceptor is past, the key is refused, though
// the tap itself would still trust it for 30 s.
func TestRevokedElsewhereRefusedWithinASecond(t *testing.T) {
	h := hubdtest.Start(t)
	var now atomic.Int64
	now.Store(time.Now().UnixNano())
	hubd.SetKeyClock(h.Server, func() time.Time { return time.Unix(0, now.Load()) })
	u := mailboxUser(t, h, dial(t, h))
	if _, err := u.users.ListThreads(u.ctx(), &hubpb.ListThreadsRequest{}); err != nil {
		t.Fatal(err)
	}
	if err := hubd.RevokeKeyInStore(h.Server, h.Key); err != nil {
		t.Fatal(err)
	}
	now.Add(int64(time.Second + time.Millisecond))
	_, err := u.users.ListThreads(u.ctx(), &hubpb.ListThreadsRequest{})
	wantCode(t, err, codes.NotFound, "API key not found or is invalid")
}
