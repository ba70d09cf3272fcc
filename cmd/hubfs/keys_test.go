package main

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hubfs/hubfs/hubd"
)

type createdKey struct {
	Key    string `json:"key"`
	Secret string `json:"secret"`
}

func createKeyJSON(t *testing.T, dir string) createdKey {
	t.Helper()
	out, errOut, err := runCLI(t, "keys", "create", "--data", dir, "--json")
	if err != nil {
		t.Fatalf("keys create: %v (%s)", err, errOut)
	}
	// Exactly the two fields of the contract.
	var raw map[string]any
	if err := json.Unmarshal([]byte(out), &raw); err != nil || len(raw) != 2 {
		t.Fatalf("keys create --json printed %q (%v)", out, err)
	}
	var k createdKey
	json.Unmarshal([]byte(out), &k)
	// The hub's formats: multibase base32 of 16 and 24 random bytes.
	if len(k.Key) != 27 || len(k.Secret) != 40 || k.Key[0] != 'b' || k.Secret[0] != 'b' {
		t.Fatalf("key %q (%d), secret of %d characters", k.Key, len(k.Key), len(k.Secret))
	}
	return k
}

func TestKeys(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "hub") // created on demand
	a := createKeyJSON(t, dir)
	b := createKeyJSON(t, dir)
	if a.Key == b.Key || a.Secret == b.Secret {
		t.Fatal("two keys are the same")
	}

	out, _, err := runCLI(t, "keys", "create", "--data", dir)
	if err != nil || !strings.HasPrefix(out, "key:") || !strings.Contains(out, "\nsecret: b") {
		t.Fatalf("keys create (text) = %q, %v", out, err)
	}

	if _, _, err := runCLI(t, "keys", "revoke", "--data", dir, a.Key); err != nil {
		t.Fatal(err)
	}
	out, _, err = runCLI(t, "keys", "list", "--data", dir, "--json")
	if err != nil {
		t.Fatal(err)
	}
	var list []struct {
		Key     string `json:"key"`
		Revoked bool   `json:"revoked"`
	}
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatalf("keys list --json = %q: %v", out, err)
	}
	if len(list) != 3 || list[0].Key != a.Key || !list[0].Revoked || list[1].Revoked {
		t.Fatalf("keys list = %+v", list)
	}
	if strings.Contains(out, a.Secret) || strings.Contains(out, "secret") {
		t.Fatal("keys list shows secrets")
	}

	out, _, err = runCLI(t, "keys", "list", "--data", dir)
	if err != nil || !strings.Contains(out, a.Key) || !strings.Contains(out, "revoked") || strings.Contains(out, b.Secret) {
		t.Fatalf("keys list (text) = %q, %v", out, err)
	}

	_, _, err = runCLI(t, "keys", "revoke", "--data", dir, "bnosuchkey")
	if err == nil || !errors.Is(err, hubd.ErrNotFound) || exitCode(err) != exitFailure {
		t.Fatalf("revoke of an unknown key: %v", err)
	}
	_, _, err = runCLI(t, "keys", "revoke", "--data", dir)
	wantUsage(t, err, "revoke without a key")
	_, _, err = runCLI(t, "keys", "create", "--data", dir, "extra")
	wantUsage(t, err, "create with an argument")
}

func TestKeysDefaultDataDir(t *testing.T) {
	xdg := t.TempDir()
	t.Setenv("XDG_DATA_HOME", xdg)
	t.Setenv("HUBFS_DATA", "")
	createKeyJSON(t, "")
	keys, err := hubd.ListKeys(filepath.Join(xdg, "hubfs", "hub"))
	if err != nil || len(keys) != 1 {
		t.Fatalf("key not in $XDG_DATA_HOME/hubfs/hub: %v, %v", keys, err)
	}
}

func TestKeysListAndRevokeDoNotCreateADataDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "mistyped")
	for _, args := range [][]string{
		{"keys", "list", "--data", dir},
		{"keys", "revoke", "--data", dir, "bsomekey"},
	} {
		_, _, err := runCLI(t, args...)
		if err == nil || !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), dir) {
			t.Errorf("%v: err = %v, want one naming %s as having no hub", args, err, dir)
		}
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("keys list/revoke created %s (stat: %v)", dir, err)
	}
}

// TestKeysCreateInsecure: --insecure makes a key without a secret, says so
// loudly on both streams, and `keys list` marks it.
func TestKeysCreateInsecure(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "hub")
	out, errOut, err := runCLI(t, "keys", "create", "--data", dir, "--insecure")
	if err != nil {
		t.Fatalf("keys create --insecure: %v (%s)", err, errOut)
	}
	if !strings.HasPrefix(out, "INSECURE KEY: b") || !strings.Contains(errOut, "INSECURE KEY") || !strings.Contains(errOut, "loopback") {
		t.Fatalf("keys create --insecure printed %q, stderr %q", out, errOut)
	}
	out, errOut, err = runCLI(t, "keys", "create", "--data", dir, "--insecure", "--json")
	if err != nil || !strings.Contains(errOut, "INSECURE KEY") {
		t.Fatalf("keys create --insecure --json: %v, stderr %q", err, errOut)
	}
	var k struct {
		Key      string `json:"key"`
		Secret   string `json:"secret"`
		Insecure bool   `json:"insecure"`
	}
	if err := json.Unmarshal([]byte(out), &k); err != nil || len(k.Key) != 27 || k.Secret != "" || !k.Insecure {
		t.Fatalf("keys create --insecure --json = %q (%v)", out, err)
	}
	out, _, err = runCLI(t, "keys", "list", "--data", dir, "--json")
	if err != nil || strings.Count(out, `"insecure":true`) != 2 {
		t.Fatalf("keys list --json = %q, %v", out, err)
	}
	out, _, err = runCLI(t, "keys", "list", "--data", dir)
	if err != nil || strings.Count(out, "INSECURE") != 2 {
		t.Fatalf("keys list = %q, %v", out, err)
	}
}
