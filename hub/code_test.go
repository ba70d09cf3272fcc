package hub_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/hubfs/hubfs/hub"
	"github.com/hubfs/hubfs/hubd/hubdtest"
)

// TestCode: the status a real hub answered travels inside the error, so a
// caller outside hub can show it without importing grpc.
func TestCode(t *testing.T) {
	h := hubdtest.Start(t)
	ctx := testCtx(t)
	u := newUser(t, h, hub.WithTimeout(500*time.Millisecond))

	_, err := u.c.GetThread(ctx, "no-such-thread")
	if !errors.Is(err, hub.ErrNotFound) || hub.Code(err) != "NotFound" {
		t.Errorf("a missing thread: %v, code %q; want ErrNotFound and NotFound", err, hub.Code(err))
	}
	if got := hub.Code(fmt.Errorf("ls: %w", err)); got != "NotFound" {
		t.Errorf("wrapped again: code %q", got)
	}
	if _, err := u.c.NewDB(ctx, "twice"); err != nil {
		t.Fatal(err)
	}
	if _, err := u.c.NewDB(ctx, "twice"); !errors.Is(err, hub.ErrExists) || hub.Code(err) != "AlreadyExists" {
		t.Errorf("a second thread of one name: %v, code %q", err, hub.Code(err))
	}
	if _, err := u.c.ListInboxMessages(ctx, hub.InboxListOptions{Seek: "not an id"}); !errors.Is(err, hub.ErrInvalid) || hub.Code(err) != "" {
		t.Errorf("caught before any call: %v, code %q; want no code", err, hub.Code(err))
	}
	if hub.Code(nil) != "" {
		t.Error("a nil error has a code")
	}

	h.Stop(t)
	_, err = u.c.ListThreads(ctx)
	if code := hub.Code(err); code != "Unavailable" && code != "DeadlineExceeded" {
		t.Errorf("a stopped hub: %v, code %q", err, code)
	}
}
