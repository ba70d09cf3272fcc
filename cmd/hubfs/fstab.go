// The mount helper form: `mount -t fuse.hubfs SOURCE MNT -o OPTS` and
// /etc/fstab lines run mount.fuse3, which runs `hubfs SOURCE MNT -o OPTS`
// through /bin/sh (so hubfs must be on $PATH). That argv becomes
// `hubfs mount --daemon [--OPT...] MNT`: every mount flag is an option of
// the same name, and mount(8) gets its answer once the mount is ready.

package main

import (
	"slices"
	"strings"

	"github.com/urfave/cli/v2"
)

// ignoredMountOptions are what mount(8), mount.fuse3 and systemd put in
// the options for themselves, or generic VFS flags a FUSE mount of ours
// already has or does not need (mount.fuse3 always adds dev and suid).
// x-* options (x-systemd.automount, x-gvfs-show...) and comment=... are
// for other programs too.
var ignoredMountOptions = []string{
	"defaults", "rw", "auto", "noauto", "user", "nouser", "users", "owner", "group",
	"_netdev", "nofail", "dev", "nodev", "suid", "nosuid", "exec", "noexec",
	"atime", "noatime", "relatime", "norelatime", "strictatime", "nostrictatime",
	"diratime", "nodiratime", "lazytime", "nolazytime", "async",
	"daemon", // implied: mount(8) waits for the helper to return
}

// isHelperForm reports whether argv is the mount helper's: a first
// argument that is neither a flag nor a command, and an -o. Without the
// -o (mount.fuse3 always passes one) a mistyped command stays an error
// instead of becoming a mount.
func isHelperForm(app *cli.App, argv []string) bool {
	if len(argv) < 3 || isFlagArg(argv[1]) || findCommand(app.Commands, argv[1]) != nil {
		return false
	}
	return slices.Contains(argv[2:], "-o")
}

// helperArgs turns `hubfs [SOURCE] MNT -o OPTS` into the mount command's
// argv. SOURCE is the hub address when it has a colon (host:port);
// otherwise it is a free label for mount's tables ("hubfs"). An empty
// SOURCE field makes mount.fuse3 leave it out: then MNT comes first.
func helperArgs(mount *cli.Command, argv []string) ([]string, error) {
	var pos, opts []string
	for i := 1; i < len(argv); i++ {
		if argv[i] == "-o" {
			if i+1 == len(argv) {
				return nil, usagef("mount helper: -o needs a list of options")
			}
			i++
			opts = append(opts, strings.Split(argv[i], ",")...)
			continue
		}
		if isFlagArg(argv[i]) {
			return nil, usagef("mount helper: unknown argument %q (usage: hubfs SOURCE MNT -o OPTIONS)", argv[i])
		}
		pos = append(pos, argv[i])
	}
	var source, dir string
	switch len(pos) {
	case 1:
		dir = pos[0]
	case 2:
		source, dir = pos[0], pos[1]
	default:
		return nil, usagef("mount helper: want SOURCE MNT -o OPTIONS, got %d arguments", len(pos))
	}
	flags, err := optionFlags(mount, opts)
	if err != nil {
		return nil, err
	}
	if strings.Contains(source, ":") {
		given := false
		for _, f := range flags {
			if v, ok := strings.CutPrefix(f, "--hub="); ok {
				if v != source {
					return nil, usagef("mount helper: the source %s and hub=%s name different hubs", source, v)
				}
				given = true
			}
		}
		if !given {
			flags = append(flags, "--hub="+source)
		}
	}
	out := append([]string{argv[0], mount.Name, "--daemon"}, flags...)
	return append(out, "--", dir), nil
}

// optionFlags maps mount options to the mount command's flags by name,
// from the flags' own definitions, so a new flag is an option at once.
// An underscore reads as a dash (allow_other is --allow-other).
func optionFlags(mount *cli.Command, opts []string) ([]string, error) {
	var out []string
	for _, opt := range opts {
		opt = strings.TrimSpace(opt)
		name, value, hasValue := strings.Cut(opt, "=")
		switch {
		case opt == "" || slices.Contains(ignoredMountOptions, opt) ||
			strings.HasPrefix(opt, "x-") || name == "comment":
			continue
		case name == "ro":
			// A read-only mount would need mailfs to pass MS_RDONLY on;
			// until then say so rather than mount read-write.
			return nil, usagef("mount option ro: hubfs mounts read-write only, for now")
		case name == "secret":
			return nil, usagef("mount option secret=: a secret in the options shows in ps and /etc/fstab; use secret-file=FILE or $HUBFS_SECRET")
		}
		f := mountFlag(mount, name)
		if f == nil {
			f = mountFlag(mount, strings.ReplaceAll(name, "_", "-"))
		}
		if f == nil {
			return nil, usagef("unknown mount option %q (the options are the flags of `hubfs mount`, see hubfs mount --help)", name)
		}
		flag := "--" + f.Names()[0]
		df, takes := f.(cli.DocGenerationFlag)
		switch {
		case hasValue:
			out = append(out, flag+"="+value)
		case takes && df.TakesValue():
			return nil, usagef("mount option %s needs a value (%s=...)", name, name)
		default:
			out = append(out, flag)
		}
	}
	return out, nil
}

func mountFlag(mount *cli.Command, name string) cli.Flag {
	if name == "help" || name == "h" {
		return nil
	}
	for _, f := range mount.Flags {
		if slices.Contains(f.Names(), name) {
			return f
		}
	}
	return nil
}
