package mailfs

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/hubfs/hubfs/mailbox"
	"github.com/hubfs/hubfs/maildir"
	"github.com/hubfs/hubfs/mailmsg"
)

// maildirView is what the Maildir/ nodes share: the flags a client set
// that the hub does not keep, and the rendered size of each message. It
// hangs off Root; the nodes reach it through root.
type maildirView struct {
	root  *Root
	state *maildir.State

	// The skeleton's new/ and cur/ directories, by box: the notifier
	// reaches their children through them.
	inboxNew, inboxCur, sentNew, sentCur *maildirBox

	// contactsGen is the contacts file's generation the kernel's sizes
	// were given under.
	contactsGen atomic.Uint64

	// pruned: the box's state has been checked against a listing once
	// this mount, dropping what was deleted while no mount saw it.
	pruned [2]atomic.Bool

	mu    sync.Mutex // guards sizes
	sizes map[string]renderedSize
}

// renderedSize is a message's file size for one rendering's inputs: the
// names are part of the header, so a renamed contact is a new size.
type renderedSize struct {
	fromName, toName string
	size             int64
}

func newMaildirView(r *Root, state *maildir.State) *maildirView {
	if state == nil {
		state = maildir.Memory()
	}
	v := &maildirView{root: r, state: state, sizes: map[string]renderedSize{}}
	v.inboxNew = &maildirBox{view: v, box: mailbox.Inbox}
	v.inboxCur = &maildirBox{view: v, box: mailbox.Inbox, cur: true}
	v.sentNew = &maildirBox{view: v, box: mailbox.Sentbox}
	v.sentCur = &maildirBox{view: v, box: mailbox.Sentbox, cur: true}
	return v
}

// dirs are the new/ and cur/ directories of box.
func (v *maildirView) dirs(box mailbox.Box) []*maildirBox {
	if box == mailbox.Inbox {
		return []*maildirBox{v.inboxNew, v.inboxCur}
	}
	return []*maildirBox{v.sentNew, v.sentCur}
}

// seen reports whether a message is read: the hub's read state for the
// inbox; one's own sent mail is always read.
func seen(e mailbox.Entry) bool { return e.Box == mailbox.Sentbox || !e.Unread() }

// placement is where a message is and under which name: new/<base> while
// unread and not moved, else cur/<base>:2,<flags>, with S from the hub.
func (v *maildirView) placement(e mailbox.Entry) (cur bool, name string) {
	base := maildir.Base(e.ID, e.CreatedAt)
	l := v.state.Get(e.Box.String(), e.ID)
	if seen(e) {
		return true, maildir.CurName(base, maildir.WithFlag(l.Flags, maildir.Seen))
	}
	if !l.Cur {
		return false, base
	}
	return true, maildir.CurName(base, l.Flags)
}

// prune drops, once per mount and box, the flags of messages that are
// gone from the hub: deleted while no mount was there to hear of it.
func (v *maildirView) prune(box mailbox.Box, listing []mailbox.Entry) {
	i := 0
	if box == mailbox.Sentbox {
		i = 1
	}
	if v.pruned[i].Swap(true) {
		return
	}
	ids := make(map[string]bool, len(listing))
	for _, e := range listing {
		ids[e.ID] = true
	}
	if err := v.state.Prune(box.String(), func(id string) bool { return ids[id] }); err != nil {
		v.root.log.Warn("maildir: pruning the flags of deleted messages", "box", box.String(), "err", err)
	}
}

// names are the contacts' names for a message's keys, "" where none.
func (v *maildirView) names(e mailbox.Entry) (from, to string) {
	from, to = v.root.contactName(e.From), v.root.contactName(e.To)
	v.checkContacts()
	return from, to
}

// render is a message's file. A message that does not verify renders
// with its problem instead of its body; other errors are the caller's.
func (v *maildirView) render(ctx context.Context, e mailbox.Entry) ([]byte, error) {
	ctx, cancel := v.root.opCtx(ctx)
	defer cancel()
	m := mailmsg.Meta{ID: e.ID, From: e.From, To: e.To, CreatedAt: e.CreatedAt}
	m.FromName, m.ToName = v.names(e)
	body, err := v.root.mb.Open(ctx, e.Box, e.ID)
	switch {
	case errors.Is(err, mailbox.ErrBadSignature):
		m.Problem = "the signature does not verify"
	case errors.Is(err, mailbox.ErrDecrypt):
		m.Problem = "it does not decrypt"
	case err != nil:
		return nil, err
	}
	file := mailmsg.Render(m, body)
	v.mu.Lock()
	v.sizes[bodyKey(e)] = renderedSize{fromName: m.FromName, toName: m.ToName, size: int64(len(file))}
	v.mu.Unlock()
	return file, nil
}

