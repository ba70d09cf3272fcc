package hubd_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/hubfs/hubfs/hub"
	"github.com/hubfs/hubfs/hub/hubtest"
	"github.com/hubfs/hubfs/hubd"
	"github.com/hubfs/hubfs/hubd/hubdtest"
	"github.com/hubfs/hubfs/identity"
	hubpb "github.com/hubfs/hubfs/wire/pb"
)

func ids(ms []*hubpb.Message) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.Id
	}
	return out
}

// TestPaging over a few hundred messages: order, inclusive seek, limits and
// the status filter, on both boxes.
func TestPaging(t *testing.T) {
	h := hubdtest.Start(t)
	conn := dial(t, h)
	alice, bob := mailboxUser(t, h, conn), mailboxUser(t, h, conn)

	// A few sends through the API check the ids it hands out; the rest are
	// stored directly, which is much faster than 300 encrypted sends.
	const n = 300
	var sent []string // send order
	for i := range 10 {
		res := send(t, alice, bob.id, []byte{byte(i)})
		if len(sent) > 0 && res.Id <= sent[len(sent)-1] {
			t.Fatalf("id %s after %s: ids are not increasing", res.Id, sent[len(sent)-1])
		}
		if res.Id != strings.ToLower(res.Id) {
			t.Fatalf("id %s is not lower case", res.Id)
		}
		sent = append(sent, res.Id)
	}
	req := sendReq(t, alice, bob.id, []byte("seeded"))
	seeded, err := hubd.SeedMessages(h.Server, alice.id, bob.id, n-len(sent), req.ToBody, req.ToSignature)
	if err != nil {
		t.Fatal(err)
	}
	sent = append(sent, seeded...)
	// Mark every fifth message read.
	var read []string
	for i := 0; i < n; i += 5 {
		if _, err := bob.users.ReadInboxMessage(bob.ctx(), &hubpb.ReadInboxMessageRequest{Id: sent[i]}); err != nil {
			t.Fatal(err)
		}
		read = append(read, sent[i])
	}
	newest := slices.Clone(sent)
	slices.Reverse(newest)

	list := func(r *hubpb.ListInboxMessagesRequest) []string {
		t.Helper()
		res, err := bob.users.ListInboxMessages(bob.ctx(), r)
		if err != nil {
			t.Fatal(err)
		}
		return ids(res.Messages)
	}
	check := func(name string, got, want []string) {
		t.Helper()
		if !slices.Equal(got, want) {
			t.Errorf("%s: got %d ids %v..., want %d %v...", name, len(got), head(got), len(want), head(want))
		}
	}

	check("default: newest first, 100", list(&hubpb.ListInboxMessagesRequest{}), newest[:100])
	check("ascending", list(&hubpb.ListInboxMessagesRequest{Ascending: true, Limit: 50}), sent[:50])
	check("limit above total", list(&hubpb.ListInboxMessagesRequest{Limit: 100000}), newest)
	check("seek descending is inclusive", list(&hubpb.ListInboxMessagesRequest{Seek: sent[150], Limit: 10}), newest[149:159])
	check("seek ascending is inclusive", list(&hubpb.ListInboxMessagesRequest{Seek: sent[150], Limit: 10, Ascending: true}), sent[150:160])
	check("upper-case seek", list(&hubpb.ListInboxMessagesRequest{Seek: strings.ToUpper(sent[10]), Limit: 1, Ascending: true}), sent[10:11])

	// The hub's own paging loop: ask for limit+1, re-seek from the last.
	var walked []string
	seek := ""
	for {
		page := list(&hubpb.ListInboxMessagesRequest{Seek: seek, Limit: 41})
		if seek != "" {
			if page[0] != seek {
				t.Fatalf("page does not start at its seek")
			}
			page = page[1:]
		}
		walked = append(walked, page...)
		if len(page) < 40 {
			break
		}
		seek = page[len(page)-1]
	}
	check("walk", walked, newest)

	unread := slices.DeleteFunc(slices.Clone(newest), func(id string) bool { return slices.Contains(read, id) })
	readNewest := slices.Clone(read)
	slices.Reverse(readNewest)
	all := hubpb.ListInboxMessagesRequest_STATUS_ALL
	check("status all", list(&hubpb.ListInboxMessagesRequest{Status: all, Limit: 1000}), newest)
	check("status read", list(&hubpb.ListInboxMessagesRequest{Status: hubpb.ListInboxMessagesRequest_STATUS_READ, Limit: 1000}), readNewest)
	check("status unread", list(&hubpb.ListInboxMessagesRequest{Status: hubpb.ListInboxMessagesRequest_STATUS_UNREAD, Limit: 1000}), unread)
	check("status unread with seek", list(&hubpb.ListInboxMessagesRequest{Status: hubpb.ListInboxMessagesRequest_STATUS_UNREAD, Seek: sent[4], Limit: 2, Ascending: true}), []string{sent[4], sent[6]})
	check("status read with seek", list(&hubpb.ListInboxMessagesRequest{Status: hubpb.ListInboxMessagesRequest_STATUS_READ, Seek: sent[4], Limit: 2, Ascending: true}), []string{sent[5], sent[10]})

	res, err := alice.users.ListSentboxMessages(alice.ctx(), &hubpb.ListSentboxMessagesRequest{Seek: sent[20], Limit: 5})
	if err != nil {
		t.Fatal(err)
	}
	check("sentbox seek", ids(res.Messages), newest[279:284])
	for _, m := range res.Messages {
		if m.ReadAt != 0 {
			t.Fatal("sentbox message with read_at")
		}
	}
}

func head(s []string) []string { return s[:min(len(s), 3)] }

// TestPageTooLarge: a page whose messages add up to more than the hub's
// reply limit (64 largest messages) is refused with ResourceExhausted, not
// built in memory and not cut short (a short page ends a client's walk);
// the Go client halves its page and still walks the whole box.
func TestPageTooLarge(t *testing.T) {
	const limit = 4 << 10 // a page may hold 256 KiB: about 60 of these
	h := hubdtest.Start(t, hubdtest.WithMaxMessageSize(limit))
	alice, bob := hubtest.NewUser(t, h), hubtest.NewUser(t, h)
	body, err := bob.Key.Public().Encrypt(make([]byte, limit-identity.Overhead))
	if err != nil {
		t.Fatal(err)
	}
	sig, _ := alice.Key.Sign(body)
	const n = 100
	if _, err := hubd.SeedMessages(h.Server, alice.Key.Public().String(), bob.Key.Public().String(), n, body, sig); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	_, err = bob.Client.ListInboxMessages(ctx, hub.InboxListOptions{Limit: n})
	if !errors.Is(err, hub.ErrTooLarge) {
		t.Fatalf("a page of %d messages of %d bytes: %v, want ErrTooLarge (ResourceExhausted)", n, limit, err)
	}
	if page, err := bob.Client.ListInboxMessages(ctx, hub.InboxListOptions{Limit: n / 2}); err != nil || len(page) != n/2 {
		t.Fatalf("a page of %d: %d messages, %v", n/2, len(page), err)
	}
	got := 0
	for _, err := range bob.Client.InboxMessages(ctx, hub.InboxListOptions{}) {
		if err != nil {
			t.Fatalf("walk after %d messages: %v", got, err)
		}
		got++
	}
	if got != n {
		t.Fatalf("walk yielded %d messages, want %d", got, n)
	}
}
