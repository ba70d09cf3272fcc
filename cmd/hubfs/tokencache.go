package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/urfave/cli/v2"

	"github.com/hubfs/hubfs/hub"
	"github.com/hubfs/hubfs/identity"
)

// The token cache lets `hubfs send` skip the GetToken handshake (and the
// SetupMailbox that goes with it) after its first run: a hub's tokens do
// not expire, so the token of the last run serves the next one, and a
// refused token is renewed by the client (hub.WithIdentity) and written
// back. It is a bearer credential for the hub under this API key: 0600, in
// the identity's 0700 state directory, and never logged.

// cachedToken is the token file: the token with the hub address and API
// key it was issued under, so that a send to another hub or under another
// key does not present it.
type cachedToken struct {
	Hub   string `json:"hub"`
	Key   string `json:"key"`
	Token string `json:"token"`
}

// maxTokenFile bounds what is read back: a token is a few hundred bytes.
const maxTokenFile = 64 << 10

// tokenCache is the token file of one identity, for one hub and API key.
type tokenCache struct {
	path     string
	hub, key string
}

// tokenCachePath is $XDG_STATE_HOME/hubfs/<self>/token, else
// ~/.local/state/hubfs/<self>/token, beside the identity's outbox queue.
func tokenCachePath(self string) (string, error) {
	state := os.Getenv("XDG_STATE_HOME")
	if state == "" || !filepath.IsAbs(state) {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("token cache: no home directory for the state dir: %w", err)
		}
		state = filepath.Join(home, ".local", "state")
	}
	return filepath.Join(state, "hubfs", self, "token"), nil
}

// load returns the cached token, or "" if there is none for this hub and
// key (or the file is unreadable: the handshake replaces it).
func (tc tokenCache) load() string {
	b, err := os.ReadFile(tc.path)
	if err != nil || len(b) > maxTokenFile {
		return ""
	}
	var ct cachedToken
	if json.Unmarshal(b, &ct) != nil || ct.Hub != tc.hub || ct.Key != tc.key {
		return ""
	}
	return ct.Token
}

// save writes token durably: a temp file, fsynced, renamed over the old
// one, and the directory fsynced, so a crash leaves the old token or the
// new one, never a torn file.
func (tc tokenCache) save(token string) error {
	dir := filepath.Dir(tc.path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	b, err := json.Marshal(cachedToken{Hub: tc.hub, Key: tc.key, Token: token})
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".token-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // after the rename there is nothing to remove
	// CreateTemp makes the file 0600 already; say so for a reader.
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, tc.path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// sendSession is a hub client for one `hubfs send`, authenticated from
// the token cache when it can be.
type sendSession struct {
	cl     *hub.Client
	key    *identity.PrivateKey
	cache  tokenCache
	cached string // the token read from the cache; "" if there was none
}

// connectForSend is connect with the token cache: with a cached token it
// makes no call at all, so the send is the run's one round trip.
func connectForSend(c *cli.Context) (*sendSession, error) {
	key, err := loadIdentity(c)
	if err != nil {
		return nil, err
	}
	path, err := tokenCachePath(key.Public().String())
	if err != nil {
		return nil, err
	}
	s := &sendSession{key: key, cache: tokenCache{path: path, hub: c.String("hub"), key: c.String("key")}}
	if tok := s.cache.load(); tok != "" {
		cl, err := dial(c, hub.WithIdentity(key))
		if err != nil {
			return nil, err
		}
		if cl.SetToken(tok) == nil {
			s.cl, s.cached = cl, tok
			return s, nil
		}
		cl.Close() // not a token: the handshake replaces it
	}
	if s.cl, _, err = connect(c); err != nil {
		return nil, err
	}
	return s, nil
}

// send runs fn, the send itself, and keeps the token the client ended
// with. With a cached token no SetupMailbox ran: if the hub says a mailbox
// is missing (a hub started afresh, whose refused token the client
// renewed), set ours up and try once more; a repeat for the recipient's
// mailbox fails the same way again.
func (s *sendSession) send(c *cli.Context, fn func() (hub.UserMessage, error)) (hub.UserMessage, error) {
	m, err := fn()
	if err != nil && s.cached != "" && errors.Is(err, hub.ErrNoMailbox) {
		if _, serr := s.cl.SetupMailbox(c.Context); serr == nil {
			m, err = fn()
		}
	}
	if err != nil && s.cached != "" && (errors.Is(err, hub.ErrNotFound) || errors.Is(err, hub.ErrUnauthenticated)) {
		// As connect says it: the API key or secret is wrong.
		err = fmt.Errorf("%w (check HUBFS_KEY and the API secret)", err)
	}
	if tok := s.cl.Token(); tok != "" && tok != s.cached {
		if serr := s.cache.save(tok); serr != nil {
			fmt.Fprintf(c.App.ErrWriter, "hubfs: warning: cannot cache the hub token in %s: %v\n", s.cache.path, serr)
		}
	}
	return m, err
}

func (s *sendSession) Close() error { return s.cl.Close() }
