package store

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"strings"
	"time"

	"github.com/oklog/ulid/v2"
)

// NextID mints the message id that follows last (the newest id the store
// has minted; "" for none) at time now: a lower-case ULID, strictly greater
// than last even within one millisecond and if the clock steps back, so id
// order is commit order and paging is stable.
//
// A store calls it inside the write that stores the message, with last
// read from (and the result written back to) the database in that same
// write. That is why the store, not the server, mints ids: with several
// hub processes on one database, ids minted by each process's clock and
// counter would interleave out of commit order, and a message committed
// later could sort before one a client has already seen.
func NextID(last string, now time.Time) (string, error) {
	ms := ulid.Timestamp(now)
	if last == "" {
		return fresh(ms)
	}
	prev, err := ulid.ParseStrict(strings.ToUpper(last))
	if err != nil {
		return "", fmt.Errorf("last message id %q: %w", last, err)
	}
	if ms > prev.Time() {
		return fresh(ms)
	}
	// The same millisecond, or the clock stepped back: count up from the
	// last id by a random step (as ulid.Monotonic does), so that ids stay
	// hard to guess; if the 80 random bits overflow, take the next
	// millisecond.
	e := prev.Entropy()
	var step [4]byte
	if _, err := rand.Read(step[:]); err != nil {
		return "", err
	}
	hi := binary.BigEndian.Uint16(e[:2])
	lo := binary.BigEndian.Uint64(e[2:])
	inc := uint64(binary.BigEndian.Uint32(step[:])) + 1
	lo += inc
	if lo < inc {
		hi++
		if hi == 0 {
			return fresh(prev.Time() + 1)
		}
	}
	binary.BigEndian.PutUint16(e[:2], hi)
	binary.BigEndian.PutUint64(e[2:], lo)
	var id ulid.ULID
	if err := id.SetTime(prev.Time()); err != nil {
		return "", err
	}
	if err := id.SetEntropy(e); err != nil {
		return "", err
	}
	return strings.ToLower(id.String()), nil
}

// fresh is a new id at ms with random entropy.
func fresh(ms uint64) (string, error) {
	id, err := ulid.New(ms, rand.Reader)
	if err != nil {
		return "", fmt.Errorf("mint message id: %w", err)
	}
	return strings.ToLower(id.String()), nil
}
