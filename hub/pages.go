package hub

import (
	"context"
	"errors"
	"fmt"
	"iter"
)

const (
	// MaxPageSize is the largest page a Textile hub returns (it caps Limit
	// there). An iterator asked for everything uses pages this big.
	MaxPageSize = 10000
	// minHonoredPage is what every Textile-compatible hub returns when asked:
	// it is the hub's own default page size.
	minHonoredPage = 100
)

// InboxMessages walks the whole inbox from opts.Seek (inclusive) in opts'
// order, page after page, each message once. opts.Limit is the page size;
// 0 asks for pages as large as the hub allows. The first error ends the walk
// and is yielded with a zero message. Breaking out of the loop stops it.
func (c *Client) InboxMessages(ctx context.Context, opts InboxListOptions) iter.Seq2[UserMessage, error] {
	return walk(opts.Seek, opts.Limit, opts.Ascending, func(seek string, limit int) ([]UserMessage, error) {
		o := opts
		o.Seek, o.Limit = seek, limit
		return c.ListInboxMessages(ctx, o)
	})
}

// SentboxMessages walks the whole sentbox as InboxMessages walks the inbox.
func (c *Client) SentboxMessages(ctx context.Context, opts SentboxListOptions) iter.Seq2[UserMessage, error] {
	return walk(opts.Seek, opts.Limit, opts.Ascending, func(seek string, limit int) ([]UserMessage, error) {
		o := opts
		o.Seek, o.Limit = seek, limit
		return c.ListSentboxMessages(ctx, o)
	})
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
