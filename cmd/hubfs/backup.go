package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/hubfs/hubfs/hubd/store/sqlite"
)

// keepingTheData is where the README explains backups, for errors to
// point at.
const keepingTheData = `README "Keeping the data"`

func backupCommand() *cli.Command {
	return &cli.Command{
		Name:  "backup",
		Usage: "write a consistent snapshot of a hub's store to FILE, while the hub runs",
		UsageText: "hubfs backup [--data DIR | --store URL] [--force] FILE\n\n" +
			"The snapshot holds everything the hub committed before it began, and is taken from\n" +
			"this process while `hubfs serve` goes on serving: no need to stop the hub. FILE is\n" +
			"written under a temporary name, fsynced and renamed (mode 0600: it holds the API\n" +
			"secrets); an existing FILE is kept unless --force. The data directory's host.key is\n" +
			"not in it. A PostgreSQL store is backed up with pg_dump (see " + keepingTheData + ").\n\n" +
			"Example:\n" +
			"   hubfs backup --data ~/hub ~/backups/hub-$(date +%F).db",
		Flags: []cli.Flag{dataFlag(), storeFlag(),
			&cli.BoolFlag{Name: "force", Usage: "replace FILE if it exists"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usagef("backup takes one FILE, got %d arguments", c.NArg())
			}
			url, err := storeURL(c)
			if err != nil {
				return err
			}
			src, err := sqliteStore(url, "back it up with pg_dump -Fc, the tool made for it")
			if err != nil {
				return err
			}
			dst := c.Args().First()
			if err := sqlite.Backup(c.Context, src, dst, sqlite.BackupOptions{Overwrite: c.Bool("force")}); err != nil {
				return err
			}
			fmt.Fprintf(c.App.ErrWriter, "backed up %s to %s\n", src, dst)
			return nil
		},
	}
}

// errPostgres: what backup and restore do with a SQLite file, a
// PostgreSQL store has its own tools for.
var errPostgres = errors.New("a PostgreSQL store")

// sqliteStore is the file of a sqlite: store URL. A PostgreSQL URL is an
// error saying what to use instead (why), without echoing the URL: it may
// hold a password.
func sqliteStore(url, why string) (string, error) {
	path, ok, err := sqlite.PathOf(url)
	if err != nil {
		return "", err
	}
	if ok {
		return path, nil
	}
	scheme, _, _ := strings.Cut(url, ":")
	switch strings.ToLower(scheme) {
	case "postgres", "postgresql":
		return "", fmt.Errorf("%w: %s (see %s)", errPostgres, why, keepingTheData)
	}
	return "", fmt.Errorf("store URL scheme %q: unknown (want sqlite:PATH)", scheme)
}
