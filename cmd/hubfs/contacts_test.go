package main

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hubfs/hubfs/contacts"
)

func TestContactsCommand(t *testing.T) {
	book := filepath.Join(t.TempDir(), "contacts")
	alice, bob := newCLIUser(t), newCLIUser(t)
	t.Setenv("HUBFS_CONTACTS", book)
	run := func(args ...string) (string, error) {
		t.Helper()
		out, _, err := runCLI(t, args...)
		return out, err
	}
	if out, err := run("contacts", "list"); err != nil || out != "" {
		t.Fatalf("list of a missing book: %q, %v", out, err)
	}
	for _, args := range [][]string{
		{"contacts", "add", "alice", alice.pub()},
		{"contacts", "add", "alice", alice.pub()}, // the same again: a no-op
		{"contacts", "add", "bob", bob.pub()},
	} {
		if _, err := run(args...); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
	}
	if out, _ := run("contacts", "list"); out != "alice "+alice.pub()+"\nbob "+bob.pub()+"\n" {
		t.Errorf("list: %q", out)
	}
	out, _ := run("contacts", "list", "--json")
	var got []contactEntry
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var e contactEntry
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("list --json line %q: %v", line, err)
		}
		got = append(got, e)
	}
	if len(got) != 2 || got[1] != (contactEntry{"bob", bob.pub()}) {
		t.Errorf("list --json: %+v", got)
	}

	_, err := run("contacts", "add", "alice", bob.pub())
	if !errors.Is(err, contacts.ErrExists) || exitCode(err) != exitFailure || !strings.Contains(err.Error(), "--force") {
		t.Errorf("add of a taken name: %v", err)
	}
	if _, err := run("contacts", "add", "alice", bob.pub(), "--force"); err != nil {
		t.Fatal(err)
	}
	if b, _ := contacts.Load(book); b.All()[0].Key != bob.pub() {
		t.Error("--force did not change the key")
	}
	if _, err := run("contacts", "rm", "alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := run("contacts", "rm", "alice"); !errors.Is(err, contacts.ErrNotFound) || exitCode(err) != exitFailure {
		t.Errorf("rm of an unknown name: %v", err)
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"contacts", "add", "carol"}, "NAME and KEY"},
		{[]string{"contacts", "add", "carol", "bnotakey"}, "KEY"},
		{[]string{"contacts", "add", "--", "-carol", bob.pub()}, "starts with '-'"},
		{[]string{"contacts", "add", "a/b", bob.pub()}, `'/'`},
		{[]string{"contacts", "add", bob.pub(), bob.pub()}, "a public key itself"},
		{[]string{"contacts", "rm"}, "one NAME"},
		{[]string{"contacts", "list", "x"}, "no arguments"},
		{[]string{"contacts", "bogus"}, "unknown subcommand"},
	} {
		_, err := run(tc.args...)
		if err == nil || exitCode(err) != exitUsage || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("hubfs %v: %v, want a usage error about %s", tc.args, err, tc.want)
		}
	}

	// A broken file is reported with its line, and not edited.
	os.WriteFile(book, []byte("# ok\ncarol\n"), 0o600)
	if _, err := run("contacts", "list"); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("list of a broken file: %v, want line 2 named", err)
	}
	if _, err := run("contacts", "add", "dave", bob.pub()); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("add to a broken file: %v", err)
	}
}

// The default book is $XDG_CONFIG_HOME/hubfs/contacts, or HUBFS_CONTACTS.
func TestContactsDefaultPath(t *testing.T) {
	cfg := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", cfg)
	t.Setenv("HUBFS_CONTACTS", "")
	u := newCLIUser(t)
	if _, _, err := runCLI(t, "contacts", "add", "alice", u.pub()); err != nil {
		t.Fatal(err)
	}
	if b, err := contacts.Load(filepath.Join(cfg, "hubfs", "contacts")); err != nil || b.Len() != 1 {
		t.Fatalf("the default file: %v, %v", b, err)
	}
	other := filepath.Join(t.TempDir(), "c")
	t.Setenv("HUBFS_CONTACTS", other)
	if _, _, err := runCLI(t, "contacts", "add", "bob", u.pub()); err != nil {
		t.Fatal(err)
	}
	if b, _ := contacts.Load(other); b.Len() != 1 {
		t.Fatal("HUBFS_CONTACTS was not used")
	}
}

// send --to NAME and ls's names.
func TestContactsSendAndLs(t *testing.T) {
	ch := startCLIHub(t)
	alice, bob := newCLIUser(t), newCLIUser(t)
	book := filepath.Join(t.TempDir(), "contacts")
	ch.must(t, bob, "", "ls", "inbox")
	if _, _, err := runCLI(t, "contacts", "add", "bob", bob.pub(), "--contacts", book); err != nil {
		t.Fatal(err)
	}
	if _, _, err := runCLI(t, "contacts", "add", "alice", alice.pub(), "--contacts", book); err != nil {
		t.Fatal(err)
	}
	id := strings.TrimSpace(ch.must(t, alice, "by name", "send", "--to", "bob", "--contacts", book))
	if got := ch.must(t, bob, "", "cat", id); got != "by name" {
		t.Fatalf("cat: %q", got)
	}

	_, _, err := ch.run(t, alice, "x", "send", "--to", "carol", "--contacts", book)
	wantUsage(t, err, "an unknown name")
	if !strings.Contains(err.Error(), "carol") {
		t.Errorf("the error does not name carol: %v", err)
	}
	_, _, err = ch.run(t, alice, "x", "send", "--to", "bbaareiamistypedkeymistypedkeymistypedkeymistypedkeyxxxx", "--contacts", book)
	wantUsage(t, err, "a mistyped key")
	if !strings.Contains(err.Error(), "not a public key") {
		t.Errorf("a mistyped key: %v", err)
	}

	// Piped, the key stays in the column unless --names.
	line := ch.must(t, bob, "", "ls", "inbox", "--contacts", book)
	if f := strings.Split(strings.TrimSpace(line), "\t"); len(f) != 4 || f[1] != alice.pub() {
		t.Errorf("ls inbox piped: %q", line)
	}
	line = ch.must(t, bob, "", "ls", "inbox", "--names", "--contacts", book)
	if f := strings.Split(strings.TrimSpace(line), "\t"); len(f) != 4 || f[1] != "alice" {
		t.Errorf("ls inbox --names: %q", line)
	}
	line = ch.must(t, alice, "", "ls", "sentbox", "--names", "--contacts", book)
	if f := strings.Split(strings.TrimSpace(line), "\t"); len(f) != 4 || f[1] != "bob" {
		t.Errorf("ls sentbox --names: %q", line)
	}
	var e lsEntry
	if err := json.Unmarshal([]byte(ch.must(t, bob, "", "ls", "inbox", "--json", "--contacts", book)), &e); err != nil || e.Name != "alice" || e.From != alice.pub() {
		t.Errorf("ls --json: %+v, %v", e, err)
	}

	// A broken book costs the names, not the listing.
	os.WriteFile(book, []byte("broken\n"), 0o600)
	out, stderr, err := ch.run(t, bob, "", "ls", "inbox", "--names", "--contacts", book)
	if err != nil || !strings.Contains(out, alice.pub()) || !strings.Contains(stderr, "line 1") {
		t.Errorf("ls with a broken book: %q, %q, %v", out, stderr, err)
	}
}
