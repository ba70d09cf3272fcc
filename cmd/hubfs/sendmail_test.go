package main

import (
	"bytes"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hubfs/hubfs/queue"
	"github.com/hubfs/hubfs/wire"
)

// inbox is u's inbox bodies, oldest first.
func inboxBodies(t *testing.T, ch *cliHub, u cliUser) []string {
	t.Helper()
	var bodies []string
	for _, line := range strings.Split(strings.TrimSpace(ch.must(t, u, "", "ls", "inbox")), "\n") {
		if line == "" {
			continue
		}
		id := strings.Split(line, "\t")[0]
		bodies = append([]string{ch.must(t, u, "", "cat", id)}, bodies...)
	}
	return bodies
}

func sendmailEnv(t *testing.T) string {
	t.Helper()
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	book := filepath.Join(t.TempDir(), "contacts")
	return book
}

// TestSendmailT: -t takes the recipients from To, Cc and Bcc; each gets the
// whole message once, without Bcc, From set to the sender's own address;
// a reply to that From goes back.
func TestSendmailT(t *testing.T) {
	book := sendmailEnv(t)
	ch := startCLIHub(t)
	alice, bob, carol, dave := newCLIUser(t), newCLIUser(t), newCLIUser(t), newCLIUser(t)
	for _, u := range []cliUser{bob, carol, dave} {
		ch.must(t, u, "", "ls", "inbox")
	}
	if _, _, err := runCLI(t, "contacts", "add", "carol", carol.pub(), "--contacts", book); err != nil {
		t.Fatal(err)
	}
	msg := "From: Alice <alice@example.org>\n" +
		"To: Bob <" + bob.pub() + "@hubfs.invalid>, carol\n" +
		"Cc: " + bob.pub() + "\n" + // bob twice: one copy
		"Bcc: <" + dave.pub() + "@hubfs.invalid>\n" +
		"Subject: lunch\n" +
		"Message-ID: <lunch@example.org>\n" +
		"\n" +
		"at noon?\n.\nnot the end: -i\n"
	if out, stderr, err := ch.run(t, alice, msg, "sendmail", "--contacts", book, "--no-mount", "-t", "-i"); err != nil || out != "" {
		t.Fatalf("sendmail -t: %q, %v (stderr %q)", out, err, stderr)
	}
	for _, u := range []cliUser{bob, carol, dave} {
		got := inboxBodies(t, ch, u)
		if len(got) != 1 {
			t.Fatalf("inbox has %d messages, want 1", len(got))
		}
		m, err := mail.ReadMessage(strings.NewReader(got[0]))
		if err != nil {
			t.Fatalf("the message received is not RFC 5322: %v\n%s", err, got[0])
		}
		if from := m.Header.Get("From"); from != `"Alice" <`+alice.pub()+`@hubfs.invalid>` {
			t.Errorf("From: %q", from)
		}
		if m.Header.Get("Bcc") != "" || strings.Contains(got[0], dave.pub()) {
			t.Errorf("Bcc leaked:\n%s", got[0])
		}
		if m.Header.Get("Subject") != "lunch" || m.Header.Get("Message-ID") != "<lunch@example.org>" || m.Header.Get("Date") == "" {
			t.Errorf("headers: %v", m.Header)
		}
		if body, _ := readAll(m); body != "at noon?\n.\nnot the end: -i\n" {
			t.Errorf("body %q", body)
		}
	}

	// Bob replies to From, as a mail client would, by argument.
	got := inboxBodies(t, ch, bob)
	orig, _ := mail.ReadMessage(strings.NewReader(got[0]))
	reply := "To: " + orig.Header.Get("From") + "\nSubject: Re: lunch\nIn-Reply-To: <lunch@example.org>\n\nyes\n"
	// Options after the recipient, values apart: sendmail's own parsing,
	// not the CLI's flag reordering, reads them.
	ch.must(t, bob, reply, "sendmail", "--no-mount", orig.Header.Get("From"), "-f", "bob@example.org", "-oi")
	back := inboxBodies(t, ch, alice)
	if len(back) != 1 || !strings.Contains(back[0], "Subject: Re: lunch") || !strings.Contains(back[0], "From: <"+bob.pub()+"@hubfs.invalid>") {
		t.Fatalf("alice's inbox after the reply: %q", back)
	}
}

func readAll(m *mail.Message) (string, error) {
	var b bytes.Buffer
	_, err := b.ReadFrom(m.Body)
	return b.String(), err
}

