package main

import (
	"github.com/urfave/cli/v2"

	"github.com/hubfs/hubfs/identity"
)

// identityFlag is shared by every command that acts as a user.
func identityFlag() cli.Flag {
	return &cli.StringFlag{
		Name:    "identity",
		Usage:   "private key `FILE` (default $XDG_CONFIG_HOME/hubfs/identity)",
		EnvVars: []string{"HUBFS_IDENTITY"},
	}
}

// identityPath resolves --identity, falling back to the default key file.
func identityPath(c *cli.Context) (string, error) {
	if p := c.String("identity"); p != "" {
		return p, nil
	}
	return identity.DefaultKeyFile()
}

// loadIdentity reads the caller's private key from --identity or the default file.
func loadIdentity(c *cli.Context) (*identity.PrivateKey, error) {
	path, err := identityPath(c)
	if err != nil {
		return nil, err
	}
	return identity.LoadKeyFile(path)
}
