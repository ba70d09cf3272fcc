// Command hubfs mounts a Textile Hub mailbox as a FUSE filesystem, serves a
// self-hosted Textile-compatible hub, and offers the same mailbox to scripts.
package main

import (
	"errors"
	"fmt"
	"os"

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
	return newApp().Run(args)
}

func newApp() *cli.App {
	return &cli.App{
		Name:  "hubfs",
		Usage: "an end-to-end encrypted Textile Hub mailbox as a filesystem",
		Description: "hubfs mounts a Textile Hub user's mailbox (inbox, sentbox, outbox, threads) as a\n" +
			"FUSE filesystem, and ships a self-hosted hub that speaks the Textile wire protocol.\n\n" +
			"Example:\n   hubfs init && hubfs mount --daemon ~/mail && ls ~/mail/inbox",
		HideHelpCommand: true,
		// Errors are printed once, by main, as one line on stderr.
		ExitErrHandler: func(*cli.Context, error) {},
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
		},
	}
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
