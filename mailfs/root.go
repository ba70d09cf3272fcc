package mailfs

import (
	"cmp"
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	fusefs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/hubfs/hubfs/contacts"
	"github.com/hubfs/hubfs/events"
	"github.com/hubfs/hubfs/identity"
	"github.com/hubfs/hubfs/mailbox"
	"github.com/hubfs/hubfs/maildir"
)

// Options are what only the caller of New knows; the settings shared with
// the other layers (TTLs, timeouts, sizes) come in a mailbox.Config.
type Options struct {
	UID, GID uint32 // owner of every node: the mounting user

	// Status fields.
	HubAddr   string
	MailboxID string

	// Outbox is the send path of outbox/ and the queue behind queued/.
	Outbox Outbox

	// Contacts is the address book: outbox/NAME sends to a contact's key,
	// contacts/ lists them. Nil is an empty book.
	Contacts *contacts.File

	// Events receives one event per change, for .hubfs/events; Errors
	// keeps failed operations for .hubfs/errors. New makes them (sized by
	// the config) when nil.
	Events *events.Broker
	Errors *events.ErrorLog

	// MaildirState keeps the flags a mail client sets in Maildir/ that
	// the hub has no place for; nil keeps them in memory only.
	MaildirState *maildir.State

	Logger *slog.Logger
}

// skeletonTTL covers the fixed directories and control files: their names
// and types never change while mounted.
const skeletonTTL = 24 * time.Hour

// Root is the mount's root directory and the one place the nodes reach the
// shared dependencies through. Every field is set by New and read-only after.
type Root struct {
	fusefs.Inode
	fixedNames

	mb     Mailbox
	self   *identity.PublicKey
	cfg    mailbox.Config // of it the tree reads the TTLs, OpTimeout, MaxMessageSize and the event and error sizes
	opts   Options
	log    *slog.Logger
	notify *notifier
	start  time.Time
	events *events.Broker
	errors *events.ErrorLog

	// dev is the mount's device ("major:minor") once Mount knows it: it
	// tells this mount's descriptors apart from another's in one process.
	dev atomic.Pointer[string]

	// usage is what statfs answers with (statfs.go).
	usage *diskUsage

	// unservedXattrs counts the getxattr requests of names hubfs does not
	// serve (security.*, system.*, trusted.*), answered by xattrFilter:
	// tests check that ls -l makes only a few.
	unservedXattrs atomic.Int64

	// The skeleton's inodes, set in OnAdd; the notifier reaches children
	// through them.
	inbox, unread, sentbox, outbox, queued, threads *fusefs.Inode
	// The box directories' nodes, made in New so that changes can stamp
	// their mtime before the kernel has looked at them.
	inboxDir, unreadDir, sentboxDir *mailboxDir
	// The same boxes as the roots of their no-open connections
	// (MountOptions.NoOpen, noopen.go); outside the tree until mounted.
	noOpenInbox, noOpenUnread, noOpenSentbox *mailboxDir
	// maildir is the Maildir/ view's shared part.
	maildir *maildirView

	// stopContacts ends watchContacts, which closes contactsDone; both
	// nil without a contacts file.
	stopContacts, contactsDone chan struct{}
	closeContacts              sync.Once
}

var (
	_ = (fusefs.NodeOnAdder)((*Root)(nil))
	_ = (fusefs.NodeGetattrer)((*Root)(nil))
	_ = (fusefs.NodeLookuper)((*Root)(nil))
	_ = (fusefs.NodeStatfser)((*Root)(nil))
	_ = (fusefs.NodeCreater)((*Root)(nil))   // fixedNames
	_ = (fusefs.NodeMkdirer)((*Root)(nil))   // fixedNames
	_ = (fusefs.NodeMknoder)((*Root)(nil))   // fixedNames
	_ = (fusefs.NodeSymlinker)((*Root)(nil)) // fixedNames
	_ = (fusefs.NodeLinker)((*Root)(nil))    // fixedNames
	_ = (fusefs.NodeRenamer)((*Root)(nil))   // fixedNames
)

// New builds the tree over mb for the identity self, with the kernel
// timeouts and limits of cfg. Call Close after the server stops, to stop
// the notifier.
func New(mb Mailbox, self *identity.PublicKey, cfg mailbox.Config, opts Options) *Root {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Events == nil {
		opts.Events = events.NewBroker(cmp.Or(cfg.EventQueue, mailbox.DefaultEventQueue))
	}
	if opts.Errors == nil {
		opts.Errors = events.NewErrorLog(cmp.Or(cfg.ErrorLog, mailbox.DefaultErrorLog))
	}
	r := &Root{mb: mb, self: self, cfg: cfg, opts: opts, log: opts.Logger, start: time.Now(), events: opts.Events, errors: opts.Errors}
	r.inboxDir = &mailboxDir{root: r, box: mailbox.Inbox}
	r.unreadDir = &mailboxDir{root: r, box: mailbox.Inbox, unreadOnly: true}
	r.sentboxDir = &mailboxDir{root: r, box: mailbox.Sentbox}
	r.noOpenInbox = &mailboxDir{root: r, box: mailbox.Inbox, ownMount: true}
	r.noOpenUnread = &mailboxDir{root: r, box: mailbox.Inbox, unreadOnly: true, ownMount: true}
	r.noOpenSentbox = &mailboxDir{root: r, box: mailbox.Sentbox, ownMount: true}
	r.maildir = newMaildirView(r, opts.MaildirState)
	r.notify = newNotifier(r.log)
	r.usage = &diskUsage{mb: mb, log: r.log, ttl: statfsTTL, wait: statfsWait}
	mb.OnChange(r.changed)
	if opts.Contacts != nil {
		r.stopContacts, r.contactsDone = make(chan struct{}), make(chan struct{})
		go r.watchContacts(r.stopContacts, r.contactsDone)
	}
	return r
}

