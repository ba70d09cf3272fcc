package cache

import (
	"time"

	"github.com/hubfs/hubfs/hub"
)

// Box names one of the two mailbox collections.
type Box int

// The mailbox collections, as the hub names them.
const (
	Inbox Box = iota
	Sentbox
)

func (b Box) String() string {
	if b == Sentbox {
		return "sentbox"
	}
	return "inbox"
}

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
	ModeChanged                      // the cache moved to Mode (Err: why the watch went down)
	LiveError                        // following the hub failed (Err), in Box's watch or poll
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
	}
	return "unknown"
}

// Change tells the layer above what the cache learnt changed, whether from a
// local operation, a listing refresh that saw a difference, or a watch
// event. The filesystem turns it into kernel invalidations and event lines.
// Each change to a message is reported once, whichever of those sources
// brings it first (a local delete and the watch's echo of it are one
// change).
type Change struct {
	Kind  ChangeKind
	Box   Box
	ID    string
	Entry Entry  // the entry after the change (for Added and Read), or before it (Removed)
	Mode  Mode   // for ModeChanged
	Op    string // for LiveError: what failed ("watch", "poll", "resync")
	Err   error  // for ModeChanged (why the watch is down) and LiveError
}

// Mode says how the cache learns of changes made elsewhere.
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
)

func (m Mode) String() string {
	switch m {
	case ModeWatch:
		return "watch"
	case ModePoll:
		return "poll"
	}
	return "ttl"
}

// Stats are the cache's figures for .hubfs/status and the benchmarks.
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
	Online          bool             `json:"online"`
	Mode            string           `json:"mode"`
	WatchEvents     int64            `json:"watch_events"`     // hub events applied
	WatchReconnects int64            `json:"watch_reconnects"` // streams that came back
	Resyncs         int64            `json:"resyncs"`          // listings forced: at start, after a reconnect, by polls
	LastError       string           `json:"last_error,omitempty"`
	LastErrorAt     *time.Time       `json:"last_error_at,omitempty"`
}

// usageJSON is GetUsage as .hubfs/usage shows it, with the billing protos'
// field names, so scripts see the names the hub's documentation uses.
type usageJSON struct {
	Customer *customerJSON       `json:"customer,omitempty"`
	Usage    map[string]usageRow `json:"usage"`
}

type customerJSON struct {
	Key                string              `json:"key"`
	CustomerID         string              `json:"customer_id"`
	ParentKey          string              `json:"parent_key"`
	Email              string              `json:"email"`
	AccountType        int32               `json:"account_type"`
	AccountStatus      string              `json:"account_status"`
	SubscriptionStatus string              `json:"subscription_status"`
	Balance            int64               `json:"balance"`
	Billable           bool                `json:"billable"`
	Delinquent         bool                `json:"delinquent"`
	CreatedAt          int64               `json:"created_at"`
	GracePeriodEnd     int64               `json:"grace_period_end"`
	InvoicePeriod      periodJSON          `json:"invoice_period"`
	DailyUsage         map[string]usageRow `json:"daily_usage"`
	Dependents         int64               `json:"dependents"`
}

type periodJSON struct {
	UnixStart int64 `json:"unix_start"`
	UnixEnd   int64 `json:"unix_end"`
}

type usageRow struct {
	Description string     `json:"description"`
	Units       int64      `json:"units"`
	Total       int64      `json:"total"`
	Free        int64      `json:"free"`
	Grace       int64      `json:"grace"`
	Cost        float64    `json:"cost"`
	Period      periodJSON `json:"period"`
}

func usageRows(in map[string]hub.Usage) map[string]usageRow {
	out := make(map[string]usageRow, len(in))
	for k, u := range in {
		out[k] = usageRow{u.Description, u.Units, u.Total, u.Free, u.Grace, u.Cost, periodJSON{u.Period.UnixStart, u.Period.UnixEnd}}
	}
	return out
}

func toUsageJSON(u hub.GetUsageResponse) usageJSON {
	out := usageJSON{Usage: usageRows(u.Usage)}
	if c := u.Customer; c != nil {
		out.Customer = &customerJSON{
			Key: c.Key, CustomerID: c.CustomerID, ParentKey: c.ParentKey, Email: c.Email,
			AccountType: c.AccountType, AccountStatus: c.AccountStatus, SubscriptionStatus: c.SubscriptionStatus,
			Balance: c.Balance, Billable: c.Billable, Delinquent: c.Delinquent, CreatedAt: c.CreatedAt,
			GracePeriodEnd: c.GracePeriodEnd, InvoicePeriod: periodJSON{c.InvoicePeriod.UnixStart, c.InvoicePeriod.UnixEnd},
			DailyUsage: usageRows(c.DailyUsage), Dependents: c.Dependents,
		}
	}
	return out
}
