package main

import (
	"errors"
	"strings"
	"testing"

	"github.com/hubfs/hubfs/hub"
)

func TestCat(t *testing.T) {
	ch := startCLIHub(t)
	alice, bob := newCLIUser(t), newCLIUser(t)
	ch.must(t, bob, "", "ls", "inbox")
	body := "binary \x00\x01\xfe\xff and text\n"
	id := strings.TrimSpace(ch.must(t, alice, body, "send", "--to", bob.pub()))

	if got := ch.must(t, bob, "", "cat", "--keep-unread", id); got != body {
		t.Fatalf("cat: %q, want %q", got, body)
	}
	if !strings.Contains(ch.must(t, bob, "", "ls", "inbox", "--unread"), id) {
		t.Fatal("--keep-unread marked the message read")
	}
	if got := ch.must(t, bob, "", "cat", strings.ToUpper(id)); got != body {
		t.Fatalf("cat of the upper-case id: %q", got)
	}
	if strings.Contains(ch.must(t, bob, "", "ls", "inbox", "--unread"), id) {
		t.Fatal("cat did not mark the message read")
	}

	// A message corrupted on the hub is refused, and nothing is printed.
	id2 := strings.TrimSpace(ch.must(t, alice, "secret plan", "send", "--to", bob.pub()))
	ch.h.TamperMessage(t, "inbox", id2)
	out, _, err := ch.run(t, bob, "", "cat", id2)
	if !errors.Is(err, hub.ErrBadSignature) || out != "" {
		t.Fatalf("a tampered message: printed %q, err %v", out, err)
	}

	// Only the inbox: alice's id is not in her own inbox.
	if _, _, err := ch.run(t, alice, "", "cat", id); !errors.Is(err, hub.ErrNotFound) {
		t.Errorf("an id not in the inbox: %v", err)
	}
	if _, _, err := ch.run(t, bob, "", "cat", "01j9zq3k8m5v7w2x4y6z8a0b1c"); !errors.Is(err, hub.ErrNotFound) {
		t.Errorf("an unknown id: %v", err)
	}
	_, _, err = ch.run(t, bob, "", "cat", "not-an-id")
	wantUsage(t, err, "a malformed id")
	_, _, err = ch.run(t, bob, "", "cat")
	wantUsage(t, err, "no id")
}
