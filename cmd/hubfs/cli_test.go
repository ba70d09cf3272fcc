package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
)

// runCLI calls the CLI in-process and returns its stdout, stderr and error.
func runCLI(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	app := newApp()
	app.Writer, app.ErrWriter = &out, &errOut
	err = run(context.Background(), app, append([]string{"hubfs"}, args...))
	return out.String(), errOut.String(), err
}

// TestFlagsAfterArguments: every command takes its flags before or after
// its arguments, "--" still ends the flags, and a bad flag anywhere is a
// usage error (exit 2) that leaves stdout to the data.
func TestFlagsAfterArguments(t *testing.T) {
	dir := t.TempDir()
	id := filepath.Join(dir, "identity")
	data := filepath.Join(dir, "hub")
	mnt := t.TempDir()

	if _, _, err := runCLI(t, "init", "--identity", id); err != nil {
		t.Fatal(err)
	}
	if _, _, err := runCLI(t, "init", "--force", "--identity", id); err != nil {
		t.Errorf("init --force --identity: %v", err)
	}
	out, _, err := runCLI(t, "keys", "create", "--data", data)
	if err != nil {
		t.Fatal(err)
	}
	key := strings.Fields(out)[1]
	if _, _, err := runCLI(t, "keys", "revoke", key, "--data", data); err != nil {
		t.Errorf("keys revoke KEY --data DIR: %v", err)
	}
	if out, _, err := runCLI(t, "keys", "list", "--json", "--data", data); err != nil || !strings.Contains(out, `"revoked":true`) {
		t.Errorf("keys list after a revoke with a trailing --data: %q, %v", out, err)
	}

	// Each of these fails on its trailing flag's value or on the flag
	// itself, which shows the flag was read, not taken for an argument.
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"mount", mnt, "--op-timeout", "0s"}, "--op-timeout must be positive"},
		{[]string{"mount", mnt, "--bogus"}, "bogus"},
		{[]string{"umount", mnt, "--bogus"}, "bogus"},
		{[]string{"keys", "revoke", "KEY", "--bogus"}, "bogus"},
		{[]string{"serve", "--bogus"}, "bogus"},
		{[]string{"serve", "--quota-instance-reads", "0"}, "--quota-instance-reads must be positive"},
		{[]string{"whoami", "extra", "--identity", id}, "takes no arguments"},
		{[]string{"ls", "--bogus", "inbox"}, "bogus"},
		{[]string{"ls", "inbox", "--bogus"}, "bogus"},
		{[]string{"ls", "inbox", "--timeout"}, "needs an argument"},
		{[]string{"ls", "sentbox", "--unread", "--identity", id}, "--unread applies to the inbox"},
		{[]string{"cat", "--identity", id, "--", "--keep-unread"}, `"--keep-unread"`},
		{[]string{"rm", "inbox", "--", "-x", "--identity"}, `"-x"`},
		{[]string{"send", "a", "b", "--to", "x"}, "one FILE"},
		{[]string{"bogus", "--json"}, "unknown command"},
	} {
		stdout, stderr, err := runCLI(t, tc.args...)
		if err == nil || exitCode(err) != exitUsage || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("hubfs %v: %v (exit %d), want a usage error about %s", tc.args, err, exitCode(err), tc.want)
		}
		if stdout != "" || stderr != "" {
			t.Errorf("hubfs %v printed stdout %q, stderr %q; want only the error", tc.args, stdout, stderr)
		}
	}

	if out, _, err := runCLI(t, "rm", "inbox", "ID", "--help"); err != nil || !strings.Contains(out, "hubfs rm inbox|sentbox ID...") {
		t.Errorf("rm inbox ID --help: %v, printed %q; want rm's help", err, out)
	}

	// A trailing flag no longer counts as a second argument.
	if _, _, err := runCLI(t, "umount", mnt, "--lazy"); err == nil || exitCode(err) == exitUsage {
		t.Errorf("umount MNT --lazy of a directory that is not mounted: %v, want the unmount's own failure", err)
	}
}
