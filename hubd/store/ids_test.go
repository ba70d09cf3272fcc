package store

import (
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/hubfs/hubfs/wire"
)

func TestIDsIncrease(t *testing.T) {
	now := time.Now()
	var ids []string
	last := ""
	for range 10000 { // many per millisecond: the clock does not move here
		id, err := NextID(last, now)
		if err != nil {
			t.Fatal(err)
		}
		if len(id) != 26 || id != strings.ToLower(id) || !wire.ValidMessageID(id) {
			t.Fatalf("id %q", id)
		}
		ids = append(ids, id)
		last = id
	}
	if !sort.StringsAreSorted(ids) {
		t.Fatal("ids are not increasing")
	}
	// A clock step back does not break the order.
	id, err := NextID(last, now.Add(-time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if id <= last {
		t.Fatal("id after a clock step back sorts earlier")
	}
	// A later millisecond starts afresh, still after.
	if id2, err := NextID(id, now.Add(time.Second)); err != nil || id2 <= id {
		t.Fatalf("id a second later %q, %v; want after %q", id2, err, id)
	}
}

// TestIDEntropyOverflow: at the top of a millisecond's random range the
// next id moves to the next millisecond.
func TestIDEntropyOverflow(t *testing.T) {
	var top ulid.ULID
	if err := top.SetTime(1000); err != nil {
		t.Fatal(err)
	}
	max := make([]byte, 10)
	for i := range max {
		max[i] = 0xff
	}
	if err := top.SetEntropy(max); err != nil {
		t.Fatal(err)
	}
	last := strings.ToLower(top.String())
	id, err := NextID(last, time.UnixMilli(1000))
	if err != nil {
		t.Fatal(err)
	}
	if id <= last {
		t.Fatalf("id %s after %s", id, last)
	}
	if got := ulid.MustParse(strings.ToUpper(id)).Time(); got != 1001 {
		t.Fatalf("id's time %d, want 1001", got)
	}
}

func TestNextIDRejectsGarbage(t *testing.T) {
	if _, err := NextID("not an id", time.Now()); err == nil {
		t.Fatal("NextID accepted a last id that is not a ULID")
	}
}
