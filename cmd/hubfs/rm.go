package main

import (
	"github.com/urfave/cli/v2"

	"github.com/hubfs/hubfs/hub"
)

func rmCommand() *cli.Command {
	return &cli.Command{
		Name:  "rm",
		Usage: "delete messages from your inbox or sentbox",
		UsageText: "hubfs rm inbox|sentbox ID...\n\n" +
			"Deleting removes only your copy: the other side keeps theirs. Like the hub, rm\n" +
			"succeeds for an id that is already gone.\n\n" +
			"Example:\n   hubfs rm inbox 01j9zq3k8m5v7w2x4y6z8a0b1c\n   hubfs ls sentbox | cut -f1 | xargs hubfs rm sentbox",
		Flags: connectionFlags(),
		Action: func(c *cli.Context) error {
			args := c.Args().Slice()
			if len(args) < 2 {
				return usagef("rm takes a box (inbox or sentbox) and at least one message ID")
			}
			box, ids := args[0], args[1:]
			if box != "inbox" && box != "sentbox" {
				return usagef("rm: unknown box %q: want inbox or sentbox", box)
			}
			for _, id := range ids {
				if err := hub.CheckMessageID(id); err != nil {
					return usagef("rm: %v", err)
				}
			}
			cl, _, err := connect(c)
			if err != nil {
				return err
			}
			defer cl.Close()
			del := cl.DeleteInboxMessage
			if box == "sentbox" {
				del = cl.DeleteSentboxMessage
			}
			for _, id := range ids {
				if err := del(c.Context, id); err != nil {
					return hubError(c, err)
				}
			}
			return nil
		},
	}
}
