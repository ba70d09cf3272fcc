// Package disk is the cache's store on disk: one identity's box listings and
// message bodies exactly as the hub sent them (ciphertext, signature and
// metadata, never plaintext), so that a new mount shows what the last one
// knew at once, reads work while the hub is down, and a body fetched once is
// never fetched again. It is bounded by bytes, evicting the least recently
// used bodies, and locked so that two mounts of one identity cannot both
// write it.
//
// One file per body and one per box listing, each framed with a magic and a
// CRC-32C of its payload, written to a temporary name, fsynced and renamed.
// A file that does not check out is removed and counts as a miss: a cache
// may lose what it holds, never hand back bytes the hub did not send.
// Writes happen on one background goroutine, so a listing that brings a
// thousand bodies does not wait for a thousand fsyncs.
package disk

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"hash/maphash"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"
	"unique"

	"github.com/hubfs/hubfs/mailbox"
	"github.com/hubfs/hubfs/wire"
)

// ErrLocked: another process (or another Store in this one) holds the
// directory.
var ErrLocked = errors.New("disk cache: in use by another mount of this identity")

const (
	magic     = "hubfsC1\n"
	tmpPrefix = ".tmp-"
	lockName  = "lock"
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// DefaultDir is the cache directory of the identity whose public key string
// is self: $XDG_CACHE_HOME/hubfs/<self>, else ~/.cache/hubfs/<self>. A
// relative XDG_CACHE_HOME is ignored, as the XDG spec requires.
func DefaultDir(self string) (string, error) {
	base := os.Getenv("XDG_CACHE_HOME")
	if base == "" || !filepath.IsAbs(base) {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("disk cache: no home directory for the cache dir: %w", err)
		}
		base = filepath.Join(home, ".cache")
	}
	return filepath.Join(base, "hubfs", self), nil
}

// Store is safe for concurrent use.
type Store struct {
	dir  string
	max  int64
	log  *slog.Logger
	lock *os.File
	seed maphash.Seed // of listingDigest

	mu       sync.Mutex // guards the fields below
	index    map[string]*file
	bytes    int64 // of every file in index
	tick     int64 // orders uses; a file's used is the tick of its last use
	pending  map[string]mailbox.Message
	listings [2]*[]mailbox.Message // to write; nil: nothing new
	written  [2]uint64             // digest of the listing on disk (listingDigest), to skip rewriting it unchanged
	closed   bool
	stats    Stats

	kick chan struct{}
	done chan struct{}
}

// file is one file the store holds.
type file struct {
	size int64
	used int64
	body bool // bodies may be evicted; listings are not
}

// Stats are the store's figures.
type Stats struct {
	Hits, Misses, Dropped, Evicted int64
	Bytes                          int64
}

// Open opens (creating, mode 0700) the store at dir, bounded by max bytes,
// and takes its lock, or fails with ErrLocked. It removes temporary files a
// crash left behind and evicts down to max.
func Open(dir string, max int64, log *slog.Logger) (*Store, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	for _, d := range []string{dir, filepath.Join(dir, "inbox"), filepath.Join(dir, "sentbox")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("disk cache: %w", err)
		}
		// MkdirAll leaves an existing directory's mode alone.
		if err := os.Chmod(d, 0o700); err != nil {
			return nil, fmt.Errorf("disk cache: %w", err)
		}
	}
	lf, err := os.OpenFile(filepath.Join(dir, lockName), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("disk cache: %w", err)
	}
	if err := syscall.Flock(int(lf.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		lf.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%s: %w", dir, ErrLocked)
		}
		return nil, fmt.Errorf("disk cache: lock %s: %w", dir, err)
	}
	s := &Store{dir: dir, max: max, log: log, lock: lf, seed: maphash.MakeSeed(),
		index: map[string]*file{}, pending: map[string]mailbox.Message{},
		kick: make(chan struct{}, 1), done: make(chan struct{})}
	s.scan()
	s.mu.Lock()
	s.evictLocked()
	s.mu.Unlock()
	go s.writer()
	return s, nil
}

// scan builds the index from the files there, oldest use first.
func (s *Store) scan() {
	type found struct {
		key  string
		size int64
		mod  time.Time
		body bool
	}
	var all []found
	add := func(rel string, body bool) {
		fi, err := os.Stat(filepath.Join(s.dir, rel))
		if err == nil && fi.Mode().IsRegular() {
			all = append(all, found{rel, fi.Size(), fi.ModTime(), body})
		}
	}
	for _, box := range []mailbox.Box{mailbox.Inbox, mailbox.Sentbox} {
		add(listingName(box), false)
		names, _ := os.ReadDir(filepath.Join(s.dir, box.String()))
		for _, n := range names {
			rel := filepath.Join(box.String(), n.Name())
			if !wire.ValidMessageID(n.Name()) {
				os.Remove(filepath.Join(s.dir, rel)) // a temporary file, or not ours
				continue
			}
			add(rel, true)
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i].mod.Before(all[j].mod) })
	for _, f := range all {
		s.tick++
		s.index[f.key] = &file{size: f.size, used: s.tick, body: f.body}
		s.bytes += f.size
	}
}

