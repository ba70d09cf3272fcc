package integration

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hubfs/hubfs/hubd/hubdtest"
)

// notification is one datagram on a NOTIFY_SOCKET and who sent it.
type notification struct {
	state string
	pid   int32
}

// notifySocket listens as systemd does for Type=notify units: a unixgram
// socket with SO_PASSCRED, at a path or (name starting with @) in the
// abstract namespace. It returns the NOTIFY_SOCKET value and the datagrams.
func notifySocket(t *testing.T, abstract bool) (string, <-chan notification) {
	t.Helper()
	name := filepath.Join(t.TempDir(), "notify")
	if abstract {
		name = fmt.Sprintf("@hubfs-test-%d-%d", os.Getpid(), time.Now().UnixNano())
	}
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	raw, err := conn.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	raw.Control(func(fd uintptr) { err = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_PASSCRED, 1) })
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan notification, 16)
	go func() {
		buf, oob := make([]byte, 4096), make([]byte, 1024)
		for {
			n, oobn, _, _, err := conn.ReadMsgUnix(buf, oob)
			if err != nil {
				return
			}
			var pid int32
			if msgs, err := syscall.ParseSocketControlMessage(oob[:oobn]); err == nil {
				for _, m := range msgs {
					if cred, err := syscall.ParseUnixCredentials(&m); err == nil {
						pid = cred.Pid
					}
				}
			}
			ch <- notification{state: string(buf[:n]), pid: pid}
		}
	}()
	return name, ch
}

func nextNotification(t *testing.T, ch <-chan notification, want string) notification {
	t.Helper()
	select {
	case n := <-ch:
		if !strings.Contains(n.state, want) {
			t.Fatalf("notification %q, want one with %s", n.state, want)
		}
		return n
	case <-time.After(60 * time.Second):
		t.Fatalf("no %s notification", want)
	}
	panic("unreachable")
}

// TestSystemdNotify: under a Type=notify unit the mount says READY=1 once
// the mount answers, from its own pid (the unit's main process), and
// STOPPING=1 when it is unmounted; NOTIFY_SOCKET in the abstract namespace
// works too.
func TestSystemdNotify(t *testing.T) {
	requireFUSE(t)
	h := hubdtest.Start(t)
	for _, abstract := range []bool{false, true} {
		t.Run(fmt.Sprintf("abstract=%v", abstract), func(t *testing.T) {
			u := newUser(t, h, "alice")
			socket, notes := notifySocket(t, abstract)
			dir := t.TempDir()
			var logs bytes.Buffer
			cmd := exec.Command(hubfsBin, "mount", "--op-timeout=5s", dir)
			cmd.Env = append(u.env(), "NOTIFY_SOCKET="+socket)
			cmd.Stdout, cmd.Stderr = &logs, &logs
			start := time.Now()
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			t.Cleanup(func() {
				select {
				case <-done:
				default:
					runErr(nil, "umount", "--lazy", dir)
					cmd.Process.Kill()
					<-done
				}
			})
			ready := nextNotification(t, notes, "READY=1")
			t.Logf("start to READY=1: %v", time.Since(start))
			if ready.pid != int32(cmd.Process.Pid) {
				t.Errorf("READY=1 came from pid %d, want the mount's %d", ready.pid, cmd.Process.Pid)
			}
			if _, err := os.ReadDir(filepath.Join(dir, "inbox")); err != nil {
				t.Errorf("at READY=1 the mount does not answer: %v", err)
			}
			run(t, nil, "umount", dir)
			stopping := nextNotification(t, notes, "STOPPING=1")
			if stopping.pid != int32(cmd.Process.Pid) {
				t.Errorf("STOPPING=1 came from pid %d, want %d", stopping.pid, cmd.Process.Pid)
			}
			if err := <-done; err != nil {
				t.Errorf("mount exited with %v\n%s", err, &logs)
			}
			done <- nil
		})
	}
}

