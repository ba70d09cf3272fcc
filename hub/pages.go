package hub

import (
	"context"
	"errors"
	"fmt"
	"iter"

	"github.com/hubfs/hubfs/wire"
)

const (
	// MaxPageSize is the largest page a Textile hub returns (it caps Limit
	// there). An iterator asked for everything uses pages this big.
	MaxPageSize = wire.MaxPageSize
	// minHonoredPage is what every Textile-compatible hub returns when asked:
	// it is the hub's own default page size.
	minHonoredPage = 100
)

// Box names one of a mailbox's two collections (wire.Box).
type Box = wire.Box

// The boxes of a mailbox.
const (
	Inbox   = wire.Inbox
	Sentbox = wire.Sentbox
)

// ListOptions selects messages of either box, as InboxListOptions does;
// Status applies to the inbox only (a sentbox has no read state, and asking
// for read or unread sentbox messages is ErrInvalid).
type ListOptions struct {
	Seek          string
	Limit         int
	Ascending     bool
	Status        Status
	WithoutBodies bool // as in InboxListOptions
}

// PageFunc lists one page of a box: up to limit messages from seek
// (inclusive) in the walk's order.
type PageFunc func(seek string, limit int) ([]UserMessage, error)

// Messages walks a whole box from opts.Seek (inclusive) in opts' order,
// page after page, each message once. opts.Limit is the page size; 0 asks
// for pages as large as the hub allows, and a page the hub refuses as too
// large is halved and asked again, so a box of any size lists. The first
// error ends the walk and is yielded with a zero message. Breaking out of
// the loop stops it.
func (c *Client) Messages(ctx context.Context, box Box, opts ListOptions) iter.Seq2[UserMessage, error] {
	return Pages(opts, func(seek string, limit int) ([]UserMessage, error) {
		o := opts
		o.Seek, o.Limit = seek, limit
		return c.page(ctx, box, o)
	})
}

// Pages is the walk behind Messages over any page function, for callers
// that wrap each page call (to count or trace it): the paging rule lives
// here alone. opts.Status is the page function's business.
func Pages(opts ListOptions, list PageFunc) iter.Seq2[UserMessage, error] {
	return walk(opts.Seek, opts.Limit, opts.Ascending, list)
}

// Message returns one message of a box by id, body included, or an error
// wrapping ErrNotFound. A hub has no call for one message: it is a page of
// one that starts at the id (seek is inclusive), which a hub always serves,
// whatever the size of its pages.
func (c *Client) Message(ctx context.Context, box Box, id string) (UserMessage, error) {
	if err := checkID(id); err != nil {
		return UserMessage{}, fmt.Errorf("get %s message: %w", box, err)
	}
	page, err := c.page(ctx, box, ListOptions{Seek: id, Limit: 1, Ascending: true})
	if err != nil {
		return UserMessage{}, err
	}
	if len(page) == 0 || page[0].ID != id {
		return UserMessage{}, fmt.Errorf("%s/%s: %w", box, id, ErrNotFound)
	}
	return page[0], nil
}

// page lists one page of box.
func (c *Client) page(ctx context.Context, box Box, o ListOptions) ([]UserMessage, error) {
	switch box {
	case Inbox:
		return c.ListInboxMessages(ctx, InboxListOptions(o))
	case Sentbox:
		if o.Status != StatusAll {
			return nil, invalidf("list sentbox: a sentbox has no read state")
		}
		return c.ListSentboxMessages(ctx, SentboxListOptions{Seek: o.Seek, Limit: o.Limit, Ascending: o.Ascending, WithoutBodies: o.WithoutBodies})
	}
	return nil, invalidf("list: unknown box %d", int(box))
}

// InboxMessages walks the whole inbox as Messages does.
func (c *Client) InboxMessages(ctx context.Context, opts InboxListOptions) iter.Seq2[UserMessage, error] {
	return c.Messages(ctx, Inbox, ListOptions(opts))
}

// SentboxMessages walks the whole sentbox as Messages does.
func (c *Client) SentboxMessages(ctx context.Context, opts SentboxListOptions) iter.Seq2[UserMessage, error] {
	return c.Messages(ctx, Sentbox, ListOptions{Seek: opts.Seek, Limit: opts.Limit, Ascending: opts.Ascending, WithoutBodies: opts.WithoutBodies})
}

// walk pages through a box with an inclusive seek: every page after the
// first starts at the last message already yielded, so it asks for one more
// than the page size and drops that message again. Ids are ULIDs ordered as
// strings, which is also the hub's order, so anything not strictly past the
// last id is a repeat and is skipped.
//
// The walk ends on a short page. "Short" needs care, because a hub may cap
// the limit below what was asked without saying so: a page shorter than
// asked but at least as long as any page the hub is known to fill
// (minHonoredPage, or a longer one it returned before) may be the cap, so
// the walk carries on with that size and ends only when a page comes back
// short of a size the hub has shown it fills. A page too big for the
// transport (ErrTooLarge) is halved and asked again.
func walk(seek string, pageSize int, ascending bool, list func(seek string, limit int) ([]UserMessage, error)) iter.Seq2[UserMessage, error] {
	return func(yield func(UserMessage, error) bool) {
		if pageSize <= 0 || pageSize >= MaxPageSize {
			pageSize = MaxPageSize - 1 // room for the repeated seek message
		}
		honored := minHonoredPage
		last := ""
		for {
			limit := pageSize
			if last != "" {
				limit++
			}
			page, err := list(seek, limit)
			if errors.Is(err, ErrTooLarge) && pageSize > 1 {
				pageSize /= 2
				continue
			}
			if err != nil {
				yield(UserMessage{}, err)
				return
			}
			fresh := 0
			for _, m := range page {
				if last != "" && (m.ID == last || (m.ID < last) == ascending) {
					continue
				}
				fresh++
				last = m.ID
				if !yield(m, nil) {
					return
				}
			}
			n := len(page)
			if n >= limit {
				if fresh == 0 {
					yield(UserMessage{}, fmt.Errorf("list: %w: hub ignored the seek id and sent the same page again", ErrInvalid))
					return
				}
				honored = max(honored, n)
				seek = last
				continue
			}
			if n < honored || limit <= honored || fresh == 0 {
				return
			}
			// honored <= n < limit: the hub may cap pages at n.
			honored = n
			pageSize = n - 1
			seek = last
		}
	}
}
