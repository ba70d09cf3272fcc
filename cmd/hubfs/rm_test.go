package main

import (
	"fmt"
	"strings"
	"testing"
)

func TestRm(t *testing.T) {
	ch := startCLIHub(t)
	alice, bob := newCLIUser(t), newCLIUser(t)
	ch.must(t, bob, "", "ls", "inbox")
	var ids []string
	for i := range 3 {
		ids = append(ids, strings.TrimSpace(ch.must(t, alice, fmt.Sprint(i), "send", "--to", bob.pub())))
	}

	if out := ch.must(t, bob, "", "rm", "inbox", ids[0], ids[1]); out != "" {
		t.Errorf("rm printed %q", out)
	}
	inbox := ch.must(t, bob, "", "ls", "inbox")
	if strings.Contains(inbox, ids[0]) || strings.Contains(inbox, ids[1]) || !strings.Contains(inbox, ids[2]) {
		t.Errorf("after rm of two: %q", inbox)
	}
	ch.must(t, bob, "", "rm", "inbox", ids[0]) // already gone: still success, as on the hub
	if strings.Count(ch.must(t, alice, "", "ls", "sentbox"), "\n") != 3 {
		t.Error("bob's rm touched alice's sentbox")
	}
	ch.must(t, alice, "", "rm", "sentbox", ids[2])
	if strings.Contains(ch.must(t, alice, "", "ls", "sentbox"), ids[2]) {
		t.Error("rm sentbox left the message")
	}

	_, _, err := ch.run(t, bob, "", "rm", "inbox")
	wantUsage(t, err, "no id")
	_, _, err = ch.run(t, bob, "", "rm", "outbox", ids[2])
	wantUsage(t, err, "an unknown box")
	_, _, err = ch.run(t, bob, "", "rm", "inbox", ids[2], "nope")
	wantUsage(t, err, "a malformed id")
	if !strings.Contains(ch.must(t, bob, "", "ls", "inbox"), ids[2]) {
		t.Error("an rm refused for a bad id deleted the good one")
	}
}
