package main

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/hubfs/hubfs/hub"
	"github.com/hubfs/hubfs/identity"
	"github.com/hubfs/hubfs/queue"
)

// maxSendFile bounds what send reads into memory; hubs refuse far less
// (hubd's default and gRPC's are a few MiB), and say so.
const maxSendFile = 64 << 20

func sendCommand() *cli.Command {
	return &cli.Command{
		Name:  "send",
		Usage: "encrypt a file (or stdin) to a user, send it, and print the new message id",
		UsageText: "hubfs send --to KEY|NAME [FILE|-]\n\n" +
			"KEY is the recipient's public key, as their `hubfs whoami` prints it, or NAME a\n" +
			"contact's name (hubfs contacts); both of you need a mailbox on the hub (any hubfs\n" +
			"command sets up yours).\n\n" +
			"Example:\n   echo 'lunch at noon?' | hubfs send --to bbaareia...\n   id=$(hubfs send --to \"$(cat bob.pub)\" report.txt)",
		Flags: append(connectionFlags(),
			&cli.StringFlag{Name: "to", Usage: "recipient's public `KEY`, or a contact's name"},
			contactsFlag(),
			&cli.BoolFlag{Name: "queue", Usage: "if the hub cannot be reached or its answer is lost, keep the sealed message in the outbox queue (a running or later mount delivers it) and print queued/<local-id>"},
		),
		Action: func(c *cli.Context) error {
			args := c.Args().Slice()
			if len(args) > 1 {
				return usagef("send takes one FILE (or - for stdin), got %d arguments", len(args))
			}
			if c.String("to") == "" {
				return usagef("send needs --to KEY, the recipient's public key or a contact's name")
			}
			to, err := resolveRecipient(c, "--to", c.String("to"))
			if err != nil {
				return err
			}
			var path string
			if len(args) == 1 {
				path = args[0]
			}
			body, err := readBody(c, path)
			if err != nil {
				return err
			}
			if c.Bool("queue") {
				return sendOrQueue(c, to, body)
			}
			sess, err := connectForSend(c)
			if err != nil {
				return err
			}
			defer sess.Close()
			m, err := sess.send(c, func() (hub.UserMessage, error) {
				return sess.cl.SendMessage(c.Context, sess.key, to, body)
			})
			if err != nil {
				return hubError(c, err)
			}
			_, err = fmt.Fprintln(c.App.Writer, m.ID)
			return err
		},
	}
}

// sendOrQueue sends as `send` does, but a failure that may pass (the hub
// down, slow, or its answer lost) puts the sealed message in the identity's
// outbox queue, where a mount delivers it under the same idempotency key.
func sendOrQueue(c *cli.Context, to *identity.PublicKey, body []byte) error {
	key, err := loadIdentity(c)
	if err != nil {
		return err
	}
	it, err := queue.NewItem(key, to, body, c.String("hub"), time.Now())
	if err != nil {
		return err
	}
	sess, err := connectForSend(c)
	if err == nil {
		defer sess.Close()
		var m hub.UserMessage
		if m, err = sess.send(c, func() (hub.UserMessage, error) {
			return sess.cl.SendSealed(c.Context, it.Sealed, it.Key)
		}); err == nil {
			_, err = fmt.Fprintln(c.App.Writer, m.ID)
			return err
		}
		it.Attempts = 1
	}
	if queue.Permanent(err) || c.Context.Err() != nil {
		return hubError(c, err)
	}
	it.LastError = err.Error()
	path, perr := queue.DefaultPath(key.Public().String())
	if perr != nil {
		return perr
	}
	dir, perr := queue.OpenDir(path)
	if perr == nil {
		perr = dir.Put(it)
	}
	if perr != nil {
		return fmt.Errorf("%w; and it could not be queued: %v", hubError(c, err), perr)
	}
	fmt.Fprintf(c.App.ErrWriter, "hubfs: not sent now (%v): queued in %s; a mount of this identity delivers it\n", err, path)
	_, err = fmt.Fprintln(c.App.Writer, "queued/"+it.ID)
	return err
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
