package integration

import (
	"bytes"
	"fmt"
	"net/mail"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hubfs/hubfs/hubd/hubdtest"
	"github.com/hubfs/hubfs/identity"
)

// sendmailAs runs `hubfs sendmail ARGS` as u with the message on stdin.
func sendmailAs(u *user, env []string, msg string, args ...string) (string, error) {
	cmd := exec.Command(hubfsBin, append([]string{"sendmail"}, args...)...)
	cmd.Env = append(u.env(), env...)
	cmd.Stdin = strings.NewReader(msg)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// TestContactsInMount: outbox/NAME sends to the contact, contacts/NAME
// shows the key, through the built binary's mount.
func TestContactsInMount(t *testing.T) {
	requireFUSE(t)
	h := hubdtest.Start(t)
	alice, bob := newUser(t, h, "alice"), newUser(t, h, "bob")
	bcl, bkey := clientFor(t, h, bob.keyFile)
	book := filepath.Join(t.TempDir(), "contacts")
	run(t, nil, "contacts", "add", "bob", bob.pub, "--contacts", book)
	am := mountUser(t, alice, "--contacts="+book)

	if got := mustSh(t, am, `cat "$MNT/contacts/bob"; ls "$MNT/contacts"`); got != bob.pub+"\nbob\n" {
		t.Errorf("contacts/: %q", got)
	}
	mustSh(t, am, `echo "by name" > "$MNT/outbox/bob"`)
	waitFor(t, 20*time.Second, "bob's message", func() bool { return slices.Contains(inbox(t, bcl, bkey), "by name\n") })
	if out, err := sh(t, am, `echo x > "$MNT/outbox/carol"`); err == nil || !strings.Contains(out, "Invalid argument") {
		t.Errorf("outbox/carol (no such contact): %v %s", err, out)
	}
}

// TestSendmailThroughMount: with a mount of this identity running and the
// hub down, sendmail exits 0 (the mount's queue holds the message), and the
// whole message arrives once the hub is back, From the verified sender.
func TestSendmailThroughMount(t *testing.T) {
	requireFUSE(t)
	h := hubdtest.Start(t)
	alice, bob := newUser(t, h, "alice"), newUser(t, h, "bob")
	bcl, bkey := clientFor(t, h, bob.keyFile)
	book := filepath.Join(t.TempDir(), "contacts")
	run(t, nil, "contacts", "add", "bob", bob.pub, "--contacts", book)
	am := mountUser(t, alice, "--op-timeout=2s", "--send-timeout=1s")
	h.Stop(t)

	msg := "From: Alice <alice@example.org>\nTo: Bob <bob@hubfs.invalid>\nBcc: " + bob.pub + "\nSubject: while you were out\n\nhello\n"
	// --timeout=1s: had it tried the hub directly, it would fail (75) fast.
	if out, err := sendmailAs(alice, []string{"HUBFS_CONTACTS=" + book}, msg, "-t", "-oi", "--timeout=1s"); err != nil {
		t.Fatalf("sendmail with the hub down and a mount running: %v\n%s", err, out)
	}
	if q := ids(t, am, "queued"); len(q) != 1 {
		t.Fatalf("queued/ = %v, want the one message", q)
	}

	h.Restart(t)
	var got []string
	waitFor(t, 30*time.Second, "the message to arrive", func() bool {
		got = inbox(t, bcl, bkey)
		return len(got) > 0
	})
	if len(got) != 1 {
		t.Fatalf("bob's inbox = %q, want one copy (To and Bcc are both bob)", got)
	}
	m, err := mail.ReadMessage(strings.NewReader(got[0]))
	if err != nil {
		t.Fatalf("not RFC 5322: %v\n%s", err, got[0])
	}
	if m.Header.Get("From") != `"Alice" <`+alice.pub+`@hubfs.invalid>` || m.Header.Get("Subject") != "while you were out" || m.Header.Get("Bcc") != "" {
		t.Errorf("headers %v", m.Header)
	}

	// Without a mount (--no-mount) and the hub down: a temporary failure.
	h.Stop(t)
	_, err = sendmailAs(alice, []string{"HUBFS_CONTACTS=" + book}, msg, "-t", "--no-mount", "--timeout=1s")
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 75 {
		t.Errorf("sendmail --no-mount with the hub down: %v, want exit 75", err)
	}
}

// requireRuns fails under CI=true (.ci/run installs what it runs) and skips
// outside.
func requireRuns(t *testing.T, name string, args ...string) {
	t.Helper()
	if err := exec.Command(name, args...).Run(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true but %s %v does not run: %v", name, args, err)
		}
		t.Skipf("no %s: %v", name, err)
	}
}

