package main

import (
	"fmt"
	"path/filepath"

	"github.com/urfave/cli/v2"

	"github.com/hubfs/hubfs/mailfs"
)

func umountCommand() *cli.Command {
	return &cli.Command{
		Name:      "umount",
		Usage:     "unmount a hubfs mount; its hubfs process then exits",
		UsageText: "hubfs umount [--lazy] MNT\n\nExample:\n   hubfs umount ~/mail",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "lazy", Aliases: []string{"z"}, Usage: "detach even if busy or dead; the kernel finishes when the last user leaves"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usagef("umount takes one argument, the mount point MNT (got %d)", c.NArg())
			}
			dir, err := filepath.Abs(c.Args().First())
			if err != nil {
				return err
			}
			if err := mailfs.Unmount(dir, c.Bool("lazy")); err != nil {
				return fmt.Errorf("%w (if it is busy, leave it and retry, or pass --lazy)", err)
			}
			return nil
		},
	}
}
