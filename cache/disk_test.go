package cache_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hubfs/hubfs/cache"
	"github.com/hubfs/hubfs/hub"
	"github.com/hubfs/hubfs/hub/hubtest"
	"github.com/hubfs/hubfs/hubd/hubdtest"
	"github.com/hubfs/hubfs/mailbox"
	"github.com/hubfs/hubfs/mailbox/hubmail"
)

// mount is one mount's stack over the disk cache at dir, built as
// hubmail.New builds it, with the cache at hand to close (a remount in one
// process must release the lock) and the hub client in front of a gate.
type mount struct {
	model *mailbox.Model
	cache *cache.Cache
	gate  *gatedClient
}

func (f *fixture) mountDisk(t *testing.T, dir string, bytes int64) *mount {
	t.Helper()
	// As a mount runs by default: decrypt-ahead on. Listings are metadata
	// only either way; bodies reach the disk as they are read (or fetched
	// by the decrypt-ahead a read starts): readAll.
	cfg := mailbox.Config{ListTTL: time.Minute, CiphertextBytes: 1 << 20, PlaintextBytes: 1 << 20,
		DiskCacheBytes: bytes, DiskCacheDir: dir, Now: f.Clock.Now, DecryptAhead: 1}
	if f.mailbox == nil {
		id, err := f.Alice.Client.GetMailboxID(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		f.mailbox = &id
	}
	g := &gatedClient{Client: f.Alice.Client}
	c := cache.New(hubmail.NewBackend(g, *f.mailbox, cfg), cfg)
	m := mailbox.New(c, hubmail.NewSealer(f.Alice.Key), cfg)
	m.OnChange(f.Record)
	hubmail.Prime(m, c)
	t.Cleanup(func() { c.Close() })
	return &mount{model: m, cache: c, gate: g}
}

// readAll opens every message of the inbox, as cat * does: what a mount
// has seen, so its bodies are on disk. It ends the model's decrypt-ahead,
// as a mount that stops does, so nothing is left to write.
func (m *mount) readAll(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	es, err := m.model.List(ctx, mailbox.Inbox)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range es {
		if _, err := m.model.Open(ctx, mailbox.Inbox, e.ID); err != nil {
			t.Fatal(err)
		}
	}
	m.model.Close()
}

// gatedClient holds inbox listings while hold is set, until release.
type gatedClient struct {
	*hub.Client
	hold    chan struct{} // nil: pass through
	entered chan struct{}
}

func (g *gatedClient) ListInboxMessages(ctx context.Context, opts hub.InboxListOptions) ([]hub.UserMessage, error) {
	if g.hold != nil {
		g.entered <- struct{}{}
		<-g.hold
	}
	return g.Client.ListInboxMessages(ctx, opts)
}

func calls(m *mailbox.Model) int64 { return m.Stats().HubCalls }

func TestRemountListsAndReadsFromDiskBeforeTheHubAnswers(t *testing.T) {
	f := newFixture(t, mailbox.Config{})
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "cache")
	m1 := f.Bob.Send(t, f.Alice, "kept across mounts")
	m2 := f.Bob.Send(t, f.Alice, "deleted while unmounted")

	first := f.mountDisk(t, dir, 1<<20)
	if got, err := first.model.List(ctx, mailbox.Inbox); err != nil || len(got) != 2 {
		t.Fatalf("first mount List = %v, %v", got, err)
	}
	first.readAll(t)
	if _, err := first.model.List(ctx, mailbox.Sentbox); err != nil {
		t.Fatal(err)
	}
	if err := first.cache.Close(); err != nil {
		t.Fatal(err)
	}

	// Elsewhere, between the mounts: one deleted, one read, one new.
	if err := f.Alice.Client.DeleteInboxMessage(ctx, m2.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Alice.Client.ReadInboxMessage(ctx, m1.ID); err != nil {
		t.Fatal(err)
	}
	m3 := f.Bob.Send(t, f.Alice, "new since")
	f.TakeChanges()

	second := f.mountDisk(t, dir, 1<<20)
	second.gate.hold, second.gate.entered = make(chan struct{}), make(chan struct{})
	refreshed := make(chan error, 1)
	go func() { refreshed <- second.model.Refresh(ctx, mailbox.Inbox) }()
	<-second.gate.entered // the mount's first refresh is at the hub, held there

	got, err := second.model.List(ctx, mailbox.Inbox)
	if err != nil || len(got) != 2 || got[0].ID != m1.ID || got[1].ID != m2.ID {
		t.Fatalf("remount List while the refresh is held = %v, %v; want what the first mount knew", got, err)
	}
	plain, err := second.model.Open(ctx, mailbox.Inbox, m1.ID)
	if err != nil || string(plain) != "kept across mounts" {
		t.Fatalf("Open from disk = %q, %v", plain, err)
	}
	if n := calls(second.model); n != 0 {
		t.Errorf("remount made %d hub calls before the refresh answered, want 0", n)
	}
	// The read above came from disk (decrypt-ahead may read more there).
	if st := second.model.Stats(); st.DiskHits < 1 {
		t.Errorf("disk hits = %d, want the read served from disk", st.DiskHits)
	}

	close(second.gate.hold)
	if err := <-refreshed; err != nil {
		t.Fatal(err)
	}
	kinds := map[string]mailbox.ChangeKind{}
	for _, c := range f.TakeChanges() {
		kinds[c.ID] = c.Kind
	}
	want := map[string]mailbox.ChangeKind{m1.ID: mailbox.Read, m2.ID: mailbox.Removed, m3.ID: mailbox.Added}
	for id, k := range want {
		if kinds[id] != k {
			t.Errorf("resync change of %s = %v, want %v (all: %v)", id, kinds[id], k, kinds)
		}
	}
	// A body fetched once is never fetched again, across mounts.
	before := second.model.Stats().HubCallsByOp["ListInboxMessages"]
	if _, err := second.model.Open(ctx, mailbox.Inbox, m1.ID); err != nil {
		t.Fatal(err)
	}
	if n := second.model.Stats().HubCallsByOp["ListInboxMessages"] - before; n != 0 {
		t.Errorf("reading a body kept on disk made %d hub calls", n)
	}
}

func TestOfflineServesWhatWasSeen(t *testing.T) {
	f := newFixture(t, mailbox.Config{})
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "cache")
	seen := f.Bob.Send(t, f.Alice, "seen before")
	first := f.mountDisk(t, dir, 1<<20)
	first.readAll(t)
	if _, err := first.model.List(ctx, mailbox.Sentbox); err != nil {
		t.Fatal(err)
	}
	first.cache.Close()
	// Arrived after the last mount: listed by no one, its body not on disk.
	unseen := f.Bob.Send(t, f.Alice, "never fetched")
	f.hub.Stop(t)

	m := f.mountDisk(t, dir, 1<<20)
	if err := m.model.Refresh(ctx, mailbox.Inbox); !errors.Is(err, mailbox.ErrUnavailable) {
		t.Fatalf("forced listing with the hub down = %v, want ErrUnavailable", err)
	}
	f.Clock.Step(time.Hour) // past every TTL: only the disk can answer
	got, err := m.model.List(ctx, mailbox.Inbox)
	if err != nil || len(got) != 1 || got[0].ID != seen.ID {
		t.Fatalf("List offline = %v, %v", got, err)
	}
	if plain, err := m.model.Open(ctx, mailbox.Inbox, seen.ID); err != nil || string(plain) != "seen before" {
		t.Fatalf("Open offline = %q, %v", plain, err)
	}
	if _, err := m.model.Open(ctx, mailbox.Inbox, unseen.ID); !errors.Is(err, mailbox.ErrUnavailable) {
		t.Errorf("Open of a body never fetched, offline = %v, want ErrUnavailable", err)
	}
	st := m.model.Stats()
	if !st.Offline || st.ShownMode(m.model.Mode()) != mailbox.ModeOffline || st.Online {
		t.Errorf("offline %v, shown mode %v, online %v; want true, offline, false", st.Offline, st.ShownMode(m.model.Mode()), st.Online)
	}

	f.hub.Restart(t)
	// The client redials with backoff: until it does, the disk answers.
	deadline := time.Now().Add(30 * time.Second)
	for {
		f.Clock.Step(time.Hour)
		got, err = m.model.List(ctx, mailbox.Inbox)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("List after the hub is back = %v; want both messages", got)
		}
		time.Sleep(50 * time.Millisecond) // the client's redial backoff, not ours to step
	}
	if st := m.model.Stats(); st.Offline || st.ShownMode(m.model.Mode()) == mailbox.ModeOffline {
		t.Errorf("still offline once the hub answered")
	}
}

