package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hubfs/hubfs/hub"
	"github.com/hubfs/hubfs/hubd/hubdtest"
	"github.com/hubfs/hubfs/identity"
)

// cliHub is a real hub on loopback plus what the CLI needs to reach it.
type cliHub struct {
	h          *hubdtest.Hub
	secretFile string
}

func startCLIHub(t *testing.T) *cliHub {
	t.Helper()
	h := hubdtest.Start(t)
	f := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(f, []byte(h.Secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return &cliHub{h: h, secretFile: f}
}

// cliUser is an identity file and its public key.
type cliUser struct {
	path string
	key  *identity.PrivateKey
}

func (u cliUser) pub() string { return u.key.Public().String() }

func newCLIUser(t *testing.T) cliUser {
	t.Helper()
	key, err := identity.NewPrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "identity")
	if err := identity.SaveKeyFile(path, key, false); err != nil {
		t.Fatal(err)
	}
	return cliUser{path: path, key: key}
}

// run runs `hubfs CMD <connection flags> ARGS...` as u with stdin, in
// process, through the same app Main runs.
func (ch *cliHub) run(t *testing.T, u cliUser, stdin string, cmd string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	full := append([]string{"hubfs", cmd,
		"--hub", ch.h.Addr, "--key", ch.h.Key, "--secret-file", ch.secretFile, "--identity", u.path,
	}, args...)
	return runApp(full, stdin)
}

// must is run that fails the test on error.
func (ch *cliHub) must(t *testing.T, u cliUser, stdin string, cmd string, args ...string) string {
	t.Helper()
	out, errOut, err := ch.run(t, u, stdin, cmd, args...)
	if err != nil {
		t.Fatalf("hubfs %s %v: %v (stderr %q)", cmd, args, err, errOut)
	}
	return out
}

func runApp(argv []string, stdin string) (stdout, stderr string, err error) {
	var out, errOut strings.Builder
	app := newApp()
	app.Writer, app.ErrWriter, app.Reader = &out, &errOut, strings.NewReader(stdin)
	err = run(context.Background(), app, argv)
	return out.String(), errOut.String(), err
}

func wantUsage(t *testing.T, err error, what string) {
	t.Helper()
	if err == nil || exitCode(err) != exitUsage {
		t.Errorf("%s: got %v (exit %d), want a usage error (exit %d)", what, err, exitCode(err), exitUsage)
	}
}

func TestConnectionFlags(t *testing.T) {
	ch := startCLIHub(t)
	u := newCLIUser(t)
	base := []string{"hubfs", "ls", "--hub", ch.h.Addr, "--identity", u.path}

	_, _, err := runApp(append(base, "inbox"), "")
	wantUsage(t, err, "no API key")

	_, _, err = runApp(append(base, "--key", ch.h.Key, "--secret", ch.h.Secret, "--secret-file", ch.secretFile, "inbox"), "")
	wantUsage(t, err, "two secrets")

	_, _, err = runApp(append(base, "--key", ch.h.Key, "--secret-file", ch.secretFile, "--timeout", "0s", "inbox"), "")
	wantUsage(t, err, "zero timeout")

	_, _, err = runApp(append(base, "--key", ch.h.Key, "--secret-file", ch.secretFile, "inbox", "--bogus"), "")
	wantUsage(t, err, "an unknown trailing flag")

	_, _, err = runApp([]string{"hubfs", "ls", "--hub", "https://example.com", "--key", "k", "--identity", u.path, "inbox"}, "")
	wantUsage(t, err, "a URL for --hub")

	// A secret on argv works, with a warning.
	_, stderr, err := runApp(append(base, "--key", ch.h.Key, "--secret", ch.h.Secret, "inbox"), "")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stderr, "visible to other users") {
		t.Errorf("no warning for --secret on argv; stderr %q", stderr)
	}
	if strings.Contains(stderr, ch.h.Secret) {
		t.Error("stderr shows the secret")
	}

	empty := filepath.Join(t.TempDir(), "empty")
	os.WriteFile(empty, []byte("\n"), 0o600)
	if _, _, err = runApp(append(base, "--key", ch.h.Key, "--secret-file", empty, "inbox"), ""); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Errorf("an empty secret file: %v", err)
	}
	open := filepath.Join(t.TempDir(), "open")
	os.WriteFile(open, []byte(ch.h.Secret), 0o644)
	if _, stderr, err = runApp(append(base, "--key", ch.h.Key, "--secret-file", open, "inbox"), ""); err != nil || !strings.Contains(stderr, "readable by others") {
		t.Errorf("a world-readable secret file: err %v, stderr %q", err, stderr)
	}

	_, _, err = runApp(append(base, "--key", "bunknownkeyunknownkeyunknow", "--secret-file", ch.secretFile, "inbox"), "")
	if !errors.Is(err, hub.ErrBadAPIKey) || !strings.Contains(err.Error(), "HUBFS_KEY") {
		t.Errorf("an unknown key: %v", err)
	}
}

func TestConnectionFromEnv(t *testing.T) {
	ch := startCLIHub(t)
	u := newCLIUser(t)
	t.Setenv("HUBFS_HUB", ch.h.Addr)
	t.Setenv("HUBFS_KEY", ch.h.Key)
	t.Setenv("HUBFS_SECRET", ch.h.Secret)
	t.Setenv("HUBFS_IDENTITY", u.path)
	out, stderr, err := runApp([]string{"hubfs", "ls", "inbox"}, "")
	if err != nil || out != "" || stderr != "" {
		t.Fatalf("ls from env: out %q, stderr %q, err %v", out, stderr, err)
	}

	ch.h.Stop(t)
	_, _, err = runApp([]string{"hubfs", "ls", "inbox", "--timeout", "2s"}, "")
	if !errors.Is(err, hub.ErrUnavailable) || !strings.Contains(err.Error(), "running") {
		t.Errorf("a stopped hub: %v", err)
	}
}
