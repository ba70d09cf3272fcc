package cache_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hubfs/hubfs/cache"
	"github.com/hubfs/hubfs/hub"
	"github.com/hubfs/hubfs/hubd/hubdtest"
	"github.com/hubfs/hubfs/identity"
	"github.com/hubfs/hubfs/mailbox"
	"github.com/hubfs/hubfs/mailbox/hubmail"
	"github.com/hubfs/hubfs/mailbox/mailboxtest"
)

// fixture is the shared model fixture over a hub this test started, so
// that tests can stop, restart and tamper with it.
type fixture struct {
	*mailboxtest.Fixture
	hub     *hubdtest.Hub
	mailbox *identity.ThreadID // Alice's, once a test asked
}

func newFixture(t *testing.T, cfg mailbox.Config) *fixture {
	t.Helper()
	h := hubdtest.Start(t)
	return &fixture{Fixture: mailboxtest.NewFixture(t, h, cfg), hub: h}
}

func TestListingIsServedForTheTTL(t *testing.T) {
	f := newFixture(t, mailbox.Config{ListTTL: time.Minute})
	ctx := context.Background()
	m1 := f.Bob.Send(t, f.Alice, "one")
	for range 3 {
		got, err := f.Model.List(ctx, mailbox.Inbox)
		if err != nil || len(got) != 1 || got[0].ID != m1.ID {
			t.Fatalf("List = %v, %v", got, err)
		}
	}
	if n := f.Calls("ListInboxMessages"); n != 1 {
		t.Errorf("3 lists within the TTL made %d hub calls, want 1", n)
	}
	m2 := f.Bob.Send(t, f.Alice, "two")
	if got, _ := f.Model.List(ctx, mailbox.Inbox); len(got) != 1 {
		t.Errorf("within the TTL a remote send shows early: %d entries", len(got))
	}
	f.Clock.Step(time.Minute)
	got, err := f.Model.List(ctx, mailbox.Inbox)
	if err != nil || len(got) != 2 || got[1].ID != m2.ID {
		t.Fatalf("List after the TTL = %v, %v", got, err)
	}
	if n := f.Calls("ListInboxMessages"); n != 2 {
		t.Errorf("hub calls after the TTL = %d, want 2", n)
	}
	// The refresh saw the new message and said so.
	ch := f.TakeChanges()
	if len(ch) != 1 || ch[0].Kind != mailbox.Added || ch[0].ID != m2.ID || ch[0].Entry.Size != 3 {
		t.Errorf("changes = %+v, want one Added for %s", ch, m2.ID)
	}
}

func TestEntriesComeFromListDataAlone(t *testing.T) {
	// With decrypt-ahead on (the mount's default), as without it, hubmail
	// lists metadata only (docs/protocol.md).
	f := newFixture(t, mailbox.Config{ListTTL: time.Minute, CiphertextBytes: 1 << 20, PlaintextBytes: 1 << 20, DecryptAhead: 1})
	ctx := context.Background()
	m := f.Bob.Send(t, f.Alice, "twelve bytes")
	e, err := f.Model.Lookup(ctx, mailbox.Inbox, m.ID)
	if err != nil {
		t.Fatal(err)
	}
	if e.Size != 12 || e.From != f.Bob.Key.Public().String() || e.To != f.Alice.Key.Public().String() || !e.Unread() || e.CreatedAt.IsZero() {
		t.Errorf("entry = %+v", e)
	}
	if _, err := f.Model.Lookup(ctx, mailbox.Inbox, "01aaaaaaaaaaaaaaaaaaaaaaaa"); !errors.Is(err, mailbox.ErrNotFound) {
		t.Errorf("Lookup of a missing id: %v, want ErrNotFound", err)
	}
	// The listing carried no body (metadata only, decrypt-ahead on or
	// off): the cache holds none, and opening fetches it in one call.
	if st := f.Model.Stats(); st.CiphertextBytes != 0 {
		t.Errorf("the cache holds %d ciphertext bytes after a listing, want none", st.CiphertextBytes)
	}
	before := f.Model.Stats().HubCalls
	plain, err := f.Model.Open(ctx, mailbox.Inbox, m.ID)
	if err != nil || string(plain) != "twelve bytes" {
		t.Fatalf("Open = %q, %v", plain, err)
	}
	if after := f.Model.Stats().HubCalls; after != before+1 {
		t.Errorf("Open after a listing made %d hub calls, want 1", after-before)
	}
}

