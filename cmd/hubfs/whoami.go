package main

import (
	"fmt"

	"github.com/urfave/cli/v2"
)

func whoamiCommand() *cli.Command {
	return &cli.Command{
		Name:      "whoami",
		Usage:     "print this identity's public key, alone on stdout",
		UsageText: "hubfs whoami [--identity FILE]\n\nExample:\n   echo hi > ~/mail/outbox/$(hubfs whoami)",
		Flags:     []cli.Flag{identityFlag()},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usagef("whoami takes no arguments, got %q", c.Args().First())
			}
			key, err := loadIdentity(c)
			if err != nil {
				return err
			}
			_, err = fmt.Fprintln(c.App.Writer, key.Public().String())
			return err
		},
	}
}