// TestSystemdNotifyDaemon: with --daemon, systemd hears READY=1 from the
// process it started (NotifyAccess=main) with the serving child's pid as
// MAINPID, and STOPPING=1 from that child, by then the main process.
func TestSystemdNotifyDaemon(t *testing.T) {
	requireFUSE(t)
	u := newUser(t, hubdtest.Start(t), "alice")
	socket, notes := notifySocket(t, true)
	dir := t.TempDir()
	cmd := exec.Command(hubfsBin, "mount", "--daemon", "--op-timeout=5s", dir)
	cmd.Env = append(u.env(), "NOTIFY_SOCKET="+socket)
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Run(); err != nil {
		t.Fatalf("hubfs mount --daemon: %v\n%s", err, &logs)
	}
	t.Cleanup(func() { runErr(nil, "umount", "--lazy", dir) })
	ready := nextNotification(t, notes, "READY=1")
	if ready.pid != int32(cmd.Process.Pid) {
		t.Errorf("READY=1 came from pid %d, want the parent's %d (systemd listens to the main process only)", ready.pid, cmd.Process.Pid)
	}
	m := regexp.MustCompile(`MAINPID=(\d+)`).FindStringSubmatch(ready.state)
	if m == nil {
		t.Fatalf("READY=1 without MAINPID: %q", ready.state)
	}
	child, _ := strconv.Atoi(m[1])
	if child == cmd.Process.Pid || !strings.Contains(logs.String(), fmt.Sprintf("(pid %d)", child)) {
		t.Errorf("MAINPID=%d is not the serving child (%s)", child, &logs)
	}
	if _, err := os.ReadDir(filepath.Join(dir, "inbox")); err != nil {
		t.Errorf("after READY=1 the mount does not answer: %v", err)
	}
	run(t, nil, "umount", dir)
	if stopping := nextNotification(t, notes, "STOPPING=1"); stopping.pid != int32(child) {
		t.Errorf("STOPPING=1 came from pid %d, want the child's %d", stopping.pid, child)
	}
	select {
	case n := <-notes:
		t.Errorf("one notification too many: %q from %d", n.state, n.pid)
	default:
	}
}

// helperUser is a user whose credentials reach the mount only through
// mount options: the environment has none of them.
type helperUser struct {
	*user
	secretFile string
	env        []string
}

