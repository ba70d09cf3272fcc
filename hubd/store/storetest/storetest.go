// Package storetest is the conformance suite every hub store passes: one
// table of behaviours the services rely on, run against a fresh store per
// case. A new store is done when Run passes against it.
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hubfs/hubfs/hubd/store"
	"github.com/hubfs/hubfs/wire"
)

// Suite says how to get stores to test.
type Suite struct {
	// Open returns a new, empty store, closed by the caller's cleanup.
	Open func(t *testing.T) store.Store
	// OpenFull, if set, returns a new store with little room left on its
	// disk (a few MiB), to check that running out of it is ErrNoSpace
	// and loses nothing acknowledged. nil skips that case.
	OpenFull func(t *testing.T) store.Store
}

// Run runs every case of the suite as a subtest of t.
func Run(t *testing.T, s Suite) {
	cases := []struct {
		name string
		run  func(t *testing.T, st store.Store)
	}{
		{"IDsIncrease", testIDsIncrease},
		{"BothCopies", testBothCopies},
		{"Paging", testPaging},
		{"Seek", testSeek},
		{"StatusFilter", testStatusFilter},
		{"MaxBytes", testMaxBytes},
		{"WithoutBodies", testWithoutBodies},
		{"MarkRead", testMarkRead},
		{"Delete", testDelete},
		{"IDsIncreaseAfterDelete", testIDsIncreaseAfterDelete},
		{"Isolation", testIsolation},
		{"Threads", testThreads},
		{"Keys", testKeys},
		{"Usage", testUsage},
		{"Idempotency", testIdempotency},
		{"IdempotencyPrune", testIdempotencyPrune},
		{"ConcurrentRepeats", testConcurrentRepeats},
		{"Batch", testBatch},
		{"Events", testEvents},
		{"Unsubscribe", testUnsubscribe},
		{"ConcurrentWriters", testConcurrentWriters},
	}
	for _, c := range append(cases, threadDBCases...) {
		t.Run(c.name, func(t *testing.T) { c.run(t, s.Open(t)) })
	}
	t.Run("NoSpace", func(t *testing.T) {
		if s.OpenFull == nil {
			t.Skip("this store has no full-disk setup")
		}
		testNoSpace(t, s.OpenFull(t))
	})
}

var ctx = context.Background()

var owners atomic.Int64

// owner is a fresh user name: stores do not check that it is a key.
func owner() string { return fmt.Sprintf("user-%d-%d", time.Now().UnixNano(), owners.Add(1)) }

// sendOf is a send from one owner to another whose bodies say n.
func sendOf(from, to string, n int) store.Send {
	return store.Send{
		From: from, To: to,
		ToBody: []byte(fmt.Sprintf("to body %d", n)), ToSignature: []byte(fmt.Sprintf("to sig %d", n)),
		FromBody: []byte(fmt.Sprintf("from body %d", n)), FromSignature: []byte(fmt.Sprintf("from sig %d", n)),
	}
}

func add(t *testing.T, st store.Store, s store.Send) store.Sent {
	t.Helper()
	sent, err := st.AddMessage(ctx, s)
	if err != nil {
		t.Fatalf("AddMessage: %v", err)
	}
	if !sent.Stored {
		t.Fatalf("AddMessage without a repeated key: Stored false")
	}
	return sent
}

// sendN sends n messages from one owner to another and returns their ids
// in send order.
func sendN(t *testing.T, st store.Store, from, to string, n int) []string {
	t.Helper()
	ids := make([]string, n)
	for i := range n {
		ids[i] = add(t, st, sendOf(from, to, i)).ID
	}
	return ids
}

func list(t *testing.T, st store.Store, q store.Query) []store.Message {
	t.Helper()
	if q.Limit == 0 {
		q.Limit = wire.MaxPageSize
	}
	msgs, err := st.ListMessages(ctx, q)
	if err != nil {
		t.Fatalf("ListMessages(%+v): %v", q, err)
	}
	return msgs
}

func idsOf(msgs []store.Message) []string {
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i] = m.ID
	}
	return out
}

func reversed(s []string) []string {
	r := slices.Clone(s)
	slices.Reverse(r)
	return r
}

func wantIDs(t *testing.T, what string, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Fatalf("%s: ids\n%v\nwant\n%v", what, got, want)
	}
}

func testIDsIncrease(t *testing.T, st store.Store) {
	a, b := owner(), owner()
	var prev string
	for i := range 200 { // many within one millisecond
		s := add(t, st, sendOf(a, b, i))
		if !wire.ValidMessageID(s.ID) {
			t.Fatalf("id %q is not a lower-case ULID", s.ID)
		}
		if s.ID <= prev {
			t.Fatalf("id %s after %s: ids are not strictly increasing", s.ID, prev)
		}
		if s.CreatedAt == 0 {
			t.Fatalf("send %d has no creation time", i)
		}
		prev = s.ID
	}
}

