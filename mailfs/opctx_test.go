package mailfs

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// waitDone waits for ctx with a generous limit: the test fails rather than
// hangs if it never ends.
func waitDone(t *testing.T, ctx context.Context, what string) {
	t.Helper()
	select {
	case <-ctx.Done():
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: context not done after 10s", what)
	}
}

func TestLazyDeadlineIsWithTimeout(t *testing.T) {
	type key struct{}
	parent := context.WithValue(context.Background(), key{}, "v")

	t.Run("deadline fixed at creation, timer made on first wait", func(t *testing.T) {
		before := time.Now()
		ctx, cancel := withLazyDeadline(parent, time.Hour)
		defer cancel()
		c := ctx.(*lazyDeadline)
		if d, ok := ctx.Deadline(); !ok || d.Before(before.Add(time.Hour)) || d.After(time.Now().Add(time.Hour)) {
			t.Errorf("Deadline = %v, %v", d, ok)
		}
		if ctx.Value(key{}) != "v" {
			t.Errorf("Value lost the parent's value")
		}
		if c.ctx != nil {
			t.Fatal("Deadline or Value made the timer")
		}
		if ctx.Err() != nil || c.ctx == nil {
			t.Errorf("Err = %v, real context %v", ctx.Err(), c.ctx)
		}
	})
	t.Run("expires", func(t *testing.T) {
		ctx, cancel := withLazyDeadline(parent, time.Millisecond)
		defer cancel()
		waitDone(t, ctx, "1ms deadline")
		if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
			t.Errorf("Err = %v, want DeadlineExceeded", ctx.Err())
		}
	})
	t.Run("late first wait keeps the deadline", func(t *testing.T) {
		ctx, cancel := withLazyDeadline(parent, 20*time.Millisecond)
		defer cancel()
		d, _ := ctx.Deadline()
		for time.Now().Before(d) {
			time.Sleep(time.Until(d))
		}
		waitDone(t, ctx, "a deadline already past")
		if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
			t.Errorf("Err = %v, want DeadlineExceeded", ctx.Err())
		}
	})
	t.Run("parent cancel reaches it and its children", func(t *testing.T) {
		p, pcancel := context.WithCancel(parent)
		ctx, cancel := withLazyDeadline(p, time.Hour)
		defer cancel()
		child, ccancel := context.WithCancel(ctx)
		defer ccancel()
		pcancel()
		waitDone(t, child, "child after parent cancel")
		if !errors.Is(ctx.Err(), context.Canceled) {
			t.Errorf("Err = %v, want Canceled", ctx.Err())
		}
	})
	t.Run("cancel before any wait, then waits", func(t *testing.T) {
		ctx, cancel := withLazyDeadline(parent, time.Hour)
		cancel()
		waitDone(t, ctx, "after cancel")
		if !errors.Is(ctx.Err(), context.Canceled) {
			t.Errorf("Err = %v, want Canceled", ctx.Err())
		}
		cancel() // twice is fine, as with WithTimeout
	})
	t.Run("cancel after a wait", func(t *testing.T) {
		ctx, cancel := withLazyDeadline(parent, time.Hour)
		done := ctx.Done()
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("not done after cancel")
		}
	})
	t.Run("concurrent first waits", func(t *testing.T) {
		ctx, cancel := withLazyDeadline(parent, time.Hour)
		var wg sync.WaitGroup
		chans := make([]<-chan struct{}, 8)
		for i := range chans {
			wg.Add(1)
			go func() { defer wg.Done(); chans[i] = ctx.Done() }()
		}
		wg.Wait()
		for _, ch := range chans[1:] {
			if ch != chans[0] {
				t.Fatal("two Done channels: the real context was made twice")
			}
		}
		cancel()
		waitDone(t, ctx, "after cancel")
	})
}
