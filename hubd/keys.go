package hubd

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/multiformats/go-multibase"

	"github.com/hubfs/hubfs/identity"
)

// APIKey is a user-group key: apps send Key and an HMAC made with Secret.
type APIKey struct {
	Key, Secret string
	CreatedAt   time.Time
	Revoked     bool
}

// Sizes of the random parts, as the Textile hub makes them (protocol.md
// §3.1): a 27-character key and a 40-character secret.
const (
	keyBytes    = 16
	secretBytes = 24
)

// hostKeyFile holds the ed25519 key that signs tokens.
const hostKeyFile = "host.key"

// DefaultDataDir is $XDG_DATA_HOME/hubfs/hub, else ~/.local/share/hubfs/hub.
// A relative XDG_DATA_HOME is ignored, as the XDG spec requires.
func DefaultDataDir() (string, error) {
	if dir := os.Getenv("XDG_DATA_HOME"); dir != "" && filepath.IsAbs(dir) {
		return filepath.Join(dir, "hubfs", "hub"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("find the data directory: %w", err)
	}
	return filepath.Join(home, ".local", "share", "hubfs", "hub"), nil
}

// prepareDataDir creates dir (mode 0700: it holds API secrets and the host
// key) and checks that it is a usable directory, so a mistake is reported
// as one clear line instead of a SQLite error.
func prepareDataDir(dir string) error {
	if dir == "" {
		return errors.New("no data directory given")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("data directory %s: %w", dir, unwrapPath(err))
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("data directory %s: %w", dir, unwrapPath(err))
	}
	if !fi.IsDir() {
		return fmt.Errorf("data directory %s: not a directory", dir)
	}
	f, err := os.CreateTemp(dir, ".probe-*")
	if err != nil {
		return fmt.Errorf("data directory %s is not writable: %w", dir, unwrapPath(err))
	}
	f.Close()
	os.Remove(f.Name())
	return nil
}

// unwrapPath drops the *PathError wrapper whose path the caller already
// names, keeping the cause (permission denied, not a directory...).
func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// openDataDir prepares dir and opens its store.
func openDataDir(ctx context.Context, dir string) (*sqliteStore, error) {
	if err := prepareDataDir(dir); err != nil {
		return nil, err
	}
	return openSQLite(ctx, dir)
}

// openExistingDataDir opens the store of a data directory that must exist
// already: listing or revoking keys in a mistyped directory should say so,
// not create an empty hub there.
func openExistingDataDir(ctx context.Context, dir string) (*sqliteStore, error) {
	if dir == "" {
		return nil, errors.New("no data directory given")
	}
	if _, err := os.Stat(filepath.Join(dir, dbFile)); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("no hub data in %s (check --data; `hubfs keys create --data %s` starts one): %w", dir, dir, os.ErrNotExist)
		}
		return nil, fmt.Errorf("data directory %s: %w", dir, unwrapPath(err))
	}
	return openDataDir(ctx, dir)
}

// CreateKey makes a new API key and secret in the store of dataDir, for a
// process that runs no server on it (`hubfs keys`): it opens the store
// once and closes it. It works whether or not a server in another process
// serves the directory: the store is SQLite in WAL mode and the server
// reads keys per request. A process that runs the server uses
// (*Server).CreateKey instead, since the store must be opened once per
// process.
func CreateKey(dataDir string) (APIKey, error) {
	ctx := context.Background()
	s, err := openDataDir(ctx, dataDir)
	if err != nil {
		return APIKey{}, err
	}
	defer s.Close()
	return createKey(ctx, s)
}

func createKey(ctx context.Context, s Store) (APIKey, error) {
	k, err := newAPIKey()
	if err != nil {
		return APIKey{}, err
	}
	if err := s.CreateKey(ctx, k); err != nil {
		return APIKey{}, err
	}
	return k, nil
}

// CreateKey makes a new API key in the store the server has open.
func (s *Server) CreateKey(ctx context.Context) (APIKey, error) {
	return createKey(ctx, s.store)
}

// ListKeys returns every key of the server's store, revoked ones included,
// oldest first.
func (s *Server) ListKeys(ctx context.Context) ([]APIKey, error) {
	return s.store.ListKeys(ctx)
}

// RevokeKey marks key revoked in the server's store; the error wraps
// ErrNotFound if the key does not exist.
func (s *Server) RevokeKey(ctx context.Context, key string) error {
	err := s.store.RevokeKey(ctx, key)
	s.keys.forget(key)
	if errors.Is(err, ErrNotFound) {
		return fmt.Errorf("no API key %q: %w", key, ErrNotFound)
	}
	return err
}

func newAPIKey() (APIKey, error) {
	kb := make([]byte, keyBytes)
	sb := make([]byte, secretBytes)
	if _, err := rand.Read(kb); err != nil {
		return APIKey{}, err
	}
	if _, err := rand.Read(sb); err != nil {
		return APIKey{}, err
	}
	key, err := multibase.Encode(multibase.Base32, kb)
	if err != nil {
		return APIKey{}, err
	}
	secret, err := multibase.Encode(multibase.Base32, sb)
	if err != nil {
		return APIKey{}, err
	}
	return APIKey{Key: key, Secret: secret, CreatedAt: time.Now().UTC()}, nil
}

// ListKeys returns every key of dataDir, revoked ones included, oldest
// first, opening the store once (see CreateKey for when not to). A directory without a hub store is an error wrapping
// os.ErrNotExist.
func ListKeys(dataDir string) ([]APIKey, error) {
	ctx := context.Background()
	s, err := openExistingDataDir(ctx, dataDir)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	return s.ListKeys(ctx)
}

// RevokeKey marks key revoked, opening the store once (see CreateKey for
// when not to): from the next request on, calls with it fail
// with NotFound, as for an unknown key. The error wraps ErrNotFound if the
// key does not exist.
func RevokeKey(dataDir, key string) error {
	ctx := context.Background()
	s, err := openExistingDataDir(ctx, dataDir)
	if err != nil {
		return err
	}
	defer s.Close()
	if err := s.RevokeKey(ctx, key); err != nil {
		if errors.Is(err, ErrNotFound) {
			return fmt.Errorf("no API key %q in %s: %w", key, dataDir, ErrNotFound)
		}
		return err
	}
	return nil
}

// loadHostKey reads the token-signing key of dataDir, creating it (mode
// 0600) on first start. Losing it invalidates every token issued, which
// clients recover from by asking for a new one.
func loadHostKey(dataDir string) (*identity.PrivateKey, error) {
	path := filepath.Join(dataDir, hostKeyFile)
	k, err := identity.LoadKeyFile(path)
	if err == nil {
		return k, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("host key: %w", err)
	}
	k, err = identity.NewPrivateKey()
	if err != nil {
		return nil, fmt.Errorf("host key: %w", err)
	}
	if err := identity.SaveKeyFile(path, k, false); err != nil {
		if errors.Is(err, os.ErrExist) {
			// Another process on the same directory won the race: use its key.
			if k, err = identity.LoadKeyFile(path); err == nil {
				return k, nil
			}
		}
		return nil, fmt.Errorf("host key: %w", err)
	}
	return k, nil
}
