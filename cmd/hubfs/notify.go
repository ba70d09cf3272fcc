// systemd's notify protocol: a mount under a Type=notify unit says READY=1
// once the kernel has the mount and STOPPING=1 on its way out.

package main

import (
	"fmt"
	"log/slog"
	"os"

	"github.com/coreos/go-systemd/v22/daemon"
)

// notifyByParentEnv tells a --daemon child that its parent reports READY=1
// for it. Under Type=notify systemd only listens to the unit's main process
// (NotifyAccess=main), which is the parent; the parent passes the child's
// pid as MAINPID with READY=1 and exits, and the child, now the main
// process, says STOPPING=1 itself.
const notifyByParentEnv = "HUBFS_NOTIFY_BY_PARENT"

// sdNotifier speaks to $NOTIFY_SOCKET when it is set; otherwise it does
// nothing. A failure to notify is logged, never fatal: the mount works
// either way, and systemd's start timeout reports a READY that never came.
type sdNotifier struct {
	log           *slog.Logger
	readyByParent bool
}

func newSDNotifier(log *slog.Logger) *sdNotifier {
	n := &sdNotifier{log: log, readyByParent: os.Getenv(notifyByParentEnv) == "1"}
	os.Unsetenv(notifyByParentEnv) // not for anything this process starts
	return n
}

// ready says READY=1, with the mount point as the unit's status line.
func (n *sdNotifier) ready(dir string) {
	if n.readyByParent {
		return
	}
	n.send("READY=1\nSTATUS=mounted at " + dir)
}

// stopping says STOPPING=1: the unmount has begun.
func (n *sdNotifier) stopping() { n.send(daemon.SdNotifyStopping) }

func (n *sdNotifier) send(state string) {
	if _, err := daemon.SdNotify(false, state); err != nil {
		n.log.Warn("systemd notify", "socket", os.Getenv("NOTIFY_SOCKET"), "err", err)
	}
}

// notifyReadyFor is the --daemon parent's READY=1 on behalf of the child
// that serves the mount.
func notifyReadyFor(pid int, dir string) error {
	_, err := daemon.SdNotify(false, fmt.Sprintf("MAINPID=%d\nREADY=1\nSTATUS=mounted at %s", pid, dir))
	return err
}
