package postgres

import (
	"context"
	"fmt"
)

// Ping runs a query on a pooled connection, so the hub's health check and
// its store-down gate see a database that stopped answering (not only one
// that refuses connections). An unreachable database is store.ErrUnavailable.
func (s *Store) Ping(ctx context.Context) error {
	var one int
	if err := s.pool.QueryRow(ctx, `SELECT 1`).Scan(&one); err != nil {
		return fmt.Errorf("ping store: %w", classify(err))
	}
	return nil
}

// PoolStats is pgxpool's view of the connection pool, for the hub's
// metrics. Counts and durations are totals since the store was opened.
func (s *Store) PoolStats() map[string]float64 {
	st := s.pool.Stat()
	return map[string]float64{
		"max_open_connections": float64(st.MaxConns()),
		"open_connections":     float64(st.TotalConns()),
		"in_use_connections":   float64(st.AcquiredConns()),
		"idle_connections":     float64(st.IdleConns()),
		"wait_count":           float64(st.EmptyAcquireCount()),
		"wait_seconds":         st.AcquireDuration().Seconds(),
	}
}
