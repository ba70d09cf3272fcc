package main

import (
	"context"
	"encoding/json"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/hubfs/hubfs/hubd"
)

func keysCommand() *cli.Command {
	return &cli.Command{
		Name:  "keys",
		Usage: "create, list and revoke the API keys of a self-hosted hub",
		UsageText: "hubfs keys create [--data DIR | --store URL] [--json]\n" +
			"hubfs keys list [--data DIR | --store URL] [--json]\n" +
			"hubfs keys revoke [--data DIR | --store URL] KEY\n\n" +
			"These work on the hub's store whether or not `hubfs serve` is running on it.\n\n" +
			"Example:\n" +
			"   hubfs keys create --data ~/hub --json > key.json",
		Subcommands: []*cli.Command{keysCreateCommand(), keysListCommand(), keysRevokeCommand()},
	}
}

// openKeyStore opens the store of --store or --data with open, once for
// this command: it may run next to a `hubfs serve` on the same store.
func openKeyStore(c *cli.Context, open func(context.Context, string) (hubd.Store, error)) (hubd.Store, error) {
	url, err := storeURL(c)
	if err != nil {
		return nil, err
	}
	return open(c.Context, url)
}

func jsonFlag() cli.Flag {
	return &cli.BoolFlag{Name: "json", Usage: "print JSON for scripts"}
}

func keysCreateCommand() *cli.Command {
	return &cli.Command{
		Name:  "create",
		Usage: "make a new user-group API key and print it with its secret",
		UsageText: "hubfs keys create [--data DIR | --store URL] [--insecure] [--json]\n\n" +
			"The secret is shown once, here; it is not printed by `keys list`.\n" +
			"--json prints {\"key\": \"...\", \"secret\": \"...\"} (with --insecure, {\"key\": \"...\", \"secret\": \"\", \"insecure\": true}).\n\n" +
			"--insecure makes a non-signing key: apps use the key alone, without a secret\n" +
			"(Textile's development mode). Anyone who learns it can use it until it is\n" +
			"revoked, so a hub accepts it only while it listens on loopback or runs with\n" +
			"--insecure. For development only.\n\n" +
			"Example:\n" +
			"   (umask 077; hubfs keys create --data ~/hub --json > key.json)\n" +
			"   hubfs keys create --data ~/hub --insecure",
		Flags: []cli.Flag{dataFlag(), storeFlag(), jsonFlag(),
			&cli.BoolFlag{Name: "insecure", Usage: "make a non-signing key (no secret; loopback or --insecure hubs only)"}},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usagef("keys create takes no arguments, got %q", c.Args().First())
			}
			st, err := openKeyStore(c, hubd.OpenStore)
			if err != nil {
				return err
			}
			defer st.Close()
			newKey := hubd.NewKey
			if c.Bool("insecure") {
				newKey = hubd.NewInsecureKey
			}
			k, err := newKey(c.Context, st)
			if err != nil {
				return err
			}
			insecure := hubd.IsInsecure(k)
			if insecure {
				// On stderr too, so that --json output piped to a file
				// still leaves the warning on the terminal.
				fmt.Fprintln(c.App.ErrWriter, insecureKeyWarning)
			}
			if c.Bool("json") {
				return json.NewEncoder(c.App.Writer).Encode(struct {
					Key      string `json:"key"`
					Secret   string `json:"secret"`
					Insecure bool   `json:"insecure,omitempty"` // only for insecure keys: the contract of a signing key's output is its two fields
				}{k.Key, k.Secret, insecure})
			}
			if insecure {
				_, err = fmt.Fprintf(c.App.Writer, "INSECURE KEY: %s\nsecret: (none: apps send the key alone)\n", k.Key)
				return err
			}
			_, err = fmt.Fprintf(c.App.Writer, "key:    %s\nsecret: %s\n", k.Key, k.Secret)
			return err
		},
	}
}

// insecureKeyWarning is what `keys create --insecure` says on stderr.
const insecureKeyWarning = "INSECURE KEY: this key signs nothing; anyone who learns it can use it until it is revoked. " +
	"A hub accepts it only while it listens on loopback or runs with --insecure. For development only."

// keyJSON is a key as `keys list --json` prints it: never the secret.
type keyJSON struct {
	Key       string    `json:"key"`
	CreatedAt time.Time `json:"created_at"`
	Revoked   bool      `json:"revoked"`
	Insecure  bool      `json:"insecure"`
}

func keysListCommand() *cli.Command {
	return &cli.Command{
		Name:  "list",
		Usage: "list the API keys (not their secrets), oldest first",
		UsageText: "hubfs keys list [--data DIR | --store URL] [--json]\n\n" +
			"--json prints an array of {\"key\", \"created_at\", \"revoked\", \"insecure\"}.\n\n" +
			"Example:\n" +
			"   hubfs keys list --data ~/hub",
		Flags: []cli.Flag{dataFlag(), storeFlag(), jsonFlag()},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usagef("keys list takes no arguments, got %q", c.Args().First())
			}
			st, err := openKeyStore(c, hubd.OpenExistingStore)
			if err != nil {
				return err
			}
			defer st.Close()
			keys, err := st.ListKeys(c.Context)
			if err != nil {
				return err
			}
			if c.Bool("json") {
				out := make([]keyJSON, 0, len(keys))
				for _, k := range keys {
					out = append(out, keyJSON{k.Key, k.CreatedAt.UTC(), k.Revoked, hubd.IsInsecure(k)})
				}
				return json.NewEncoder(c.App.Writer).Encode(out)
			}
			tw := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "KEY\tCREATED\tSTATE")
			for _, k := range keys {
				state := "active"
				if k.Revoked {
					state = "revoked"
				}
				if hubd.IsInsecure(k) {
					state += " INSECURE"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\n", k.Key, k.CreatedAt.UTC().Format(time.RFC3339), state)
			}
			return tw.Flush()
		},
	}
}

func keysRevokeCommand() *cli.Command {
	return &cli.Command{
		Name:  "revoke",
		Usage: "revoke an API key: calls made with it fail from then on",
		UsageText: "hubfs keys revoke [--data DIR | --store URL] KEY\n\n" +
			"Example:\n" +
			"   hubfs keys revoke --data ~/hub bqsmtzjyxcfmlvmquvfj2e6yqwa",
		Flags: []cli.Flag{dataFlag(), storeFlag()},
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usagef("keys revoke takes one KEY, got %d arguments", c.NArg())
			}
			st, err := openKeyStore(c, hubd.OpenExistingStore)
			if err != nil {
				return err
			}
			defer st.Close()
			key := c.Args().First()
			if err := hubd.RevokeKeyIn(c.Context, st, key); err != nil {
				return err
			}
			fmt.Fprintf(c.App.ErrWriter, "revoked %s\n", key)
			return nil
		},
	}
}
