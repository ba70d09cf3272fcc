package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hubfs/hubfs/hub"
)

func TestLs(t *testing.T) {
	ch := startCLIHub(t)
	alice, bob := newCLIUser(t), newCLIUser(t)
	if out := ch.must(t, bob, "", "ls", "inbox"); out != "" {
		t.Fatalf("a new user's inbox: %q", out)
	}
	var ids []string
	for i := range 3 {
		ids = append(ids, strings.TrimSpace(ch.must(t, alice, fmt.Sprintf("message %d", i), "send", "--to", bob.pub())))
	}
	ch.must(t, bob, "", "cat", ids[0]) // marks it read

	lines := strings.Split(strings.TrimSuffix(ch.must(t, bob, "", "ls", "inbox"), "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("ls inbox: %q", lines)
	}
	for i, line := range lines {
		f := strings.Split(line, "\t")
		if len(f) != 4 {
			t.Fatalf("line %q: want 4 tab-separated fields", line)
		}
		if f[0] != ids[2-i] || f[1] != alice.pub() || f[2] != "9" {
			t.Errorf("line %d: %q (want newest first, from alice, size 9)", i, f)
		}
		if _, err := time.Parse(time.RFC3339, f[3]); err != nil {
			t.Errorf("time %q: %v", f[3], err)
		}
	}

	unread := ch.must(t, bob, "", "ls", "inbox", "--unread")
	if strings.Count(unread, "\n") != 2 || strings.Contains(unread, ids[0]) {
		t.Errorf("ls --unread: %q", unread)
	}

	type entry struct {
		ID        string     `json:"id"`
		From      string     `json:"from"`
		To        string     `json:"to"`
		Size      int64      `json:"size"`
		CreatedAt time.Time  `json:"created_at"`
		ReadAt    *time.Time `json:"read_at"`
	}
	dec := json.NewDecoder(strings.NewReader(ch.must(t, bob, "", "ls", "--json", "inbox")))
	var got []entry
	for dec.More() {
		var e entry
		if err := dec.Decode(&e); err != nil {
			t.Fatal(err)
		}
		got = append(got, e)
	}
	if len(got) != 3 || got[2].ID != ids[0] || got[2].ReadAt == nil || got[0].ReadAt != nil ||
		got[0].To != bob.pub() || got[0].Size != 9 || got[0].CreatedAt.IsZero() {
		t.Errorf("ls --json: %+v", got)
	}

	sent := ch.must(t, alice, "", "ls", "sentbox")
	if strings.Count(sent, "\n") != 3 || !strings.Contains(sent, "\t"+bob.pub()+"\t") {
		t.Errorf("ls sentbox (want the recipient in the second column): %q", sent)
	}

	_, _, err := ch.run(t, alice, "", "ls")
	wantUsage(t, err, "no box")
	_, _, err = ch.run(t, alice, "", "ls", "outbox")
	wantUsage(t, err, "an unknown box")
	_, _, err = ch.run(t, alice, "", "ls", "sentbox", "--unread")
	wantUsage(t, err, "--unread on the sentbox")
}

// TestLsAsksForNoBodies: ls prints no body, so it lists metadata only
// (TestLs checks the sizes still come right, from the body sizes).
func TestLsAsksForNoBodies(t *testing.T) {
	for _, c := range []struct {
		box    string
		unread bool
		want   hub.Box
		status hub.Status
	}{
		{"inbox", false, hub.Inbox, hub.StatusAll},
		{"inbox", true, hub.Inbox, hub.StatusUnread},
		{"sentbox", false, hub.Sentbox, hub.StatusAll},
	} {
		box, opts := lsQuery(c.box, c.unread)
		if box != c.want || opts.Status != c.status || !opts.WithoutBodies || opts.Ascending {
			t.Errorf("ls %s unread=%v asks %v %+v; want %v, status %v, newest first, without bodies", c.box, c.unread, box, opts, c.want, c.status)
		}
	}
}
