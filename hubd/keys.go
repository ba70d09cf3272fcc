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

	"github.com/hubfs/hubfs/hubd/store"
	"github.com/hubfs/hubfs/identity"
)

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

// CreateKey makes a new API key and secret in the store of dataDir, for a
// process that runs no server on it (`hubfs keys`): it opens the store
// once and closes it. It works whether or not a server in another process
// serves the directory: the store is SQLite in WAL mode and the server
// reads keys per request. A process that runs the server uses
// (*Server).CreateKey instead, since the store must be opened once per
// process.
func CreateKey(dataDir string) (APIKey, error) {
	ctx := context.Background()
	if dataDir == "" {
		return APIKey{}, errors.New("no data directory given")
	}
	st, err := OpenStore(ctx, DataDirStore(dataDir))
	if err != nil {
		return APIKey{}, err
	}
	defer st.Close()
	return NewKey(ctx, st)
}

// NewKey makes a new API key and secret and stores it in st.
func NewKey(ctx context.Context, st Store) (APIKey, error) {
	k, err := newAPIKey()
	if err != nil {
		return APIKey{}, err
	}
	if err := st.CreateKey(ctx, k); err != nil {
		return APIKey{}, err
	}
	return k, nil
}

// NewInsecureKey makes a new non-signing API key and stores it in st: a
// key without a secret, which apps use alone (Textile's development
// mode: `{key}` without `secret`). Anyone who learns it can use it until
// it is revoked, so a hub accepts it only while it listens on loopback or
// runs with AllowInsecure (protocol.md §3.1).
func NewInsecureKey(ctx context.Context, st Store) (APIKey, error) {
	k, err := newAPIKey()
	if err != nil {
		return APIKey{}, err
	}
	k.Secret = ""
	if err := st.CreateKey(ctx, k); err != nil {
		return APIKey{}, err
	}
	return k, nil
}

// IsInsecure reports whether k is a non-signing key. The store keeps no
// flag for it: a key without a secret cannot sign, which is what
// non-signing means, and so the stores' schema needs no change.
func IsInsecure(k APIKey) bool { return k.Secret == "" }

// CreateInsecureKey makes a new non-signing API key in the store the
// server has open (see NewInsecureKey).
func (s *Server) CreateInsecureKey(ctx context.Context) (APIKey, error) {
	return NewInsecureKey(ctx, s.store)
}

// InsecureKeysAccepted reports whether this hub takes non-signing keys:
// it listens on loopback, or was configured with AllowInsecure.
func (s *Server) InsecureKeysAccepted() bool { return s.insecureKeysOK }

// CreateKey makes a new API key in the store the server has open.
func (s *Server) CreateKey(ctx context.Context) (APIKey, error) {
	return NewKey(ctx, s.store)
}

// ListKeys returns every key of the server's store, revoked ones included,
// oldest first.
func (s *Server) ListKeys(ctx context.Context) ([]APIKey, error) {
	return s.store.ListKeys(ctx)
}

// RevokeKey marks key revoked in the server's store; the error wraps
// ErrNotFound if the key does not exist.
func (s *Server) RevokeKey(ctx context.Context, key string) error {
	err := RevokeKeyIn(ctx, s.store, key)
	s.keys.forget(key)
	return err
}

// RevokeKeyIn marks key revoked in st: from the next request on (or within
// the key cache's lifetime in a server of another process), calls with it
// fail as for an unknown key. The error wraps ErrNotFound if the key does
// not exist.
func RevokeKeyIn(ctx context.Context, st Store, key string) error {
	err := st.RevokeKey(ctx, key)
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

// openExistingDataDir opens the store of a data directory that must hold
// one already.
func openExistingDataDir(ctx context.Context, dir string) (Store, error) {
	if dir == "" {
		return nil, errors.New("no data directory given")
	}
	return OpenExistingStore(ctx, DataDirStore(dir))
}

// ListKeys returns every key of dataDir, revoked ones included, oldest
// first, opening the store once (see CreateKey for when not to). A
// directory without a hub store is an error wrapping os.ErrNotExist.
func ListKeys(dataDir string) ([]APIKey, error) {
	ctx := context.Background()
	st, err := openExistingDataDir(ctx, dataDir)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	return st.ListKeys(ctx)
}

// RevokeKey marks key revoked in dataDir's store, opening it once (see
// CreateKey for when not to). The error wraps ErrNotFound if the key does
// not exist.
func RevokeKey(dataDir, key string) error {
	ctx := context.Background()
	st, err := openExistingDataDir(ctx, dataDir)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.RevokeKey(ctx, key); err != nil {
		if errors.Is(err, ErrNotFound) {
			return fmt.Errorf("no API key %q in %s: %w", key, dataDir, ErrNotFound)
		}
		return err
	}
	return nil
}

// hostKeyOf is the key that signs the hub's tokens: kept by the store if
// it can (every process on a shared database must sign and verify the
// same tokens), else in a file of dataDir.
func hostKeyOf(ctx context.Context, st Store, dataDir string) (*identity.PrivateKey, error) {
	hs, ok := st.(store.HostKeyStore)
	if !ok {
		if err := prepareDataDir(dataDir); err != nil {
			return nil, err
		}
		return loadHostKey(dataDir)
	}
	fresh, err := identity.NewPrivateKey()
	if err != nil {
		return nil, fmt.Errorf("host key: %w", err)
	}
	s, err := hs.HostKey(ctx, fresh.String())
	if err != nil {
		return nil, err
	}
	k, err := identity.ParsePrivateKey(s)
	if err != nil {
		return nil, fmt.Errorf("host key in the store: %w", err)
	}
	return k, nil
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