func listingName(box mailbox.Box) string { return "listing-" + box.String() }

func bodyName(box mailbox.Box, id string) string { return filepath.Join(box.String(), id) }

// Close writes what is pending, stops the writer and releases the lock.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	s.signal()
	<-s.done
	return s.lock.Close() // closing the descriptor drops the flock
}

func (s *Store) signal() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// Figures returns the store's figures.
func (s *Store) Figures() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.Bytes = s.bytes
	return st
}

// Listing returns the box's listing as last saved, without bodies.
func (s *Store) Listing(box mailbox.Box) ([]mailbox.Entry, bool) {
	var es []mailbox.Entry
	if !s.read(listingName(box), &es) {
		return nil, false
	}
	for i := range es {
		if !wire.ValidMessageID(es[i].ID) {
			s.drop(listingName(box), "bad id")
			return nil, false
		}
		es[i].Box = box
		// A handful of correspondents: one copy of each key (as hubmail
		// interns them), not one per message.
		es[i].From, es[i].To = unique.Make(es[i].From).Value(), unique.Make(es[i].To).Value()
	}
	if !slices.IsSortedFunc(es, func(a, b mailbox.Entry) int { return strings.Compare(a.ID, b.ID) }) {
		s.drop(listingName(box), "not sorted")
		return nil, false
	}
	s.mu.Lock()
	s.written[box] = s.listingDigest(es)
	s.mu.Unlock()
	return es, true
}

// SaveListing has the box's listing written (later, by the writer, which
// writes only the entries); a newer one saved before then replaces it.
// msgs must not change afterwards.
func (s *Store) SaveListing(box mailbox.Box, msgs []mailbox.Message) {
	s.mu.Lock()
	s.listings[box] = &msgs
	s.mu.Unlock()
	s.signal()
}

// Message returns a body kept, or false.
func (s *Store) Message(box mailbox.Box, id string) (mailbox.Message, bool) {
	key := bodyName(box, id)
	s.mu.Lock()
	if m, ok := s.pending[key]; ok {
		s.stats.Hits++
		s.mu.Unlock()
		return m, true
	}
	f, ok := s.index[key]
	if !ok {
		s.stats.Misses++
		s.mu.Unlock()
		return mailbox.Message{}, false
	}
	s.tick++
	f.used = s.tick
	s.mu.Unlock()
	var m mailbox.Message
	ok = s.read(key, &m)
	if ok && (m.ID != id || len(m.Body) == 0) {
		s.drop(key, "wrong record")
		ok = false
	}
	if !ok {
		s.mu.Lock()
		s.stats.Misses++
		s.mu.Unlock()
		return mailbox.Message{}, false
	}
	m.Box = box
	// The use outlives this mount: the next one evicts by it too.
	now := time.Now()
	os.Chtimes(filepath.Join(s.dir, key), now, now)
	s.mu.Lock()
	s.stats.Hits++
	s.mu.Unlock()
	return m, true
}

// Has reports whether a body is kept (or on its way to disk).
func (s *Store) Has(box mailbox.Box, id string) bool {
	key := bodyName(box, id)
	s.mu.Lock()
	defer s.mu.Unlock()
	_, p := s.pending[key]
	_, f := s.index[key]
	return p || f
}

// Put has a body written (later, by the writer), unless it is kept already.
func (s *Store) Put(m mailbox.Message) {
	if len(m.Body) == 0 || !wire.ValidMessageID(m.ID) {
		return
	}
	key := bodyName(m.Box, m.ID)
	s.mu.Lock()
	_, p := s.pending[key]
	_, f := s.index[key]
	if !p && !f {
		s.pending[key] = m
	}
	s.mu.Unlock()
	if !p && !f {
		s.signal()
	}
}

// Remove drops a body: the message is gone.
func (s *Store) Remove(box mailbox.Box, id string) {
	key := bodyName(box, id)
	s.mu.Lock()
	delete(s.pending, key) // the writer, if it holds it now, then drops it
	s.forgetLocked(key)
	s.mu.Unlock()
	os.Remove(filepath.Join(s.dir, key))
}

func (s *Store) forgetLocked(key string) {
	if f, ok := s.index[key]; ok {
		s.bytes -= f.size
		delete(s.index, key)
	}
}

// drop removes a file that does not check out.
func (s *Store) drop(key, why string) {
	s.log.Warn("disk cache: dropping a damaged file", "file", key, "why", why)
	s.mu.Lock()
	s.forgetLocked(key)
	s.stats.Dropped++
	s.mu.Unlock()
	os.Remove(filepath.Join(s.dir, key))
}

// read decodes the file at key into v, dropping it when it does not check
// out. A missing file is simply false.
func (s *Store) read(key string, v any) bool {
	raw, err := os.ReadFile(filepath.Join(s.dir, key))
	if err != nil {
		return false
	}
	payload, ok := unframe(raw)
	if !ok {
		s.drop(key, "bad frame or checksum")
		return false
	}
	if err := json.Unmarshal(payload, v); err != nil {
		s.drop(key, "bad record")
		return false
	}
	return true
}

