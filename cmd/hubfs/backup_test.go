package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/hubfs/hubfs/hub"
	"github.com/hubfs/hubfs/hub/hubtest"
	"github.com/hubfs/hubfs/hubd/hubdtest"
	"github.com/hubfs/hubfs/hubd/store/sqlite"
)

// TestBackupUnderSendLoad: `hubfs backup`, run as its own process on the
// store of a live hub while senders keep sending through it, writes a
// snapshot that, restored into a fresh store and served, holds every
// message the hub acknowledged before the backup began, with bodies that
// verify and open.
func TestBackupUnderSendLoad(t *testing.T) {
	h := hubdtest.Start(t)
	alice, bob := hubtest.NewUser(t, h), hubtest.NewUser(t, h)
	ctx, stop := context.WithCancel(context.Background())
	defer stop()

	var (
		mu    sync.Mutex            // guards acked
		acked = map[string]string{} // id -> plaintext, once the hub acknowledged it
	)
	enough := make(chan struct{})
	var once sync.Once
	var senders sync.WaitGroup
	for g := range 4 {
		senders.Add(1)
		go func() {
			defer senders.Done()
			for i := 0; ctx.Err() == nil; i++ {
				// Some size, so the snapshot has pages to copy while
				// sends commit.
				body := fmt.Sprintf("load %d/%d ", g, i) + strings.Repeat("x", 4096)
				m, err := alice.Client.SendMessage(ctx, alice.Key, bob.Key.Public(), []byte(body))
				if err != nil {
					if ctx.Err() == nil {
						t.Errorf("send under load: %v", err)
					}
					return
				}
				mu.Lock()
				acked[m.ID] = body
				if len(acked) >= 200 {
					once.Do(func() { close(enough) })
				}
				mu.Unlock()
			}
		}()
	}
	<-enough

	mu.Lock()
	before := make(map[string]string, len(acked))
	for id, body := range acked {
		before[id] = body
	}
	mu.Unlock()
	file := filepath.Join(t.TempDir(), "hub-backup.db")
	// A process of its own, as an operator runs it: an open and close of
	// the store inside the hub's process would drop the hub's locks.
	out, err := hubfsProcess("backup", "--data", h.DataDir, file).CombinedOutput()
	if err != nil {
		t.Fatalf("hubfs backup: %v\n%s", err, out)
	}
	mu.Lock()
	during := len(acked) - len(before)
	mu.Unlock()
	stop()
	senders.Wait()
	t.Logf("%d messages acknowledged before the backup, %d while it ran", len(before), during)

	if fi, err := os.Stat(file); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("backup file: %v, mode %v; want mode 0600", err, fi.Mode().Perm())
	}

	data := filepath.Join(t.TempDir(), "restored")
	if _, errOut, err := runCLI(t, "restore", file, "--data", data); err != nil {
		t.Fatalf("hubfs restore: %v (%s)", err, errOut)
	}
	h2 := hubdtest.Start(t, hubdtest.WithDataDir(data))
	bob2 := hubtest.UserWithKey(t, h2, bob.Key)
	alice2 := hubtest.UserWithKey(t, h2, alice.Key)

	for _, who := range []struct {
		name string
		user hubtest.User
		box  hub.Box
	}{{"bob's inbox", bob2, hub.Inbox}, {"alice's sentbox", alice2, hub.Sentbox}} {
		got := map[string]hub.UserMessage{}
		for m, err := range who.user.Client.Messages(context.Background(), who.box, hub.ListOptions{Ascending: true}) {
			if err != nil {
				t.Fatalf("list %s on the restored hub: %v", who.name, err)
			}
			got[m.ID] = m
		}
		missing := 0
		for id, body := range before {
			m, ok := got[id]
			if !ok {
				missing++
				continue
			}
			plain, err := m.Open(who.user.Key)
			if err != nil || string(plain) != body {
				t.Errorf("%s: %s opens to %q, %v; want %q", who.name, id, plain, err, body)
			}
		}
		if missing > 0 {
			t.Errorf("%s on the restored hub lacks %d of the %d messages acknowledged before the backup", who.name, missing, len(before))
		}
		mu.Lock()
		for id := range got {
			if _, ok := acked[id]; !ok {
				t.Errorf("%s on the restored hub has %s, which no send acknowledged", who.name, id)
			}
		}
		mu.Unlock()
	}
}

func TestBackupAndRestoreCommands(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "hub")
	createKeyJSON(t, data)
	file := filepath.Join(dir, "backup.db")

	if _, _, err := runCLI(t, "backup", "--data", data, file); err != nil {
		t.Fatal(err)
	}
	if _, _, err := runCLI(t, "backup", file, "--data", data); !errors.Is(err, os.ErrExist) || exitCode(err) != exitFailure {
		t.Errorf("a backup over an existing FILE: %v (exit %d), want ErrExist", err, exitCode(err))
	}
	if _, _, err := runCLI(t, "backup", "--force", file, "--data", data); err != nil {
		t.Errorf("backup --force over an existing FILE: %v", err)
	}
	if _, _, err := runCLI(t, "backup", "--data", filepath.Join(dir, "nothing"), filepath.Join(dir, "b2")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a backup of a data directory without a store: %v, want ErrNotExist", err)
	}
	if _, _, err := runCLI(t, "restore", file, "--data", data); !errors.Is(err, sqlite.ErrNotEmpty) {
		t.Errorf("a restore over the live store: %v, want ErrNotEmpty", err)
	}
	if _, _, err := runCLI(t, "restore", filepath.Join(dir, "nothing.db"), "--data", filepath.Join(dir, "new")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a restore of a missing FILE: %v, want ErrNotExist", err)
	}
	restored := filepath.Join(dir, "new")
	if _, _, err := runCLI(t, "restore", file, "--data", restored); err != nil {
		t.Fatal(err)
	}
	if out, _, err := runCLI(t, "keys", "list", "--data", restored); err != nil || strings.Count(out, "active") != 1 {
		t.Errorf("keys list of the restored store: %q, %v; want the one key", out, err)
	}
	for _, args := range [][]string{{"backup"}, {"backup", "a", "b"}, {"restore"}} {
		_, _, err := runCLI(t, append(args, "--data", data)...)
		wantUsage(t, err, strings.Join(args, " "))
	}
}

// TestBackupOfPostgresPointsAtPgDump: a PostgreSQL store is backed up and
// restored with PostgreSQL's own tools; the error says which, and does not
// echo the URL (it may hold a password).
func TestBackupOfPostgresPointsAtPgDump(t *testing.T) {
	const url = "postgres://hub:s3cret@127.0.0.1:5432/hub?sslmode=disable"
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"backup", "--store", url, filepath.Join(t.TempDir(), "b")}, "pg_dump"},
		{[]string{"restore", filepath.Join(t.TempDir(), "b"), "--store", url}, "pg_restore"},
		{[]string{"backup", "--store", "postgresql://db/hub", filepath.Join(t.TempDir(), "b")}, "pg_dump"},
	} {
		_, _, err := runCLI(t, tc.args...)
		if !errors.Is(err, errPostgres) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "Keeping the data") || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("%v: %v; want a pointer to %s and the README, without the password", tc.args[0], err, tc.want)
		}
	}
}