func TestDiskHoldsNoPlaintextAndIsPrivate(t *testing.T) {
	f := newFixture(t, mailbox.Config{})
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "cache")
	const marker = "PLAINTEXT-MARKER-7f3a"
	m1 := f.Bob.Send(t, f.Alice, marker+" in the inbox")
	m := f.mountDisk(t, dir, 1<<20)
	if _, err := m.model.List(ctx, mailbox.Inbox); err != nil {
		t.Fatal(err)
	}
	if _, err := m.model.Send(ctx, f.Bob.Key.Public(), []byte(marker+" sent")); err != nil {
		t.Fatal(err)
	}
	if _, err := m.model.Open(ctx, mailbox.Inbox, m1.ID); err != nil {
		t.Fatal(err)
	}
	m.cache.Close()

	var files int
	err := filepath.Walk(dir, func(path string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		perm := fi.Mode().Perm()
		if fi.IsDir() && perm != 0o700 || !fi.IsDir() && perm != 0o600 {
			t.Errorf("%s: mode %v, want 0700 dirs and 0600 files", path, perm)
		}
		if fi.IsDir() {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if bytes.Contains(b, []byte(marker)) {
			t.Errorf("%s holds plaintext", path)
		}
		if strings.HasPrefix(fi.Name(), "01") {
			files++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files != 2 {
		t.Errorf("%d bodies on disk, want 2 (the inbox message and the sent copy)", files)
	}
}

func TestDiskIsBoundedByBytes(t *testing.T) {
	f := newFixture(t, mailbox.Config{})
	dir := filepath.Join(t.TempDir(), "cache")
	body := strings.Repeat("x", 4000)
	for range 10 {
		f.Bob.Send(t, f.Alice, body)
	}
	// Ten bodies of ~5.5 KiB framed, base64 included, in a 24 KiB store.
	const bound = 24 << 10
	m := f.mountDisk(t, dir, bound)
	m.readAll(t)
	m.cache.Close()
	var total int64
	var bodies int
	filepath.Walk(dir, func(_ string, fi os.FileInfo, _ error) error {
		if fi != nil && !fi.IsDir() {
			total += fi.Size()
			if strings.HasPrefix(fi.Name(), "01") {
				bodies++
			}
		}
		return nil
	})
	if total > bound {
		t.Errorf("disk cache holds %d bytes, bound %d", total, bound)
	}
	if bodies == 0 || bodies == 10 {
		t.Errorf("%d of 10 bodies kept: want some evicted and some kept", bodies)
	}
}

func TestDamagedFileIsDroppedNotFatal(t *testing.T) {
	f := newFixture(t, mailbox.Config{})
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "cache")
	msg := f.Bob.Send(t, f.Alice, "survives damage")
	m := f.mountDisk(t, dir, 1<<20)
	m.readAll(t)
	m.cache.Close()
	// Flip a byte of the body and truncate the listing.
	bodyPath := filepath.Join(dir, "inbox", msg.ID)
	b, err := os.ReadFile(bodyPath)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)-10] ^= 0xff
	if err := os.WriteFile(bodyPath, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(filepath.Join(dir, "listing-inbox"), 20); err != nil {
		t.Fatal(err)
	}

	m = f.mountDisk(t, dir, 1<<20)
	if w := m.cache.Warm(); len(w) != 0 {
		t.Errorf("a damaged listing was loaded: warm %v", w)
	}
	plain, err := m.model.Open(ctx, mailbox.Inbox, msg.ID)
	if err != nil || string(plain) != "survives damage" {
		t.Fatalf("Open over a damaged body = %q, %v; want the hub's copy", plain, err)
	}
	got, err := m.model.List(ctx, mailbox.Inbox)
	if err != nil || len(got) != 1 {
		t.Fatalf("List over a damaged cache = %v, %v", got, err)
	}
	if st := m.model.Stats(); st.DiskDropped != 2 {
		t.Errorf("dropped %d damaged files, want 2", st.DiskDropped)
	}
}

func TestSecondMountOfOneIdentityRunsWithoutTheDisk(t *testing.T) {
	f := newFixture(t, mailbox.Config{})
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "cache")
	f.Bob.Send(t, f.Alice, "one")
	a := f.mountDisk(t, dir, 1<<20)
	b := f.mountDisk(t, dir, 1<<20) // the lock is held: b has no disk
	for _, m := range []*mount{a, b} {
		if got, err := m.model.List(ctx, mailbox.Inbox); err != nil || len(got) != 1 {
			t.Fatalf("List = %v, %v", got, err)
		}
	}
	b.cache.Close()
	a.cache.Close()
	if _, err := os.Stat(filepath.Join(dir, "listing-inbox")); err != nil {
		t.Errorf("the mount holding the lock saved no listing: %v", err)
	}
}

