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
