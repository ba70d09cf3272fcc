package hubd

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/hubfs/hubfs/hubd/store"
	"github.com/hubfs/hubfs/hubd/store/postgres"
	"github.com/hubfs/hubfs/hubd/store/sqlite"
)

// The store's contract lives in package store, so that implementations
// can import it without importing the services; these names keep hubd's
// own API as it was.
type (
	Store   = store.Store
	APIKey  = store.APIKey
	Thread  = store.Thread
	Message = store.Message
	Query   = store.Query
	Usage   = store.Usage
	Sent    = store.Sent
	Box     = store.Box
)

const (
	Inbox   = store.Inbox
	Sentbox = store.Sentbox
)

var (
	ErrNotFound  = store.ErrNotFound
	ErrNameTaken = store.ErrNameTaken
	ErrIDTaken   = store.ErrIDTaken
	ErrTooLarge  = store.ErrTooLarge
	ErrNoSpace   = store.ErrNoSpace
	// ErrUnavailable: the store's database cannot be reached for now.
	ErrUnavailable = store.ErrUnavailable
)

// dbFile is the SQLite store's name inside a data directory.
const dbFile = "hub.db"

// ErrStoreNotBuilt: the URL names a kind of store this hubfs does not have
// yet. (Every kind named so far is built; kept for callers that test it.)
var ErrStoreNotBuilt = errors.New("store not built yet")

// DataDirStore is the URL of the store a data directory holds, the
// default: sqlite:DIR/hub.db.
func DataDirStore(dir string) string { return "sqlite:" + filepath.Join(dir, dbFile) }

// OpenStore opens the store at url, creating it if it does not exist:
// sqlite:PATH (sqlite:///abs/path too), the directory made mode 0700 if
// missing; or postgres://USER@HOST:PORT/DB?sslmode=... (postgresql:// too,
// any libpq URL), a database that must exist, whose schema is created or
// migrated. Several hub processes may share one PostgreSQL store.
func OpenStore(ctx context.Context, url string) (Store, error) {
	return openStore(ctx, url, false)
}

// OpenExistingStore is OpenStore for a store that must exist already (key
// listing and revocation): a missing SQLite file is an error wrapping
// os.ErrNotExist, and nothing is created. A PostgreSQL database must exist
// anyway; its schema is migrated as by OpenStore.
func OpenExistingStore(ctx context.Context, url string) (Store, error) {
	return openStore(ctx, url, true)
}

func openStore(ctx context.Context, url string, mustExist bool) (Store, error) {
	scheme, rest, ok := strings.Cut(url, ":")
	if !ok {
		return nil, fmt.Errorf("store %q: not a URL: want sqlite:PATH or postgres://...", url)
	}
	switch strings.ToLower(scheme) {
	case "sqlite":
		path := strings.TrimPrefix(rest, "//")
		if path == "" {
			return nil, fmt.Errorf("store %q: no file path after sqlite:", url)
		}
		if mustExist {
			return sqlite.OpenExisting(ctx, path)
		}
		if err := prepareDataDir(filepath.Dir(path)); err != nil {
			return nil, err
		}
		return sqlite.Open(ctx, path)
	case "postgres", "postgresql":
		// The URL is not echoed in errors: it may hold a password.
		return postgres.Open(ctx, "postgres:"+rest) // pgx takes the scheme in lower case only
	default:
		return nil, fmt.Errorf("store URL scheme %q: unknown (want sqlite:PATH or postgres://...)", scheme)
	}
}