func frame(payload []byte) []byte {
	out := make([]byte, 0, len(magic)+4+len(payload))
	out = append(out, magic...)
	out = binary.BigEndian.AppendUint32(out, crc32.Checksum(payload, crcTable))
	return append(out, payload...)
}

func unframe(raw []byte) ([]byte, bool) {
	if len(raw) < len(magic)+4 || !bytes.HasPrefix(raw, []byte(magic)) {
		return nil, false
	}
	sum := binary.BigEndian.Uint32(raw[len(magic):])
	payload := raw[len(magic)+4:]
	return payload, crc32.Checksum(payload, crcTable) == sum
}

// writer writes what is pending until Close, then once more.
func (s *Store) writer() {
	defer close(s.done)
	for range s.kick {
		for s.writeSome() {
		}
		s.mu.Lock()
		closed := s.closed
		s.mu.Unlock()
		if closed {
			return
		}
	}
}

// writeSome writes the pending listings and a batch of bodies, and reports
// whether more is pending.
func (s *Store) writeSome() bool {
	s.mu.Lock()
	lists := s.listings
	s.listings = [2]*[]mailbox.Message{}
	written := s.written
	batch := make(map[string]mailbox.Message, 64)
	for k, m := range s.pending {
		batch[k] = m
		if len(batch) == 64 {
			break
		}
	}
	s.mu.Unlock()

	for box, msgs := range lists {
		if msgs == nil {
			continue
		}
		es := make([]mailbox.Entry, len(*msgs))
		for i, m := range *msgs {
			es[i] = m.Entry
		}
		d := s.listingDigest(es)
		if d == written[box] {
			continue
		}
		if s.write(listingName(mailbox.Box(box)), es, func() bool { return true }) {
			s.mu.Lock()
			s.written[box] = d
			s.mu.Unlock()
		}
	}
	for key, m := range batch {
		s.write(key, m, func() bool {
			// Not removed while being written.
			_, ok := s.pending[key]
			return ok
		})
		s.mu.Lock()
		delete(s.pending, key)
		s.mu.Unlock()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.evictLocked()
	return len(s.pending) > 0 || s.listings[0] != nil || s.listings[1] != nil
}

// listingDigest hashes what a listing file records of each entry, so the
// writer can tell an unchanged listing without keeping a copy of the last
// one written (a hundred bytes a message). The seed is the store's, so a
// digest means nothing outside this process; two different listings
// colliding (2^-64) would leave the older on disk, which the next mount's
// first refresh corrects as it corrects any stale listing.
func (s *Store) listingDigest(es []mailbox.Entry) uint64 {
	var h maphash.Hash
	h.SetSeed(s.seed)
	var buf [8]byte
	num := func(v int64) {
		binary.LittleEndian.PutUint64(buf[:], uint64(v))
		h.Write(buf[:])
	}
	str := func(v string) {
		num(int64(len(v)))
		h.WriteString(v)
	}
	num(int64(len(es)))
	for _, e := range es {
		str(e.ID)
		str(e.From)
		str(e.To)
		num(e.Size)
		num(e.CreatedAt.UnixNano())
		num(e.ReadAt.UnixNano())
	}
	return h.Sum64()
}

// write puts v at key: a temporary file, fsynced, renamed over the name if
// still (under the store's lock) wanted. It reports whether it did.
func (s *Store) write(key string, v any, wantedLocked func() bool) bool {
	payload, err := json.Marshal(v)
	if err != nil {
		s.log.Warn("disk cache: encode", "file", key, "err", err)
		return false
	}
	data := frame(payload)
	path := filepath.Join(s.dir, key)
	tmp, err := os.CreateTemp(filepath.Dir(path), tmpPrefix+"*")
	if err != nil {
		s.log.Warn("disk cache: write", "file", key, "err", err)
		return false
	}
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp.Name())
		s.log.Warn("disk cache: write", "file", key, "err", err)
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !wantedLocked() {
		os.Remove(tmp.Name())
		return false
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		s.log.Warn("disk cache: write", "file", key, "err", err)
		return false
	}
	s.forgetLocked(key)
	s.tick++
	s.index[key] = &file{size: int64(len(data)), used: s.tick, body: strings.Contains(key, string(filepath.Separator))}
	s.bytes += int64(len(data))
	return true
}

// evictLocked removes the least recently used bodies until the store is
// within its bound.
func (s *Store) evictLocked() {
	if s.bytes <= s.max {
		return
	}
	type use struct {
		key string
		f   *file
	}
	var bodies []use
	for k, f := range s.index {
		if f.body {
			bodies = append(bodies, use{k, f})
		}
	}
	sort.Slice(bodies, func(i, j int) bool { return bodies[i].f.used < bodies[j].f.used })
	for _, b := range bodies {
		if s.bytes <= s.max {
			break
		}
		os.Remove(filepath.Join(s.dir, b.key))
		s.forgetLocked(b.key)
		s.stats.Evicted++
	}
}