// testBothCopies: a send stores the recipient's copy in their inbox and the
// sender's in their sentbox, with one id and time, bodies not swapped.
func testBothCopies(t *testing.T, st store.Store) {
	a, b := owner(), owner()
	s := sendOf(a, b, 7)
	sent := add(t, st, s)
	in := list(t, st, store.Query{Box: store.Inbox, Owner: b})
	out := list(t, st, store.Query{Box: store.Sentbox, Owner: a})
	if len(in) != 1 || len(out) != 1 {
		t.Fatalf("inbox %d, sentbox %d messages; want one each", len(in), len(out))
	}
	want := store.Message{Box: store.Inbox, Owner: b, ID: sent.ID, From: a, To: b, Body: s.ToBody, Signature: s.ToSignature, CreatedAt: sent.CreatedAt}
	if !equal(in[0], want) {
		t.Errorf("inbox copy %+v, want %+v", in[0], want)
	}
	want = store.Message{Box: store.Sentbox, Owner: a, ID: sent.ID, From: a, To: b, Body: s.FromBody, Signature: s.FromSignature, CreatedAt: sent.CreatedAt}
	if !equal(out[0], want) {
		t.Errorf("sentbox copy %+v, want %+v", out[0], want)
	}
	if got := list(t, st, store.Query{Box: store.Sentbox, Owner: b}); len(got) != 0 {
		t.Errorf("the recipient's sentbox holds %d messages", len(got))
	}
	if got := list(t, st, store.Query{Box: store.Inbox, Owner: a}); len(got) != 0 {
		t.Errorf("the sender's inbox holds %d messages", len(got))
	}
}

func equal(a, b store.Message) bool {
	return a.Box == b.Box && a.Owner == b.Owner && a.ID == b.ID && a.From == b.From && a.To == b.To &&
		bytes.Equal(a.Body, b.Body) && bytes.Equal(a.Signature, b.Signature) && a.CreatedAt == b.CreatedAt && a.ReadAt == b.ReadAt
}

// testPaging: newest first by default, oldest first when ascending, limits
// honoured, in both boxes.
func testPaging(t *testing.T, st store.Store) {
	a, b := owner(), owner()
	sent := sendN(t, st, a, b, 25)
	for _, box := range []struct {
		box   store.Box
		owner string
	}{{store.Inbox, b}, {store.Sentbox, a}} {
		q := store.Query{Box: box.box, Owner: box.owner}
		wantIDs(t, box.box.String()+" descending", idsOf(list(t, st, q)), reversed(sent))
		q.Ascending = true
		wantIDs(t, box.box.String()+" ascending", idsOf(list(t, st, q)), sent)
		q.Limit = 10
		wantIDs(t, box.box.String()+" first 10 ascending", idsOf(list(t, st, q)), sent[:10])
		q.Ascending = false
		wantIDs(t, box.box.String()+" first 10 descending", idsOf(list(t, st, q)), reversed(sent)[:10])
		q.Limit = 1
		wantIDs(t, box.box.String()+" limit 1", idsOf(list(t, st, q)), sent[len(sent)-1:])
	}
	// Walking pages by seeking past the last id sees each message once.
	var walked []string
	q := store.Query{Box: store.Inbox, Owner: b, Limit: 7, Ascending: true}
	for {
		page := list(t, st, q)
		if len(walked) > 0 && len(page) > 0 && page[0].ID == walked[len(walked)-1] {
			page = page[1:] // the seek is inclusive
		}
		if len(page) == 0 {
			break
		}
		walked = append(walked, idsOf(page)...)
		q.Seek = page[len(page)-1].ID
	}
	wantIDs(t, "walk by seek", walked, sent)
}

// testSeek: seek is inclusive both ways, and an id prefix or an id between
// two stored ones seeks to its place.
func testSeek(t *testing.T, st store.Store) {
	a, b := owner(), owner()
	sent := sendN(t, st, a, b, 10)
	q := store.Query{Box: store.Inbox, Owner: b, Seek: sent[4], Ascending: true}
	wantIDs(t, "ascending from the 5th", idsOf(list(t, st, q)), sent[4:])
	q.Ascending = false
	wantIDs(t, "descending from the 5th", idsOf(list(t, st, q)), reversed(sent[:5]))
	q.Limit = 2
	wantIDs(t, "two descending from the 5th", idsOf(list(t, st, q)), []string{sent[4], sent[3]})

	// Just after the 5th id (a longer string sorts after its prefix).
	q = store.Query{Box: store.Inbox, Owner: b, Seek: sent[4] + "0", Ascending: true}
	wantIDs(t, "ascending from between the 5th and 6th", idsOf(list(t, st, q)), sent[5:])
	q.Ascending = false
	wantIDs(t, "descending from between the 5th and 6th", idsOf(list(t, st, q)), reversed(sent[:5]))
	q = store.Query{Box: store.Inbox, Owner: b, Seek: "0", Ascending: true}
	wantIDs(t, "ascending from the smallest id", idsOf(list(t, st, q)), sent)
	q = store.Query{Box: store.Inbox, Owner: b, Seek: "zzzzzzzzzzzzzzzzzzzzzzzzzz"}
	wantIDs(t, "descending from the largest id", idsOf(list(t, st, q)), reversed(sent))
	q.Ascending = true
	wantIDs(t, "ascending from the largest id", idsOf(list(t, st, q)), nil)
}

func testStatusFilter(t *testing.T, st store.Store) {
	a, b := owner(), owner()
	sent := sendN(t, st, a, b, 12)
	var read, unread []string
	for i, id := range sent {
		if i%3 == 0 {
			if _, err := st.MarkRead(ctx, b, id, time.Now().UnixNano()); err != nil {
				t.Fatal(err)
			}
			read = append(read, id)
		} else {
			unread = append(unread, id)
		}
	}
	yes, no := true, false
	wantIDs(t, "read", idsOf(list(t, st, store.Query{Box: store.Inbox, Owner: b, Read: &yes, Ascending: true})), read)
	wantIDs(t, "unread", idsOf(list(t, st, store.Query{Box: store.Inbox, Owner: b, Read: &no, Ascending: true})), unread)
	wantIDs(t, "all", idsOf(list(t, st, store.Query{Box: store.Inbox, Owner: b, Ascending: true})), sent)
	// With a limit and a seek, the filter applies before the limit.
	q := store.Query{Box: store.Inbox, Owner: b, Read: &yes, Ascending: true, Seek: sent[1], Limit: 2}
	wantIDs(t, "read from the 2nd, two", idsOf(list(t, st, q)), read[1:3])
}

