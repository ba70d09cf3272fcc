// The in-process hub of a mount without --hub: hubd on --listen with --data,
// and the identity and API key it needs, created on first use.

package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/hubfs/hubfs/hub"
	"github.com/hubfs/hubfs/hubd"
	"github.com/hubfs/hubfs/identity"
)

// startEmbeddedHub runs hubd inside this process, on --listen with --data.
func startEmbeddedHub(c *cli.Context, logger *slog.Logger, maxCipher int) (*hubd.Server, string, error) {
	dataDir := c.String("data")
	if dataDir == "" {
		d, err := hubd.DefaultDataDir()
		if err != nil {
			return nil, "", err
		}
		dataDir = d
	}
	srv, err := hubd.New(hubd.Config{
		Listen:         c.String("listen"),
		DataDir:        dataDir,
		MaxMessageSize: maxCipher,
		Logger:         logger.With("component", "hubd"),
	})
	if err != nil {
		return nil, "", fmt.Errorf("embedded hub: %w (is another hubfs mount or hubfs serve using %s? then pass --hub %s)", err, c.String("listen"), c.String("listen"))
	}
	go func() {
		if err := srv.Serve(); err != nil {
			logger.Error("embedded hub stopped", "err", err)
		}
	}()
	return srv, srv.Addr(), nil
}

// connectEmbedded authenticates to the embedded hub. Its API key is the
// first unrevoked key in the data directory, created on first use, so a
// newcomer needs no key at all; the identity is created if missing (as
// `hubfs init` would).
func connectEmbedded(c *cli.Context, srv *hubd.Server, addr string) (*hub.Client, *identity.PrivateKey, error) {
	path, err := identityPath(c)
	if err != nil {
		return nil, nil, err
	}
	key, err := identity.LoadKeyFile(path)
	if errors.Is(err, os.ErrNotExist) {
		if key, err = identity.NewPrivateKey(); err != nil {
			return nil, nil, err
		}
		if err := identity.SaveKeyFile(path, key, false); err != nil {
			return nil, nil, err
		}
		fmt.Fprintf(c.App.ErrWriter, "hubfs: created identity %s (%s)\n", path, key.Public())
	} else if err != nil {
		return nil, nil, err
	}

	apiKey, secret := c.String("key"), ""
	if apiKey != "" {
		if secret, err = apiSecret(c); err != nil {
			return nil, nil, err
		}
	} else {
		k, err := embeddedKey(c.Context, srv)
		if err != nil {
			return nil, nil, err
		}
		apiKey, secret = k.Key, k.Secret
	}
	cl, err := hub.Dial(c.Context, addr, hub.WithKeyInfo(apiKey, secret), hub.WithTimeout(c.Duration("timeout")))
	if err != nil {
		return nil, nil, err
	}
	if _, err := cl.GetToken(c.Context, key); err != nil {
		cl.Close()
		return nil, nil, fmt.Errorf("embedded hub: %w", err)
	}
	if _, err := cl.SetupMailbox(c.Context); err != nil {
		cl.Close()
		return nil, nil, fmt.Errorf("embedded hub: %w", err)
	}
	return cl, key, nil
}

// embeddedKey goes through the embedded hub's open store: a second open
// in this process would drop the hub's SQLite locks when it closed.
func embeddedKey(ctx context.Context, srv *hubd.Server) (hubd.APIKey, error) {
	keys, err := srv.ListKeys(ctx)
	if err != nil {
		return hubd.APIKey{}, err
	}
	for _, k := range keys {
		if !k.Revoked && k.Secret != "" {
			return k, nil
		}
	}
	return srv.CreateKey(ctx)
}
