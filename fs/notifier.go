package fs

import (
	"log/slog"
	"sync"
	"syscall"

	fusefs "github.com/hanwen/go-fuse/v2/fs"

	"github.com/hubfs/hubfs/cache"
)

// notifier sends kernel invalidations from one goroutine. A notification
// can block in the kernel until a request on the same directory finishes,
// so it must never be sent from a request handler or with a lock held that a
// handler may want. Producers only append to a queue, which never blocks.
type notifier struct {
	log  *slog.Logger
	wake chan struct{}
	done chan struct{}

	mu     sync.Mutex // guards the fields below
	queue  []func()
	closed bool
}

func newNotifier(log *slog.Logger) *notifier {
	n := &notifier{log: log, wake: make(chan struct{}, 1), done: make(chan struct{})}
	go n.run()
	return n
}

func (n *notifier) post(job func()) {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return
	}
	n.queue = append(n.queue, job)
	n.mu.Unlock()
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

func (n *notifier) run() {
	defer close(n.done)
	for range n.wake {
		n.mu.Lock()
		jobs := n.queue
		n.queue = nil
		closed := n.closed
		n.mu.Unlock()
		for _, job := range jobs {
			job()
		}
		if closed {
			return
		}
	}
}

func (n *notifier) close() {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return
	}
	n.closed = true
	n.mu.Unlock()
	select {
	case n.wake <- struct{}{}:
	default:
	}
	<-n.done
}

// sync waits until everything posted so far has been sent; tests use it.
func (n *notifier) sync() {
	ch := make(chan struct{})
	n.post(func() { close(ch) })
	select {
	case <-ch:
	case <-n.done:
	}
}

// checked logs a failed notification. ENOENT means the kernel did not have
// the entry cached, which is what we wanted; ENOSYS means not mounted yet.
func (n *notifier) checked(what, name string, errno syscall.Errno) {
	if errno != 0 && errno != syscall.ENOENT && errno != syscall.ENOSYS {
		n.log.Debug("kernel notification failed", "notify", what, "name", name, "errno", errno.Error())
	}
}

// forget removes name from dir in our tree and in the kernel's.
func (n *notifier) forget(dir *fusefs.Inode, name string) {
	if dir == nil {
		return
	}
	if ch := dir.GetChild(name); ch != nil {
		dir.RmChild(name)
		n.checked("delete", name, dir.NotifyDelete(name, ch))
		return
	}
	n.checked("entry", name, dir.NotifyEntry(name))
}

// changed turns a cache change into kernel invalidations. It is the cache's
// OnChange callback and runs on whatever goroutine made the change, so it
// only queues.
func (r *Root) changed(c cache.Change) {
	n := r.notify
	switch c.Kind {
	case cache.Added:
		dirs := []*fusefs.Inode{r.sentbox}
		if c.Box == cache.Inbox {
			dirs = []*fusefs.Inode{r.inbox, r.unread}
		}
		n.post(func() {
			// No negative dentries are cached, but a name looked up while
			// absent may be in a directory's page of a reader; dropping the
			// entry is cheap and makes the new file visible to the next stat.
			for _, d := range dirs {
				if d != nil {
					n.checked("entry", c.ID, d.NotifyEntry(c.ID))
				}
			}
		})
	case cache.Removed:
		dirs := []*fusefs.Inode{r.sentbox}
		if c.Box == cache.Inbox {
			dirs = []*fusefs.Inode{r.inbox, r.unread}
		}
		n.post(func() {
			for _, d := range dirs {
				n.forget(d, c.ID)
			}
		})
	case cache.Read:
		n.post(func() {
			// atime changed: drop the cached attributes, keep the pages.
			for _, d := range []*fusefs.Inode{r.inbox, r.unread} {
				if d == nil {
					continue
				}
				if ch := d.GetChild(c.ID); ch != nil {
					n.checked("attr", c.ID, ch.NotifyContent(-1, 0))
				}
			}
			if c.Entry.Unread() {
				if r.unread != nil {
					n.checked("entry", c.ID, r.unread.NotifyEntry(c.ID))
				}
			} else {
				n.forget(r.unread, c.ID)
			}
		})
	case cache.ThreadsChanged:
		n.post(func() {
			if r.threads == nil {
				return
			}
			for name := range r.threads.Children() {
				n.forget(r.threads, name)
			}
		})
	}
}
