package hub_test

import (
	"errors"
	"testing"

	"github.com/hubfs/hubfs/hub"
	"github.com/hubfs/hubfs/hubd/hubdtest"
	"github.com/hubfs/hubfs/identity"
)

func TestThreads(t *testing.T) {
	h := hubdtest.Start(t)
	ctx := testCtx(t)
	alice, bob := newUser(t, h), newUser(t, h)

	list, err := alice.c.ListThreads(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].Name != hub.MailboxName || !list[0].IsDB || list[0].ID != alice.mailbox {
		t.Fatalf("threads of a new user: %+v", list)
	}
	got, err := alice.c.GetThread(ctx, hub.MailboxName)
	if err != nil || got.ID != alice.mailbox {
		t.Fatalf("get hubmail: %+v, %v", got, err)
	}
	if _, err := alice.c.GetThread(ctx, "nope"); !errors.Is(err, hub.ErrNotFound) {
		t.Errorf("an unknown thread: got %v, want ErrNotFound", err)
	}
	if _, err := alice.c.GetThread(ctx, ""); !errors.Is(err, hub.ErrInvalid) {
		t.Errorf("an empty name: got %v, want ErrInvalid", err)
	}

	id, err := alice.c.NewDB(ctx, "notes")
	if err != nil {
		t.Fatal(err)
	}
	got, err = alice.c.GetThread(ctx, "notes")
	if err != nil || got.ID != id || !got.IsDB {
		t.Fatalf("get notes: %+v, %v (want id %v)", got, err, id)
	}
	if _, err := alice.c.NewDB(ctx, "notes"); !errors.Is(err, hub.ErrExists) {
		t.Errorf("a second notes: got %v, want ErrExists", err)
	}
	if _, err := alice.c.NewDB(ctx, ""); !errors.Is(err, hub.ErrInvalid) {
		t.Errorf("an empty name: got %v, want ErrInvalid", err)
	}
	if list, _ := alice.c.ListThreads(ctx); len(list) != 2 {
		t.Errorf("after NewDB: %+v", list)
	}
	if _, err := bob.c.GetThread(ctx, "notes"); !errors.Is(err, hub.ErrNotFound) {
		t.Errorf("bob sees alice's thread: %v", err)
	}

	if err := bob.c.DeleteDB(ctx, id); !errors.Is(err, hub.ErrPermission) {
		t.Errorf("bob deleting alice's DB: got %v, want ErrPermission", err)
	}
	if err := alice.c.DeleteDB(ctx, alice.mailbox); !errors.Is(err, hub.ErrInvalid) {
		t.Errorf("deleting the mailbox: got %v, want ErrInvalid", err)
	}
	if err := alice.c.DeleteDB(ctx, identity.ThreadID{}); !errors.Is(err, hub.ErrInvalid) {
		t.Errorf("a zero id: got %v, want ErrInvalid", err)
	}
	if err := alice.c.DeleteDB(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.c.GetThread(ctx, "notes"); !errors.Is(err, hub.ErrNotFound) {
		t.Errorf("a deleted DB: got %v, want ErrNotFound", err)
	}
	if err := alice.c.DeleteDB(ctx, id); !errors.Is(err, hub.ErrNotFound) {
		t.Errorf("deleting twice: got %v, want ErrNotFound", err)
	}
}

// TestWithThread: the x-textile-thread header scopes calls to a thread
// the caller owns, and the hub refuses one it does not.
func TestWithThread(t *testing.T) {
	h := hubdtest.Start(t)
	ctx := testCtx(t)
	alice, bob := newUser(t, h), newUser(t, h)
	if _, err := alice.c.WithThread(alice.mailbox).ListThreads(ctx); err != nil {
		t.Fatalf("own thread: %v", err)
	}
	if _, err := bob.c.WithThread(alice.mailbox).ListThreads(ctx); !errors.Is(err, hub.ErrPermission) {
		t.Fatalf("someone else's thread: got %v, want ErrPermission", err)
	}
	// The header is the copy's alone; the original and a zero id send none.
	if _, err := bob.c.ListThreads(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.c.WithThread(alice.mailbox).WithThread(identity.ThreadID{}).ListThreads(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestGetUsage(t *testing.T) {
	h := hubdtest.Start(t)
	ctx := testCtx(t)
	alice, bob := newUser(t, h), newUser(t, h)
	alice.send(t, bob, "x")

	u, err := alice.c.GetUsage(ctx, hub.UsageOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if u.Customer == nil || u.Customer.Key != alice.pub().String() {
		t.Fatalf("customer: %+v", u.Customer)
	}
	if len(u.Usage) == 0 {
		t.Fatal("no usage figures")
	}
	if _, err := alice.c.GetUsage(ctx, hub.UsageOptions{DependentUserKey: alice.pub().String()}); err != nil {
		t.Errorf("own key as the dependent: %v", err)
	}
	if _, err := alice.c.GetUsage(ctx, hub.UsageOptions{DependentUserKey: bob.pub().String()}); !errors.Is(err, hub.ErrPermission) {
		t.Errorf("another user's usage: got %v, want ErrPermission", err)
	}
	if _, err := alice.c.GetUsage(ctx, hub.UsageOptions{DependentUserKey: "bbaareinotakey"}); !errors.Is(err, hub.ErrInvalid) {
		t.Errorf("a bad key: got %v, want ErrInvalid", err)
	}
}
