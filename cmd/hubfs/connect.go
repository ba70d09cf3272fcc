package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/hubfs/hubfs/hub"
	"github.com/hubfs/hubfs/identity"
)

// Connection settings shared by every command that talks to a hub as the
// user (send, ls, cat, rm, mount). Keep names and env vars stable: scripts
// and mount units depend on them.
const (
	defaultHub    = "127.0.0.1:3006" // hubd's native gRPC listener
	maxSecretFile = 4096
)

// connectionFlags returns the flags that connect reads: --hub, --key,
// --secret, --secret-file, --identity, --insecure and --timeout. A command
// appends its own flags after them.
func connectionFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{
			Name:    "hub",
			Value:   defaultHub,
			EnvVars: []string{"HUBFS_HUB"},
			Usage:   "hub `ADDR` as host:port; TLS unless loopback or --insecure",
		},
		&cli.StringFlag{
			Name:    "key",
			EnvVars: []string{"HUBFS_KEY"},
			Usage:   "API `KEY` of a user-group key on the hub",
		},
		&cli.StringFlag{
			Name:    "secret",
			EnvVars: []string{"HUBFS_SECRET"},
			Usage:   "API `SECRET`; set $HUBFS_SECRET or use --secret-file instead: a secret on the command line shows in ps",
		},
		&cli.StringFlag{
			Name:    "secret-file",
			EnvVars: []string{"HUBFS_SECRET_FILE"},
			Usage:   "read the API secret from `FILE` (mode 0600)",
		},
		identityFlag(),
		&cli.BoolFlag{
			Name:    "insecure",
			EnvVars: []string{"HUBFS_INSECURE"},
			Usage:   "talk plaintext gRPC even to a hub that is not on loopback",
		},
		&cli.DurationFlag{
			Name:    "timeout",
			Value:   hub.DefaultTimeout,
			EnvVars: []string{"HUBFS_TIMEOUT"},
			Usage:   "deadline of each hub call",
		},
	}
}

// dial makes a hub client from the connection flags (and extra options),
// without calling the hub: auth is the API key and secret, no user token yet.
func dial(c *cli.Context, extra ...hub.Option) (*hub.Client, error) {
	addr := c.String("hub")
	key := c.String("key")
	if key == "" {
		return nil, usagef("no API key: set HUBFS_KEY or pass --key")
	}
	secret, err := apiSecret(c)
	if err != nil {
		return nil, err
	}
	if c.Duration("timeout") <= 0 {
		return nil, usagef("--timeout must be positive, got %v", c.Duration("timeout"))
	}
	opts := []hub.Option{hub.WithKeyInfo(key, secret), hub.WithTimeout(c.Duration("timeout"))}
	if c.Bool("insecure") {
		opts = append(opts, hub.WithInsecure())
	}
	opts = append(opts, extra...)
	cl, err := hub.Dial(c.Context, addr, opts...)
	if errors.Is(err, hub.ErrInvalid) {
		return nil, usagef("%v", err)
	}
	return cl, err
}

// apiSecret reads the secret from --secret-file, or --secret/$HUBFS_SECRET,
// and warns when it came from argv.
func apiSecret(c *cli.Context) (string, error) {
	path := c.String("secret-file")
	if path != "" && c.String("secret") != "" {
		return "", usagef("give the API secret once: --secret-file or --secret/HUBFS_SECRET, not both")
	}
	if path == "" {
		s := c.String("secret")
		if s != "" && s != os.Getenv("HUBFS_SECRET") {
			fmt.Fprintln(c.App.ErrWriter, "hubfs: warning: --secret on the command line is visible to other users (ps); use HUBFS_SECRET or --secret-file")
		}
		return s, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("secret file: %w", err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Mode().Perm()&0o077 != 0 {
		fmt.Fprintf(c.App.ErrWriter, "hubfs: warning: secret file %s is readable by others (mode %v); chmod 600 it\n", path, fi.Mode().Perm())
	}
	b, err := io.ReadAll(io.LimitReader(f, maxSecretFile+1))
	if err != nil {
		return "", fmt.Errorf("secret file: %w", err)
	}
	if len(b) > maxSecretFile {
		return "", fmt.Errorf("secret file %s: over %d bytes, not an API secret", path, maxSecretFile)
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "", fmt.Errorf("secret file %s is empty", path)
	}
	return s, nil
}

// connect dials the hub, gets a user token for the identity and sets up
// the user's mailbox if it is missing (SetupMailbox is idempotent, so a
// new user's first command just works). The caller closes the client. The
// client holds the identity, so it gets a new token by itself when the hub
// refuses the one it has (a hub whose host key changed under a mount).
func connect(c *cli.Context) (*hub.Client, *identity.PrivateKey, error) {
	key, err := loadIdentity(c)
	if err != nil {
		return nil, nil, err
	}
	cl, err := dial(c, hub.WithIdentity(key))
	if err != nil {
		return nil, nil, err
	}
	if _, err := cl.GetToken(c.Context, key); err != nil {
		cl.Close()
		if errors.Is(err, hub.ErrNotFound) || errors.Is(err, hub.ErrUnauthenticated) {
			// A hub answers NotFound for an API key it does not know
			// (ours says so: ErrBadAPIKey, also ErrUnauthenticated).
			return nil, nil, fmt.Errorf("%w (check HUBFS_KEY and the API secret)", err)
		}
		return nil, nil, hubError(c, err)
	}
	if _, err := cl.SetupMailbox(c.Context); err != nil {
		cl.Close()
		return nil, nil, hubError(c, err)
	}
	return cl, key, nil
}

// hubError adds what a user can do about the common failures.
func hubError(c *cli.Context, err error) error {
	switch {
	case errors.Is(err, hub.ErrUnavailable):
		return fmt.Errorf("%w (is the hub at %s running? set --hub or HUBFS_HUB)", err, c.String("hub"))
	case errors.Is(err, hub.ErrTooLarge):
		return fmt.Errorf("%w (the hub refused the size)", err)
	}
	return err
}

// timeLayout is how the CLI prints times: UTC, to the second, sortable.
const timeLayout = time.RFC3339
