package main

import (
	"fmt"

	"github.com/urfave/cli/v2"
)

// manCommand prints hubfs(1) in roff, generated from the commands' and
// flags' own definitions, so the page never disagrees with --help.
// `make install` writes it to share/man/man1/hubfs.1.
func manCommand() *cli.Command {
	return &cli.Command{
		Name:   "man",
		Usage:  "print the hubfs(1) manual page (roff)",
		Hidden: true,
		Action: func(c *cli.Context) error {
			if c.NArg() != 0 {
				return usagef("man takes no arguments")
			}
			page, err := c.App.ToManWithSection(1)
			if err != nil {
				return err
			}
			_, err = fmt.Fprint(c.App.Writer, page)
			return err
		},
	}
}
