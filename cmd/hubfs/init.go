package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/hubfs/hubfs/identity"
)

func initCommand() *cli.Command {
	return &cli.Command{
		Name:      "init",
		Usage:     "create a new identity (an ed25519 key) and print its public key",
		UsageText: "hubfs init [--identity FILE] [--force]\n\nExample:\n   hubfs init\n   hubfs init --identity ./bob.key",
		Flags: []cli.Flag{
			identityFlag(),
			&cli.BoolFlag{Name: "force", Usage: "replace an existing key file (the old identity is lost)"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usagef("init takes no arguments, got %q", c.Args().First())
			}
			path, err := identityPath(c)
			if err != nil {
				return err
			}
			key, err := identity.NewPrivateKey()
			if err != nil {
				return err
			}
			if err := identity.SaveKeyFile(path, key, c.Bool("force")); err != nil {
				if errors.Is(err, os.ErrExist) {
					return fmt.Errorf("%s already exists: keep it, or pass --force to replace it", path)
				}
				return err
			}
			fmt.Fprintf(c.App.ErrWriter, "created %s\n", path)
			_, err = fmt.Fprintln(c.App.Writer, key.Public().String())
			return err
		},
	}
}
