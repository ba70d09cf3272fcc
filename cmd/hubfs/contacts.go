package main

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/hubfs/hubfs/contacts"
	"github.com/hubfs/hubfs/identity"
)

// contactsFlag is shared by every command that reads names: contacts, send,
// sendmail, ls and mount.
func contactsFlag() cli.Flag {
	return &cli.StringFlag{
		Name:    "contacts",
		EnvVars: []string{"HUBFS_CONTACTS"},
		Usage:   "address book `FILE`, one \"name key\" a line (default $XDG_CONFIG_HOME/hubfs/contacts)",
	}
}

// contactsPath resolves --contacts, falling back to the default file.
func contactsPath(c *cli.Context) (string, error) {
	if p := c.String("contacts"); p != "" {
		return p, nil
	}
	return contacts.DefaultPath()
}

// loadContacts reads the address book; a missing file is an empty one.
func loadContacts(c *cli.Context) (*contacts.Book, error) {
	path, err := contactsPath(c)
	if err != nil {
		return nil, err
	}
	return contacts.Load(path)
}

// resolveRecipient turns --to's "a key or a contact name" into a key. A
// string that is neither is a usage error; a broken address book is not,
// and is only read when the string is not a key.
func resolveRecipient(c *cli.Context, flag, s string) (*identity.PublicKey, error) {
	if pk, err := identity.ParsePublicKey(s); err == nil {
		return pk, nil
	}
	book, err := loadContacts(c)
	if err != nil {
		return nil, err
	}
	key, err := book.Resolve(s)
	if err != nil {
		return nil, usagef("%s: %v", flag, err)
	}
	return identity.ParsePublicKey(key)
}

func contactsCommand() *cli.Command {
	return &cli.Command{
		Name:  "contacts",
		Usage: "name public keys: the address book that send, sendmail, ls and the mount read",
		UsageText: "hubfs contacts add NAME KEY [--force] | list [--json] | rm NAME\n\n" +
			"The book is a plain file ($XDG_CONFIG_HOME/hubfs/contacts, or --contacts /\n" +
			"HUBFS_CONTACTS), one \"name key\" a line, '#' comments; edit it by hand or here.\n" +
			"A NAME is up to 64 letters, digits and . _ - + @, not starting with . or -.\n" +
			"Wherever a key is asked for (send --to, outbox/NAME, sendmail), a name works too.\n\n" +
			"Example:\n   hubfs contacts add alice bbaareia...\n   echo hi | hubfs send --to alice",
		Subcommands: []*cli.Command{
			{
				Name:      "add",
				Usage:     "name a key (refuses a name taken by another key unless --force)",
				UsageText: "hubfs contacts add NAME KEY [--force]",
				Flags: []cli.Flag{contactsFlag(),
					&cli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "give an existing name the new key"},
				},
				Action: func(c *cli.Context) error {
					if c.NArg() != 2 {
						return usagef("contacts add takes NAME and KEY, got %d arguments", c.NArg())
					}
					name, key := c.Args().Get(0), c.Args().Get(1)
					if err := contacts.CheckName(name); err != nil {
						return usagef("contacts add: %v", err)
					}
					if _, err := identity.ParsePublicKey(key); err != nil {
						return usagef("contacts add: KEY: %v", err)
					}
					path, err := contactsPath(c)
					if err != nil {
						return err
					}
					edit := contacts.Add
					if c.Bool("force") {
						edit = contacts.Set
					}
					err = edit(path, name, key)
					if errors.Is(err, contacts.ErrExists) {
						return fmt.Errorf("contacts add: %w (--force changes it)", err)
					}
					return err
				},
			},
			{
				Name:      "list",
				Aliases:   []string{"ls"},
				Usage:     "print the contacts in file order, \"name key\" a line",
				UsageText: "hubfs contacts list [--json]\n\n--json prints one {\"name\",\"key\"} object a line.",
				Flags: []cli.Flag{contactsFlag(),
					&cli.BoolFlag{Name: "json", Usage: "print JSON lines"},
				},
				Action: func(c *cli.Context) error {
					if c.NArg() > 0 {
						return usagef("contacts list takes no arguments, got %q", c.Args().First())
					}
					book, err := loadContacts(c)
					if err != nil {
						return err
					}
					enc := json.NewEncoder(c.App.Writer)
					for _, ct := range book.All() {
						if c.Bool("json") {
							err = enc.Encode(contactEntry{Name: ct.Name, Key: ct.Key})
						} else {
							_, err = fmt.Fprintf(c.App.Writer, "%s %s\n", ct.Name, ct.Key)
						}
						if err != nil {
							return err
						}
					}
					return nil
				},
			},
			{
				Name:      "rm",
				Aliases:   []string{"remove"},
				Usage:     "forget a name (its line; comments stay)",
				UsageText: "hubfs contacts rm NAME",
				Flags:     []cli.Flag{contactsFlag()},
				Action: func(c *cli.Context) error {
					if c.NArg() != 1 {
						return usagef("contacts rm takes one NAME, got %d arguments", c.NArg())
					}
					path, err := contactsPath(c)
					if err != nil {
						return err
					}
					return contacts.Remove(path, c.Args().First())
				},
			},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usagef("contacts: unknown subcommand %q: want add, list or rm", c.Args().First())
			}
			return cli.ShowSubcommandHelp(c)
		},
	}
}

// contactEntry is one line of `contacts list --json`: part of the scripted
// contract.
type contactEntry struct {
	Name string `json:"name"`
	Key  string `json:"key"`
}
