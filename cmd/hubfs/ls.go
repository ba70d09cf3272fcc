package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/hubfs/hubfs/hub"
)

func lsCommand() *cli.Command {
	return &cli.Command{
		Name:  "ls",
		Usage: "list the messages of your inbox or sentbox, newest first",
		UsageText: "hubfs ls inbox|sentbox [--json] [--unread]\n\n" +
			"Prints one line per message: ID, FROM (TO for the sentbox), SIZE (plaintext bytes)\n" +
			"and TIME (RFC 3339, UTC), separated by tabs. --json prints one JSON object per line\n" +
			"instead: {\"id\",\"from\",\"to\",\"name\",\"size\",\"created_at\",\"read_at\"}, read_at only once\n" +
			"read, name (the sender's, or for the sentbox the recipient's, contact name) only if known.\n" +
			"On a terminal, or with --names, FROM (TO) is the contact's name where there is one.\n\n" +
			"Example:\n   hubfs ls inbox --unread | cut -f1 | xargs -n1 hubfs cat\n   hubfs ls sentbox --json | jq -r .id",
		Flags: append(connectionFlags(),
			&cli.BoolFlag{Name: "json", Usage: "print JSON lines"},
			&cli.BoolFlag{Name: "unread", Usage: "inbox only: just the messages not yet read"},
			&cli.BoolFlag{Name: "names", Usage: "print contacts' names instead of their keys (default: when stdout is a terminal)"},
			contactsFlag(),
		),
		Action: func(c *cli.Context) error {
			args := c.Args().Slice()
			if len(args) != 1 {
				return usagef("ls takes one box, inbox or sentbox")
			}
			box := args[0]
			if box != "inbox" && box != "sentbox" {
				return usagef("ls: unknown box %q: want inbox or sentbox", box)
			}
			if box == "sentbox" && c.Bool("unread") {
				return usagef("ls: --unread applies to the inbox; sent messages have no read state")
			}
			cl, _, err := connect(c)
			if err != nil {
				return err
			}
			defer cl.Close()

			// A broken address book costs the names, not the listing.
			book, berr := loadContacts(c)
			if berr != nil {
				fmt.Fprintf(c.App.ErrWriter, "hubfs: warning: %v; listing keys only\n", berr)
			}
			names := c.Bool("names") || (!c.IsSet("names") && isTerminal(c.App.Writer))

			hb, opts := lsQuery(box, c.Bool("unread"))
			msgs := cl.Messages(c.Context, hb, opts)
			enc := json.NewEncoder(c.App.Writer)
			for m, err := range msgs {
				if err != nil {
					return hubError(c, err)
				}
				peer := m.From
				if box == "sentbox" {
					peer = m.To
				}
				name, _ := book.Name(peer)
				if c.Bool("json") {
					e := lsEntryOf(m)
					e.Name = name
					err = enc.Encode(e)
				} else {
					if names && name != "" {
						peer = name
					}
					_, err = fmt.Fprintf(c.App.Writer, "%s\t%s\t%d\t%s\n", m.ID, peer, m.Size(), m.CreatedAt.UTC().Format(timeLayout))
				}
				if err != nil {
					return err
				}
			}
			return nil
		},
	}
}

// lsQuery is what ls asks the hub for: the whole box, newest first, and no
// bodies (ls prints none; sizes come from the body sizes hubfs serve sends
// instead, and another Textile hub ignores the flag and sends bodies).
func lsQuery(box string, unread bool) (hub.Box, hub.ListOptions) {
	opts := hub.ListOptions{WithoutBodies: true}
	if box == "sentbox" {
		return hub.Sentbox, opts
	}
	if unread {
		opts.Status = hub.StatusUnread
	}
	return hub.Inbox, opts
}

// lsEntry is one line of `ls --json`: part of the scripted contract.
type lsEntry struct {
	ID        string     `json:"id"`
	From      string     `json:"from"`
	To        string     `json:"to"`
	Name      string     `json:"name,omitempty"` // the peer's contact name: From's in the inbox, To's in the sentbox
	Size      int64      `json:"size"`
	CreatedAt time.Time  `json:"created_at"`
	ReadAt    *time.Time `json:"read_at,omitempty"`
}

func lsEntryOf(m hub.UserMessage) lsEntry {
	e := lsEntry{ID: m.ID, From: m.From, To: m.To, Size: m.Size(), CreatedAt: m.CreatedAt.UTC()}
	if !m.ReadAt.IsZero() {
		t := m.ReadAt.UTC()
		e.ReadAt = &t
	}
	return e
}

// isTerminal reports whether w is a terminal, where a person reads names
// and a script does not parse.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
