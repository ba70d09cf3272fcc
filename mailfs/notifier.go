package mailfs

import (
	"fmt"
	"log/slog"
	"sync"
	"syscall"
	"time"

	fusefs "github.com/hanwen/go-fuse/v2/fs"

	"github.com/hubfs/hubfs/events"
	"github.com/hubfs/hubfs/mailbox"
)

// notifier sends kernel invalidations from one goroutine. A notification
// can block in the kernel until a request on the same directory finishes,
// so it must never be sent from a request handler or with a lock held that a
// handler may want. Producers only append to a queue, which never blocks.
//
// Jobs run only once the tree is built (treeBuilt, at the end of
// Root.OnAdd): before that they would read inode fields the mount
// goroutine is still writing, and the kernel knows nothing to invalidate
// anyway. Jobs posted earlier wait and then run in order.
type notifier struct {
	log   *slog.Logger
	wake  chan struct{}
	done  chan struct{}
	built chan struct{} // closed by treeBuilt
	quit  chan struct{} // closed by close, so a notifier never built can end
	once  sync.Once

	mu     sync.Mutex // guards the fields below
	queue  []func()
	closed bool
}

func newNotifier(log *slog.Logger) *notifier {
	n := &notifier{log: log, wake: make(chan struct{}, 1), done: make(chan struct{}),
		built: make(chan struct{}), quit: make(chan struct{})}
	go n.run()
	return n
}

// treeBuilt lets the jobs run: every node OnAdd makes is in place.
func (n *notifier) treeBuilt() { n.once.Do(func() { close(n.built) }) }

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
	select {
	case <-n.built:
	case <-n.quit:
		return // closed before any mount: the queued jobs have nothing to tell
	}
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
	close(n.quit)
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

// boxDirs are the directory nodes that list box's messages, on the main
// connection and on the no-open ones.
func (r *Root) boxDirs(box mailbox.Box) []*mailboxDir {
	if box == mailbox.Inbox {
		return []*mailboxDir{r.inboxDir, r.unreadDir, r.noOpenInbox, r.noOpenUnread}
	}
	return []*mailboxDir{r.sentboxDir, r.noOpenSentbox}
}

// unreadDirs are unread/ on every connection.
func (r *Root) unreadDirs() []*mailboxDir {
	return []*mailboxDir{r.unreadDir, r.noOpenUnread}
}

// dropListing makes the kernel forget a box directory's attributes and any
// listing it cached (FOPEN_CACHE_DIR keeps it in the directory's pages).
func (n *notifier) dropListing(d *mailboxDir) {
	if inTree(d) {
		n.checked("content", d.name(), d.NotifyContent(0, 0))
	}
}

// inTree reports whether a skeleton node has been added to the tree (OnAdd,
// before the mount serves), or a no-open root is mounted; before that the
// kernel knows nothing of it.
func inTree(d *mailboxDir) bool {
	if d.ownMount {
		return d.mounted.Load()
	}
	return d.StableAttr().Ino != 0
}

// changed turns a cache change into kernel invalidations and an event line.
// It is the cache's OnChange callback and runs on whatever goroutine made
// the change, so it only stamps and queues: it never waits. A message's
// event line is published by the notifier after the kernel has been told,
// so a script that reacts to a line finds the mount already showing it.
func (r *Root) changed(c mailbox.Change) {
	n := r.notify
	if ev, ok := r.eventOf(c); ok {
		switch c.Kind {
		case mailbox.Added, mailbox.Removed, mailbox.Read:
			defer n.post(func() { r.events.Publish(ev) })
		default:
			r.events.Publish(ev)
		}
	}
	r.maildir.changed(c)
	switch c.Kind {
	case mailbox.Added, mailbox.Removed:
		dirs := r.boxDirs(c.Box)
		for _, d := range dirs {
			d.touch()
		}
		n.post(func() {
			for _, d := range dirs {
				if !inTree(d) {
					continue
				}
				if c.Kind == mailbox.Added {
					// A name looked up while absent may be cached as
					// missing by a reader; drop it so the next stat
					// finds the new file.
					n.checked("entry", c.ID, d.NotifyEntry(c.ID))
				} else {
					n.forget(&d.Inode, c.ID)
				}
				n.dropListing(d)
			}
		})
	case mailbox.Read:
		for _, d := range r.unreadDirs() {
			d.touch()
		}
		n.post(func() {
			// atime changed: drop the cached attributes, keep the pages.
			for _, d := range r.boxDirs(mailbox.Inbox) {
				if !inTree(d) {
					continue
				}
				if ch := d.GetChild(c.ID); ch != nil {
					n.checked("attr", c.ID, ch.NotifyContent(-1, 0))
				}
			}
			for _, d := range r.unreadDirs() {
				if !inTree(d) {
					continue
				}
				if c.Entry.Unread() {
					n.checked("entry", c.ID, d.NotifyEntry(c.ID))
				} else {
					n.forget(&d.Inode, c.ID)
				}
				n.dropListing(d)
			}
		})
	case mailbox.ThreadsChanged:
		n.post(func() {
			if r.threads == nil {
				return
			}
			for name := range r.threads.Children() {
				n.forget(r.threads, name)
			}
		})
	case mailbox.DocumentChanged:
		n.post(func() { r.documentChanged(c) })
	case mailbox.CollectionsChanged:
		n.post(func() { r.collectionsChanged(c.Thread) })
	case mailbox.ModeChanged:
		// Leaving watch mode: the kernel must stop trusting its cached
		// listings, which nothing will invalidate on time any more.
		// Entering it: nothing is stale, the next opendir caches.
		if c.Mode != mailbox.ModeWatch {
			n.post(func() {
				for _, d := range append(r.boxDirs(mailbox.Inbox), r.boxDirs(mailbox.Sentbox)...) {
					n.dropListing(d)
				}
			})
		}
		if c.Err != nil {
			r.log.Warn("watch down: polling", "every", r.cfg.PollInterval, "err", c.Err)
		} else {
			r.log.Info("live updates", "mode", c.Mode.String())
		}
	case mailbox.LiveError:
		r.recordError(c.Op, c.Box.String(), c.Err)
	}
}