// testMaxBytes: a page over MaxBytes fails with ErrTooLarge, one within it
// is whole.
func testMaxBytes(t *testing.T, st store.Store) {
	a, b := owner(), owner()
	sendN(t, st, a, b, 10)
	all := list(t, st, store.Query{Box: store.Inbox, Owner: b})
	size := 0
	for _, m := range all {
		size += store.PageSize(m)
	}
	if got := list(t, st, store.Query{Box: store.Inbox, Owner: b, MaxBytes: size}); len(got) != len(all) {
		t.Fatalf("a page of exactly MaxBytes: %d messages, want %d", len(got), len(all))
	}
	_, err := st.ListMessages(ctx, store.Query{Box: store.Inbox, Owner: b, Limit: 100, MaxBytes: size - 1})
	if !errors.Is(err, store.ErrTooLarge) {
		t.Fatalf("a page one byte over MaxBytes: %v, want ErrTooLarge", err)
	}
	if got := list(t, st, store.Query{Box: store.Inbox, Owner: b, Limit: 9, MaxBytes: size - 1}); len(got) != 9 {
		t.Fatalf("a shorter page within MaxBytes: %d messages", len(got))
	}
}

// testWithoutBodies: a listing without bodies has every message's
// metadata and body size and no body, in both boxes and with seek and
// filter; its MaxBytes counts metadata only, so a page whose bodies are
// over the budget fits; a listing with bodies reports the size too.
func testWithoutBodies(t *testing.T, st store.Store) {
	a, b := owner(), owner()
	big := make([]byte, 64<<10)
	var sends []store.Send
	for i := range 6 {
		s := sendOf(a, b, i)
		s.ToBody = append(big[:i*1000:i*1000], s.ToBody...)
		sends = append(sends, s)
	}
	for _, s := range sends {
		add(t, st, s)
	}
	if _, err := st.MarkRead(ctx, b, list(t, st, store.Query{Box: store.Inbox, Owner: b, Ascending: true})[1].ID, 5); err != nil {
		t.Fatal(err)
	}
	for _, box := range []store.Box{store.Inbox, store.Sentbox} {
		o := b
		if box == store.Sentbox {
			o = a
		}
		full := list(t, st, store.Query{Box: box, Owner: o, Ascending: true})
		bare := list(t, st, store.Query{Box: box, Owner: o, Ascending: true, WithoutBodies: true})
		if len(full) != len(sends) || len(bare) != len(full) {
			t.Fatalf("%s: %d with bodies, %d without; want %d", box, len(full), len(bare), len(sends))
		}
		meta := 0
		for i, m := range bare {
			f := full[i]
			if f.BodySize != int64(len(f.Body)) {
				t.Errorf("%s %s with its body: BodySize %d, body %d bytes", box, f.ID, f.BodySize, len(f.Body))
			}
			if m.Body != nil || m.BodySize != int64(len(f.Body)) {
				t.Errorf("%s %s without bodies: body %d bytes (nil %v), BodySize %d; want nil and %d", box, m.ID, len(m.Body), m.Body == nil, m.BodySize, len(f.Body))
			}
			f.Body = nil
			if !equal(m, f) {
				t.Errorf("%s without bodies: %+v, want %+v", box, m, f)
			}
			meta += store.PageSize(m)
		}
		got := list(t, st, store.Query{Box: box, Owner: o, Ascending: true, WithoutBodies: true, MaxBytes: meta})
		if len(got) != len(sends) {
			t.Errorf("%s: a metadata page of exactly MaxBytes: %d messages, want %d", box, len(got), len(sends))
		}
		if _, err := st.ListMessages(ctx, store.Query{Box: box, Owner: o, Limit: 100, WithoutBodies: true, MaxBytes: meta - 1}); !errors.Is(err, store.ErrTooLarge) {
			t.Errorf("%s: a metadata page one byte over MaxBytes: %v, want ErrTooLarge", box, err)
		}
		if _, err := st.ListMessages(ctx, store.Query{Box: box, Owner: o, Limit: 100, MaxBytes: meta}); !errors.Is(err, store.ErrTooLarge) {
			t.Errorf("%s: the same budget with bodies: %v, want ErrTooLarge", box, err)
		}
		seek := list(t, st, store.Query{Box: box, Owner: o, Seek: full[3].ID, Limit: 2, WithoutBodies: true})
		wantIDs(t, box.String()+" seek without bodies", idsOf(seek), []string{full[3].ID, full[2].ID})
	}
	read := true
	got := list(t, st, store.Query{Box: store.Inbox, Owner: b, Read: &read, WithoutBodies: true})
	if len(got) != 1 || got[0].Body != nil || got[0].BodySize != int64(len(sends[1].ToBody)) {
		t.Errorf("read inbox messages without bodies: %+v", got)
	}
}

