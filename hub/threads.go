package hub

import (
	"context"
	"fmt"

	"github.com/hubfs/hubfs/identity"
	hubpb "github.com/hubfs/hubfs/wire/pb"
)

// ListThreads returns the caller's threads, the mailbox among them.
func (c *Client) ListThreads(ctx context.Context) ([]GetThreadResponse, error) {
	const op = "list threads"
	var res *hubpb.ListThreadsResponse
	err := c.call(ctx, op, plainCall, true, nil, func(ctx context.Context) (err error) {
		res, err = c.users.ListThreads(ctx, &hubpb.ListThreadsRequest{})
		return err
	})
	if err != nil {
		return nil, err
	}
	out := make([]GetThreadResponse, 0, len(res.GetList()))
	for _, t := range res.GetList() {
		r, err := threadFromPB(op, t)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// GetThread returns the caller's thread called name, or ErrNotFound.
func (c *Client) GetThread(ctx context.Context, name string) (GetThreadResponse, error) {
	const op = "get thread"
	if name == "" {
		return GetThreadResponse{}, invalidf("%s: empty name", op)
	}
	var res *hubpb.GetThreadResponse
	err := c.call(ctx, op, plainCall, true, nil, func(ctx context.Context) (err error) {
		res, err = c.users.GetThread(ctx, &hubpb.GetThreadRequest{Name: name})
		return err
	})
	if err != nil {
		return GetThreadResponse{}, err
	}
	return threadFromPB(op, res)
}

// NewDB creates a thread DB called name, owned by the caller, and returns
// its id. The name travels both in the request and in the
// x-textile-thread-name header, which is where a Textile hub reads it to
// make the DB findable by GetThread. It is not retried: a repeat after a lost
// reply would fail with ErrExists or make a second DB.
func (c *Client) NewDB(ctx context.Context, name string) (identity.ThreadID, error) {
	const op = "new db"
	if name == "" {
		return identity.ThreadID{}, invalidf("%s: empty name", op)
	}
	id := identity.NewThreadID()
	err := c.call(ctx, op, plainCall, false, []string{mdThreadName, name}, func(ctx context.Context) error {
		_, err := c.threads.NewDB(ctx, &hubpb.NewDBRequest{DbID: id.Bytes(), Name: name})
		return err
	})
	if err != nil {
		return identity.ThreadID{}, err
	}
	return id, nil
}

// DeleteDB deletes the caller's thread DB id. It is not retried: a repeat
// after a lost reply would report ErrNotFound for a delete that worked.
func (c *Client) DeleteDB(ctx context.Context, id identity.ThreadID) error {
	const op = "delete db"
	if id.IsZero() {
		return invalidf("%s: empty thread id", op)
	}
	// x-textile-thread lets a Textile hub check ownership before deleting.
	return c.call(ctx, op, plainCall, false, []string{mdThread, id.String()}, func(ctx context.Context) error {
		_, err := c.threads.DeleteDB(ctx, &hubpb.DeleteDBRequest{DbID: id.Bytes()})
		return err
	})
}

// GetUsage reports billing usage for the caller, or for a dependent user
// when opts names one. A hub without billing returns an error
// (errors.ErrUnsupported when it says so with Unimplemented).
func (c *Client) GetUsage(ctx context.Context, opts UsageOptions) (GetUsageResponse, error) {
	const op = "get usage"
	key := opts.DependentUserKey
	if key != "" {
		pk, err := identity.ParsePublicKey(key)
		if err != nil {
			return GetUsageResponse{}, fmt.Errorf("%s: %w: dependent user key: %w", op, ErrInvalid, err)
		}
		key = pk.String()
	}
	var res *hubpb.GetUsageResponse
	err := c.call(ctx, op, plainCall, true, nil, func(ctx context.Context) (err error) {
		res, err = c.users.GetUsage(ctx, &hubpb.GetUsageRequest{Key: key})
		return err
	})
	if err != nil {
		return GetUsageResponse{}, err
	}
	return usageFromPB(res), nil
}

func threadFromPB(op string, t *hubpb.GetThreadResponse) (GetThreadResponse, error) {
	id, err := threadIDFromHub(op, t.GetId())
	if err != nil {
		return GetThreadResponse{}, err
	}
	return GetThreadResponse{ID: id, Name: t.GetName(), IsDB: t.GetIsDb()}, nil
}

func threadIDFromHub(op string, b []byte) (identity.ThreadID, error) {
	id, err := identity.ThreadIDFromBytes(b)
	if err != nil {
		return identity.ThreadID{}, fmt.Errorf("%s: %w: hub returned a malformed thread id: %w", op, ErrInvalid, err)
	}
	return id, nil
}
