package sqlite

import (
	"context"
	"fmt"
)

// Ping reads the schema version, which needs the database file, not only a
// pooled connection: the hub's health check and its store-down gate use it.
// In WAL mode readers never wait for a writer, so a long write does not
// make a healthy store look down.
func (s *Store) Ping(ctx context.Context) error {
	var v int
	if err := s.db.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&v); err != nil {
		return fmt.Errorf("ping store: %w", err)
	}
	return nil
}

// PoolStats is database/sql's view of the connection pool, for the hub's
// metrics. Counts and waits are totals since the store was opened.
func (s *Store) PoolStats() map[string]float64 {
	st := s.db.Stats()
	return map[string]float64{
		"max_open_connections": float64(st.MaxOpenConnections),
		"open_connections":     float64(st.OpenConnections),
		"in_use_connections":   float64(st.InUse),
		"idle_connections":     float64(st.Idle),
		"wait_count":           float64(st.WaitCount),
		"wait_seconds":         st.WaitDuration.Seconds(),
	}
}
