package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hubfs/hubfs/identity"
)

func TestInitCreatesKeyAndWhoamiPrintsIt(t *testing.T) {
	path := filepath.Join(t.TempDir(), "conf", "identity")
	out, _, err := runCLI(t, "init", "--identity", path)
	if err != nil {
		t.Fatalf("init: %v", err)
	}
	pub := strings.TrimSpace(out)
	if _, err := identity.ParsePublicKey(pub); err != nil {
		t.Fatalf("init printed %q, not a public key: %v", out, err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode = %v, want 0600", fi.Mode().Perm())
	}

	who, stderr, err := runCLI(t, "whoami", "--identity", path)
	if err != nil {
		t.Fatalf("whoami: %v", err)
	}
	if who != pub+"\n" {
		t.Errorf("whoami stdout = %q, want the public key alone: %q", who, pub+"\n")
	}
	if stderr != "" {
		t.Errorf("whoami wrote to stderr: %q", stderr)
	}
}

func TestInitRefusesToOverwriteWithoutForce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "identity")
	first, _, err := runCLI(t, "init", "--identity", path)
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = runCLI(t, "init", "--identity", path)
	if err == nil || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("second init: err = %v, want a refusal that mentions --force", err)
	}
	if exitCode(err) == 0 {
		t.Error("refusal must exit non-zero")
	}
	who, _, err := runCLI(t, "whoami", "--identity", path)
	if err != nil || who != first {
		t.Fatalf("the refused init changed the key: whoami = %q, %v; want %q", who, err, first)
	}
	second, _, err := runCLI(t, "init", "--identity", path, "--force")
	if err != nil {
		t.Fatalf("init --force: %v", err)
	}
	if second == first {
		t.Error("init --force kept the old key")
	}
}

func TestIdentityFromEnvironment(t *testing.T) {
	path := filepath.Join(t.TempDir(), "identity")
	t.Setenv("HUBFS_IDENTITY", path)
	out, _, err := runCLI(t, "init")
	if err != nil {
		t.Fatal(err)
	}
	who, _, err := runCLI(t, "whoami")
	if err != nil || who != out {
		t.Fatalf("whoami with HUBFS_IDENTITY = %q, %v; want %q", who, err, out)
	}
}

func TestDefaultIdentityFollowsXDGConfigHome(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", dir)
	t.Setenv("HUBFS_IDENTITY", "")
	if _, _, err := runCLI(t, "init"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "hubfs", "identity")); err != nil {
		t.Fatalf("init did not write the default key file: %v", err)
	}
}

func TestWhoamiErrors(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "nope")
	_, _, err := runCLI(t, "whoami", "--identity", missing)
	if err == nil || !strings.Contains(err.Error(), "hubfs init") || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing key file: err = %v, want one that says to run hubfs init", err)
	}

	open := filepath.Join(dir, "open")
	if _, _, err := runCLI(t, "init", "--identity", open); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(open, 0o644); err != nil {
		t.Fatal(err)
	}
	_, _, err = runCLI(t, "whoami", "--identity", open)
	if err == nil || !strings.Contains(err.Error(), open) || !strings.Contains(err.Error(), "chmod") {
		t.Errorf("world-readable key file: err = %v, want one naming the file and the chmod fix", err)
	}

	_, _, err = runCLI(t, "whoami", "extra")
	if exitCode(err) != exitUsage {
		t.Errorf("whoami with an argument: exit code %d (err %v), want %d", exitCode(err), err, exitUsage)
	}
}
