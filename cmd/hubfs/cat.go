package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/hubfs/hubfs/hub"
)

func catCommand() *cli.Command {
	return &cli.Command{
		Name:  "cat",
		Usage: "decrypt an inbox message to stdout and mark it read",
		UsageText: "hubfs cat [--keep-unread] ID\n\n" +
			"Checks the sender's signature first: a message that fails it, or does not decrypt,\n" +
			"prints nothing and exits 1.\n\n" +
			"Example:\n   hubfs cat 01j9zq3k8m5v7w2x4y6z8a0b1c > note.txt",
		Flags: append(connectionFlags(),
			&cli.BoolFlag{Name: "keep-unread", Usage: "do not mark the message read"},
		),
		Action: func(c *cli.Context) error {
			args := c.Args().Slice()
			if len(args) != 1 {
				return usagef("cat takes one message ID")
			}
			id := args[0]
			if err := hub.CheckMessageID(id); err != nil {
				return usagef("cat: %v", err)
			}
			cl, key, err := connect(c)
			if err != nil {
				return err
			}
			defer cl.Close()
			// There is no get-by-id call, but seek is inclusive: a
			// one-message page from id starts with id if it exists.
			page, err := cl.ListInboxMessages(c.Context, hub.InboxListOptions{Seek: id, Limit: 1})
			if err != nil {
				return hubError(c, err)
			}
			if len(page) == 0 || !sameID(page[0].ID, id) {
				return fmt.Errorf("cat: no message %s in the inbox: %w", id, hub.ErrNotFound)
			}
			m := page[0]
			plain, err := m.Open(key)
			if errors.Is(err, hub.ErrBadSignature) {
				return fmt.Errorf("%w: it does not come from %s as it claims; not printed", err, m.From)
			}
			if err != nil {
				return err
			}
			if _, err := c.App.Writer.Write(plain); err != nil {
				return err
			}
			if m.Unread() && !c.Bool("keep-unread") {
				if _, err := cl.ReadInboxMessage(c.Context, m.ID); err != nil {
					return hubError(c, err)
				}
			}
			return nil
		},
	}
}

// sameID compares message ids as the hub does: a ULID's case carries no meaning.
func sameID(a, b string) bool {
	return len(a) == len(b) && strings.EqualFold(a, b)
}
