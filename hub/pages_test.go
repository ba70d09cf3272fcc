package hub

import (
	"errors"
	"fmt"
	"slices"
	"testing"
)

// fakeBox is a box as a hub pages it: ids in order, an inclusive seek, a
// default and a cap on the limit. It is the paging rule, not a client mock:
// the same walk runs against hubd in mailbox_test.go.
type fakeBox struct {
	ids        []string // ascending
	cap        int      // largest page the hub returns
	maxBytes   int      // pages above this many messages fail as too large (0: none)
	ignoreSeek bool
	calls      int
}

func (b *fakeBox) list(ascending bool) func(seek string, limit int) ([]UserMessage, error) {
	return func(seek string, limit int) ([]UserMessage, error) {
		b.calls++
		if limit == 0 {
			limit = 100
		}
		limit = min(limit, b.cap)
		if b.maxBytes > 0 && limit > b.maxBytes {
			return nil, fmt.Errorf("list: %w", ErrTooLarge)
		}
		ids := slices.Clone(b.ids)
		if !ascending {
			slices.Reverse(ids)
		}
		var out []UserMessage
		for _, id := range ids {
			if seek != "" && !b.ignoreSeek && ((ascending && id < seek) || (!ascending && id > seek)) {
				continue
			}
			if len(out) == limit {
				break
			}
			out = append(out, UserMessage{ID: id})
		}
		return out, nil
	}
}

func ids(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("01j%023d", i) // 26 characters, ordered as strings
	}
	return out
}

func TestWalk(t *testing.T) {
	for _, tc := range []struct {
		name      string
		n, cap    int
		maxBytes  int
		pageSize  int
		seekAt    int // index of the first message to seek from; -1 for none
		wantCalls int
	}{
		{name: "empty", n: 0, cap: 10000, pageSize: 0, seekAt: -1, wantCalls: 1},
		{name: "one short page", n: 5, cap: 10000, pageSize: 0, seekAt: -1, wantCalls: 1},
		{name: "250 by 100", n: 250, cap: 10000, pageSize: 100, seekAt: -1, wantCalls: 3},
		{name: "exact multiple", n: 200, cap: 10000, pageSize: 100, seekAt: -1, wantCalls: 3},
		{name: "everything, capped silently at 150", n: 400, cap: 150, pageSize: 0, seekAt: -1, wantCalls: 3},
		{name: "everything, capped at the default", n: 250, cap: 100, pageSize: 0, seekAt: -1, wantCalls: 3},
		{name: "page size above the cap", n: 250, cap: 100, pageSize: 120, seekAt: -1, wantCalls: 3},
		{name: "too large halves", n: 300, cap: 10000, maxBytes: 128, pageSize: 0, seekAt: -1, wantCalls: 1 + 7 + 3},
		{name: "seek is inclusive", n: 50, cap: 10000, pageSize: 10, seekAt: 20, wantCalls: -1},
		{name: "page size one", n: 5, cap: 10000, pageSize: 1, seekAt: -1, wantCalls: 6},
	} {
		for _, asc := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/ascending=%v", tc.name, asc), func(t *testing.T) {
				b := &fakeBox{ids: ids(tc.n), cap: tc.cap, maxBytes: tc.maxBytes}
				want := slices.Clone(b.ids)
				if !asc {
					slices.Reverse(want)
				}
				seek := ""
				if tc.seekAt >= 0 {
					seek = b.ids[tc.seekAt]
					want = want[slices.Index(want, seek):]
				}
				var got []string
				for m, err := range walk(seek, tc.pageSize, asc, b.list(asc)) {
					if err != nil {
						t.Fatal(err)
					}
					got = append(got, m.ID)
				}
				if !slices.Equal(got, want) {
					t.Fatalf("got %d ids, want %d: first %v", len(got), len(want), got[:min(3, len(got))])
				}
				if tc.wantCalls >= 0 && b.calls != tc.wantCalls {
					t.Errorf("%d list calls, want %d", b.calls, tc.wantCalls)
				}
			})
		}
	}
}

func TestWalkStops(t *testing.T) {
	b := &fakeBox{ids: ids(300), cap: 10000}
	n := 0
	for range walk("", 100, true, b.list(true)) {
		n++
		if n == 150 {
			break
		}
	}
	if b.calls != 2 {
		t.Errorf("a break after 150 made %d calls, want 2", b.calls)
	}

	b = &fakeBox{ids: ids(300), cap: 10000, ignoreSeek: true}
	var last error
	for _, err := range walk("", 100, true, b.list(true)) {
		last = err
	}
	if !errors.Is(last, ErrInvalid) {
		t.Errorf("a hub that ignores seek: got %v, want ErrInvalid", last)
	}

	fail := errors.New("boom")
	for _, err := range walk("", 100, true, func(string, int) ([]UserMessage, error) { return nil, fail }) {
		if !errors.Is(err, fail) {
			t.Errorf("got %v, want the list error", err)
		}
	}
}