func TestConcurrentMissesMakeOneCall(t *testing.T) {
	f := newFixture(t, mailbox.Config{ListTTL: time.Minute, CiphertextBytes: 1 << 20, PlaintextBytes: 1 << 20})
	m := f.Bob.Send(t, f.Alice, "shared")
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for range 20 {
		wg.Add(2)
		go func() {
			defer wg.Done()
			if b, err := f.Model.Open(ctx, mailbox.Inbox, m.ID); err != nil || string(b) != "shared" {
				errs <- fmt.Errorf("Open = %q, %v", b, err)
			}
		}()
		go func() {
			defer wg.Done()
			if _, err := f.Model.List(ctx, mailbox.Sentbox); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// Open fetches one message by seek (a one-item inbox page); the sentbox
	// listing is one page. Each at most once for 20 concurrent callers.
	if n := f.Calls("ListInboxMessages"); n != 1 {
		t.Errorf("20 concurrent cold Opens made %d inbox calls, want 1", n)
	}
	if n := f.Calls("ListSentboxMessages"); n != 1 {
		t.Errorf("20 concurrent cold Lists made %d sentbox calls, want 1", n)
	}
}

func TestLocalChangesShowAtOnce(t *testing.T) {
	f := newFixture(t, mailbox.Config{ListTTL: time.Hour, CiphertextBytes: 1 << 20, PlaintextBytes: 1 << 20})
	ctx := context.Background()
	in := f.Bob.Send(t, f.Alice, "to alice")
	if _, err := f.Model.List(ctx, mailbox.Inbox); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Model.List(ctx, mailbox.Sentbox); err != nil {
		t.Fatal(err)
	}
	calls := f.Model.Stats().HubCalls

	e, err := f.Model.Send(ctx, f.Bob.Key.Public(), []byte("to bob"))
	if err != nil {
		t.Fatal(err)
	}
	at, err := f.Model.MarkRead(ctx, in.ID)
	if err != nil {
		t.Fatal(err)
	}
	sent, _ := f.Model.List(ctx, mailbox.Sentbox)
	if len(sent) != 1 || sent[0].ID != e.ID || sent[0].Size != 6 {
		t.Errorf("sentbox after Send = %+v", sent)
	}
	if b, err := f.Model.Open(ctx, mailbox.Sentbox, e.ID); err != nil || string(b) != "to bob" {
		t.Errorf("Open of the sent copy = %q, %v", b, err)
	}
	got, _ := f.Model.Lookup(ctx, mailbox.Inbox, in.ID)
	if !got.ReadAt.Equal(at) {
		t.Errorf("read_at after MarkRead = %v, want %v", got.ReadAt, at)
	}
	if err := f.Model.Delete(ctx, mailbox.Inbox, in.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Model.Lookup(ctx, mailbox.Inbox, in.ID); !errors.Is(err, mailbox.ErrNotFound) {
		t.Errorf("Lookup after Delete: %v", err)
	}
	// Three changing calls, and not one listing to see their effect.
	if n := f.Model.Stats().HubCalls - calls; n != 3 {
		t.Errorf("hub calls = %d, want 3 (send, read, delete)", n)
	}
	var kinds []mailbox.ChangeKind
	for _, c := range f.TakeChanges() {
		kinds = append(kinds, c.Kind)
	}
	if !slices.Equal(kinds, []mailbox.ChangeKind{mailbox.Added, mailbox.Read, mailbox.Removed}) {
		t.Errorf("changes = %v, want added, read, removed", kinds)
	}
}

// gated is the real client with a hook: it holds the first listing reply
// until released, to order a refresh against a local change or another
// listing. Later listings pass at once.
type gated struct {
	*hub.Client
	held             atomic.Bool
	fetched, release chan struct{}
}

// gatedConfigs are the configurations the ordering tests run in: the
// guarantees are the model's, and hold with the cache and without it.
var gatedConfigs = map[string]mailbox.Config{"cached": {ListTTL: time.Hour}, "uncached": {}}

// gatedCache is alice's mailbox (as cfg configures it) over a gated client,
// with a message from bob (body) in her inbox; send sends her another.
func gatedCache(t *testing.T, cfg mailbox.Config, body string) (c *mailbox.Model, g *gated, send func(body string) hub.UserMessage, m hub.UserMessage) {
	t.Helper()
	h := hubdtest.Start(t)
	alice, bob := mailboxtest.NewUser(t, h), mailboxtest.NewUser(t, h)
	send = func(body string) hub.UserMessage { return bob.Send(t, alice, body) }
	g = &gated{Client: alice.Client, fetched: make(chan struct{}), release: make(chan struct{})}
	mbox, err := alice.Client.GetMailboxID(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return hubmail.New(g, alice.Key, mbox, cfg), g, send, send(body)
}

// slowList starts a cold inbox List whose reply g holds, and returns once
// the hub has answered it; finish lets the reply land and waits for it.
func slowList(t *testing.T, c *mailbox.Model, g *gated) (finish func()) {
	t.Helper()
	done := make(chan error, 1)
	go func() { _, err := c.List(context.Background(), mailbox.Inbox); done <- err }()
	<-g.fetched
	return func() {
		t.Helper()
		close(g.release)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}

func (g *gated) ListInboxMessages(ctx context.Context, o hub.InboxListOptions) ([]hub.UserMessage, error) {
	page, err := g.Client.ListInboxMessages(ctx, o)
	if o.Seek == "" && g.held.CompareAndSwap(false, true) {
		close(g.fetched)
		<-g.release
	}
	return page, err
}

func TestRefreshInFlightDoesNotUndoALocalDelete(t *testing.T) {
	for name, cfg := range gatedConfigs {
		t.Run(name, func(t *testing.T) { testRefreshInFlightDoesNotUndoALocalDelete(t, cfg) })
	}
}

func testRefreshInFlightDoesNotUndoALocalDelete(t *testing.T, cfg mailbox.Config) {
	c, g, _, m := gatedCache(t, cfg, "doomed")
	ctx := context.Background()

	finish := slowList(t, c, g) // the listing holds the message
	if err := c.Delete(ctx, mailbox.Inbox, m.ID); err != nil {
		t.Fatal(err)
	}
	finish()
	if got, _ := c.List(ctx, mailbox.Inbox); len(got) != 0 {
		t.Errorf("inbox after a delete during a refresh = %+v, want empty", got)
	}
}

// TestOverlappingRefreshesKeepTheNewest: a listing that started first but
// lands last (an ls slower than a poll) must not take back a message the
// other one saw arrive, nor report it deleted.
func TestOverlappingRefreshesKeepTheNewest(t *testing.T) {
	for name, cfg := range gatedConfigs {
		t.Run(name, func(t *testing.T) { testOverlappingRefreshesKeepTheNewest(t, cfg) })
	}
}

func testOverlappingRefreshesKeepTheNewest(t *testing.T, cfg mailbox.Config) {
	c, g, send, first := gatedCache(t, cfg, "first")
	var removed []string
	var mu sync.Mutex
	c.OnChange(func(ch mailbox.Change) {
		if ch.Kind == mailbox.Removed {
			mu.Lock()
			removed = append(removed, ch.ID)
			mu.Unlock()
		}
	})
	ctx := context.Background()

	finish := slowList(t, c, g) // it holds only the first message
	second := send("second")
	if err := c.Refresh(ctx, mailbox.Inbox); err != nil {
		t.Fatal(err)
	}
	finish()
	got, err := c.List(ctx, mailbox.Inbox)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].ID != first.ID || got[1].ID != second.ID {
		t.Errorf("inbox after overlapping listings = %+v, want both messages", got)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(removed) != 0 {
		t.Errorf("removed %v: a message that is there was reported deleted", removed)
	}
}

func TestTamperedMessageFailsAloneAndForGood(t *testing.T) {
	f := newFixture(t, mailbox.Config{ListTTL: time.Minute, CiphertextBytes: 1 << 20, PlaintextBytes: 1 << 20})
	ctx := context.Background()
	good := f.Bob.Send(t, f.Alice, "good")
	bad := f.Bob.Send(t, f.Alice, "bad")
	f.hub.TamperMessage(t, "inbox", bad.ID)
	if got, err := f.Model.List(ctx, mailbox.Inbox); err != nil || len(got) != 2 {
		t.Fatalf("List with a tampered message = %v, %v", got, err)
	}
	if _, err := f.Model.Open(ctx, mailbox.Inbox, bad.ID); !errors.Is(err, mailbox.ErrBadSignature) {
		t.Errorf("Open tampered: %v, want ErrBadSignature", err)
	}
	if b, err := f.Model.Open(ctx, mailbox.Inbox, good.ID); err != nil || string(b) != "good" {
		t.Errorf("Open good = %q, %v", b, err)
	}
	before := f.Model.Stats()
	if _, err := f.Model.Open(ctx, mailbox.Inbox, bad.ID); !errors.Is(err, mailbox.ErrBadSignature) {
		t.Errorf("second Open tampered: %v", err)
	}
	after := f.Model.Stats()
	if after.HubCalls != before.HubCalls || after.PlainHits != before.PlainHits+1 {
		t.Errorf("a known-bad message was fetched or checked again: %+v -> %+v", before, after)
	}
}

func TestZeroConfigCachesNothing(t *testing.T) {
	f := newFixture(t, mailbox.Config{})
	ctx := context.Background()
	m := f.Bob.Send(t, f.Alice, "x")
	for range 2 {
		if _, err := f.Model.List(ctx, mailbox.Inbox); err != nil {
			t.Fatal(err)
		}
		if _, err := f.Model.Open(ctx, mailbox.Inbox, m.ID); err != nil {
			t.Fatal(err)
		}
	}
	st := f.Model.Stats()
	if st.HubCallsByOp["ListInboxMessages"] != 4 || st.CiphertextBytes != 0 || st.PlaintextBytes != 0 {
		t.Errorf("uncached: %+v, want 4 inbox calls and nothing kept", st)
	}
}

func TestPagingOverManyMessages(t *testing.T) {
	f := newFixture(t, mailbox.Config{PageSize: 7})
	want := make([]string, 0, 30)
	for i := range 30 {
		want = append(want, f.Bob.Send(t, f.Alice, fmt.Sprint(i)).ID)
	}
	got, err := f.Model.List(context.Background(), mailbox.Inbox)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, e := range got {
		ids = append(ids, e.ID)
	}
	if !slices.Equal(ids, want) {
		t.Errorf("paged listing:\n got %v\nwant %v", ids, want)
	}
	if n := f.Calls("ListInboxMessages"); n != 5 {
		t.Errorf("30 messages in pages of 7 took %d calls, want 5", n)
	}
}

func TestThreads(t *testing.T) {
	f := newFixture(t, mailbox.Config{ListTTL: time.Minute})
	ctx := context.Background()
	ts, err := f.Model.Threads(ctx)
	if err != nil || len(ts) != 1 || !ts[0].Mailbox || ts[0].Name != hub.MailboxName {
		t.Fatalf("Threads = %+v, %v; want the mailbox", ts, err)
	}
	nt, err := f.Model.NewThread(ctx, "notes")
	if err != nil {
		t.Fatal(err)
	}
	if ts, _ := f.Model.Threads(ctx); len(ts) != 2 {
		t.Errorf("Threads after NewThread = %+v", ts)
	}
	if err := f.Model.DeleteThread(ctx, ts[0]); !errors.Is(err, mailbox.ErrPermission) {
		t.Errorf("DeleteThread(mailbox) = %v, want ErrPermission", err)
	}
	if err := f.Model.DeleteThread(ctx, nt); err != nil {
		t.Fatal(err)
	}
	f.Clock.Step(time.Minute)
	if ts, _ := f.Model.Threads(ctx); len(ts) != 1 {
		t.Errorf("Threads after DeleteThread and a refresh = %+v", ts)
	}
}

// TestLocalThreadChangeIsNotSeenTwice: a thread made here is in the cached
// list as the hub will list it, so the next refresh finds nothing changed
// and the kernel keeps its thread entries.
func TestLocalThreadChangeIsNotSeenTwice(t *testing.T) {
	f := newFixture(t, mailbox.Config{ListTTL: time.Minute})
	ctx := context.Background()
	if _, err := f.Model.Threads(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Model.NewThread(ctx, "archive"); err != nil { // sorts before the mailbox
		t.Fatal(err)
	}
	local, _ := f.Model.Threads(ctx)
	f.Clock.Step(time.Minute)
	fresh, err := f.Model.Threads(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(local, fresh) {
		t.Errorf("threads after a local mkdir %+v, as the hub lists them %+v", local, fresh)
	}
	for _, c := range f.TakeChanges() {
		if c.Kind == mailbox.ThreadsChanged {
			t.Errorf("a refresh reported the thread made here as a change")
		}
	}
}

// TestApplyWatchEvents feeds the real hub's watch, through the cache, into
// the model: the listing follows remote changes without another listing
// call.
func TestApplyWatchEvents(t *testing.T) {
	f := newFixture(t, mailbox.Config{ListTTL: time.Hour, CiphertextBytes: 1 << 20, PlaintextBytes: 1 << 20})
	ctx := context.Background()
	mbox, err := f.Alice.Client.GetMailboxID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// The stack hubmail.New builds, by hand, to reach the cache's watch.
	cfg := mailbox.Config{ListTTL: time.Hour, CiphertextBytes: 1 << 20, PlaintextBytes: 1 << 20, Now: f.Clock.Now}
	c := cache.New(hubmail.NewBackend(f.Alice.Client, mbox, cfg), cfg)
	f.Model = mailbox.New(c, hubmail.NewSealer(f.Alice.Key), cfg)
	f.Model.OnChange(func(ch mailbox.Change) {
		f.Record(ch)
	})
	events := make(chan mailbox.Event, 16)
	w, err := c.Watch(ctx, mailbox.Inbox, func(ev mailbox.Event) {
		f.Model.Apply(mailbox.Inbox, ev)
		if ev.Kind <= mailbox.EventDelete {
			events <- ev
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, err := f.Model.List(ctx, mailbox.Inbox); err != nil {
		t.Fatal(err)
	}
	wait := func(want mailbox.EventKind) {
		t.Helper()
		select {
		case ev := <-events:
			if ev.Kind != want {
				t.Fatalf("event %v, want %v", ev.Kind, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no %v event in 10s", want)
		}
	}
	m := f.Bob.Send(t, f.Alice, "pushed")
	wait(mailbox.EventCreate)
	if e, err := f.Model.Lookup(ctx, mailbox.Inbox, m.ID); err != nil || e.Size != 6 {
		t.Fatalf("Lookup after a create event = %+v, %v", e, err)
	}
	if b, err := f.Model.Open(ctx, mailbox.Inbox, m.ID); err != nil || string(b) != "pushed" {
		t.Fatalf("Open after a create event = %q, %v", b, err)
	}
	// Another device of alice's reads and deletes it.
	if _, err := f.Alice.Client.ReadInboxMessage(ctx, m.ID); err != nil {
		t.Fatal(err)
	}
	wait(mailbox.EventSave)
	if e, _ := f.Model.Lookup(ctx, mailbox.Inbox, m.ID); e.Unread() {
		t.Error("still unread after a save event")
	}
	if err := f.Alice.Client.DeleteInboxMessage(ctx, m.ID); err != nil {
		t.Fatal(err)
	}
	wait(mailbox.EventDelete)
	if _, err := f.Model.Lookup(ctx, mailbox.Inbox, m.ID); !errors.Is(err, mailbox.ErrNotFound) {
		t.Errorf("Lookup after a delete event: %v", err)
	}
	if n := f.Calls("ListInboxMessages"); n != 1 {
		t.Errorf("listing calls = %d, want the first one only", n)
	}
	var kinds []mailbox.ChangeKind
	for _, c := range f.TakeChanges() {
		kinds = append(kinds, c.Kind)
	}
	if !slices.Equal(kinds, []mailbox.ChangeKind{mailbox.Added, mailbox.Read, mailbox.Removed}) {
		t.Errorf("changes = %v", kinds)
	}
}

// TestWatchTTLZeroMeansListTTL: `--watch-ttl 0` means "as --list-ttl" (the
// flag's help and docs/semantics.md), not "always ask the hub".
func TestWatchTTLZeroMeansListTTL(t *testing.T) {
	f := newFixture(t, mailbox.Config{})
	ctx := context.Background()
	mbox, err := f.Alice.Client.GetMailboxID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cfg := mailbox.Config{ListTTL: time.Hour, WatchTTL: 0, Now: f.Clock.Now}
	backend := hubmail.NewBackend(f.Alice.Client, mbox, cfg)
	c := cache.New(backend, cfg)
	for _, box := range []mailbox.Box{mailbox.Inbox, mailbox.Sentbox} {
		w, err := c.Watch(ctx, box, func(mailbox.Event) {})
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close()
	}
	for range 3 {
		if _, err := c.List(ctx, mailbox.Inbox, mailbox.ListOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	var st mailbox.Stats
	backend.Figures(&st)
	if n := st.HubCallsByOp["ListInboxMessages"]; n != 1 {
		t.Errorf("3 lists with the watch up, --watch-ttl 0 and --list-ttl 1h made %d hub calls, want 1", n)
	}
}
