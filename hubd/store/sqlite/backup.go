package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
)

// Backups and restores run in a process of their own (`hubfs backup`,
// `hubfs restore`), never inside a hub: they open the store's file, and a
// close of that second open in the hub's process would drop the hub's
// POSIX locks on it. From another process the open is an ordinary SQLite
// reader, which a live hub serves alongside its writers (WAL mode).

// ErrNotAStore: the file is not a hubfs store (not SQLite, or without the
// hub's schema).
var ErrNotAStore = errors.New("not a hubfs store")

// ErrNotEmpty: a restore's target already holds data.
var ErrNotEmpty = errors.New("target store exists and is not empty")

// PathOf returns the file of a sqlite: store URL (sqlite:PATH, and
// sqlite://PATH, so sqlite:///abs/path too), and false for another
// scheme.
func PathOf(storeURL string) (path string, ok bool, err error) {
	scheme, rest, found := strings.Cut(storeURL, ":")
	if !found || !strings.EqualFold(scheme, "sqlite") {
		return "", false, nil
	}
	path = strings.TrimPrefix(rest, "//")
	if path == "" {
		return "", true, fmt.Errorf("store %q: no file path after sqlite:", storeURL)
	}
	return path, true, nil
}

// BackupOptions tune Backup.
type BackupOptions struct {
	// Overwrite replaces an existing destination file; without it Backup
	// fails with an error wrapping os.ErrExist.
	Overwrite bool
}

// Backup writes a consistent snapshot of the store in the file src to the
// file dst, while hubs go on reading and writing src: VACUUM INTO copies
// the database as one read transaction sees it, so the snapshot holds
// every transaction committed before it began and none of those after.
// The snapshot is written to a temporary name beside dst (mode 0600: it
// holds the API secrets), checked, fsynced and renamed into place, so dst
// is either absent or complete. src is opened read-only and is never
// migrated: a backup of a store that a newer hubfs wrote is a copy of it
// as it is.
func Backup(ctx context.Context, src, dst string, opts BackupOptions) error {
	if _, err := os.Lstat(dst); err == nil && !opts.Overwrite {
		return fmt.Errorf("backup: %s: %w (pass --force to replace it)", dst, os.ErrExist)
	}
	// Renaming a snapshot over the live store (or its log) would leave its
	// hub writing to a file nobody can open any more.
	fi, derr := os.Stat(dst)
	si, serr := os.Stat(src)
	if derr == nil && serr == nil && os.SameFile(fi, si) {
		return fmt.Errorf("backup: %s is the store itself", dst)
	}
	if d := abs(dst); d == abs(src)+"-wal" || d == abs(src)+"-shm" {
		return fmt.Errorf("backup: %s is a file of the store itself", dst)
	}
	db, err := openReadOnly(src)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	defer db.Close()
	version, err := checkStore(ctx, db, src)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}

	tmp, err := reserveTemp(dst)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	defer os.Remove(tmp) // a no-op once renamed
	// VACUUM INTO wants an absent or empty file: reserveTemp made an empty
	// one, mode 0600, which SQLite writes into and keeps the mode of.
	if _, err := db.ExecContext(ctx, `VACUUM INTO ?`, tmp); err != nil {
		return fmt.Errorf("backup: snapshot %s: %w", src, noSpace(err))
	}
	if err := db.Close(); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if err := checkSnapshot(ctx, tmp, version); err != nil {
		return fmt.Errorf("backup: the snapshot: %w", err)
	}
	if err := syncFile(tmp); err != nil {
		return fmt.Errorf("backup: %w", noSpace(err))
	}
	if err := place(tmp, dst, opts.Overwrite); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	return nil
}

// Restore makes the file dst a store holding the backup in the file src:
// it checks that src is a hubfs store, copies it to a temporary name beside
// dst, migrates the copy if it is older than this hubfs's schema (src is
// left as it is), and renames the copy into place. dst must be absent or an
// empty file: a restore never replaces a store that holds data (that would
// be ErrNotEmpty), and so never a store a hub has open.
func Restore(ctx context.Context, src, dst string) error {
	if err := checkEmptyTarget(dst); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	// A file copy of a store with a write-ahead log would miss what the
	// log holds: that is a live store (or one not closed cleanly), to be
	// backed up first, not restored.
	if fi, err := os.Stat(src + "-wal"); err == nil && fi.Size() > 0 {
		return fmt.Errorf("restore: %s has a write-ahead log beside it, so it is in use or was not closed: restore a `hubfs backup` of it", src)
	}
	db, err := openReadOnly(src)
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	_, err = checkStore(ctx, db, src)
	db.Close()
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	tmp, err := reserveTemp(dst)
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	defer os.Remove(tmp)
	if err := copyFile(src, tmp); err != nil {
		return fmt.Errorf("restore: %w", noSpace(err))
	}
	// Opening the copy as a store migrates it; closing the only open
	// checkpoints its WAL into it and deletes the WAL, so the one file
	// holds everything before it is renamed.
	st, err := open(ctx, tmp)
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	if err := st.Close(); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	if fi, err := os.Stat(tmp + "-wal"); err == nil && fi.Size() > 0 {
		return fmt.Errorf("restore: the migrated copy kept a write-ahead log %s", tmp+"-wal")
	}
	os.Remove(tmp + "-wal")
	os.Remove(tmp + "-shm")
	if err := syncFile(tmp); err != nil {
		return fmt.Errorf("restore: %w", noSpace(err))
	}
	// checkEmptyTarget allowed an empty file only: replacing it loses
	// nothing.
	if err := place(tmp, dst, true); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	return nil
}

