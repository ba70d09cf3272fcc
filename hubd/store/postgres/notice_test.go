package postgres

import (
	"testing"

	"github.com/hubfs/hubfs/hubd/store"
)

// TestInstanceNoticeApart: an instance notice is never taken for a
// mailbox one (by this version or an older one, which knows only
// parsePayload), and a mailbox notice never for an instance one.
func TestInstanceNoticeApart(t *testing.T) {
	ev := &store.InstanceEvent{Thread: []byte{1, 2}, Owner: "o", Collection: "c", ID: "i"}
	for _, a := range []store.Action{store.Create, store.Save, store.Delete} {
		p := instancePayload(a, ev, "tag")
		if k, ok := parsePayload(p); ok {
			t.Fatalf("instance notice %s parsed as a mailbox event %+v", p, k)
		}
		n, ok := parseInstancePayload(p)
		if !ok || actions[n.Action] != a || string(n.Thread) != "\x01\x02" || n.Owner != "o" || n.Collection != "c" || n.ID != "i" || n.Tag != "tag" {
			t.Fatalf("instance notice %s parsed as %+v, %v", p, n, ok)
		}
		m := eventKey{a, store.Inbox, "o", "i"}.payload()
		if _, ok := parseInstancePayload(m); ok {
			t.Fatalf("mailbox notice %s parsed as an instance one", m)
		}
	}
	var tg tagger
	if x, y := tg.next(), tg.next(); x == y {
		t.Fatalf("two tags alike: %s", x)
	}
}