// TestSendmailMailClients: neomutt and git send-email, configured with
// hubfs sendmail as their sendmail, deliver through a running mount.
func TestSendmailMailClients(t *testing.T) {
	requireFUSE(t)
	requireRuns(t, "neomutt", "-v")
	requireRuns(t, "git", "send-email", "--dump-aliases") // Debian's git-email
	h := hubdtest.Start(t)
	alice, bob := newUser(t, h, "alice"), newUser(t, h, "bob")
	bcl, bkey := clientFor(t, h, bob.keyFile)
	book := filepath.Join(t.TempDir(), "contacts")
	run(t, nil, "contacts", "add", "bob", bob.pub, "--contacts", book)
	mountUser(t, alice)

	home := t.TempDir()
	env := append(alice.env(), "HOME="+home, "HUBFS_CONTACTS="+book, "HUBFS_BIN="+hubfsBin,
		"GIT_CONFIG_NOSYSTEM=1", "GIT_AUTHOR_NAME=Alice", "GIT_AUTHOR_EMAIL=alice@example.org",
		"GIT_COMMITTER_NAME=Alice", "GIT_COMMITTER_EMAIL=alice@example.org", "EMAIL=alice@example.org")
	script := `set -euo pipefail
cd "$HOME"
# neomutt in batch mode: no terminal, the message from stdin, no copy kept.
echo "sent by neomutt" | neomutt -n -F /dev/null \
	-e "set sendmail=\"$HUBFS_BIN sendmail -oi\"" -e 'set copy=no' -e 'set from="Alice <alice@example.org>"' \
	-s "from neomutt" -- bob@hubfs.invalid
# git send-email: a patch to a contact's key address.
git init -q repo && cd repo && echo x > f && git add f && git commit -qm "add f" && git format-patch -1 -q
git send-email --sendmail-cmd="$HUBFS_BIN sendmail" --confirm=never --suppress-cc=all \
	--from "Alice <alice@example.org>" --to "Bob <bob@hubfs.invalid>" 0001-*.patch >/dev/null
`
	cmd := exec.Command("bash", "-c", script)
	cmd.Env = env
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("mail clients: %v\n%s", err, out)
	}
	var got []string
	waitFor(t, 20*time.Second, "both messages", func() bool {
		got = inbox(t, bcl, bkey)
		return len(got) >= 2
	})
	subjects := map[string]bool{}
	for _, body := range got {
		m, err := mail.ReadMessage(strings.NewReader(body))
		if err != nil {
			t.Fatalf("not RFC 5322: %v\n%s", err, body)
		}
		if !strings.Contains(m.Header.Get("From"), "<"+alice.pub+"@hubfs.invalid>") {
			t.Errorf("From %q", m.Header.Get("From"))
		}
		subjects[m.Header.Get("Subject")] = true
	}
	if !subjects["from neomutt"] || !subjects["[PATCH] add f"] {
		t.Errorf("subjects %v, want neomutt's and the patch's", subjects)
	}
}

// TestContactsConcurrentProcesses: `hubfs contacts add` run by many
// processes at once (real processes: the flock is per open file, so
// goroutines of one process do not prove it) loses no contact, and of
// several adding one name with different keys exactly one wins.
func TestContactsConcurrentProcesses(t *testing.T) {
	const n = 16
	book := filepath.Join(t.TempDir(), "contacts")
	if err := os.WriteFile(book, []byte("# the book\nkeep "+newPub(t)+" # kept as written\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	contacts := func(args ...string) *exec.Cmd {
		cmd := exec.Command(hubfsBin, append([]string{"contacts"}, args...)...)
		cmd.Env = append(os.Environ(), "HUBFS_CONTACTS="+book)
		return cmd
	}
	want := map[string]string{}
	var cmds []*exec.Cmd
	for i := range n {
		name, key := fmt.Sprintf("c%d", i), newPub(t)
		want[name] = key
		cmds = append(cmds, contacts("add", name, key))
	}
	var same []*exec.Cmd
	for range n / 2 {
		same = append(same, contacts("add", "same", newPub(t)))
	}
	all := append(append([]*exec.Cmd(nil), cmds...), same...)
	outs := make([]*bytes.Buffer, len(all))
	for i, cmd := range all {
		outs[i] = &bytes.Buffer{}
		cmd.Stdout, cmd.Stderr = outs[i], outs[i]
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
	}
	wins := 0
	for i, cmd := range all {
		err := cmd.Wait()
		switch {
		case i < n && err != nil:
			t.Errorf("%s: %v\n%s", strings.Join(cmd.Args[1:], " "), err, outs[i])
		case i >= n && err == nil:
			wins++
		case i >= n && !strings.Contains(outs[i].String(), "contact exists"):
			t.Errorf("a losing add of the same name: %v\n%s", err, outs[i])
		}
	}
	if wins != 1 {
		t.Errorf("%d of %d adds of one name succeeded, want 1", wins, len(same))
	}
	b, err := os.ReadFile(book)
	if err != nil {
		t.Fatal(err)
	}
	got := string(b)
	if !strings.HasPrefix(got, "# the book\nkeep ") || !strings.Contains(got, " # kept as written\n") {
		t.Errorf("the other lines were not kept:\n%s", got)
	}
	for name, key := range want {
		if !strings.Contains(got, "\n"+name+" "+key+"\n") {
			t.Errorf("%s %s lost:\n%s", name, key, got)
		}
	}
	if c := strings.Count(got, "\nsame "); c != 1 {
		t.Errorf("%d lines name same, want 1:\n%s", c, got)
	}
	if fi, err := os.Stat(book); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("the book after the adds: %v, %v; want mode 0600", fi.Mode(), err)
	}
}

// newPub is a fresh public key string.
func newPub(t *testing.T) string {
	t.Helper()
	k, err := identity.NewPrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k.Public().String()
}
