// Readiness and --daemon: a mount reports "ready" (or why not) on
// HUBFS_READY_FD, and --daemon re-executes the command in the background and
// waits for that line.

package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"

	"github.com/urfave/cli/v2"
)

// readyFDEnv names the descriptor a mount reports readiness on: one line,
// "ready {json}" once the kernel has the mount, or "error: ..." if it failed.
// --daemon sets it for the background child; tests use it to wait for a
// foreground mount without polling.
const readyFDEnv = "HUBFS_READY_FD"

// readiness reports on HUBFS_READY_FD, when it is set, exactly once.
type readiness struct {
	f *os.File
}

func readyReporter() *readiness {
	v := os.Getenv(readyFDEnv)
	if v == "" {
		return &readiness{}
	}
	os.Unsetenv(readyFDEnv) // not for anything this process starts
	fd, err := strconv.Atoi(v)
	if err != nil || fd < 3 {
		return &readiness{}
	}
	return &readiness{f: os.NewFile(uintptr(fd), "ready")}
}

func (r *readiness) ok(info mountedInfo) {
	b, _ := json.Marshal(info)
	r.send("ready " + string(b) + "\n")
}

// mountedInfo travels from a background mount to the command that started
// it, which tells the user.
type mountedInfo struct {
	Dir      string `json:"dir"`
	Identity string `json:"identity"`
	Hub      string `json:"hub"`
	Embedded bool   `json:"embedded"`
	Pid      int    `json:"pid"`
}

func (i mountedInfo) print(w io.Writer) {
	fmt.Fprintf(w, "hubfs: mounted the mailbox of %s at %s (pid %d)\n", i.Identity, i.Dir, i.Pid)
	if i.Embedded {
		fmt.Fprintf(w, "hubfs: hub running at %s; send yourself a message with\n    echo hello > %s/outbox/%s\n", i.Hub, i.Dir, i.Identity)
	}
	fmt.Fprintf(w, "hubfs: unmount with `hubfs umount %s`\n", i.Dir)
}

func (r *readiness) fail(err error) {
	r.send("error: " + strings.ReplaceAll(err.Error(), "\n", " ") + "\n")
}

func (r *readiness) send(line string) {
	if r.f == nil {
		return
	}
	io.WriteString(r.f, line)
	r.f.Close()
	r.f = nil
}

// childArgs are the arguments of the background mount: the command's own
// without --daemon, in every spelling the flag parser takes (-d, -daemon,
// --daemon=1, ...). A child that still saw it would start another child,
// and so on without end.
func childArgs(args []string) []string {
	var out []string
	for i, a := range args {
		if a == "--" {
			return append(out, args[i:]...)
		}
		name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if strings.HasPrefix(a, "-") && (name == "d" || name == "daemon") {
			continue
		}
		out = append(out, a)
	}
	return out
}

// daemonize starts this command again in the background, without --daemon,
// and returns once it reports the mount ready (or why it failed).
func daemonize(c *cli.Context, dir string) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	args := childArgs(os.Args[1:])
	pr, pw, err := os.Pipe()
	if err != nil {
		return err
	}
	defer pr.Close()
	out, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if p := c.String("log-file"); p != "" {
		out, err = os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	}
	if err != nil {
		pw.Close()
		return fmt.Errorf("log file: %w", err)
	}
	defer out.Close()
	cmd := exec.Command(self, args...)
	cmd.Env = append(os.Environ(), readyFDEnv+"=3")
	notify := os.Getenv("NOTIFY_SOCKET") != ""
	if notify {
		cmd.Env = append(cmd.Env, notifyByParentEnv+"=1")
	}
	cmd.ExtraFiles = []*os.File{pw}
	cmd.Stdout, cmd.Stderr = out, out
	// Its own session: the mount outlives this terminal and its signals.
	// Same working directory, so relative paths in the arguments mean the
	// same to the child.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		pw.Close()
		return err
	}
	pw.Close()
	line, _ := bufio.NewReader(pr).ReadString('\n')
	switch {
	case strings.HasPrefix(line, "ready "):
		var info mountedInfo
		if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "ready ")), &info); err != nil {
			info = mountedInfo{Dir: dir, Pid: cmd.Process.Pid}
		}
		info.print(c.App.ErrWriter)
		if notify {
			if err := notifyReadyFor(cmd.Process.Pid, info.Dir); err != nil {
				fmt.Fprintf(c.App.ErrWriter, "hubfs: warning: systemd notify: %v\n", err)
			}
		}
		cmd.Process.Release()
		return nil
	case strings.HasPrefix(line, "error: "):
		cmd.Wait()
		return errors.New(strings.TrimSpace(strings.TrimPrefix(line, "error: ")))
	default:
		err := cmd.Wait()
		return fmt.Errorf("the background mount exited before it was ready (%v); run without --daemon to see why", err)
	}
}
