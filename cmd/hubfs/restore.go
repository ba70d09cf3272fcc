package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/hubfs/hubfs/hubd/store/sqlite"
)

func restoreCommand() *cli.Command {
	return &cli.Command{
		Name:  "restore",
		Usage: "bring a backup made by `hubfs backup` back as a fresh hub store",
		UsageText: "hubfs restore FILE [--data DIR | --store URL]\n\n" +
			"FILE must be a hubfs store (an older schema is migrated, on the copy only). The\n" +
			"target must not hold a store yet: restore never replaces data, so move an old\n" +
			"store away first. The copy is written under a temporary name, fsynced and renamed.\n" +
			"Then start `hubfs serve` on it. A SQLite backup restores into a sqlite: store only;\n" +
			"a pg_dump file is restored with pg_restore (see " + keepingTheData + ").\n\n" +
			"Example:\n" +
			"   hubfs restore ~/backups/hub-2025-01-31.db --data ~/hub",
		Flags: []cli.Flag{dataFlag(), storeFlag()},
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usagef("restore takes one FILE, got %d arguments", c.NArg())
			}
			url, err := storeURL(c)
			if err != nil {
				return err
			}
			dst, err := sqliteStore(url, "a SQLite backup does not restore into PostgreSQL; restore a pg_dump file with pg_restore")
			if err != nil {
				return err
			}
			src := c.Args().First()
			if err := sqlite.Restore(c.Context, src, dst); err != nil {
				return err
			}
			fmt.Fprintf(c.App.ErrWriter, "restored %s to %s\n", src, dst)
			return nil
		},
	}
}