// device is the mount's device number, "" until Mount has set it.
func (r *Root) device() string {
	if p := r.dev.Load(); p != nil {
		return *p
	}
	return ""
}

// Close stops the contacts watch and the notifier goroutine.
func (r *Root) Close() {
	if r.stopContacts != nil {
		r.closeContacts.Do(func() { close(r.stopContacts) })
		<-r.contactsDone
	}
	r.notify.close()
}

// CloseEvents ends every .hubfs/events reader (they read EOF), so that an
// unmount is not held up by a `cat` waiting for mail.
func (r *Root) CloseEvents() { r.events.Close() }

// messageTTL is how long the kernel may keep a message's name and
// attributes. While the watch is down, changes are only found by polling,
// so the kernel is not told to trust what it has for longer than a poll.
func (r *Root) messageTTL() time.Duration {
	if r.mb.Mode() == mailbox.ModePoll && r.cfg.PollInterval > 0 {
		return min(r.cfg.MessageTTL, r.cfg.PollInterval)
	}
	return r.cfg.MessageTTL
}

// boxDirTTL is how long the kernel may keep the attributes of inbox/,
// unread/ and sentbox/.
func (r *Root) boxDirTTL() time.Duration {
	if r.mb.Mode() == mailbox.ModeWatch && r.cfg.WatchTTL > 0 {
		return r.cfg.WatchTTL // 0 means "as --list-ttl"
	}
	return r.cfg.ListTTL
}

// cacheBoxListings reports whether the kernel may keep the listings of
// inbox/, unread/ and sentbox/: only while every change is pushed to it.
func (r *Root) cacheBoxListings() bool {
	return r.mb.Mode() == mailbox.ModeWatch && r.cfg.WatchTTL > 0
}

// OnAdd builds the persistent skeleton.
func (r *Root) OnAdd(ctx context.Context) {
	dir := func(name string, node fusefs.InodeEmbedder) *fusefs.Inode {
		ch := r.NewPersistentInode(ctx, node, fusefs.StableAttr{Mode: syscall.S_IFDIR})
		r.AddChild(name, ch, false)
		return ch
	}
	r.inbox = dir("inbox", r.inboxDir)
	r.unread = dir("unread", r.unreadDir)
	r.sentbox = dir("sentbox", r.sentboxDir)
	r.outbox = dir("outbox", &outboxDir{root: r})
	r.queued = dir("queued", &queuedDir{root: r})
	r.threads = dir("threads", &threadsDir{root: r})
	dir("Maildir", &maildirFolder{view: r.maildir, box: mailbox.Inbox})
	dir(".hubfs", &controlDir{root: r})
	dir("contacts", &contactsDir{root: r})
	r.notify.treeBuilt()
}

func (r *Root) Getattr(ctx context.Context, f fusefs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	r.dirAttr(&out.Attr, 0700)
	out.SetTimeout(skeletonTTL)
	return 0
}

func (r *Root) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fusefs.Inode, syscall.Errno) {
	return r.lookupFixed(&r.Inode, name, out)
}

// Statfs shows the hub's usage (statfs.go); it never fails and never
// waits long, since df and file managers call it on every mount.
func (r *Root) Statfs(ctx context.Context, out *fuse.StatfsOut) syscall.Errno {
	r.usage.figures(ctx).fill(out)
	return 0
}

// lookupFixed answers a lookup among a directory's persistent children.
func (r *Root) lookupFixed(dir *fusefs.Inode, name string, out *fuse.EntryOut) (*fusefs.Inode, syscall.Errno) {
	ch := dir.GetChild(name)
	if ch == nil {
		return nil, syscall.ENOENT
	}
	if ga, ok := ch.Operations().(fusefs.NodeGetattrer); ok {
		var a fuse.AttrOut
		if errno := ga.Getattr(context.Background(), nil, &a); errno != 0 {
			return nil, errno
		}
		out.Attr = a.Attr
		out.SetAttrTimeout(a.Timeout())
	}
	out.SetEntryTimeout(skeletonTTL)
	return ch, 0
}

// opCtx bounds one syscall's hub work by --op-timeout, under the request's
// own context so an interrupted syscall cancels its call. The bound costs
// nothing until the work waits on it (see lazyDeadline): an answer from
// memory makes no timer.
func (r *Root) opCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	if r.cfg.OpTimeout <= 0 {
		return ctx, func() {}
	}
	return withLazyDeadline(ctx, r.cfg.OpTimeout)
}

// changeCtx is opCtx for operations that change the hub (send, delete,
// mark read, mkdir, rmdir). They are bounded by --op-timeout but not
// cancelled by a signal: an interrupted change may still have happened on
// the hub and the caller could not tell, and Go programs get a signal for
// every goroutine preemption.
func (r *Root) changeCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return r.opCtx(context.WithoutCancel(ctx))
}

func (r *Root) dirAttr(a *fuse.Attr, perm uint32) {
	a.Mode = syscall.S_IFDIR | perm
	a.Nlink = 2
	a.Uid, a.Gid = r.opts.UID, r.opts.GID
	t := r.start
	a.SetTimes(&t, &t, &t)
}

func (r *Root) fileAttr(a *fuse.Attr, perm uint32, size int64, mtime, atime time.Time) {
	a.Mode = syscall.S_IFREG | perm
	a.Nlink = 1
	a.Size = uint64(size)
	a.Uid, a.Gid = r.opts.UID, r.opts.GID
	a.SetTimes(&atime, &mtime, &mtime)
}
