package mailfs

import (
	"context"
	"sync"
	"time"
)

// lazyDeadline is context.WithDeadline(parent, deadline) whose timer and
// cancellation link to parent are made only when something first waits on
// it (Done, Err, or a child context). The warm path of most syscalls (a
// body in the plaintext cache, an entry in the listing) never does, and
// making a timer plus, for go-fuse's request context, a goroutine watching
// it was most of what hubfs's own code cost per open. The deadline is fixed
// when the syscall starts, as with WithTimeout, so a late first wait does
// not extend it.
type lazyDeadline struct {
	parent   context.Context
	deadline time.Time

	once   sync.Once
	ctx    context.Context // set by once: the real context, or stopped
	cancel context.CancelFunc
}

var _ context.Context = (*lazyDeadline)(nil)

// stoppedCtx stands in for a context never waited on before its cancel
// func ran: done, with the error WithDeadline's context has after cancel.
var stoppedCtx = func() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}()

// withLazyDeadline is context.WithTimeout(parent, d), made lazily.
func withLazyDeadline(parent context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	c := &lazyDeadline{parent: parent, deadline: time.Now().Add(d)}
	return c, c.stop
}

func (c *lazyDeadline) real() context.Context {
	c.once.Do(func() { c.ctx, c.cancel = context.WithDeadline(c.parent, c.deadline) })
	return c.ctx
}

func (c *lazyDeadline) stop() {
	c.once.Do(func() { c.ctx = stoppedCtx })
	if c.cancel != nil {
		c.cancel()
	}
}

func (c *lazyDeadline) Deadline() (time.Time, bool) { return c.deadline, true }
func (c *lazyDeadline) Done() <-chan struct{}       { return c.real().Done() }
func (c *lazyDeadline) Err() error                  { return c.real().Err() }
func (c *lazyDeadline) Value(key any) any           { return c.parent.Value(key) }

// AfterFunc lets a child context (context.WithCancel(c), as gRPC makes)
// hang off the real context without a goroutine of its own.
func (c *lazyDeadline) AfterFunc(f func()) func() bool { return context.AfterFunc(c.real(), f) }
