package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// migrations are the schema, one step per version, applied in order, each
// in the transaction that records it in schema_migrations. Append only: an
// existing step may already have run on someone's data.
//
// Ids and keys compare as bytes (COLLATE "C"), as in SQLite: ULIDs sort by
// time only so, and the database's own collation may be a locale's.
var migrations = []string{
	// 1: everything the hub keeps.
	`CREATE TABLE api_keys (
		key        text COLLATE "C" PRIMARY KEY,
		secret     text NOT NULL,
		created_at bigint NOT NULL,
		revoked    boolean NOT NULL DEFAULT false
	);
	CREATE TABLE threads (
		id         bytea PRIMARY KEY,
		owner      text COLLATE "C" NOT NULL,
		name       text COLLATE "C" NOT NULL,
		is_db      boolean NOT NULL,
		created_at bigint NOT NULL
	);
	CREATE UNIQUE INDEX threads_owner_name ON threads (owner, name) WHERE name <> '';
	CREATE INDEX threads_owner ON threads (owner, created_at);
	CREATE TABLE messages (
		owner      text COLLATE "C" NOT NULL,
		box        smallint NOT NULL,
		id         text COLLATE "C" NOT NULL,
		sender     text NOT NULL,
		recipient  text NOT NULL,
		body       bytea NOT NULL,
		signature  bytea NOT NULL,
		created_at bigint NOT NULL,
		read_at    bigint NOT NULL DEFAULT 0,
		PRIMARY KEY (owner, box, id)
	);
	-- Bodies and signatures are ciphertext: out of line, never compressed
	-- (pglz would try on every large one and fail).
	ALTER TABLE messages ALTER COLUMN body SET STORAGE EXTERNAL;
	ALTER TABLE messages ALTER COLUMN signature SET STORAGE EXTERNAL;
	CREATE TABLE users (
		owner      text COLLATE "C" PRIMARY KEY,
		sent       bigint NOT NULL DEFAULT 0,
		first_seen bigint NOT NULL
	);
	-- (sender, key) -> the message stored under it, written in the send's
	-- transaction.
	CREATE TABLE send_keys (
		sender     text COLLATE "C" NOT NULL,
		key        text COLLATE "C" NOT NULL,
		message_id text NOT NULL,
		created_at bigint NOT NULL,
		PRIMARY KEY (sender, key)
	);
	CREATE INDEX send_keys_created ON send_keys (created_at);
	-- The newest id minted into each user's mailbox (either box): a send
	-- locks the marks of its sender and recipient and mints after both, so
	-- ids increase in commit order per mailbox while sends between other
	-- users run alongside.
	CREATE TABLE id_marks (
		owner   text COLLATE "C" PRIMARY KEY,
		last_id text COLLATE "C" NOT NULL
	);
	-- The key that signs the hub's tokens, one for every process.
	CREATE TABLE host_key (
		one int PRIMARY KEY CHECK (one = 1),
		key text NOT NULL
	);`,
	// 2: thread databases (threaddb.go): collections, their instances and
	// the values of their unique indexes, dropped with their thread by
	// cascade; per-user instance counters.
	`CREATE TABLE collections (
		thread          bytea NOT NULL REFERENCES threads (id) ON DELETE CASCADE,
		name            text COLLATE "C" NOT NULL,
		schema          bytea NOT NULL,
		indexes         text NOT NULL,
		write_validator text NOT NULL,
		read_filter     text NOT NULL,
		created_at      bigint NOT NULL,
		PRIMARY KEY (thread, name)
	);
	CREATE TABLE instances (
		thread     bytea NOT NULL,
		collection text COLLATE "C" NOT NULL,
		id         text COLLATE "C" NOT NULL,
		json       bytea NOT NULL,
		PRIMARY KEY (thread, collection, id),
		FOREIGN KEY (thread, collection) REFERENCES collections (thread, name) ON DELETE CASCADE
	);
	-- One row per value of a unique index: the primary key is the
	-- uniqueness, which holds between concurrent transactions of every
	-- node (an insert waits for an uncommitted one of the same value).
	-- value is the digest of the canonical JSON (store.IndexValue.Key).
	CREATE TABLE unique_values (
		thread     bytea NOT NULL,
		collection text COLLATE "C" NOT NULL,
		path       text COLLATE "C" NOT NULL,
		value      bytea NOT NULL,
		id         text COLLATE "C" NOT NULL,
		PRIMARY KEY (thread, collection, path, value),
		FOREIGN KEY (thread, collection, id) REFERENCES instances (thread, collection, id) ON DELETE CASCADE
	);
	CREATE INDEX unique_values_instance ON unique_values (thread, collection, id);
	ALTER TABLE users
		ADD COLUMN instance_reads bigint NOT NULL DEFAULT 0,
		ADD COLUMN instance_writes bigint NOT NULL DEFAULT 0;`,
}

// migrationLock is the advisory lock key under which a process migrates:
// two processes starting on a new database must not both create it. The
// value is arbitrary, the same in every hubfs ("hubfs" in ASCII).
const migrationLock = 0x6875626673

// migrate brings the schema up to date.
func migrate(ctx context.Context, pool *pgxpool.Pool) error {
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		// Transaction-scoped: released by the commit, or by the
		// connection's end if this process dies.
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(migrationLock)); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version    int PRIMARY KEY,
			applied_at timestamptz NOT NULL DEFAULT now()
		)`); err != nil {
			return err
		}
		var version int
		if err := tx.QueryRow(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&version); err != nil {
			return err
		}
		if version > len(migrations) {
			return fmt.Errorf("schema version %d is newer than this hubfs knows (%d): upgrade hubfs", version, len(migrations))
		}
		for v := version; v < len(migrations); v++ {
			if _, err := tx.Exec(ctx, migrations[v]); err != nil {
				return fmt.Errorf("migrate to schema %d: %w", v+1, err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version) VALUES ($1)`, v+1); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("open store: %w", classify(err))
	}
	return nil
}
