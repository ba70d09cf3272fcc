package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hubfs/hubfs/hub"
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
