package integration

import (
	"bufio"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hubfs/hubfs/hubd/hubdtest"
)

// TestDaemon: --daemon returns once the mount is ready; umount ends it.
func TestDaemon(t *testing.T) {
	requireFUSE(t)
	h := hubdtest.Start(t)
	alice := newUser(t, h, "alice")
	dir := t.TempDir()
	_, stderr := run(t, alice.env(), "mount", "--daemon", dir)
	t.Cleanup(func() { runErr(nil, "umount", "--lazy", dir) })
	if !strings.Contains(stderr, "at "+dir) {
		t.Errorf("--daemon stderr: %q", stderr)
	}
	// Ready means ready: no wait before the first use.
	b, err := os.ReadFile(filepath.Join(dir, ".hubfs", "identity"))
	if err != nil || strings.TrimSpace(string(b)) != alice.pub {
		t.Fatalf(".hubfs/identity = %q, %v", b, err)
	}
	run(t, nil, "umount", dir)
	waitUnmounted(t, dir)
}

// TestEmbeddedHub: without --hub, mount runs its own hub, creates an
// identity, and a newcomer can send themselves a message at once.
func TestEmbeddedHub(t *testing.T) {
	requireFUSE(t)
	home := t.TempDir()
	env := append(os.Environ(),
		"HOME="+home,
		"XDG_CONFIG_HOME="+filepath.Join(home, ".config"),
		"XDG_DATA_HOME="+filepath.Join(home, ".local", "share"),
	)
	env = slicesWithout(env, "HUBFS_")
	dir := t.TempDir()
	// A free port, not 3006: other tests and mounts may use the default.
	_, stderr := run(t, env, "mount", "--daemon", "--listen=127.0.0.1:0", dir)
	t.Cleanup(func() { runErr(nil, "umount", "--lazy", dir) })
	for _, want := range []string{"mounted the mailbox", "send yourself a message"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("first mount's output lacks %q:\n%s", want, stderr)
		}
	}
	pub, _ := run(t, env, "whoami")
	pub = strings.TrimSpace(pub)
	m := &mount{dir: dir}
	send(t, m, pub, []byte("note to self\n"))
	got := waitIDs(t, m, "inbox", 1)
	if b, err := os.ReadFile(m.path("inbox", got[0])); err != nil || string(b) != "note to self\n" {
		t.Errorf("inbox/%s = %q, %v", got[0], b, err)
	}
	run(t, nil, "umount", dir)
	waitUnmounted(t, dir)

	// A second mount reuses the identity, the API key and the data.
	_, stderr = run(t, env, "mount", "--daemon", "--listen=127.0.0.1:0", dir)
	if strings.Contains(stderr, "created identity") {
		t.Errorf("second mount created another identity:\n%s", stderr)
	}
	if got2 := ids(t, m, "inbox"); len(got2) != 1 || got2[0] != got[0] {
		t.Errorf("inbox after remount = %v, want %v", got2, got[:1])
	}
	run(t, nil, "umount", dir)
	waitUnmounted(t, dir)
}

// TestSignalUnmounts: SIGTERM unmounts cleanly and the process exits 0.
func TestSignalUnmounts(t *testing.T) {
	requireFUSE(t)
	h := hubdtest.Start(t)
	alice := newUser(t, h, "alice")
	m := mountUser(t, alice)
	if err := m.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-m.done:
		m.done <- err
		if err != nil {
			t.Errorf("exit after SIGTERM: %v\n%s", err, m.logs)
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("no exit 15s after SIGTERM\n%s", m.logs)
	}
	waitUnmounted(t, m.dir)
}

// TestDeadMount: a mount whose process was killed leaves "transport
// endpoint is not connected"; the next mount cleans it up.
func TestDeadMount(t *testing.T) {
	requireFUSE(t)
	h := hubdtest.Start(t)
	alice := newUser(t, h, "alice")
	m := mountUser(t, alice)
	m.cmd.Process.Kill()
	<-m.done
	m.done <- errors.New("killed")
	if _, err := os.Stat(m.dir); errnoOf(err) != syscall.ENOTCONN {
		t.Fatalf("stat of a dead mount: %v, want ENOTCONN", err)
	}
	m2 := mountAt(t, alice, m.dir)
	if _, err := os.ReadDir(m2.path("inbox")); err != nil {
		t.Errorf("mount over a dead mount: %v", err)
	}
}

func waitUnmounted(t testing.TB, dir string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for isMounted(dir) {
		if time.Now().After(deadline) {
			t.Fatalf("%s still mounted 10s after umount", dir)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// isMounted reads /proc/self/mountinfo: it never touches the mount itself.
func isMounted(dir string) bool {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if fields := strings.Fields(sc.Text()); len(fields) > 4 && fields[4] == dir {
			return true
		}
	}
	return false
}

func slicesWithout(env []string, prefix string) []string {
	var out []string
	for _, e := range env {
		if !strings.HasPrefix(e, prefix) {
			out = append(out, e)
		}
	}
	return out
}

// TestAllowOther: other users cannot even stat the mount by default; with
// --allow-other they reach it, and the kernel holds them to the modes shown
// (0700 directories of the mounting user), so they still cannot list it.
func TestAllowOther(t *testing.T) {
	requireFUSE(t)
	setpriv, err := exec.LookPath("setpriv")
	if os.Geteuid() != 0 || err != nil {
		t.Skip("needs root and setpriv to act as another user")
	}
	h := hubdtest.Start(t)
	alice := newUser(t, h, "alice")
	asNobody := func(args ...string) error {
		return exec.Command(setpriv, append([]string{"--reuid=65534", "--regid=65534", "--clear-groups"}, args...)...).Run()
	}
	reachable := func(t *testing.T) string {
		dir := t.TempDir()
		// Let anyone walk down to the mount point: only the mount decides.
		for _, d := range []string{filepath.Dir(dir), dir} {
			if err := os.Chmod(d, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		return dir
	}

	m := mountAt(t, alice, reachable(t))
	if err := asNobody("stat", m.dir); err == nil {
		t.Errorf("another user could stat a mount made without --allow-other")
	}
	m.unmount(t)

	m = mountAt(t, alice, reachable(t), "--allow-other")
	if err := asNobody("stat", m.dir); err != nil {
		t.Errorf("another user cannot stat a mount made with --allow-other: %v", err)
	}
	if err := asNobody("ls", m.path("inbox")); err == nil {
		t.Errorf("another user listed a 0700 inbox under --allow-other")
	}
	if _, err := os.ReadDir(m.path("inbox")); err != nil {
		t.Errorf("the mounting user under --allow-other: %v", err)
	}
}