func testMarkRead(t *testing.T, st store.Store) {
	a, b := owner(), owner()
	ids := sendN(t, st, a, b, 2)
	at := time.Now().UnixNano()
	m, err := st.MarkRead(ctx, b, ids[0], at)
	if err != nil {
		t.Fatal(err)
	}
	if m.ID != ids[0] || m.ReadAt != at || m.Box != store.Inbox || m.Owner != b || len(m.Body) == 0 {
		t.Fatalf("MarkRead returned %+v", m)
	}
	got := list(t, st, store.Query{Box: store.Inbox, Owner: b, Ascending: true})
	if got[0].ReadAt != at || got[1].ReadAt != 0 {
		t.Fatalf("read_at after MarkRead: %d, %d", got[0].ReadAt, got[1].ReadAt)
	}
	if out := list(t, st, store.Query{Box: store.Sentbox, Owner: a}); out[0].ReadAt != 0 || out[1].ReadAt != 0 {
		t.Fatal("MarkRead changed the sentbox copy")
	}
	if _, err := st.MarkRead(ctx, b, "01zzzzzzzzzzzzzzzzzzzzzzzz", at); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("MarkRead of an unknown id: %v, want ErrNotFound", err)
	}
	// The sender has the id only in their sentbox, which has no read state.
	if _, err := st.MarkRead(ctx, a, ids[1], at); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("MarkRead of a sentbox copy: %v, want ErrNotFound", err)
	}
}

func testDelete(t *testing.T, st store.Store) {
	a, b := owner(), owner()
	ids := sendN(t, st, a, b, 3)
	ok, err := st.DeleteMessage(ctx, store.Inbox, b, ids[1])
	if err != nil || !ok {
		t.Fatalf("DeleteMessage = %v, %v; want true", ok, err)
	}
	wantIDs(t, "inbox after delete", idsOf(list(t, st, store.Query{Box: store.Inbox, Owner: b, Ascending: true})), []string{ids[0], ids[2]})
	wantIDs(t, "sentbox after the inbox copy's delete", idsOf(list(t, st, store.Query{Box: store.Sentbox, Owner: a, Ascending: true})), ids)
	if ok, err := st.DeleteMessage(ctx, store.Inbox, b, ids[1]); err != nil || ok {
		t.Fatalf("second DeleteMessage = %v, %v; want false", ok, err)
	}
	if ok, err := st.DeleteMessage(ctx, store.Sentbox, a, ids[1]); err != nil || !ok {
		t.Fatalf("DeleteMessage of the sentbox copy = %v, %v; want true", ok, err)
	}
	wantIDs(t, "sentbox after delete", idsOf(list(t, st, store.Query{Box: store.Sentbox, Owner: a, Ascending: true})), []string{ids[0], ids[2]})
}

// testIDsIncreaseAfterDelete: deleting the newest message does not let the
// next id sort before it (a client may have seen it).
func testIDsIncreaseAfterDelete(t *testing.T, st store.Store) {
	a, b := owner(), owner()
	ids := sendN(t, st, a, b, 3)
	for _, box := range []struct {
		box   store.Box
		owner string
	}{{store.Inbox, b}, {store.Sentbox, a}} {
		if _, err := st.DeleteMessage(ctx, box.box, box.owner, ids[2]); err != nil {
			t.Fatal(err)
		}
	}
	if next := add(t, st, sendOf(a, b, 9)); next.ID <= ids[2] {
		t.Fatalf("id %s after deleting %s sorts before it", next.ID, ids[2])
	}
}

// testIsolation: an owner sees, reads and deletes only their own copies.
func testIsolation(t *testing.T, st store.Store) {
	a, b, c := owner(), owner(), owner()
	ids := sendN(t, st, a, b, 3)
	for _, box := range []store.Box{store.Inbox, store.Sentbox} {
		if got := list(t, st, store.Query{Box: box, Owner: c}); len(got) != 0 {
			t.Fatalf("a third user's %s holds %d messages", box, len(got))
		}
		if ok, err := st.DeleteMessage(ctx, box, c, ids[0]); err != nil || ok {
			t.Fatalf("a third user's delete of %s/%s = %v, %v; want false", box, ids[0], ok, err)
		}
	}
	if _, err := st.MarkRead(ctx, c, ids[0], 1); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a third user's MarkRead: %v, want ErrNotFound", err)
	}
	if got := list(t, st, store.Query{Box: store.Inbox, Owner: b}); len(got) != 3 || got[0].ReadAt != 0 {
		t.Fatalf("the recipient's inbox after a third user's calls: %d messages, read_at %d", len(got), got[0].ReadAt)
	}
	// The same messages sent by c to b land beside a's, each with its sender.
	add(t, st, sendOf(c, b, 0))
	var from []string
	for _, m := range list(t, st, store.Query{Box: store.Inbox, Owner: b, Ascending: true}) {
		from = append(from, m.From)
	}
	wantIDs(t, "senders in the inbox", from, []string{a, a, a, c})
	if got := list(t, st, store.Query{Box: store.Sentbox, Owner: a}); len(got) != 3 {
		t.Fatalf("a's sentbox holds %d messages after c's send, want 3", len(got))
	}
}

func thread(owner, name string, at time.Time) store.Thread {
	return store.Thread{ID: []byte(fmt.Sprintf("thread-%s-%s-%d", owner, name, at.UnixNano())), Owner: owner, Name: name, IsDB: true, CreatedAt: at}
}

