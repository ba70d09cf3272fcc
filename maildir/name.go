// Package maildir is what the Maildir view keeps beyond the hub: the file
// names (Maildir's "time.unique.host" with the "info" suffix that carries
// flags) and the flags a mail client sets that the hub has no place for,
// kept on disk per identity so that they survive a remount.
//
// Names: a message is "<created_unix>.<id>.hubfs" in new/, and the same
// with ":2,<flags>" in cur/, so a client that moves a message from new/ to
// cur/ or changes its flags keeps its base name, and the id in the name
// finds the message without a table.
package maildir

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Host is the "host" part of every base name.
const Host = "hubfs"

// infoPrefix starts the info suffix of a cur/ name (Maildir's "version 2"
// info: flags follow).
const infoPrefix = ":2,"

// Seen and Trashed are the flags hubfs gives a meaning beyond a note:
// Seen is the hub's read state, and Trashed is only a note (expunging, an
// unlink, deletes).
const (
	Seen    = 'S'
	Trashed = 'T'
)

// Base is a message's base name.
func Base(id string, created time.Time) string {
	return strconv.FormatInt(created.Unix(), 10) + "." + id + "." + Host
}

// CurName is a message's name in cur/ with flags (canonical).
func CurName(base, flags string) string { return base + infoPrefix + flags }

// Name is a file name taken apart.
type Name struct {
	Unix    int64  // the time part
	ID      string // the unique part: the message id
	HasInfo bool   // the name has an info suffix (":2,...")
	Flags   string // its flags, as written
}

// Base is the base name n was parsed from.
func (n Name) Base() string { return strconv.FormatInt(n.Unix, 10) + "." + n.ID + "." + Host }

// Parse takes a file name apart. It only checks the shape; whether the id
// is a message, and its time the message's, is the caller's to check.
func Parse(name string) (Name, bool) {
	base, info, hasInfo := strings.Cut(name, ":")
	var n Name
	if hasInfo {
		flags, ok := strings.CutPrefix(":"+info, infoPrefix)
		if !ok {
			return Name{}, false
		}
		n.HasInfo, n.Flags = true, flags
	}
	parts := strings.Split(base, ".")
	if len(parts) != 3 || parts[2] != Host || parts[0] == "" || parts[1] == "" {
		return Name{}, false
	}
	t, err := strconv.ParseInt(parts[0], 10, 64)
	if err != nil || t < 0 || strconv.FormatInt(t, 10) != parts[0] {
		return Name{}, false
	}
	n.Unix, n.ID = t, parts[1]
	return n, true
}

// ErrFlags is a flags string no Maildir client writes.
var ErrFlags = errors.New("maildir: invalid flags")

// CanonicalFlags returns flags sorted and without repeats, as the Maildir
// spec has clients write them. Flags are ASCII letters: upper case for
// the standard ones (D, F, P, R, S, T), lower case for a client's keywords
// (Dovecot's).
func CanonicalFlags(flags string) (string, error) {
	if len(flags) > 52 {
		return "", fmt.Errorf("%w: %q", ErrFlags, flags)
	}
	b := []byte(flags)
	for _, c := range b {
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z') {
			return "", fmt.Errorf("%w: %q", ErrFlags, flags)
		}
	}
	sort.Slice(b, func(i, j int) bool { return b[i] < b[j] })
	out := b[:0]
	for i, c := range b {
		if i == 0 || c != b[i-1] {
			out = append(out, c)
		}
	}
	return string(out), nil
}

// HasFlag reports whether flags has f.
func HasFlag(flags string, f byte) bool { return strings.IndexByte(flags, f) >= 0 }

// WithFlag returns canonical flags with f added.
func WithFlag(flags string, f byte) string {
	if HasFlag(flags, f) {
		return flags
	}
	s, _ := CanonicalFlags(flags + string(f))
	return s
}

// WithoutFlag returns flags with f removed.
func WithoutFlag(flags string, f byte) string {
	return strings.ReplaceAll(flags, string(f), "")
}
