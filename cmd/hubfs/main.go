// Command hubfs mounts a Textile Hub mailbox as a FUSE filesystem, serves a
// self-hosted Textile-compatible hub, and offers the same mailbox to scripts.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"
)

func main() {
	if err := Main(os.Args); err != nil {
		fmt.Fprintln(os.Stderr, "hubfs: "+err.Error())
		os.Exit(exitCode(err))
	}
}

// Main runs the CLI with the given argv. Tests call it directly; it returns
// the error instead of exiting so they can assert on it.
func Main(args []string) error {
	return run(context.Background(), newApp(), args)
}

// run is the one way argv reaches the app, from main and from tests. The
// mount helper's argv (hubfs SOURCE MNT -o OPTS, see fstab.go) becomes a
// `hubfs mount --daemon` first.
func run(ctx context.Context, app *cli.App, args []string) error {
	if len(args) > 1 && args[1] == completeCommandName {
		return app.RunContext(ctx, args) // the words as typed, not reordered
	}
	if isHelperForm(app, args) {
		var err error
		if args, err = helperArgs(findCommand(app.Commands, "mount"), args); err != nil {
			return err
		}
	}
	return app.RunContext(ctx, flagsFirst(app, args))
}

func newApp() *cli.App {
	app := &cli.App{
		Name:  "hubfs",
		Usage: "an end-to-end encrypted Textile Hub mailbox as a filesystem",
		Description: "hubfs mounts a Textile Hub user's mailbox (inbox, sentbox, outbox, threads) as a\n" +
			"FUSE filesystem, and ships a self-hosted hub that speaks the Textile wire protocol.\n\n" +
			"Example:\n   hubfs init && hubfs mount --daemon ~/mail && ls ~/mail/inbox",
		HideHelpCommand: true,
		// Errors are printed once, by main, as one line on stderr.
		ExitErrHandler: func(*cli.Context, error) {},
		// Without it cli answers an unknown command with exit 3.
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usagef("unknown command %q (see hubfs --help)", c.Args().First())
			}
			return cli.ShowAppHelp(c)
		},
		Commands: []*cli.Command{
			initCommand(),
			whoamiCommand(),
			sendCommand(),
			lsCommand(),
			catCommand(),
			rmCommand(),
			mountCommand(),
			umountCommand(),
			serveCommand(),
			keysCommand(),
			contactsCommand(),
			sendmailCommand(),
			backupCommand(), restoreCommand(), exportCommand(),
			completionCommand(), completeCommand(), manCommand(),
		},
	}
	app.OnUsageError = onUsageError
	setUsageErrors(app.Commands)
	return app
}

// setUsageErrors makes a bad flag a usageError (exit 2, one line on
// stderr) in every command, instead of urfave/cli's exit 1 with the help
// text on stdout, where a script reads its data.
func setUsageErrors(cmds []*cli.Command) {
	for _, cmd := range cmds {
		cmd.OnUsageError = onUsageError
		setUsageErrors(cmd.Subcommands)
	}
}

func onUsageError(c *cli.Context, err error, _ bool) error {
	name := "hubfs"
	if c.Command != nil && c.Command.Name != "" {
		name = c.Command.Name
	}
	return usagef("%s: %v (see --help)", name, err)
}

// flagsFirst moves the flags that follow a command's arguments in front of
// them: urfave/cli v2, like Go's flag package, stops parsing flags at the
// first argument, but scripts write them anywhere (hubfs ls inbox --json,
// hubfs mount MNT --daemon, hubfs keys revoke KEY --data DIR). A "--" still
// ends the flags: what follows it stays an argument even if it starts with
// "-". A flag unknown to the command moves too, so that cli reports it
// instead of taking it for an argument.
func flagsFirst(app *cli.App, argv []string) []string {
	if len(argv) < 2 {
		return argv
	}
	out := []string{argv[0]}
	rest := argv[1:]
	flags := append([]cli.Flag{cli.HelpFlag, cli.VersionFlag}, app.Flags...)
	cmds := app.Commands
	for {
		// A level's own flags come before the name of its subcommand.
		i := 0
		for i < len(rest) && isFlagArg(rest[i]) && rest[i] != "--" {
			if takesValue(flags, rest[i]) && i+1 < len(rest) {
				i++
			}
			i++
		}
		if i == len(rest) {
			return append(out, rest...)
		}
		cmd := findCommand(cmds, rest[i])
		if cmd == nil {
			if len(cmds) > 0 {
				return append(out, rest...) // not a command: cli says so
			}
			break // a leaf's arguments: reorder them
		}
		out = append(out, rest[:i+1]...)
		rest = rest[i+1:]
		if cmd.SkipFlagParsing {
			return append(out, rest...) // it parses its own (sendmail's -f ADDR)
		}
		flags = append([]cli.Flag{cli.HelpFlag}, cmd.Flags...)
		cmds = cmd.Subcommands
	}
	var flagArgs, args []string
	dashes := false
	for i := 0; i < len(rest); i++ {
		a := rest[i]
		switch {
		case a == "--":
			args, dashes = append(args, rest[i+1:]...), true
			i = len(rest) // the rest is arguments
		case !isFlagArg(a):
			args = append(args, a)
		case takesValue(flags, a) && i+1 == len(rest):
			// Its value is missing: last, so cli says so instead of
			// taking an argument for it.
			return append(append(out, flagArgs...), a)
		default:
			flagArgs = append(flagArgs, a)
			if takesValue(flags, a) {
				i++
				flagArgs = append(flagArgs, rest[i])
			}
		}
	}
	out = append(out, flagArgs...)
	if slices.ContainsFunc(flagArgs, isHelpFlag) {
		return out // cli would read an argument as the topic of the help
	}
	if dashes && len(args) > 0 {
		out = append(out, "--")
	}
	return append(out, args...)
}

// isFlagArg: "-" alone is an argument (stdin), as for Go's flag package.
func isFlagArg(a string) bool { return len(a) > 1 && a[0] == '-' }

// takesValue reports whether flag argument a ("--hub", "-d") is followed
// by its value, as a non-boolean flag without "=" is.
func takesValue(flags []cli.Flag, a string) bool {
	name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
	if hasValue {
		return false
	}
	for _, f := range flags {
		if f == nil || !slices.Contains(f.Names(), name) {
			continue
		}
		df, ok := f.(cli.DocGenerationFlag)
		return !ok || df.TakesValue()
	}
	return false // unknown: cli reports it
}

func isHelpFlag(a string) bool {
	return isFlagArg(a) && slices.Contains(cli.HelpFlag.Names(), strings.TrimLeft(a, "-"))
}

func findCommand(cmds []*cli.Command, name string) *cli.Command {
	for _, c := range cmds {
		if slices.Contains(c.Names(), name) {
			return c
		}
	}
	return nil
}

// usageError marks a mistake in how hubfs was called, so the exit status can
// tell it apart from a failure of the operation itself.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return usageError{fmt.Sprintf(format, args...)}
}

// Exit statuses are part of the scripted contract (README "Exit status").
const (
	exitFailure = 1
	exitUsage   = 2
)

func exitCode(err error) int {
	var se sysexit // sendmail's, which mail clients read, wins over what it wraps
	if errors.As(err, &se) {
		return se.code
	}
	var ue usageError
	if errors.As(err, &ue) {
		return exitUsage
	}
	var ec cli.ExitCoder
	if errors.As(err, &ec) && ec.ExitCode() != 0 {
		return ec.ExitCode()
	}
	return exitFailure
}