func testThreads(t *testing.T, st store.Store) {
	a, b := owner(), owner()
	now := time.Now()
	mb := thread(a, wire.MailboxName, now)
	got, err := st.CreateThread(ctx, mb)
	if err != nil || !bytes.Equal(got.ID, mb.ID) {
		t.Fatalf("CreateThread = %+v, %v", got, err)
	}
	// The same name again: the existing thread, ErrNameTaken.
	again := thread(a, wire.MailboxName, now.Add(time.Second))
	got, err = st.CreateThread(ctx, again)
	if !errors.Is(err, store.ErrNameTaken) || !bytes.Equal(got.ID, mb.ID) {
		t.Fatalf("CreateThread of a taken name = %x, %v; want %x, ErrNameTaken", got.ID, err, mb.ID)
	}
	// Another owner may use the name; nobody may reuse the id.
	if _, err := st.CreateThread(ctx, thread(b, wire.MailboxName, now)); err != nil {
		t.Fatalf("another owner's thread of the same name: %v", err)
	}
	dup := thread(b, "other", now)
	dup.ID = mb.ID
	if _, err := st.CreateThread(ctx, dup); !errors.Is(err, store.ErrIDTaken) {
		t.Fatalf("CreateThread of a taken id: %v, want ErrIDTaken", err)
	}
	// Unnamed threads never clash by name.
	u1, u2 := thread(a, "", now.Add(2*time.Second)), thread(a, "", now.Add(3*time.Second))
	u2.ID = append(u2.ID, 'x')
	for _, u := range []store.Thread{u1, u2} {
		if _, err := st.CreateThread(ctx, u); err != nil {
			t.Fatalf("unnamed thread: %v", err)
		}
	}
	g, err := st.GetThread(ctx, a, wire.MailboxName)
	if err != nil || !bytes.Equal(g.ID, mb.ID) || g.Owner != a || g.Name != wire.MailboxName || !g.IsDB || !g.CreatedAt.Equal(mb.CreatedAt) {
		t.Fatalf("GetThread = %+v, %v; want %+v", g, err, mb)
	}
	if g, err := st.GetThreadByID(ctx, mb.ID); err != nil || g.Owner != a || g.Name != wire.MailboxName {
		t.Fatalf("GetThreadByID = %+v, %v", g, err)
	}
	if _, err := st.GetThread(ctx, a, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetThread of an unknown name: %v, want ErrNotFound", err)
	}
	if _, err := st.GetThreadByID(ctx, []byte("nope")); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetThreadByID of an unknown id: %v, want ErrNotFound", err)
	}
	ts, err := st.ListThreads(ctx, a)
	if err != nil || len(ts) != 3 || !bytes.Equal(ts[0].ID, mb.ID) || !bytes.Equal(ts[1].ID, u1.ID) || !bytes.Equal(ts[2].ID, u2.ID) {
		t.Fatalf("ListThreads = %+v, %v; want the mailbox and two unnamed, in creation order", ts, err)
	}
	if err := st.DeleteThread(ctx, u1.ID); err != nil {
		t.Fatal(err)
	}
	if err := st.DeleteThread(ctx, u1.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("second DeleteThread: %v, want ErrNotFound", err)
	}
	if ts, _ := st.ListThreads(ctx, a); len(ts) != 2 {
		t.Fatalf("%d threads after a delete, want 2", len(ts))
	}
	if ts, _ := st.ListThreads(ctx, b); len(ts) != 1 {
		t.Fatalf("b has %d threads, want 1", len(ts))
	}
}

