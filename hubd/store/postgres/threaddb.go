package postgres

import (
	"context"
	"errors"

	"github.com/hubfs/hubfs/hubd/store"
)

// errNotYet: the PostgreSQL side of thread databases is being built.
var errNotYet = errors.New("thread databases are not in the PostgreSQL store yet")

func (s *Store) CreateCollection(ctx context.Context, c store.Collection) error { return errNotYet }
func (s *Store) UpdateCollection(ctx context.Context, c store.Collection) error { return errNotYet }
func (s *Store) DeleteCollection(ctx context.Context, thread []byte, name string) error {
	return errNotYet
}
func (s *Store) GetCollection(ctx context.Context, thread []byte, name string) (store.Collection, error) {
	return store.Collection{}, errNotYet
}
func (s *Store) ListCollections(ctx context.Context, thread []byte) ([]store.Collection, error) {
	return nil, errNotYet
}
func (s *Store) Instances(ctx context.Context, thread []byte, collection string) ([]store.Instance, error) {
	return nil, errNotYet
}
func (s *Store) GetInstance(ctx context.Context, thread []byte, collection, id string) (store.Instance, error) {
	return store.Instance{}, errNotYet
}
func (s *Store) WriteInstances(ctx context.Context, thread []byte, collection string, ops []store.InstanceOp) error {
	return errNotYet
}
func (s *Store) AddInstanceReads(ctx context.Context, owner string, n int64) error { return errNotYet }
