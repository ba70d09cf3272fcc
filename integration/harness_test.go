// Package integration runs hubfs end to end: the built binary as a
// subprocess, the real hub on loopback, real kernel FUSE mounts, two users.
// The test process never serves a mount itself, so it may exec and read
// inside mounts freely (go-fuse's documented deadlocks do not apply).
package integration

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hubfs/hubfs/hubd/hubdtest"
)

// hubfsBin is the binary under test, built once by TestMain.
var hubfsBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "hubfs-integration-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	hubfsBin = filepath.Join(dir, "hubfs")
	args := []string{"build", "-o", hubfsBin}
	if raceBuild {
		args = append(args, "-race")
	}
	build := exec.Command("go", append(args, "github.com/hubfs/hubfs/cmd/hubfs")...)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "integration: building hubfs:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// requireFUSE skips without /dev/fuse, except under CI=true, where a
// missing device means the suite cannot prove anything: a failure.
func requireFUSE(t testing.TB) {
	t.Helper()
	if _, err := os.Stat("/dev/fuse"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true but /dev/fuse is missing: %v", err)
		}
		t.Skipf("no /dev/fuse: %v", err)
	}
}

// config is one way of running hubfs that the behaviour suite must pass.
type config struct {
	name     string
	args     []string // extra mount flags
	embedded bool     // alice's mount runs the hub; bob uses it
	cached   bool     // listings are cached: a warm ls makes no hub call
}

var configs = []config{
	{name: "cached", cached: true},
	{name: "uncached", args: []string{"--list-ttl=0", "--watch-ttl=0", "--ciphertext-cache=0", "--plaintext-cache=0", "--message-ttl=0"}},
	{name: "embedded", embedded: true, cached: true},
}

// user is one identity with its own key file, and the hub it uses.
type user struct {
	name    string
	keyFile string
	pub     string

	addr, apiKey, apiSecret string // an external hub
	dataDir                 string // or the hub embedded in this user's mount
}

func newUser(t testing.TB, h *hubdtest.Hub, name string) *user {
	t.Helper()
	return newUserAt(t, h.Addr, h.Key, h.Secret, name)
}

func newUserAt(t testing.TB, addr, key, secret, name string) *user {
	t.Helper()
	u := &user{name: name, keyFile: filepath.Join(t.TempDir(), name+".key"), addr: addr, apiKey: key, apiSecret: secret}
	out, _ := run(t, nil, "init", "--identity", u.keyFile)
	u.pub = strings.TrimSpace(out)
	return u
}

// newEmbeddedUser mounts with the hub inside the mount (no --hub): a free
// port, a temporary data directory, an API key made on first use.
func newEmbeddedUser(t testing.TB, name string) *user {
	t.Helper()
	u := newUserAt(t, "", "", "", name)
	u.dataDir = t.TempDir()
	return u
}

// stateDir is the user's $XDG_STATE_HOME (the outbox queue is under it).
func (u *user) stateDir() string { return filepath.Join(filepath.Dir(u.keyFile), "state") }

// env is the environment that gives the CLI this user's hub credentials:
// secrets travel in the environment, never in argv.
func (u *user) env() []string {
	// The outbox queue and the disk cache live beside the key, never in
	// the tester's home.
	env := append(slicesWithout(slicesWithout(slicesWithout(os.Environ(), "HUBFS_"), "XDG_STATE_HOME="), "XDG_CACHE_HOME="),
		"HUBFS_IDENTITY="+u.keyFile, "XDG_STATE_HOME="+u.stateDir(), "XDG_CACHE_HOME="+filepath.Join(filepath.Dir(u.keyFile), "cache"))
	if u.dataDir != "" {
		return env
	}
	return append(env,
		"HUBFS_HUB="+u.addr,
		"HUBFS_KEY="+u.apiKey,
		"HUBFS_SECRET="+u.apiSecret,
	)
}

// run runs the hubfs CLI and fails the test if it fails.
func run(t testing.TB, env []string, args ...string) (stdout, stderr string) {
	t.Helper()
	stdout, stderr, err := runErr(env, args...)
	if err != nil {
		t.Fatalf("hubfs %s: %v\n%s", strings.Join(args, " "), err, stderr)
	}
	return stdout, stderr
}

