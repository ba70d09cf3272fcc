// Package pgtest gives tests a PostgreSQL database of their own on the
// server named by HUBFS_TEST_POSTGRES, so that tests (and test binaries)
// can run in parallel on one server without seeing each other's rows or
// events (NOTIFY channels are per database).
package pgtest

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvURL names the variable holding the URL of a PostgreSQL server the
// tests may create and drop databases on (a superuser's or a CREATEDB
// role's), as pgx's own tests use PGX_TEST_DATABASE.
const EnvURL = "HUBFS_TEST_POSTGRES"

var seq atomic.Int64

// URL is the admin URL from the environment. Without one the test is
// skipped, except under CI=true, where a missing service is a failure.
func URL(t testing.TB) string {
	t.Helper()
	u := os.Getenv(EnvURL)
	if u == "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true but %s is not set: the PostgreSQL tests cannot run", EnvURL)
		}
		t.Skipf("%s is not set: no PostgreSQL server to test against", EnvURL)
	}
	return u
}

// NewDatabase creates an empty database on the server of URL and returns
// its URL; the database is dropped (its connections ended) when the test
// ends.
func NewDatabase(t testing.TB) string {
	t.Helper()
	admin := URL(t)
	name := fmt.Sprintf("hubfs_t_%d_%d_%d", os.Getpid(), time.Now().UnixNano()%1e9, seq.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatalf("connect to %s: %v", EnvURL, err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, admin)
		if err != nil {
			t.Errorf("drop test database: %v", err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop test database: %v", err)
		}
	})
	return WithDatabase(t, admin, name)
}

// WithDatabase is u with its database name replaced by name.
func WithDatabase(t testing.TB, u, name string) string {
	t.Helper()
	p, err := url.Parse(u)
	if err != nil || (p.Scheme != "postgres" && p.Scheme != "postgresql") {
		t.Fatalf("%s must be a postgres:// URL", EnvURL)
	}
	p.Path = "/" + strings.TrimPrefix(name, "/")
	return p.String()
}

// NewSmallDatabase is NewDatabase whose tables live on a tmpfs of size
// (mount's size=, e.g. "8m") through a tablespace, so that filling it makes
// PostgreSQL report disk_full. It needs the server on this machine, run by
// the postgres user, a superuser role, and root to mount: the test is
// skipped without them, except under CI=true, which starts such a server.
func NewSmallDatabase(t testing.TB, size string) string {
	t.Helper()
	u := NewDatabase(t)
	skip := t.Skipf
	if os.Getenv("CI") == "true" {
		skip = t.Fatalf
	}
	// The server's user must reach the directory: not under t.TempDir (0700).
	dir, err := os.MkdirTemp("", "hubfs-pg-small-")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o755)
	t.Cleanup(func() { os.Remove(dir) })
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size+",mode=0700", "tmpfs", dir).CombinedOutput(); err != nil {
		skip("cannot mount a tmpfs (not root?): %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	if out, err := exec.Command("chown", "postgres:postgres", dir).CombinedOutput(); err != nil {
		skip("cannot give the tmpfs to the postgres user: %v: %s", err, out)
	}
	p, _ := url.Parse(u)
	space := "small_" + strings.TrimPrefix(p.Path, "/")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, URL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	// Tablespaces take no bound parameters; the names and path are ours.
	if _, err := conn.Exec(ctx, fmt.Sprintf(`CREATE TABLESPACE %s LOCATION '%s'`, space, dir)); err != nil {
		skip("cannot make a tablespace on the tmpfs (a server on another machine?): %v", err)
	}
	// Registered after the database's own cleanup, so it runs before it;
	// the tablespace is dropped once the database is.
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, URL(t))
		if err != nil {
			t.Errorf("drop tablespace: %v", err)
			return
		}
		defer conn.Close(ctx)
		conn.Exec(ctx, "DROP DATABASE IF EXISTS "+strings.TrimPrefix(p.Path, "/")+" WITH (FORCE)")
		if _, err := conn.Exec(ctx, "DROP TABLESPACE IF EXISTS "+space); err != nil {
			t.Errorf("drop tablespace: %v", err)
		}
	})
	if _, err := conn.Exec(ctx, fmt.Sprintf(`ALTER DATABASE %s SET default_tablespace = %s`, strings.TrimPrefix(p.Path, "/"), space)); err != nil {
		t.Fatal(err)
	}
	return u
}
