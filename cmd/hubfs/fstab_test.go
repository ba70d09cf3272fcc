package main

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

// TestHelperArgs: the argv mount.fuse3 passes becomes a daemonized
// `hubfs mount`, every mount flag is an option, and what mount(8),
// mount.fuse3 and systemd add for themselves is ignored.
func TestHelperArgs(t *testing.T) {
	for _, tc := range []struct {
		argv []string
		want []string
	}{
		{[]string{"hubfs", "hubfs", "/mnt/m", "-o", "rw,dev,suid,hub=h:1,identity=/k,insecure,list-ttl=2s"},
			[]string{"--hub=h:1", "--identity=/k", "--insecure", "--list-ttl=2s", "--", "/mnt/m"}},
		// A source with a colon is the hub.
		{[]string{"hubfs", "hub.example.org:443", "/mnt/m", "-o", "dev,suid"},
			[]string{"--hub=hub.example.org:443", "--", "/mnt/m"}},
		{[]string{"hubfs", "h:1", "/mnt/m", "-o", "hub=h:1"}, []string{"--hub=h:1", "--", "/mnt/m"}},
		// An empty source: mount.fuse3 leaves it out.
		{[]string{"hubfs", "/mnt/m", "-o", "key=K,secret-file=/s"}, []string{"--key=K", "--secret-file=/s", "--", "/mnt/m"}},
		{[]string{"hubfs", "x", "/mnt/m", "-o", "_netdev,nofail,noauto,user,users,auto,defaults,x-systemd.automount,x-systemd.mount-timeout=30,comment=systemd.foo,noatime,daemon,,nosuid,nodev"},
			[]string{"--", "/mnt/m"}},
		// FUSE's spelling of a flag, a bool with a value, aliases.
		{[]string{"hubfs", "x", "/mnt/m", "-o", "allow_other,watch=false,disk_cache=0,log-file=/l"},
			[]string{"--allow-other", "--watch=false", "--disk-cache=0", "--log-file=/l", "--", "/mnt/m"}},
		// Options may come in several -o, and before the arguments.
		{[]string{"hubfs", "x", "-o", "debug", "/mnt/m", "-o", "op-timeout=3s"},
			[]string{"--debug", "--op-timeout=3s", "--", "/mnt/m"}},
	} {
		got, err := helperArgs(mountCommand(), tc.argv)
		if err != nil {
			t.Errorf("%q: %v", tc.argv, err)
			continue
		}
		want := append([]string{"hubfs", "mount", "--daemon"}, tc.want...)
		if !slices.Equal(got, want) {
			t.Errorf("%q:\n got %q\nwant %q", tc.argv, got, want)
		}
	}
}

// TestHelperArgsErrors: a bad option is a usage error naming it; a secret
// in the options (visible in ps and /etc/fstab) and ro are refused.
func TestHelperArgsErrors(t *testing.T) {
	for _, tc := range []struct {
		argv []string
		want string
	}{
		{[]string{"hubfs", "x", "/m", "-o", "colour=red"}, `unknown mount option "colour"`},
		{[]string{"hubfs", "x", "/m", "-o", "secret=s3cr3t"}, "secret-file"},
		{[]string{"hubfs", "x", "/m", "-o", "ro"}, "read-write only"},
		{[]string{"hubfs", "x", "/m", "-o", "identity"}, "identity needs a value"},
		{[]string{"hubfs", "x", "/m", "-o", "help"}, `unknown mount option "help"`},
		{[]string{"hubfs", "x", "/m", "-o"}, "-o needs"},
		{[]string{"hubfs", "x", "/m", "/n", "-o", "rw"}, "got 3 arguments"},
		{[]string{"hubfs", "x", "/m", "-v", "-o", "rw"}, `unknown argument "-v"`},
		{[]string{"hubfs", "a:1", "/m", "-o", "hub=b:2"}, "different hubs"},
	} {
		_, err := helperArgs(mountCommand(), tc.argv)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: got %v, want an error with %q", tc.argv, err, tc.want)
		}
		if err != nil && exitCode(err) != exitUsage {
			t.Errorf("%q: exit %d, want %d", tc.argv, exitCode(err), exitUsage)
		}
		if err != nil && strings.Contains(err.Error(), "s3cr3t") {
			t.Errorf("%q: the error shows the secret: %v", tc.argv, err)
		}
	}
}

// TestHelperFormReachesMount: the helper's argv runs the mount command
// with its flags set, and a mistyped command (no -o) is still an unknown
// command rather than a mount.
func TestHelperFormReachesMount(t *testing.T) {
	app := newApp()
	var got struct {
		daemon bool
		args   []string
		ttl    string
	}
	findCommand(app.Commands, "mount").Action = func(c *cli.Context) error {
		got.daemon, got.args, got.ttl = c.Bool("daemon"), c.Args().Slice(), c.Duration("list-ttl").String()
		return nil
	}
	if err := run(context.Background(), app, []string{"hubfs", "hubfs", "/mnt/m", "-o", "dev,suid,list-ttl=7s"}); err != nil {
		t.Fatal(err)
	}
	if !got.daemon || !slices.Equal(got.args, []string{"/mnt/m"}) || got.ttl != "7s" {
		t.Errorf("mount saw daemon=%v args=%q list-ttl=%s", got.daemon, got.args, got.ttl)
	}
	_, _, err := runApp([]string{"hubfs", "lss", "inbox"}, "")
	if err == nil || !strings.Contains(err.Error(), `unknown command "lss"`) {
		t.Errorf("hubfs lss inbox: %v, want unknown command", err)
	}
}
