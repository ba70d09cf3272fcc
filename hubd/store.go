package hubd

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/hubfs/hubfs/hubd/store"
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
)

// dbFile is the SQLite store's name inside a data directory.
const dbFile = "hub.db"

// ErrStoreNotBuilt: the URL names a kind of store this hubfs does not have
// yet.
var ErrStoreNotBuilt = errors.New("store not built yet")

// DataDirStore is the URL of the store a data directory holds, the
// default: sqlite:DIR/hub.db.
func DataDirStore(dir string) string { return "sqlite:" + filepath.Join(dir, dbFile) }

// OpenStore opens the store at url, creating it if it does not exist:
// sqlite:PATH (sqlite:///abs/path too), the directory made mode 0700 if
// missing. postgres:// and postgresql:// URLs are refused with
// ErrStoreNotBuilt for now.
func OpenStore(ctx context.Context, url string) (Store, error) {
	return openStore(ctx, url, false)
}

// OpenExistingStore is OpenStore for a store that must exist already (key
// listing and revocation): a missing one is an error wrapping
// os.ErrNotExist, and nothing is created.
func OpenExistingStore(ctx context.Context, url string) (Store, error) {
	return openStore(ctx, url, true)
}

func openStore(ctx context.Context, url string, mustExist bool) (Store, error) {
	scheme, rest, ok := strings.Cut(url, ":")
	if !ok {
		return nil, fmt.Errorf("store %q: not a URL: want sqlite:PATH", url)
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
		// Not echoed: the URL may hold a password.
		return nil, fmt.Errorf("a PostgreSQL store: %w (it is the next issue's work); use sqlite:PATH", ErrStoreNotBuilt)
	default:
		return nil, fmt.Errorf("store URL scheme %q: unknown (want sqlite:PATH)", scheme)
	}
}
