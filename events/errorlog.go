package events

import (
	"encoding/json"
	"sync"
	"time"
)

// ErrorEntry is one failed operation, as .hubfs/errors lists it. Field names
// are a contract with scripts.
type ErrorEntry struct {
	Time    time.Time `json:"time"`
	Op      string    `json:"op"`             // the filesystem operation, e.g. "open", "unlink"
	Path    string    `json:"path,omitempty"` // inside the mount
	Code    string    `json:"code,omitempty"` // the hub's status code, when the hub answered
	Errno   string    `json:"errno,omitempty"`
	Message string    `json:"message"`
}

// ErrorLog keeps the last N errors so that a user who saw "Input/output
// error" can find out why without the logs.
type ErrorLog struct {
	mu      sync.Mutex // guards the fields below
	entries []ErrorEntry
	next    int // where the next entry goes once the ring is full
	max     int
	total   int
}

// NewErrorLog keeps the most recent max entries.
func NewErrorLog(max int) *ErrorLog {
	if max < 1 {
		max = 1
	}
	return &ErrorLog{max: max}
}

// Add records e, forgetting the oldest entry when full.
func (l *ErrorLog) Add(e ErrorEntry) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total++
	if len(l.entries) < l.max {
		l.entries = append(l.entries, e)
		return
	}
	l.entries[l.next] = e
	l.next = (l.next + 1) % l.max
}

// Entries returns the kept entries, oldest first.
func (l *ErrorLog) Entries() []ErrorEntry {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]ErrorEntry, 0, len(l.entries))
	out = append(out, l.entries[l.next:]...)
	return append(out, l.entries[:l.next]...)
}

// Total counts every error ever added, kept or not.
func (l *ErrorLog) Total() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.total
}

// JSONLines renders the kept entries one JSON object a line, oldest first.
func (l *ErrorLog) JSONLines() []byte {
	var out []byte
	for _, e := range l.Entries() {
		b, _ := json.Marshal(e) // plain strings and a time: cannot fail
		out = append(out, b...)
		out = append(out, '\n')
	}
	return out
}