func runErr(env []string, args ...string) (string, string, error) {
	cmd := exec.Command(hubfsBin, args...)
	cmd.Env = env
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	return out.String(), errOut.String(), err
}

// mount is a running `hubfs mount` subprocess.
type mount struct {
	dir  string
	cmd  *exec.Cmd
	logs *bytes.Buffer
	done chan error
}

// mountUser mounts u's mailbox on a fresh directory, waits until the kernel
// has the mount (the readiness descriptor, no polling), and unmounts when
// the test ends.
func mountUser(t testing.TB, u *user, args ...string) *mount {
	t.Helper()
	return mountAt(t, u, t.TempDir(), args...)
}

// mountAt is mountUser on a given directory.
func mountAt(t testing.TB, u *user, dir string, args ...string) *mount {
	t.Helper()
	return mountBin(t, hubfsBin, u, dir, args...)
}

// mountBin is mountAt with another hubfs binary (a benchmark's baseline).
func mountBin(t testing.TB, bin string, u *user, dir string, args ...string) *mount {
	t.Helper()
	requireFUSE(t)
	m := &mount{dir: dir, logs: &bytes.Buffer{}, done: make(chan error, 1)}
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	if u.dataDir != "" {
		args = append([]string{"--listen=127.0.0.1:0", "--data=" + u.dataDir}, args...)
	}
	m.cmd = exec.Command(bin, append(append([]string{"mount", "--op-timeout=5s"}, args...), m.dir)...)
	m.cmd.Env = append(u.env(), "HUBFS_READY_FD=3")
	m.cmd.ExtraFiles = []*os.File{pw}
	m.cmd.Stdout, m.cmd.Stderr = m.logs, m.logs
	if err := m.cmd.Start(); err != nil {
		pw.Close()
		t.Fatal(err)
	}
	pw.Close()
	go func() { m.done <- m.cmd.Wait() }()
	line, _ := bufio.NewReader(pr).ReadString('\n')
	if !strings.HasPrefix(line, "ready ") {
		m.cmd.Process.Kill()
		<-m.done
		t.Fatalf("mount did not become ready (%q):\n%s", line, m.logs)
	}
	t.Cleanup(func() { m.unmount(t) })
	return m
}

// unmount unmounts and waits for the serving process to exit.
func (m *mount) unmount(t testing.TB) {
	t.Helper()
	select {
	case err := <-m.done:
		m.done <- err
		return
	default:
	}
	if _, stderr, err := runErr(nil, "umount", m.dir); err != nil {
		t.Errorf("hubfs umount: %v: %s", err, stderr)
		runErr(nil, "umount", "--lazy", m.dir)
	}
	select {
	case err := <-m.done:
		m.done <- err
		if err != nil {
			t.Errorf("mount process: %v\n%s", err, m.logs)
		}
	case <-time.After(15 * time.Second):
		m.cmd.Process.Kill()
		t.Errorf("mount process did not exit after umount\n%s", m.logs)
	}
	if t.Failed() {
		t.Logf("mount log:\n%s", m.logs)
	}
}

func (m *mount) path(parts ...string) string {
	return filepath.Join(append([]string{m.dir}, parts...)...)
}

// sh runs a bash script with the mount as working directory's parent:
// MNT is set to the mount point.
func sh(t testing.TB, m *mount, script string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", "set -euo pipefail\n"+script)
	cmd.Env = append(os.Environ(), "MNT="+m.dir)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func mustSh(t testing.TB, m *mount, script string) string {
	t.Helper()
	out, err := sh(t, m, script)
	if err != nil {
		t.Fatalf("script failed: %v\n%s\n--- script:\n%s", err, out, script)
	}
	return out
}

// send writes body to outbox/<to> through the mount, as a program would.
func send(t testing.TB, m *mount, to string, body []byte) {
	t.Helper()
	if err := os.WriteFile(m.path("outbox", to), body, 0o600); err != nil {
		t.Fatalf("send through %s: %v", m.dir, err)
	}
}

// ids lists a mailbox directory.
func ids(t testing.TB, m *mount, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(m.path(dir))
	if err != nil {
		t.Fatalf("readdir %s: %v", dir, err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

func errnoOf(err error) syscall.Errno {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return errno
	}
	return 0
}
