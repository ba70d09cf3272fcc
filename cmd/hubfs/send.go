package main

import (
	"fmt"
	"io"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/hubfs/hubfs/identity"
)

// maxSendFile bounds what send reads into memory; hubs refuse far less
// (hubd's default and gRPC's are a few MiB), and say so.
const maxSendFile = 64 << 20

func sendCommand() *cli.Command {
	return &cli.Command{
		Name:  "send",
		Usage: "encrypt a file (or stdin) to a user, send it, and print the new message id",
		UsageText: "hubfs send --to KEY [FILE|-]\n\n" +
			"KEY is the recipient's public key, as their `hubfs whoami` prints it; both of you\n" +
			"need a mailbox on the hub (any hubfs command sets up yours).\n\n" +
			"Example:\n   echo 'lunch at noon?' | hubfs send --to bbaareia...\n   id=$(hubfs send --to \"$(cat bob.pub)\" report.txt)",
		Flags: append(connectionFlags(),
			&cli.StringFlag{Name: "to", Usage: "recipient's public `KEY`"},
		),
		Action: func(c *cli.Context) error {
			args := c.Args().Slice()
			if len(args) > 1 {
				return usagef("send takes one FILE (or - for stdin), got %d arguments", len(args))
			}
			if c.String("to") == "" {
				return usagef("send needs --to KEY, the recipient's public key")
			}
			to, err := identity.ParsePublicKey(c.String("to"))
			if err != nil {
				return usagef("--to: not a public key: %v", err)
			}
			var path string
			if len(args) == 1 {
				path = args[0]
			}
			body, err := readBody(c, path)
			if err != nil {
				return err
			}
			cl, key, err := connect(c)
			if err != nil {
				return err
			}
			defer cl.Close()
			m, err := cl.SendMessage(c.Context, key, to, body)
			if err != nil {
				return hubError(c, err)
			}
			_, err = fmt.Fprintln(c.App.Writer, m.ID)
			return err
		},
	}
}

// readBody reads the message from path, or from stdin for "" and "-".
func readBody(c *cli.Context, path string) ([]byte, error) {
	var r io.Reader = c.App.Reader
	name := "stdin"
	if path != "" && path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r, name = f, path
	}
	b, err := io.ReadAll(io.LimitReader(r, maxSendFile+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	if len(b) > maxSendFile {
		return nil, fmt.Errorf("%s is over %d MiB: too large to send as a message", name, maxSendFile>>20)
	}
	return b, nil
}
