package main

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

// TestDaemonChildDoesNotDaemonize: the background mount gets the command's
// own arguments, and whichever way --daemon was spelled it serves instead
// of starting yet another background mount (which would never end).
func TestDaemonChildDoesNotDaemonize(t *testing.T) {
	for _, daemon := range []string{"--daemon", "-d", "--daemon=1", "-d=true", "--daemon=T", "-daemon"} {
		argv := []string{"mount", daemon, "--list-ttl=1s", "/mnt/x", "--op-timeout=3s"}
		var child struct {
			daemon bool
			args   []string
			ttl    string
		}
		app := newApp()
		for _, cmd := range app.Commands {
			if cmd.Name == "mount" {
				cmd.Action = func(c *cli.Context) error {
					child.daemon, child.args, child.ttl = c.Bool("daemon"), c.Args().Slice(), c.Duration("list-ttl").String()
					return nil
				}
			}
		}
		if err := run(context.Background(), app, append([]string{"hubfs"}, childArgs(argv)...)); err != nil {
			t.Fatalf("%s: child argv %q: %v", daemon, childArgs(argv), err)
		}
		if child.daemon || !slices.Equal(child.args, []string{"/mnt/x"}) || child.ttl != "1s" {
			t.Errorf("%s: the child sees daemon=%v args=%q list-ttl=%s; want a foreground mount of /mnt/x with the other flags kept",
				daemon, child.daemon, child.args, child.ttl)
		}
	}
}

// A contacts file inside the mount point would deadlock the mount.
func TestMountContactsInside(t *testing.T) {
	mnt := t.TempDir()
	_, _, err := runCLI(t, "mount", "--hub", "127.0.0.1:1", "--key", "k", "--identity", filepath.Join(t.TempDir(), "none"), "--contacts", filepath.Join(mnt, "contacts", "x"), mnt)
	if err == nil || exitCode(err) != exitUsage || !strings.Contains(err.Error(), "inside the mount point") {
		t.Fatalf("mount with its contacts inside the mount point: %v", err)
	}
}
