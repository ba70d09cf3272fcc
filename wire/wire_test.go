package wire

import (
	"strings"
	"testing"
)

func TestMessageIDs(t *testing.T) {
	for _, c := range []struct {
		id           string
		check, valid bool
	}{
		{"01m8gt9da8984fcqrrjd3jg6hr", true, true},
		{"01M8GT9DA8984FCQRRJD3JG6HR", true, false}, // a hub's reply in upper case parses; a file name must be canonical
		{"", false, false},
		{"01m8gt9da8984fcqrrjd3jg6h", false, false},   // 25 characters
		{"01m8gt9da8984fcqrrjd3jg6hru", false, false}, // 27
		{"01m8gt9da8984fcqrrjd3jg6hu", false, false},  // u is not in the alphabet
		{"81m8gt9da8984fcqrrjd3jg6hr", false, false},  // overflows 128 bits
		{"../../../../../../etc/pass", false, false},
	} {
		if got := CheckMessageID(c.id) == nil; got != c.check {
			t.Errorf("CheckMessageID(%q) ok = %v, want %v", c.id, got, c.check)
		}
		if got := ValidMessageID(c.id); got != c.valid {
			t.Errorf("ValidMessageID(%q) = %v, want %v", c.id, got, c.valid)
		}
	}
	if err := CheckMessageID(strings.Repeat("x", 1000)); err == nil || len(err.Error()) > 200 {
		t.Errorf("a long bad id: %v (the error must not echo it whole)", err)
	}
}

// TestReceiveCoversTheLargestMessage: a watch event carries the body as
// base64 in JSON, the largest form a stored message takes on the wire.
func TestReceiveCoversTheLargestMessage(t *testing.T) {
	base64Len := (MaxMessageSize + 2) / 3 * 4
	if MaxReceiveSize < base64Len+ReplySlack {
		t.Errorf("MaxReceiveSize %d < %d: a watch event of the largest message would be refused", MaxReceiveSize, base64Len+ReplySlack)
	}
}

// TestBoxNames: the names are the hub's collection names, in Listen
// filters and events alike; the numbers are stored by hubs.
func TestBoxNames(t *testing.T) {
	if Inbox.String() != "inbox" || Sentbox.String() != "sentbox" || int(Inbox) != 0 || int(Sentbox) != 1 {
		t.Errorf("boxes: %v=%d %v=%d", Inbox, Inbox, Sentbox, Sentbox)
	}
	if got := Box(7).String(); got != "box(7)" {
		t.Errorf("Box(7) = %q", got)
	}
}