func testKeys(t *testing.T, st store.Store) {
	if keys, err := st.ListKeys(ctx); err != nil || len(keys) != 0 {
		t.Fatalf("a new store's keys: %v, %v", keys, err)
	}
	now := time.Now().UTC()
	k1 := store.APIKey{Key: "bkey1", Secret: "bsecret1", CreatedAt: now}
	k2 := store.APIKey{Key: "bkey0", Secret: "bsecret2", CreatedAt: now.Add(time.Second)}
	for _, k := range []store.APIKey{k1, k2} {
		if err := st.CreateKey(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.CreateKey(ctx, k1); err == nil {
		t.Fatal("CreateKey of an existing key succeeded")
	}
	got, err := st.GetKey(ctx, k1.Key)
	if err != nil || got.Key != k1.Key || got.Secret != k1.Secret || !got.CreatedAt.Equal(k1.CreatedAt) || got.Revoked {
		t.Fatalf("GetKey = %+v, %v; want %+v", got, err, k1)
	}
	if _, err := st.GetKey(ctx, "bnope"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetKey of an unknown key: %v, want ErrNotFound", err)
	}
	if err := st.RevokeKey(ctx, k1.Key); err != nil {
		t.Fatal(err)
	}
	if err := st.RevokeKey(ctx, "bnope"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("RevokeKey of an unknown key: %v, want ErrNotFound", err)
	}
	if got, err := st.GetKey(ctx, k1.Key); err != nil || !got.Revoked {
		t.Fatalf("GetKey of a revoked key = %+v, %v; want it, revoked", got, err)
	}
	keys, err := st.ListKeys(ctx)
	if err != nil || len(keys) != 2 {
		t.Fatalf("ListKeys = %+v, %v", keys, err)
	}
	// Oldest first, whatever the keys' own order.
	if keys[0].Key != k1.Key || !keys[0].Revoked || keys[1].Key != k2.Key || keys[1].Revoked || keys[1].Secret != k2.Secret {
		t.Fatalf("ListKeys = %+v; want k1 (revoked) then k2", keys)
	}
}

func testUsage(t *testing.T, st store.Store) {
	a, b := owner(), owner()
	if u, err := st.Usage(ctx, a); err != nil || u != (store.Usage{}) {
		t.Fatalf("an unknown user's usage = %+v, %v; want zero", u, err)
	}
	before := time.Now()
	if _, err := st.CreateThread(ctx, thread(a, wire.MailboxName, before)); err != nil {
		t.Fatal(err)
	}
	ids := sendN(t, st, a, b, 3)
	add(t, st, sendOf(b, a, 0))
	if _, err := st.DeleteMessage(ctx, store.Sentbox, a, ids[0]); err != nil {
		t.Fatal(err)
	}
	u, err := st.Usage(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	s := sendOf(a, b, 0)
	r := sendOf(b, a, 0)
	// Two sentbox copies left (bodies "from body 1/2" and their
	// signatures) and one inbox copy from b.
	wantBytes := int64(2*(len(s.FromBody)+len(s.FromSignature)) + len(r.ToBody) + len(r.ToSignature))
	if u.InboxMessages != 1 || u.SentboxMessages != 2 || u.SentMessages != 3 || u.StoredBytes != wantBytes {
		t.Fatalf("usage = %+v; want 1 inbox, 2 sentbox, 3 sent, %d bytes", u, wantBytes)
	}
	if !u.FirstSeen.Equal(before) {
		t.Fatalf("first seen %v, want the mailbox's creation %v", u.FirstSeen, before)
	}
	ub, err := st.Usage(ctx, b)
	if err != nil || ub.InboxMessages != 3 || ub.SentboxMessages != 1 || ub.SentMessages != 1 || ub.FirstSeen.IsZero() {
		t.Fatalf("b's usage = %+v, %v", ub, err)
	}
}

func testIdempotency(t *testing.T, st store.Store) {
	a, b, c := owner(), owner(), owner()
	var r recorder
	defer st.Subscribe(r.add)()

	s := sendOf(a, b, 1)
	s.Key = "k-1"
	first := add(t, st, s)
	repeat, err := st.AddMessage(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	if repeat.Stored || repeat.ID != first.ID || repeat.CreatedAt != first.CreatedAt {
		t.Fatalf("a repeat = %+v; want the first send's id and time, not stored (%+v)", repeat, first)
	}
	// A different body under the same key is still a repeat: the key names
	// the send.
	other := sendOf(a, b, 2)
	other.Key = s.Key
	if r, err := st.AddMessage(ctx, other); err != nil || r.Stored || r.ID != first.ID {
		t.Fatalf("another body under the same key = %+v, %v; want the first id", r, err)
	}
	if got := list(t, st, store.Query{Box: store.Inbox, Owner: b}); len(got) != 1 {
		t.Fatalf("inbox holds %d messages after repeats, want 1", len(got))
	}
	if u, _ := st.Usage(ctx, a); u.SentMessages != 1 {
		t.Fatalf("sent count %d after repeats, want 1", u.SentMessages)
	}
	// A store may deliver events from another goroutine: a send after the
	// repeats marks where their events would have been.
	mark := add(t, st, sendOf(c, c, 0))
	checkEvents(t, r.waitFor(t, 4), []wantEvent{
		{store.Create, store.Inbox, b, first.ID},
		{store.Create, store.Sentbox, a, first.ID},
		{store.Create, store.Inbox, c, mark.ID},
		{store.Create, store.Sentbox, c, mark.ID},
	})
	// Keys are the sender's: another sender's same key is a new send.
	s2 := sendOf(c, b, 1)
	s2.Key = s.Key
	if r := add(t, st, s2); r.ID == first.ID {
		t.Fatal("another sender's send under the same key was taken for a repeat")
	}
	// No key, no deduplication.
	s3 := sendOf(a, b, 1)
	add(t, st, s3)
	add(t, st, s3)
	if got := list(t, st, store.Query{Box: store.Inbox, Owner: b}); len(got) != 4 {
		t.Fatalf("inbox holds %d messages, want 4", len(got))
	}
}

func testIdempotencyPrune(t *testing.T, st store.Store) {
	a, b := owner(), owner()
	old := sendOf(a, b, 1)
	old.Key = "k-old"
	first := add(t, st, old)
	cut := time.Now().UnixNano()
	for cut <= first.CreatedAt {
		cut = time.Now().UnixNano()
	}
	for time.Now().UnixNano() <= cut { // the next send's time must be after cut
	}
	young := sendOf(a, b, 2)
	young.Key = "k-young"
	add(t, st, young)

	n, err := st.PruneSendKeys(ctx, cut)
	if err != nil || n != 1 {
		t.Fatalf("PruneSendKeys = %d, %v; want 1", n, err)
	}
	again, err := st.AddMessage(ctx, old)
	if err != nil || !again.Stored || again.ID == first.ID {
		t.Fatalf("a send under a pruned key = %+v, %v; want stored anew", again, err)
	}
	if r, err := st.AddMessage(ctx, young); err != nil || r.Stored {
		t.Fatalf("a send under a key younger than the cut = %+v, %v; want a repeat", r, err)
	}
	if n, err := st.PruneSendKeys(ctx, cut); err != nil || n != 0 {
		t.Fatalf("a second prune = %d, %v; want 0", n, err)
	}
}

// testBatch: AddMessages stores each send as AddMessage would, ids
// increasing in slice order, repeats answered within the batch too.
func testBatch(t *testing.T, st store.Store) {
	a, b := owner(), owner()
	sends := make([]store.Send, 50)
	for i := range sends {
		sends[i] = sendOf(a, b, i)
	}
	sends[10].Key = "batch-key"
	sends[20] = sends[10]
	sent, err := st.AddMessages(ctx, sends)
	if err != nil || len(sent) != len(sends) {
		t.Fatalf("AddMessages = %d results, %v", len(sent), err)
	}
	if sent[20].Stored || sent[20].ID != sent[10].ID {
		t.Fatalf("a repeated key within a batch = %+v, want the 11th send's id %s", sent[20], sent[10].ID)
	}
	var ids []string
	for i, s := range sent {
		if i == 20 {
			continue
		}
		if !s.Stored {
			t.Fatalf("send %d not stored", i)
		}
		ids = append(ids, s.ID)
	}
	if !sort.StringsAreSorted(ids) {
		t.Fatal("batch ids are not increasing in slice order")
	}
	wantIDs(t, "inbox after a batch", idsOf(list(t, st, store.Query{Box: store.Inbox, Owner: b, Ascending: true})), ids)
	if next := add(t, st, sendOf(a, b, 99)); next.ID <= ids[len(ids)-1] {
		t.Fatal("an id after a batch sorts before its last")
	}
}

// recorder collects events.
type recorder struct {
	mu     sync.Mutex
	events []store.Event
}

func (r *recorder) add(e store.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

func (r *recorder) take() []store.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.events
	r.events = nil
	return out
}

// waitFor returns once the recorder holds n events, or fails after a
// generous deadline (a store may deliver from another goroutine).
func (r *recorder) waitFor(t *testing.T, n int) []store.Event {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r.mu.Lock()
		got := len(r.events)
		r.mu.Unlock()
		if got >= n {
			return r.take()
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d events, want %d", got, n)
		}
		time.Sleep(time.Millisecond)
	}
}

type wantEvent struct {
	action store.Action
	box    store.Box
	owner  string
	id     string
}

func checkEvents(t *testing.T, got []store.Event, want []wantEvent) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d events, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		g := got[i]
		if g.Action != w.action || g.Message.Box != w.box || g.Message.Owner != w.owner || g.Message.ID != w.id {
			t.Fatalf("event %d: %v %s/%s %s, want %v %s/%s %s", i, g.Action, g.Message.Owner, g.Message.Box, g.Message.ID, w.action, w.owner, w.box, w.id)
		}
	}
}

// testEvents: every change is published once, in commit order, with the
// copy as committed for creates and saves; no change, no event.
func testEvents(t *testing.T, st store.Store) {
	a, b := owner(), owner()
	var r recorder
	defer st.Subscribe(r.add)()
	s := sendOf(a, b, 1)
	sent := add(t, st, s)
	got := r.waitFor(t, 2)
	checkEvents(t, got, []wantEvent{
		{store.Create, store.Inbox, b, sent.ID},
		{store.Create, store.Sentbox, a, sent.ID},
	})
	if !bytes.Equal(got[0].Message.Body, s.ToBody) || !bytes.Equal(got[1].Message.Body, s.FromBody) ||
		got[0].Message.From != a || got[0].Message.To != b || got[0].Message.CreatedAt != sent.CreatedAt {
		t.Fatalf("create events carry %+v and %+v", got[0].Message, got[1].Message)
	}

	at := time.Now().UnixNano()
	if _, err := st.MarkRead(ctx, b, sent.ID, at); err != nil {
		t.Fatal(err)
	}
	got = r.waitFor(t, 1)
	checkEvents(t, got, []wantEvent{{store.Save, store.Inbox, b, sent.ID}})
	if got[0].Message.ReadAt != at || !bytes.Equal(got[0].Message.Body, s.ToBody) {
		t.Fatalf("save event carries %+v", got[0].Message)
	}

	// Changes that change nothing publish nothing; the next real change
	// shows that nothing came before it.
	st.DeleteMessage(ctx, store.Inbox, b, "01zzzzzzzzzzzzzzzzzzzzzzzz")
	st.MarkRead(ctx, b, "01zzzzzzzzzzzzzzzzzzzzzzzz", at)
	if _, err := st.DeleteMessage(ctx, store.Sentbox, a, sent.ID); err != nil {
		t.Fatal(err)
	}
	next := add(t, st, sendOf(b, a, 2))
	if _, err := st.DeleteMessage(ctx, store.Inbox, b, sent.ID); err != nil {
		t.Fatal(err)
	}
	checkEvents(t, r.waitFor(t, 4), []wantEvent{
		{store.Delete, store.Sentbox, a, sent.ID},
		{store.Create, store.Inbox, a, next.ID},
		{store.Create, store.Sentbox, b, next.ID},
		{store.Delete, store.Inbox, b, sent.ID},
	})

	// Threads and keys are not mailbox changes.
	st.CreateThread(ctx, thread(a, "x", time.Now()))
	st.CreateKey(ctx, store.APIKey{Key: "bevents", Secret: "s", CreatedAt: time.Now()})
	last := add(t, st, sendOf(a, a, 3)) // to oneself: both copies are a's
	checkEvents(t, r.waitFor(t, 2), []wantEvent{
		{store.Create, store.Inbox, a, last.ID},
		{store.Create, store.Sentbox, a, last.ID},
	})
}

func testUnsubscribe(t *testing.T, st store.Store) {
	a, b := owner(), owner()
	var r1, r2 recorder
	cancel1 := st.Subscribe(r1.add)
	defer st.Subscribe(r2.add)()
	add(t, st, sendOf(a, b, 1))
	r1.waitFor(t, 2)
	r2.waitFor(t, 2)
	cancel1()
	add(t, st, sendOf(a, b, 2))
	r2.waitFor(t, 2) // r2 has the second send, so r1 would have by now
	if got := r1.take(); len(got) != 0 {
		t.Fatalf("%d events after unsubscribing", len(got))
	}
}

// testConcurrentWriters: senders, readers and deleters at once lose and
// duplicate no id, and the events come in commit order: each owner's
// creates in increasing id order, and every save or delete after the
// create of its message.
// testConcurrentRepeats: many sends under one key at once (a client
// retrying while its first try is still in flight), which a store that
// commits concurrent sends together meets inside one transaction: one is
// stored, every other is a repeat answered with its id and time.
func testConcurrentRepeats(t *testing.T, st store.Store) {
	const tries = 16
	a, b, c := owner(), owner(), owner()
	var r recorder
	defer st.Subscribe(r.add)()
	s := sendOf(a, b, 1)
	s.Key = "k-concurrent"
	results := make([]store.Sent, tries)
	errs := make([]error, tries)
	var wg sync.WaitGroup
	for i := range tries {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = st.AddMessage(ctx, s)
		}()
	}
	wg.Wait()
	var first store.Sent
	for i, res := range results {
		if errs[i] != nil {
			t.Fatalf("send %d: %v", i, errs[i])
		}
		if res.Stored {
			if first.Stored {
				t.Fatalf("two sends under one key were stored: %s and %s", first.ID, res.ID)
			}
			first = res
		}
	}
	if !first.Stored {
		t.Fatal("no send under the key was stored")
	}
	for i, res := range results {
		if res.ID != first.ID || res.CreatedAt != first.CreatedAt {
			t.Fatalf("send %d = %+v, want the stored send's id and time %+v", i, res, first)
		}
	}
	if got := list(t, st, store.Query{Box: store.Inbox, Owner: b}); len(got) != 1 {
		t.Fatalf("inbox holds %d messages, want 1", len(got))
	}
	mark := add(t, st, sendOf(c, c, 0))
	checkEvents(t, r.waitFor(t, 4), []wantEvent{
		{store.Create, store.Inbox, b, first.ID},
		{store.Create, store.Sentbox, a, first.ID},
		{store.Create, store.Inbox, c, mark.ID},
		{store.Create, store.Sentbox, c, mark.ID},
	})
}

