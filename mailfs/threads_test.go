package mailfs

import (
	"context"
	"errors"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/hubfs/hubfs/hub"
	"github.com/hubfs/hubfs/hubd/hubdtest"
	"github.com/hubfs/hubfs/identity"
	"github.com/hubfs/hubfs/mailbox/hubmail"
)

// slowThreads is the real client behind a hub that takes delay to answer
// thread calls, as one far away or overloaded would.
type slowThreads struct {
	*hub.Client
	delay time.Duration
}

func (s slowThreads) wait(ctx context.Context) error {
	select {
	case <-time.After(s.delay):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s slowThreads) ListThreads(ctx context.Context) ([]hub.GetThreadResponse, error) {
	if err := s.wait(ctx); err != nil {
		return nil, err
	}
	return s.Client.ListThreads(ctx)
}

func (s slowThreads) NewDB(ctx context.Context, name string) (identity.ThreadID, error) {
	if err := s.wait(ctx); err != nil {
		return identity.ThreadID{}, err
	}
	return s.Client.NewDB(ctx, name)
}

// TestMkdirKeepsToTheOpTimeout: mkdir asks the hub twice (does the thread
// exist, then make it); --op-timeout bounds the request, not each call, so
// two calls of 60% of it each fail the request instead of stretching it.
func TestMkdirKeepsToTheOpTimeout(t *testing.T) {
	const opTimeout = time.Second
	delay := opTimeout * 6 / 10
	cfg := withCache(0, 0, 0)
	cfg.OpTimeout = opTimeout
	m := mountOver(t, hubdtest.Start(t), cfg, func(cl *hub.Client) hubmail.Client {
		return slowThreads{Client: cl, delay: delay}
	})
	// Each call alone is within the timeout: only a deadline shared by
	// both makes the request fail. (The kernel's LOOKUP of the new name
	// before it is a request of its own, with its own deadline.)
	if err := os.Mkdir(m.path("threads", "slow"), 0o700); !errors.Is(err, syscall.ETIMEDOUT) {
		t.Errorf("mkdir over a hub that takes %v a call, op timeout %v: %v; want ETIMEDOUT", delay, opTimeout, err)
	}
}