// openReadOnly opens the store file at path for reading only: it creates
// nothing, migrates nothing and, as a reader of a live hub's file,
// checkpoints nothing.
func openReadOnly(path string) (*sql.DB, error) {
	if _, err := os.Stat(path); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("no hub store at %s: %w", path, os.ErrNotExist)
		}
		return nil, err
	}
	q := url.Values{}
	q.Set("mode", "ro")
	q.Add("_pragma", "busy_timeout(10000)")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, err
	}
	// One connection: VACUUM INTO and the checks run on the same one.
	db.SetMaxOpenConns(1)
	return db, nil
}

// checkStore reports the schema version of the store open in db, or
// ErrNotAStore when db is not one.
func checkStore(ctx context.Context, db *sql.DB, path string) (int, error) {
	var version int
	if err := db.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&version); err != nil {
		return 0, fmt.Errorf("%s: %w: %w", path, ErrNotAStore, err)
	}
	if version < 1 {
		return 0, fmt.Errorf("%s: %w: no schema version", path, ErrNotAStore)
	}
	var tables int
	err := db.QueryRowContext(ctx,
		`SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name IN ('api_keys', 'messages', 'threads', 'users')`).Scan(&tables)
	if err != nil {
		return 0, fmt.Errorf("%s: %w: %w", path, ErrNotAStore, err)
	}
	if tables != 4 {
		return 0, fmt.Errorf("%s: %w: the hub's tables are missing", path, ErrNotAStore)
	}
	if version > len(migrations) {
		return version, fmt.Errorf("%s: schema version %d is newer than this hubfs knows (%d): upgrade hubfs", path, version, len(migrations))
	}
	return version, nil
}

// checkSnapshot opens a finished snapshot and checks it is whole and of
// the version of its source, before it may take the destination's name.
func checkSnapshot(ctx context.Context, path string, version int) error {
	db, err := openReadOnly(path)
	if err != nil {
		return err
	}
	defer db.Close()
	got, err := checkStore(ctx, db, path)
	if err != nil {
		return err
	}
	if got != version {
		return fmt.Errorf("schema version %d, its source's is %d", got, version)
	}
	var verdict string
	if err := db.QueryRowContext(ctx, `PRAGMA quick_check`).Scan(&verdict); err != nil {
		return err
	}
	if verdict != "ok" {
		return fmt.Errorf("damaged: %s", verdict)
	}
	return nil
}

// checkEmptyTarget allows a restore into path only when no store is there:
// no file or an empty one, and no write-ahead log with data of its own.
func checkEmptyTarget(path string) error {
	for _, p := range []string{path, path + "-wal"} {
		fi, err := os.Stat(p)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		if !fi.Mode().IsRegular() {
			return fmt.Errorf("%s: not a regular file", p)
		}
		if fi.Size() > 0 {
			return fmt.Errorf("%s: %w (restore into a fresh store; move it away first)", p, ErrNotEmpty)
		}
	}
	return nil
}

func abs(path string) string {
	if a, err := filepath.Abs(path); err == nil {
		return filepath.Clean(a)
	}
	return filepath.Clean(path)
}

// reserveTemp makes an empty file, mode 0600, beside path, on the same
// filesystem so that the rename into place is atomic.
func reserveTemp(path string) (string, error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return "", err
	}
	name := f.Name()
	if err := f.Close(); err != nil {
		os.Remove(name)
		return "", err
	}
	return name, nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := out.ReadFrom(in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func syncFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// place renames the finished tmp to dst and syncs the directory, so the
// new name survives a power cut. Without overwrite an existing dst is
// kept: the hard link fails if dst appeared meanwhile.
func place(tmp, dst string, overwrite bool) error {
	if overwrite {
		if err := os.Rename(tmp, dst); err != nil {
			return err
		}
	} else {
		err := os.Link(tmp, dst)
		switch {
		case errors.Is(err, os.ErrExist):
			return fmt.Errorf("%s: %w", dst, os.ErrExist)
		case err != nil:
			// A filesystem without hard links: check, then rename.
			if _, serr := os.Lstat(dst); serr == nil {
				return fmt.Errorf("%s: %w", dst, os.ErrExist)
			}
			if err := os.Rename(tmp, dst); err != nil {
				return err
			}
		default:
			os.Remove(tmp)
		}
	}
	dir, err := os.Open(filepath.Dir(dst))
	if err != nil {
		return err
	}
	defer dir.Close()
	return dir.Sync()
}