func testConcurrentWriters(t *testing.T, st store.Store) {
	const writers, each = 32, 10
	recipients := []string{owner(), owner()}
	var r recorder
	// A subscriber that takes a little while over each event (as one
	// that formats it does) lets writers pile up behind the feed, which
	// is where a store that publishes outside its commit order shows it.
	defer st.Subscribe(func(e store.Event) {
		for start := time.Now(); time.Since(start) < 50*time.Microsecond; {
		}
		r.add(e)
	})()

	var wg sync.WaitGroup
	sentIDs := make([][]string, writers)
	errs := make(chan error, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			from := owner()
			to := recipients[w%len(recipients)]
			for i := range each {
				s, err := st.AddMessage(ctx, sendOf(from, to, i))
				if err != nil {
					errs <- err
					return
				}
				sentIDs[w] = append(sentIDs[w], s.ID)
				switch i % 5 {
				case 1:
					if _, err := st.MarkRead(ctx, to, s.ID, time.Now().UnixNano()); err != nil {
						errs <- err
						return
					}
				case 2:
					if _, err := st.DeleteMessage(ctx, store.Sentbox, from, s.ID); err != nil {
						errs <- err
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("a concurrent write failed: %v", err)
	}

	var all []string
	for _, ids := range sentIDs {
		if !sort.StringsAreSorted(ids) {
			t.Fatal("one sender's ids are not increasing")
		}
		all = append(all, ids...)
	}
	sort.Strings(all)
	if len(slices.Compact(slices.Clone(all))) != writers*each {
		t.Fatal("two sends got the same id")
	}
	var listed []string
	for _, to := range recipients {
		listed = append(listed, idsOf(list(t, st, store.Query{Box: store.Inbox, Owner: to}))...)
	}
	sort.Strings(listed)
	wantIDs(t, "every inbox copy listed", listed, all)

	// 2 creates per send, a save per fifth and a delete per fifth.
	events := r.waitFor(t, writers*each*2+2*writers*each/5)
	lastCreate := map[string]string{} // owner/box -> last created id
	created := map[string]bool{}      // owner/box/id
	for i, e := range events {
		m := e.Message
		box := m.Owner + "/" + m.Box.String()
		switch e.Action {
		case store.Create:
			if m.ID <= lastCreate[box] {
				t.Fatalf("event %d: create of %s in %s after %s: not in commit order", i, m.ID, box, lastCreate[box])
			}
			lastCreate[box] = m.ID
			created[box+"/"+m.ID] = true
		default:
			if !created[box+"/"+m.ID] {
				t.Fatalf("event %d: %v of %s in %s before its create", i, e.Action, m.ID, box)
			}
		}
	}
}

// testNoSpace: on a full disk a send fails with ErrNoSpace, keeps nothing
// of itself, and every send acknowledged before it is there.
func testNoSpace(t *testing.T, st store.Store) {
	a, b := owner(), owner()
	big := make([]byte, 64<<10)
	var acked []string
	var refusal error
	for range 1000 {
		s, err := st.AddMessage(ctx, store.Send{From: a, To: b, ToBody: big, ToSignature: []byte("s"), FromBody: big, FromSignature: []byte("s")})
		if err != nil {
			refusal = err
			break
		}
		acked = append(acked, s.ID)
	}
	if refusal == nil {
		t.Fatalf("%d sends of 128 KiB fit: the disk is not small", len(acked))
	}
	if !errors.Is(refusal, store.ErrNoSpace) {
		t.Fatalf("a send on a full disk: %v, want ErrNoSpace", refusal)
	}
	for _, box := range []struct {
		box   store.Box
		owner string
	}{{store.Inbox, b}, {store.Sentbox, a}} {
		var got []string
		for _, m := range list(t, st, store.Query{Box: box.box, Owner: box.owner, Ascending: true}) {
			got = append(got, m.ID)
		}
		wantIDs(t, box.box.String()+" on a full disk", got, acked)
	}
	if u, err := st.Usage(ctx, a); err != nil || u.SentMessages != int64(len(acked)) {
		t.Fatalf("sent count on a full disk = %+v, %v; want %d", u, err, len(acked))
	}
}