// TestSendmailExits: each failure has its sysexits status, and a message
// with an unknown recipient is sent to no one.
func TestSendmailExits(t *testing.T) {
	book := sendmailEnv(t)
	ch := startCLIHub(t)
	alice, bob, nobody := newCLIUser(t), newCLIUser(t), newCLIUser(t)
	ch.must(t, bob, "", "ls", "inbox")
	ok := "Subject: x\n\nhi\n"
	for _, tc := range []struct {
		name  string
		stdin string
		args  []string
		code  int
	}{
		{"no recipients", ok, nil, exUsage},
		{"unknown option", ok, []string{"-Z", bob.pub()}, exUsage},
		{"unsupported mode", ok, []string{"-bs"}, exUsage},
		{"unknown long flag", ok, []string{"--bogus", bob.pub()}, exUsage},
		{"-t without recipients", ok, []string{"-t"}, exUsage},
		{"not a message", "just text, no header\n", []string{bob.pub()}, exDataErr},
		{"unknown name", ok, []string{bob.pub(), "carol"}, exNoUser},
		{"a name at a real domain", ok, []string{"bob@example.org"}, exNoUser},
		{"recipient without a mailbox", ok, []string{nobody.pub()}, exNoUser},
		// Over the hub's limit (1 MiB by default): the hub refuses the
		// first copy, so none goes out.
		{"over the hub's limit", "Subject: big\n\n" + strings.Repeat("a", 2<<20), []string{bob.pub()}, exDataErr},
		// Over any hub's limit: refused while reading stdin.
		{"over any hub's limit", "Subject: huge\n\n" + strings.Repeat("b", wire.MaxMessageSize), []string{bob.pub()}, exDataErr},
	} {
		_, stderr, err := ch.run(t, alice, tc.stdin, "sendmail", append([]string{"--contacts", book, "--no-mount"}, tc.args...)...)
		if err == nil || exitCode(err) != tc.code {
			t.Errorf("%s: %v (exit %d), want exit %d", tc.name, err, exitCode(err), tc.code)
		}
		if stderr != "" {
			t.Errorf("%s: stderr %q besides the error", tc.name, stderr)
		}
	}
	if got := inboxBodies(t, ch, bob); len(got) != 0 {
		t.Errorf("bob got %d messages from failed sends", len(got))
	}

	// Configuration: no identity, no API key.
	_, _, err := runApp([]string{"hubfs", "sendmail", "--identity", filepath.Join(t.TempDir(), "none"), "--no-mount", bob.pub()}, ok)
	if exitCode(err) != exConfig {
		t.Errorf("no identity: %v (exit %d), want %d", err, exitCode(err), exConfig)
	}
	t.Setenv("HUBFS_KEY", "")
	_, _, err = runApp([]string{"hubfs", "sendmail", "--identity", alice.path, "--hub", ch.h.Addr, "--no-mount", bob.pub()}, ok)
	if exitCode(err) != exConfig {
		t.Errorf("no API key: %v (exit %d), want %d", err, exitCode(err), exConfig)
	}
	// A key the hub does not know.
	_, _, err = runApp([]string{"hubfs", "sendmail", "--identity", alice.path, "--hub", ch.h.Addr, "--key", "bnotourkey", "--secret-file", ch.secretFile, "--no-mount", bob.pub()}, ok)
	if exitCode(err) != exNoPerm {
		t.Errorf("unknown API key: %v (exit %d), want %d", err, exitCode(err), exNoPerm)
	}

	// The hub down: a temporary failure, unless --queue keeps it.
	ch.must(t, alice, "", "ls", "inbox")
	ch.h.Stop(t)
	_, _, err = ch.run(t, alice, ok, "sendmail", "--no-mount", "--timeout", "1s", bob.pub())
	if exitCode(err) != exTempFail {
		t.Errorf("hub down: %v (exit %d), want %d", err, exitCode(err), exTempFail)
	}
	out, stderr, err := ch.run(t, alice, ok, "sendmail", "--no-mount", "--queue", "--timeout", "1s", bob.pub())
	if err != nil || out != "" || !strings.Contains(stderr, "queued") {
		t.Fatalf("hub down, --queue: %q, %q, %v", out, stderr, err)
	}
	path, _ := queue.DefaultPath(alice.pub())
	ents, _ := os.ReadDir(path)
	if len(ents) == 0 {
		t.Errorf("nothing in the queue %s", path)
	}
}
