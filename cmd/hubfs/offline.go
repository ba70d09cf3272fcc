package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/urfave/cli/v2"

	"github.com/hubfs/hubfs/cache/disk"
	"github.com/hubfs/hubfs/hub"
	"github.com/hubfs/hubfs/identity"
	"github.com/hubfs/hubfs/mailbox"
)

// connectMount connects a mount to the hub named by the flags and finds its
// mailbox. When the hub does not answer, a mount whose disk cache holds
// this identity's listings from that hub starts offline instead: the
// client is dialled without a call (it gets its token at the first call
// the hub answers), the mailbox thread is the one recorded beside the
// listings, and the model's live sync finds the hub when it is back. With
// no such cache it fails with the hub's error, as before. offline reports
// which it did.
func connectMount(c *cli.Context, cfg mailbox.Config, log *slog.Logger) (cl *hub.Client, key *identity.PrivateKey, mailboxID identity.ThreadID, offline bool, err error) {
	cl, key, err = connect(c)
	if err == nil {
		if mailboxID, err = cl.GetMailboxID(c.Context); err == nil {
			recordHub(c, cfg, key, mailboxID, log)
			return cl, key, mailboxID, false, nil
		}
		cl.Close()
		err = hubError(c, err)
	}
	if !unreachable(err) || c.Context.Err() != nil {
		return nil, nil, identity.ThreadID{}, false, err
	}
	hubErr := err
	if key, err = loadIdentity(c); err != nil {
		return nil, nil, identity.ThreadID{}, false, err
	}
	h, why := offlineStart(c, cfg, key)
	if why != "" {
		return nil, nil, identity.ThreadID{}, false, fmt.Errorf("%w; cannot start offline: %s", hubErr, why)
	}
	if mailboxID, err = identity.ParseThreadID(h.MailboxID); err != nil {
		return nil, nil, identity.ThreadID{}, false, fmt.Errorf("%w; cannot start offline: the disk cache names mailbox %q: %v", hubErr, h.MailboxID, err)
	}
	if cl, err = dial(c, hub.WithIdentity(key)); err != nil {
		return nil, nil, identity.ThreadID{}, false, err
	}
	log.Warn("hub does not answer: starting offline from the disk cache", "hub", c.String("hub"), "err", hubErr)
	return cl, key, mailboxID, true, nil
}

// unreachable reports whether err means the hub did not answer (down,
// refused, past the deadline), rather than answered no.
func unreachable(err error) bool {
	return errors.Is(err, hub.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded)
}

// offlineStart finds what an offline start needs in key's disk cache, or
// says why there is none.
func offlineStart(c *cli.Context, cfg mailbox.Config, key *identity.PrivateKey) (disk.Hub, string) {
	if cfg.DiskCacheBytes <= 0 {
		return disk.Hub{}, "the disk cache is off (--disk-cache 0)"
	}
	dir, err := disk.DefaultDir(key.Public().String())
	if err != nil {
		return disk.Hub{}, err.Error()
	}
	h, ok := disk.LoadHub(dir)
	switch {
	case !ok || !disk.HasListings(dir):
		return disk.Hub{}, fmt.Sprintf("no listings of this identity in the disk cache %s (mount once while the hub is up)", dir)
	case h.Addr != c.String("hub"):
		return disk.Hub{}, fmt.Sprintf("the disk cache %s holds listings from hub %s, not %s", dir, h.Addr, c.String("hub"))
	}
	return h, ""
}

// recordHub notes, beside the disk cache's listings, the hub and mailbox
// they come from, for a later offline start. A failure costs only that.
func recordHub(c *cli.Context, cfg mailbox.Config, key *identity.PrivateKey, mailboxID identity.ThreadID, log *slog.Logger) {
	if cfg.DiskCacheBytes <= 0 {
		return
	}
	dir, err := disk.DefaultDir(key.Public().String())
	if err == nil {
		err = disk.SaveHub(dir, disk.Hub{Addr: c.String("hub"), MailboxID: mailboxID.String()})
	}
	if err != nil {
		log.Warn("the disk cache cannot record the hub: no offline start", "err", err)
	}
}