func newHelperUser(t *testing.T, h *hubdtest.Hub) helperUser {
	t.Helper()
	u := newUser(t, h, "alice")
	f := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(f, []byte(h.Secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return helperUser{user: u, secretFile: f, env: slicesWithout(u.env(), "HUBFS_")}
}

// options are the fstab options of u's mount, plus extra.
func (u helperUser) options(extra ...string) string {
	return strings.Join(append([]string{
		"hub=" + u.addr, "key=" + u.apiKey, "secret-file=" + u.secretFile, "identity=" + u.keyFile,
		"op-timeout=5s", "list-ttl=2s",
	}, extra...), ",")
}

// mountCmd runs mount(8) (or umount) and returns its output.
func mountCmd(t *testing.T, env []string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func requireMountHelper(t *testing.T) {
	t.Helper()
	for _, tool := range []string{"mount", "umount", "mount.fuse3"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("CI=true but %s is missing (Debian packages mount, fuse3): %v", tool, err)
			}
			t.Skipf("no %s: %v", tool, err)
		}
	}
}

// mountedPid is the pid the helper printed ("(pid N)").
func mountedPid(t *testing.T, out string) int {
	t.Helper()
	m := regexp.MustCompile(`\(pid (\d+)\)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("the helper printed no pid: %s", out)
	}
	pid, _ := strconv.Atoi(m[1])
	return pid
}

// waitExit waits until pid has exited (gone, or a zombie nobody reaps).
func waitExit(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return
		}
		if f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:])); len(f) > 0 && f[0] == "Z" {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Errorf("the mount process %d did not exit after umount", pid)
}

// isHubfsMount: dir is mounted, with type fuse.hubfs.
func isHubfsMount(t *testing.T, dir string) bool {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 2 && f[1] == dir {
			return f[2] == "fuse.hubfs"
		}
	}
	return false
}

// checkHelperMount: the mount answers, df shows the hub's usage, and
// umount(8) unmounts and ends the mount process.
func checkHelperMount(t *testing.T, u helperUser, dir, out string) {
	t.Helper()
	pid := mountedPid(t, out)
	t.Cleanup(func() { mountCmd(t, nil, "umount", "-l", dir) })
	if !isHubfsMount(t, dir) {
		t.Fatalf("%s is not a fuse.hubfs mount after mount(8) returned:\n%s", dir, out)
	}
	if got := ids(t, &mount{dir: dir}, "inbox"); len(got) != 1 {
		t.Errorf("inbox: %q, want the one message sent", got)
	}
	df, err := exec.Command("df", "-B1", "--output=used", dir).Output()
	if err != nil {
		t.Fatalf("df: %v", err)
	}
	if f := strings.Fields(string(df)); len(f) != 2 || f[1] == "0" {
		t.Errorf("df -B1 %s: %q, want the bytes stored on the hub as used", dir, df)
	}
	if out, err := mountCmd(t, u.env, "umount", dir); err != nil {
		t.Fatalf("umount: %v\n%s", err, out)
	}
	if isHubfsMount(t, dir) {
		t.Errorf("still mounted after umount")
	}
	waitExit(t, pid)
}

// TestMountHelper: `mount -t fuse.hubfs`, the fuse2-style `-t fuse
// /path/hubfs#SOURCE` and an fstab line (mount -T FILE) all run hubfs
// through mount.fuse3 with every setting from the options, return once
// the mount answers, and umount(8) ends it.
func TestMountHelper(t *testing.T) {
	requireFUSE(t)
	requireMountHelper(t)
	h := hubdtest.Start(t)
	u := newHelperUser(t, h)
	msg := filepath.Join(t.TempDir(), "msg")
	if err := os.WriteFile(msg, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	run(t, u.user.env(), "send", "--to", u.pub, msg)
	ignored := []string{"_netdev", "nofail", "noauto", "x-systemd.automount", "x-systemd.mount-timeout=30", "comment=x-gvfs-show"}

	t.Run("path#source", func(t *testing.T) {
		dir := t.TempDir()
		out, err := mountCmd(t, u.env, "mount", "-t", "fuse", hubfsBin+"#hubfs", dir, "-o", u.options(ignored...))
		if err != nil {
			t.Fatalf("mount: %v\n%s", err, out)
		}
		checkHelperMount(t, u, dir, out)
	})
	t.Run("fstab", func(t *testing.T) {
		dir := t.TempDir()
		fstab := filepath.Join(t.TempDir(), "fstab")
		line := fmt.Sprintf("%s#hubfs %s fuse %s 0 0\n", hubfsBin, dir, u.options(ignored...))
		if err := os.WriteFile(fstab, []byte("# a comment\n"+line), 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := mountCmd(t, u.env, "mount", "-T", fstab, dir)
		if err != nil {
			t.Fatalf("mount -T %s: %v\n%s", line, err, out)
		}
		checkHelperMount(t, u, dir, out)
	})
	t.Run("fuse.hubfs", func(t *testing.T) {
		// mount(8) gives its helpers no PATH, so /bin/sh, which
		// mount.fuse3 runs `hubfs ...` with, searches its default one:
		// hubfs must be installed there (make install).
		link := "/usr/local/sbin/hubfs"
		if _, err := os.Lstat(link); err == nil {
			t.Skipf("%s exists: not replacing it", link)
		}
		if err := os.Symlink(hubfsBin, link); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("cannot install %s for mount.fuse3 to find: %v", link, err)
			}
			t.Skipf("cannot install %s: %v", link, err)
		}
		t.Cleanup(func() { os.Remove(link) })
		dir := t.TempDir()
		// The source is the hub's address: no hub= needed.
		opts := strings.Replace(u.options(ignored...), "hub="+u.addr+",", "", 1)
		out, err := mountCmd(t, u.env, "mount", "-t", "fuse.hubfs", u.addr, dir, "-o", opts)
		if err != nil {
			t.Fatalf("mount -t fuse.hubfs: %v\n%s", err, out)
		}
		checkHelperMount(t, u, dir, out)

		// The fstab line the README shows: type fuse.hubfs, a label as
		// the source, the hub among the options.
		fstab := filepath.Join(t.TempDir(), "fstab")
		line := fmt.Sprintf("hubfs %s fuse.hubfs %s 0 0\n", dir, u.options(ignored...))
		if err := os.WriteFile(fstab, []byte(line), 0o644); err != nil {
			t.Fatal(err)
		}
		out, err = mountCmd(t, u.env, "mount", "-T", fstab, dir)
		if err != nil {
			t.Fatalf("mount -T with %s: %v\n%s", line, err, out)
		}
		checkHelperMount(t, u, dir, out)
	})
}

// TestMountHelperErrors: a bad option, a missing identity or a hub that
// refuses the key fail mount(8) with a message naming the problem, and
// leave nothing mounted.
func TestMountHelperErrors(t *testing.T) {
	requireFUSE(t)
	requireMountHelper(t)
	u := newHelperUser(t, hubdtest.Start(t))
	for _, tc := range []struct {
		name, opts, want string
	}{
		{"unknown option", u.options("colour=red"), `unknown mount option "colour"`},
		{"secret in options", u.options("secret=x"), "secret-file"},
		{"read-only", u.options("ro"), "read-write only"},
		{"missing identity", strings.Replace(u.options(), "identity="+u.keyFile, "identity=/nonexistent/key", 1), "/nonexistent/key"},
		{"wrong key", strings.Replace(u.options(), "key="+u.apiKey, "key=bogus", 1), "HUBFS_KEY"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			out, err := mountCmd(t, u.env, "mount", "-t", "fuse", hubfsBin+"#hubfs", dir, "-o", tc.opts)
			if err == nil {
				mountCmd(t, nil, "umount", "-l", dir)
				t.Fatalf("mount succeeded:\n%s", out)
			}
			if !strings.Contains(out, tc.want) {
				t.Errorf("mount failed with %q, want a message with %q", out, tc.want)
			}
			if isHubfsMount(t, dir) {
				t.Errorf("%s is mounted after a failed mount", dir)
				mountCmd(t, nil, "umount", "-l", dir)
			}
		})
	}
}

// BenchmarkStatfsWarm: statfs on a mount whose usage figures are fresh
// (the common case of df and file managers): no hub call.
func BenchmarkStatfsWarm(b *testing.B) {
	h := hubdtest.Start(b)
	u := newUser(b, h, "alice")
	m := mountUser(b, u)
	var st syscall.Statfs_t
	if err := syscall.Statfs(m.dir, &st); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		if err := syscall.Statfs(m.dir, &st); err != nil {
			b.Fatal(err)
		}
	}
}

// TestBashCompletionTyped: in an interactive bash (through tmux, so that
// readline does the splitting and the replacing), TAB completes a contact
// name with an @ in it, also after --to= and after the @: bash splits words
// at @ and =, and readline keeps the @ in the word it replaces.
func TestBashCompletionTyped(t *testing.T) {
	requireTool(t, "bash", "bash")
	requireTool(t, "tmux", "tmux")
	dir := t.TempDir()
	if err := os.Symlink(hubfsBin, filepath.Join(dir, "hubfs")); err != nil {
		t.Fatal(err)
	}
	book := filepath.Join(dir, "contacts")
	if err := os.WriteFile(book, []byte("bob@work "+newPub(t)+"\nalice "+newPub(t)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	rc := filepath.Join(dir, "bashrc")
	if err := os.WriteFile(rc, []byte("PATH="+dir+":$PATH\nexport HUBFS_CONTACTS="+book+"\nsource <(hubfs completion bash)\nPS1='$ '\nHISTFILE=/dev/null\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for i, tc := range []struct{ typed, want string }{
		{"hubfs send --to bo", "hubfs send --to bob@work"},
		{"hubfs send --to bob@w", "hubfs send --to bob@work"},
		{"hubfs send --to bob@", "hubfs send --to bob@work"},
		{"hubfs send --to=bob@w", "hubfs send --to=bob@work"},
		{"hubfs contacts rm bob@", "hubfs contacts rm bob@work"},
	} {
		session := fmt.Sprintf("hubfs-bash-%d-%d", os.Getpid(), i)
		tmux := func(args ...string) (string, error) {
			out, err := exec.Command("tmux", append([]string{"-L", session}, args...)...).CombinedOutput()
			return string(out), err
		}
		if out, err := tmux("new-session", "-d", "-s", session, "-x", "200", "-y", "10", "env TERM=xterm bash --rcfile "+rc+" -i"); err != nil {
			t.Fatalf("tmux: %v\n%s", err, out)
		}
		screen := func() string { s, _ := tmux("capture-pane", "-p", "-t", session); return s }
		waitFor(t, 10*time.Second, "bash's prompt", func() bool { return strings.HasPrefix(screen(), "$") })
		tmux("send-keys", "-t", session, tc.typed, "Tab")
		want := "$ " + tc.want + "\n"
		if !waitOrNot(10*time.Second, func() bool { return strings.Contains(screen()+"\n", want) }) {
			t.Errorf("%s<TAB>: the line is not %q:\n%s", tc.typed, tc.want, screen())
		}
		tmux("kill-server")
	}
}

// waitOrNot polls cond until it holds or limit passes, and says which.
func waitOrNot(limit time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true
}

// TestCompletionFromAMount: `hubfs cat <TAB>` and `hubfs rm sentbox <TAB>`
// complete the ids a running mount of the identity lists, with no hub
// credentials at hand, so without asking the hub.
func TestCompletionFromAMount(t *testing.T) {
	requireFUSE(t)
	u := newUser(t, hubdtest.Start(t), "alice")
	m := mountUser(t, u)
	send(t, m, u.pub, []byte("hello"))
	inbox, sentbox := ids(t, m, "inbox"), ids(t, m, "sentbox")
	if len(inbox) != 1 || len(sentbox) != 1 {
		t.Fatalf("inbox %q, sentbox %q: want one message each", inbox, sentbox)
	}
	bin := t.TempDir()
	if err := os.Symlink(hubfsBin, filepath.Join(bin, "hubfs")); err != nil {
		t.Fatal(err)
	}
	env := append(slicesWithout(os.Environ(), "HUBFS_"), "HUBFS_IDENTITY="+u.keyFile, "PATH="+bin+":"+os.Getenv("PATH"))
	complete := func(words ...string) []string {
		script := `source <(hubfs completion bash) || exit 1
COMP_WORDS=("$@"); COMP_CWORD=$(( $# - 1 )); _hubfs; printf '%s\n' "${COMPREPLY[@]}"`
		cmd := exec.Command("bash", append([]string{"-c", script, "bash", "hubfs"}, words...)...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("bash: %v\n%s", err, out)
		}
		return strings.Fields(string(out))
	}
	if got := complete("cat", inbox[0][:5]); len(got) != 1 || got[0] != inbox[0] {
		t.Errorf("hubfs cat %s<TAB>: %q, want %q", inbox[0][:5], got, inbox)
	}
	if got := complete("rm", "sentbox", ""); len(got) != 1 || got[0] != sentbox[0] {
		t.Errorf("hubfs rm sentbox <TAB>: %q, want %q", got, sentbox)
	}
}

func requireTool(t *testing.T, tool, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(tool)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true but %s is missing (Debian package %s): %v", tool, pkg, err)
		}
		t.Skipf("no %s: %v", tool, err)
	}
	return p
}

func makeIn(t *testing.T, args ...string) {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(requireTool(t, "make", "make"), append([]string{"-s", "-C", root}, args...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// installed are the files make install lays out under PREFIX, with modes.
var installed = map[string]os.FileMode{
	"bin/hubfs":                                  0o755,
	"lib/systemd/user/hubfs@.service":            0o644,
	"share/bash-completion/completions/hubfs":    0o644,
	"share/zsh/site-functions/_hubfs":            0o644,
	"share/fish/vendor_completions.d/hubfs.fish": 0o644,
	"share/man/man1/hubfs.1":                     0o644,
}

// TestMakeInstall: make install DESTDIR=... PREFIX=... lays out the
// binary, the user unit pointing at it, the three completions and a man
// page that groff renders without a warning; uninstall removes them.
func TestMakeInstall(t *testing.T) {
	build := filepath.Join(t.TempDir(), "hubfs")
	dest := t.TempDir()
	makeIn(t, "install", "DESTDIR="+dest, "PREFIX=/usr", "OUT="+build)
	for name, mode := range installed {
		fi, err := os.Stat(filepath.Join(dest, "usr", name))
		if err != nil {
			t.Errorf("make install: %v", err)
			continue
		}
		if fi.Mode().Perm() != mode {
			t.Errorf("%s: mode %v, want %v", name, fi.Mode().Perm(), mode)
		}
	}
	unit, _ := os.ReadFile(filepath.Join(dest, "usr/lib/systemd/user/hubfs@.service"))
	if !strings.Contains(string(unit), "\nExecStart=/usr/bin/hubfs mount ") {
		t.Errorf("the installed unit does not run the installed binary:\n%s", unit)
	}
	out, err := exec.Command(requireTool(t, "groff", "groff-base"), "-man", "-Tutf8", "-ww", "-z", filepath.Join(dest, "usr/share/man/man1/hubfs.1")).CombinedOutput()
	if err != nil || len(out) > 0 {
		t.Errorf("groff -man -ww on hubfs.1: %v\n%s", err, out)
	}
	page, _ := exec.Command("groff", "-man", "-Tutf8", filepath.Join(dest, "usr/share/man/man1/hubfs.1")).Output()
	for _, want := range []string{"hubfs(1)", "mount", "--list-ttl", "completion"} {
		if !bytes.Contains(page, []byte(want)) {
			t.Errorf("the man page does not mention %s", want)
		}
	}
	for shell, file := range map[string]string{"bash": "bash-completion/completions/hubfs", "zsh": "zsh/site-functions/_hubfs", "fish": "fish/vendor_completions.d/hubfs.fish"} {
		if out, err := exec.Command(requireTool(t, shell, shell), "-n", filepath.Join(dest, "usr/share", file)).CombinedOutput(); err != nil {
			t.Errorf("%s -n %s: %v\n%s", shell, file, err, out)
		}
	}
	makeIn(t, "uninstall", "DESTDIR="+dest, "PREFIX=/usr")
	for name := range installed {
		if _, err := os.Stat(filepath.Join(dest, "usr", name)); err == nil {
			t.Errorf("make uninstall left %s", name)
		}
	}
}

// TestUnitVerifies: the installed user unit passes systemd-analyze
// --user verify (which also checks that ExecStart's binary and the man
// page of Documentation= exist), for the template and an instance.
// systemd-analyze needs no running systemd, only a runtime directory.
func TestUnitVerifies(t *testing.T) {
	analyze := requireTool(t, "systemd-analyze", "systemd")
	prefix := t.TempDir()
	makeIn(t, "install", "PREFIX="+prefix, "OUT="+filepath.Join(t.TempDir(), "hubfs"))
	runtime := t.TempDir()
	for _, unit := range []string{"hubfs@.service", "hubfs@home-me-mail.service"} {
		cmd := exec.Command(analyze, "--user", "verify", filepath.Join(prefix, "lib/systemd/user", unit))
		cmd.Env = append(os.Environ(), "XDG_RUNTIME_DIR="+runtime, "MANPATH="+filepath.Join(prefix, "share/man"))
		out, err := cmd.CombinedOutput()
		if err != nil || len(out) > 0 {
			t.Errorf("systemd-analyze --user verify %s: %v\n%s", unit, err, out)
		}
	}
}

// TestUnitExecStart runs the unit's ExecStart as systemd would: %f the
// mount point, the settings from the environment file, the secret as a
// credential in $CREDENTIALS_DIRECTORY, NOTIFY_SOCKET set; then stops it
// with SIGTERM. The mount answers at READY=1 and says STOPPING=1.
func TestUnitExecStart(t *testing.T) {
	requireFUSE(t)
	h := hubdtest.Start(t)
	u := newUser(t, h, "alice")
	unit, err := os.ReadFile("../contrib/systemd/hubfs@.service")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^ExecStart=(.*)$`).FindSubmatch(unit)
	if m == nil {
		t.Fatalf("no ExecStart in the unit")
	}
	creds, dir := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(creds, "secret"), []byte(h.Secret), 0o400); err != nil {
		t.Fatal(err)
	}
	line := strings.NewReplacer("/usr/local/bin/hubfs", hubfsBin, "%f", dir, "${CREDENTIALS_DIRECTORY}", creds).Replace(string(m[1]))
	argv := strings.Fields(line)
	socket, notes := notifySocket(t, true)
	cmd := exec.Command(argv[0], argv[1:]...)
	// What mount.env holds: no secret in the environment.
	cmd.Env = append(slicesWithout(u.env(), "HUBFS_SECRET"), "NOTIFY_SOCKET="+socket, "CREDENTIALS_DIRECTORY="+creds)
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		select {
		case <-done:
		default:
			cmd.Process.Kill()
			<-done
			runErr(nil, "umount", "--lazy", dir)
		}
	})
	nextNotification(t, notes, "READY=1")
	if _, err := os.ReadDir(filepath.Join(dir, "inbox")); err != nil {
		t.Fatalf("at READY=1: %v\n%s", err, &logs)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	nextNotification(t, notes, "STOPPING=1")
	if err := <-done; err != nil {
		t.Errorf("ExecStart after SIGTERM: %v\n%s", err, &logs)
	}
	done <- nil
	if isHubfsMount(t, dir) {
		t.Errorf("still mounted after the stop")
	}
}