// eventOf is the .hubfs/events line for a change, if it has one.
func (r *Root) eventOf(c mailbox.Change) (events.Event, bool) {
	ev := events.Event{Box: c.Box.String(), ID: c.ID, From: c.Entry.From, To: c.Entry.To}
	switch c.Kind {
	case mailbox.Added:
		ev.Type, ev.At = events.TypeNew, c.Entry.CreatedAt
		if c.Box == mailbox.Sentbox {
			ev.Type = events.TypeSent
		}
	case mailbox.Read:
		if c.Entry.Unread() {
			return events.Event{}, false // no hub marks a message unread
		}
		ev.Type, ev.At = events.TypeRead, c.Entry.ReadAt
	case mailbox.Removed:
		ev.Type, ev.At = events.TypeDeleted, time.Now()
	case mailbox.ModeChanged:
		if c.Mode != mailbox.ModePoll || c.Err == nil {
			return events.Event{}, false
		}
		ev = events.Event{Type: events.TypeError, At: time.Now(),
			Message: fmt.Sprintf("watch down, polling every %s until it is back: %v", r.cfg.PollInterval, c.Err)}
	case mailbox.LiveError:
		ev = events.Event{Type: events.TypeError, Box: c.Box.String(), At: time.Now(),
			Message: fmt.Sprintf("%s %s: %v", c.Op, c.Box, c.Err)}
	default:
		return events.Event{}, false
	}
	if ev.At.IsZero() {
		ev.At = time.Now()
	}
	ev.At = ev.At.UTC()
	return ev, true
}

// threadDirsOf are the directory inodes under threads/ that show the DB
// db (one, unless the thread was renamed under the kernel).
func (r *Root) threadDirsOf(db string) []*fusefs.Inode {
	if r.threads == nil {
		return nil
	}
	var out []*fusefs.Inode
	for _, ch := range r.threads.Children() {
		if td, ok := ch.Operations().(*threadDir); ok && td.thread.ID == db {
			out = append(out, ch)
		}
	}
	return out
}

// documentChanged tells the kernel that a document was created, saved or
// deleted: a created name may be cached as missing, a saved one's size
// changed, a deleted one is gone. It runs on the notifier's goroutine.
func (r *Root) documentChanged(c mailbox.Change) {
	n := r.notify
	name := docFileName(c.ID)
	for _, td := range r.threadDirsOf(c.Thread) {
		coll := td.GetChild(c.Collection)
		if coll == nil {
			continue // the kernel holds nothing of the collection
		}
		switch ch := coll.GetChild(name); {
		case c.Doc == nil:
			n.forget(coll, name)
		case ch != nil:
			if f, ok := ch.Operations().(*docFile); ok && c.Doc.JSON != nil {
				f.seen(c.Doc.JSON)
			}
			n.checked("attr", name, ch.NotifyContent(-1, 0))
		default:
			n.checked("entry", name, coll.NotifyEntry(name))
		}
	}
}

// collectionsChanged makes the kernel forget what it holds of a DB's
// collections: their names and their documents' names and attributes,
// which it then looks up again. Nothing leaves our tree, so a document
// being written keeps its inode.
func (r *Root) collectionsChanged(db string) {
	n := r.notify
	for _, td := range r.threadDirsOf(db) {
		for cname, coll := range td.Children() {
			if isThreadFile(cname) {
				continue
			}
			for name, ch := range coll.Children() {
				n.checked("attr", name, ch.NotifyContent(-1, 0))
				n.checked("entry", name, coll.NotifyEntry(name))
			}
			n.checked("entry", cname, td.NotifyEntry(cname))
		}
	}
}