// size is a message's file size, exact before anything is read: rendered
// once (the plaintext is needed), then kept while the names hold.
func (v *maildirView) size(ctx context.Context, e mailbox.Entry) (int64, error) {
	from, to := v.names(e)
	v.mu.Lock()
	s, ok := v.sizes[bodyKey(e)]
	v.mu.Unlock()
	if ok && s.fromName == from && s.toName == to {
		return s.size, nil
	}
	file, err := v.render(ctx, e)
	if err != nil {
		return 0, err
	}
	return int64(len(file)), nil
}

func bodyKey(e mailbox.Entry) string { return e.Box.String() + "/" + e.ID }

// resolve finds the message a name in a new/ or cur/ directory stands for,
// if that is its name now: ENOENT for a stale or foreign name.
func (v *maildirView) resolve(ctx context.Context, d *maildirBox, name string) (mailbox.Entry, maildir.Name, syscall.Errno) {
	n, ok := maildir.Parse(name)
	if !ok || !validMessageID(n.ID) || n.HasInfo != d.cur {
		return mailbox.Entry{}, n, syscall.ENOENT
	}
	ctx, cancel := v.root.opCtx(ctx)
	defer cancel()
	e, err := v.root.mb.Lookup(ctx, d.box, n.ID)
	if err != nil {
		return mailbox.Entry{}, n, v.root.fail("lookup", d.path()+"/"+name, err)
	}
	cur, want := v.placement(e)
	if cur != d.cur || e.CreatedAt.Unix() != n.Unix {
		return mailbox.Entry{}, n, syscall.ENOENT
	}
	if name != want {
		// The same flags in another order still name the message (a
		// client may write them unsorted); different flags do not.
		flags, err := maildir.CanonicalFlags(n.Flags)
		if err != nil || maildir.CurName(n.Base(), flags) != want {
			return mailbox.Entry{}, n, syscall.ENOENT
		}
	}
	return e, n, 0
}

// changed is the Maildir part of Root.changed: stamp the directories a
// change shows in, keep the flags state in step, and queue the kernel
// invalidations of every name the message had or has.
func (v *maildirView) changed(c mailbox.Change) {
	n := v.root.notify
	switch c.Kind {
	case mailbox.Added, mailbox.Removed, mailbox.Read:
	case mailbox.ModeChanged:
		if c.Mode != mailbox.ModeWatch {
			n.post(func() {
				for _, d := range []*maildirBox{v.inboxNew, v.inboxCur, v.sentNew, v.sentCur} {
					d.dropAttr(n)
				}
			})
		}
		return
	default:
		return
	}
	dirs := v.dirs(c.Box)
	for _, d := range dirs {
		d.touch()
	}
	e := c.Entry
	e.Box, e.ID = c.Box, c.ID
	base := maildir.Base(e.ID, e.CreatedAt)
	l := v.state.Get(c.Box.String(), c.ID)
	// Every name the message may be known by: new/<base>, and cur/ with
	// its local flags, with and without S.
	names := map[*maildirBox][]string{
		dirs[0]: {base},
		dirs[1]: {maildir.CurName(base, l.Flags), maildir.CurName(base, maildir.WithFlag(l.Flags, maildir.Seen))},
	}
	keep := ""
	if c.Kind == mailbox.Removed {
		v.mu.Lock()
		delete(v.sizes, bodyKey(e))
		v.mu.Unlock()
		if err := v.state.Forget(c.Box.String(), c.ID); err != nil {
			v.root.log.Warn("maildir: forgetting the flags of a deleted message", "id", c.ID, "err", err)
		}
	} else {
		_, keep = v.placement(e)
	}
	n.post(func() {
		for _, d := range dirs {
			if !d.inTree() {
				continue
			}
			for _, name := range names[d] {
				if name == keep {
					// Its name now: drop a "no such file" the kernel
					// may have cached, keep the entry if it has it.
					n.checked("entry", name, d.NotifyEntry(name))
					continue
				}
				n.forget(&d.Inode, name)
			}
			d.dropAttr(n)
		}
	})
}

// contactName is the contacts' name for key, "" where there is none.
func (r *Root) contactName(key string) string {
	b := r.book()
	if b == nil {
		return ""
	}
	name, _ := b.Name(key)
	return name
}

// checkContacts notices a new version of the contacts file: the names in
// the files' headers may have changed, and so their sizes, so the kernel
// must drop the attributes and pages it keeps for every message file.
func (v *maildirView) checkContacts() {
	f := v.root.opts.Contacts
	if f == nil {
		return
	}
	gen := f.Generation()
	if old := v.contactsGen.Swap(gen); old == gen {
		return
	}
	n := v.root.notify
	n.post(func() {
		for _, d := range []*maildirBox{v.inboxNew, v.inboxCur, v.sentNew, v.sentCur} {
			if !d.inTree() {
				continue
			}
			for name, ch := range d.Children() {
				n.checked("content", name, ch.NotifyContent(0, 0))
			}
		}
	})
}

// maildirIno is a message's inode number in Maildir/: one for its name in
// new/ and in cur/, so a rename keeps the file.
func maildirIno(box mailbox.Box, id string) uint64 { return ino("maildir", box.String(), id) }
