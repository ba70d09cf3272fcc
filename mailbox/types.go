package mailbox

import (
	"time"

	"github.com/hubfs/hubfs/wire"
)

// Box names one of the two mailbox collections (wire.Box).
type Box = wire.Box

// The mailbox collections, as the hub names them.
const (
	Inbox   = wire.Inbox
	Sentbox = wire.Sentbox
)

// Entry is what a listing says about one message: everything stat and the
// xattrs need, and no body. Size is the plaintext length, known from the
// ciphertext length alone, so listing never decrypts.
type Entry struct {
	Box       Box
	ID        string // lowercase ULID
	From, To  string // public-key strings
	Size      int64
	CreatedAt time.Time
	ReadAt    time.Time // zero while unread; always zero in the sentbox
}

// Unread reports whether an inbox message has not been marked read.
func (e Entry) Unread() bool { return e.ReadAt.IsZero() }

// Message is one message as the hub keeps it: its entry and the ciphertext
// for the box's owner with the sender's signature over it. A listing served
// by a cache may carry no body; Backend.Message always does.
type Message struct {
	Entry
	Body      []byte
	Signature []byte
}

// Sealed is a message ready to send (wire.Sealed): both encrypted copies
// and the sender's signatures, never plaintext, so the queue may keep it on
// disk.
type Sealed = wire.Sealed

// Thread is one of the user's threads (thread DBs), the mailbox included.
type Thread struct {
	ID      string // ThreadID string
	Name    string // empty when the thread has none
	IsDB    bool
	Mailbox bool // the "hubmail" thread that holds the mailbox: never deleted through us
}

// ChangeKind says what happened to a message or thread.
type ChangeKind int

// Kinds of Change.
const (
	Added          ChangeKind = iota // a message appeared in Box
	Removed                          // a message left Box
	Read                             // an inbox message's read_at changed
	ThreadsChanged                   // the thread list changed (ID is empty)
	ModeChanged                      // the model moved to Mode (Err: why the watch went down)
	LiveError                        // following the hub failed (Err), in Box's watch or poll
	// CollectionsChanged: the collections of the DB Thread changed, or
	// its watch may have missed changes: whatever is shown of it is stale.
	CollectionsChanged
	// DocumentChanged: the document ID of Thread's Collection was
	// created or saved (Doc holds it now) or deleted (Doc is nil).
	DocumentChanged
)

func (k ChangeKind) String() string {
	switch k {
	case Added:
		return "added"
	case Removed:
		return "removed"
	case Read:
		return "read"
	case ThreadsChanged:
		return "threads"
	case ModeChanged:
		return "mode"
	case LiveError:
		return "live-error"
	case CollectionsChanged:
		return "collections"
	case DocumentChanged:
		return "document"
	}
	return "unknown"
}

// Change tells the layer above what the model learnt changed, whether from
// a local operation, a listing that saw a difference, or a watch event. The
// filesystem turns it into kernel invalidations and event lines. Each change
// to a message is reported once, whichever of those sources brings it first
// (a local delete and the watch's echo of it are one change).
type Change struct {
	Kind  ChangeKind
	Box   Box
	ID    string
	Entry Entry  // the entry after the change (for Added and Read), or before it (Removed)
	Mode  Mode   // for ModeChanged
	Op    string // for LiveError: what failed ("watch", "poll", "resync")
	Err   error  // for ModeChanged (why the watch is down) and LiveError
	// Thread, Collection and Doc are for CollectionsChanged and
	// DocumentChanged (ID is then the document's _id).
	Thread     string
	Collection string
	Doc        *Document
}

// Mode says how the model learns of changes made elsewhere.
type Mode int

// Modes, as .hubfs/status names them.
const (
	// ModeTTL: nothing follows the hub; a listing is reused for ListTTL.
	ModeTTL Mode = iota
	// ModeWatch: the hub's watch delivers every change; a listing is
	// reused for WatchTTL, a safety net against a lost event.
	ModeWatch
	// ModePoll: the watch is down; a listing is reused for ListTTL and
	// both boxes are listed again every poll interval.
	ModePoll
	// ModeOffline: the hub does not answer and what the mount shows comes
	// from the disk cache (Stats.Offline); the model's own mode, kept
	// underneath, is poll. Shown by Stats.ShownMode.
	ModeOffline
)

func (m Mode) String() string {
	switch m {
	case ModeWatch:
		return "watch"
	case ModePoll:
		return "poll"
	case ModeOffline:
		return "offline"
	}
	return "ttl"
}

