package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hubfs/hubfs/hub"
	"github.com/hubfs/hubfs/hub/hubtest"
	"github.com/hubfs/hubfs/mailbox"
	"github.com/hubfs/hubfs/queue"
)

func TestSend(t *testing.T) {
	ch := startCLIHub(t)
	alice, bob := newCLIUser(t), newCLIUser(t)
	ch.must(t, bob, "", "ls", "inbox") // bob's first command sets up his mailbox

	out := ch.must(t, alice, "from stdin", "send", "--to", bob.pub())
	id := strings.TrimSuffix(out, "\n")
	if err := hub.CheckMessageID(id); err != nil || out != id+"\n" {
		t.Fatalf("send printed %q, want the id alone on a line", out)
	}

	file := filepath.Join(t.TempDir(), "note")
	body := append([]byte("from a file\x00\xff"), bytes.Repeat([]byte("x"), 10000)...)
	os.WriteFile(file, body, 0o600)
	id2 := strings.TrimSpace(ch.must(t, alice, "", "send", file, "--to", bob.pub())) // flags after the file work
	id3 := strings.TrimSpace(ch.must(t, alice, "dash", "send", "--to", bob.pub(), "-"))

	for id, want := range map[string][]byte{id: []byte("from stdin"), id2: body, id3: []byte("dash")} {
		if got := ch.must(t, bob, "", "cat", id); got != string(want) {
			t.Errorf("cat %s: %d bytes, want %d", id, len(got), len(want))
		}
	}

	_, _, err := ch.run(t, alice, "", "send", "x")
	wantUsage(t, err, "no --to")
	_, _, err = ch.run(t, alice, "", "send", "--to", "bnotakey", "x")
	wantUsage(t, err, "a bad --to")
	_, _, err = ch.run(t, alice, "", "send", "--to", bob.pub(), "a", "b")
	wantUsage(t, err, "two files")
	if _, _, err = ch.run(t, alice, "", "send", "--to", bob.pub(), filepath.Join(t.TempDir(), "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a missing file: %v", err)
	}
	nobody := newCLIUser(t)
	if _, _, err = ch.run(t, alice, "x", "send", "--to", nobody.pub()); !errors.Is(err, hub.ErrNoMailbox) {
		t.Errorf("to a user without a mailbox: %v", err)
	}
}

// TestSendQueue: without --queue a send the hub cannot take fails (exit
// status), with --queue it is kept sealed in the identity's queue and a
// later delivery (as a mount makes it) sends it once, under the same key.
func TestSendQueue(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	ch := startCLIHub(t)
	alice, bob := newCLIUser(t), newCLIUser(t)
	ch.must(t, bob, "", "ls", "inbox")
	ch.must(t, alice, "", "ls", "inbox")
	ch.h.Stop(t)

	if _, _, err := ch.run(t, alice, "lost?", "send", "--to", bob.pub(), "--timeout", "1s"); err == nil {
		t.Fatal("send with the hub down succeeded without --queue")
	}
	out := ch.must(t, alice, "kept", "send", "--queue", "--to", bob.pub(), "--timeout", "1s")
	local, ok := strings.CutPrefix(strings.TrimSpace(out), "queued/")
	if !ok {
		t.Fatalf("send --queue printed %q, want queued/<local-id>", out)
	}
	path, err := queue.DefaultPath(alice.pub())
	if err != nil {
		t.Fatal(err)
	}
	dir, err := queue.OpenDir(path)
	if err != nil {
		t.Fatal(err)
	}
	items, _, err := dir.Load()
	if err != nil || len(items) != 1 || items[0].ID != local || items[0].To != bob.pub() {
		t.Fatalf("queue after send --queue: %+v, %v", items, err)
	}
	if raw, _ := os.ReadFile(filepath.Join(path, local+".json")); bytes.Contains(raw, []byte("kept")) {
		t.Error("the queue file holds the plaintext")
	}

	ch.h.Restart(t)
	cl := hubtest.UserWithKey(t, ch.h, alice.key).Client
	o, err := queue.New(queue.Config{Dir: dir, Sender: sealedSender{cl}, Key: alice.key})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go o.Run(ctx)
	for deadline := time.Now().Add(10 * time.Second); o.Len() > 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the queued message was not delivered")
		}
	}
	got := ch.must(t, bob, "", "ls", "inbox")
	if n := strings.Count(got, "\n"); n != 1 {
		t.Errorf("bob's inbox has %d messages, want exactly the queued one:\n%s", n, got)
	}
}

type sealedSender struct{ cl *hub.Client }

func (s sealedSender) SendSealed(ctx context.Context, m mailbox.Sealed, key string, plain []byte) (string, error) {
	um, err := s.cl.SendSealed(ctx, m, key)
	return um.ID, err
}