// BenchmarkRemountList compares the first listing of 1,000 messages by a
// new mount over a warm disk cache (the stack built and primed from disk,
// the listing answered while the mount's refresh would still be at the
// hub) with a warm listing of a mount that holds them (ns/op each; the
// ratio is printed).
func BenchmarkRemountList(b *testing.B) {
	h := hubdtest.Start(b)
	alice, bob := hubtest.NewUser(b, h), hubtest.NewUser(b, h)
	ctx := context.Background()
	for i := range 1000 {
		if _, err := bob.Client.SendMessage(ctx, bob.Key, alice.Key.Public(), []byte(strings.Repeat("m", 1000+i%24))); err != nil {
			b.Fatal(err)
		}
	}
	mbox, err := alice.Client.GetMailboxID(ctx)
	if err != nil {
		b.Fatal(err)
	}
	dir := filepath.Join(b.TempDir(), "cache")
	cfg := mailbox.DefaultConfig()
	cfg.DiskCacheDir = dir
	build := func() (*mailbox.Model, *cache.Cache) {
		c := cache.New(hubmail.NewBackend(alice.Client, mbox, cfg), cfg)
		m := mailbox.New(c, hubmail.NewSealer(alice.Key), cfg)
		hubmail.Prime(m, c)
		return m, c
	}
	m, c := build()
	if _, err := m.List(ctx, mailbox.Inbox); err != nil {
		b.Fatal(err)
	}
	c.Close()

	var open, remount, warm time.Duration
	b.Run("remount", func(b *testing.B) {
		for range b.N {
			start := time.Now()
			m, c := build()
			open += time.Since(start)
			start = time.Now()
			got, err := m.List(ctx, mailbox.Inbox)
			remount += time.Since(start)
			if err != nil || len(got) != 1000 || m.Stats().HubCalls != 0 {
				b.Fatalf("remount listed %d with %d hub calls, %v", len(got), m.Stats().HubCalls, err)
			}
			c.Close()
		}
		remount /= time.Duration(b.N)
		open /= time.Duration(b.N)
	})
	b.Run("warm", func(b *testing.B) {
		m, c := build()
		defer c.Close()
		if _, err := m.List(ctx, mailbox.Inbox); err != nil {
			b.Fatal(err)
		}
		b.ResetTimer()
		start := time.Now()
		for range b.N {
			if _, err := m.List(ctx, mailbox.Inbox); err != nil {
				b.Fatal(err)
			}
		}
		warm = time.Since(start) / time.Duration(b.N)
	})
	b.Logf("1,000 messages: open the store, load and prime %v (before the mount is up); then first list %v, warm list %v: %.2fx",
		open, remount, warm, float64(remount)/float64(warm))
}