// ShownMode is the mode .hubfs/status shows for the model's mode m:
// offline while the cache serves from disk because the hub did not answer.
func (s Stats) ShownMode(m Mode) Mode {
	if s.Offline {
		return ModeOffline
	}
	return m
}

// EventKind says what a watch Event reports.
type EventKind int

// Kinds of Event: the hub's three actions, then the watch's own.
const (
	EventCreate EventKind = iota // a new message
	EventSave                    // a message changed (read)
	EventDelete                  // a message is gone; Message is nil
	// EventDisconnected: the stream broke (Err) and is reconnecting;
	// events until the next EventReconnected are lost.
	EventDisconnected
	// EventReconnected: the stream is back; list the box again.
	EventReconnected
	// EventStopped: the watch ended for good (Err); the last event.
	EventStopped
)

func (k EventKind) String() string {
	switch k {
	case EventCreate:
		return "CREATE"
	case EventSave:
		return "SAVE"
	case EventDelete:
		return "DELETE"
	case EventDisconnected:
		return "DISCONNECTED"
	case EventReconnected:
		return "RECONNECTED"
	case EventStopped:
		return "STOPPED"
	}
	return "UNKNOWN"
}

// Event is one change seen by a box's watch.
type Event struct {
	Kind    EventKind
	ID      string   // for Create, Save and Delete
	Message *Message // for Create and Save, when the hub sent a readable record
	// Err is why the stream broke (Disconnected, Stopped), or why a Create
	// or Save came without a Message (the record did not decode).
	Err error
}

// Stats are the mount's figures for .hubfs/status and the benchmarks. Each
// layer fills its own (Backend.Figures): the hub's calls, the cache's hits
// and the model's events.
type Stats struct {
	HubCalls        int64            `json:"hub_calls"`
	HubCallsByOp    map[string]int64 `json:"hub_calls_by_op"`
	ListHits        int64            `json:"list_hits"`
	ListMisses      int64            `json:"list_misses"`
	BodyHits        int64            `json:"ciphertext_hits"`
	BodyMisses      int64            `json:"ciphertext_misses"`
	PlainHits       int64            `json:"plaintext_hits"`
	PlainMisses     int64            `json:"plaintext_misses"`
	CiphertextBytes int64            `json:"ciphertext_bytes"`
	PlaintextBytes  int64            `json:"plaintext_bytes"`
	DecryptedAhead  int64            `json:"decrypted_ahead"`     // messages opened before anyone read them
	AheadStops      int64            `json:"decrypt_ahead_stops"` // decrypt-ahead runs stopped by the plaintext budget or the heap bound
	Online          bool             `json:"online"`
	// Offline: the hub's last answer to a listing or a fetch was none, and
	// the cache serves what it holds on disk (mode "offline").
	Offline         bool       `json:"offline"`
	DiskHits        int64      `json:"disk_hits"`    // bodies read from the disk cache instead of the hub
	DiskMisses      int64      `json:"disk_misses"`  // bodies the disk cache did not hold
	DiskBytes       int64      `json:"disk_bytes"`   // what the disk cache holds
	DiskDropped     int64      `json:"disk_dropped"` // damaged files removed
	Mode            string     `json:"mode"`
	WatchEvents     int64      `json:"watch_events"`     // hub events applied
	WatchReconnects int64      `json:"watch_reconnects"` // streams that came back
	Resyncs         int64      `json:"resyncs"`          // listings forced: at start, after a reconnect, by polls
	LastError       string     `json:"last_error,omitempty"`
	LastErrorAt     *time.Time `json:"last_error_at,omitempty"`
}

// Usage is the billing account and usage the hub reports (GetUsage), field
// for field as it sends them (times in Unix seconds).
type Usage struct {
	Customer *Customer      // nil when the hub sent none
	Usage    map[string]Use // by usage kind
}

// Customer is billingd's GetCustomerResponse.
type Customer struct {
	Key                string
	CustomerID         string
	ParentKey          string
	Email              string
	AccountType        int32
	AccountStatus      string
	SubscriptionStatus string
	Balance            int64
	Billable           bool
	Delinquent         bool
	CreatedAt          int64
	GracePeriodEnd     int64
	InvoicePeriod      Period
	DailyUsage         map[string]Use
	Dependents         int64
}

// Use is billingd's usage of one kind in one period.
type Use struct {
	Description string
	Units       int64
	Total       int64
	Free        int64
	Grace       int64
	Cost        float64
	Period      Period
}

// Period is a billing period in Unix seconds.
type Period struct {
	UnixStart int64
	UnixEnd   int64
}
