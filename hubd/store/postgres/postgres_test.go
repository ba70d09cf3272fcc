package postgres_test

import (
	"context"
	"testing"

	"github.com/hubfs/hubfs/hubd/store"
	"github.com/hubfs/hubfs/hubd/store/postgres"
	"github.com/hubfs/hubfs/hubd/store/postgres/pgtest"
	"github.com/hubfs/hubfs/hubd/store/storetest"
)

func open(t *testing.T, url string) *postgres.Store {
	t.Helper()
	st, err := postgres.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return st
}

func TestConformance(t *testing.T) {
	storetest.Run(t, storetest.Suite{
		Open:     func(t *testing.T) store.Store { return open(t, pgtest.NewDatabase(t)) },
		OpenFull: func(t *testing.T) store.Store { return open(t, pgtest.NewSmallDatabase(t, "8m")) },
	})
}
