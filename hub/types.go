package hub

import (
	"time"

	"github.com/hubfs/hubfs/identity"
	hubpb "github.com/hubfs/hubfs/wire/pb"
)

// UserMessage is one message in an inbox or a sentbox, still encrypted:
// Body is the ciphertext for the box's owner and Signature the sender's
// ed25519 signature over it. Open checks and decrypts it.
type UserMessage struct {
	ID        string // a lower-case ULID minted by the hub
	From      string // sender's public-key string
	To        string // recipient's public-key string
	Body      []byte // nil in a listing without bodies (WithoutBodies)
	Signature []byte
	CreatedAt time.Time
	ReadAt    time.Time // zero while unread; always zero in a sentbox
	// BodySize is the ciphertext's length: len(Body) when the body came,
	// else what hubfs serve said in a listing without bodies. 0 when
	// neither is known (another hub that sent no body).
	BodySize int64
}

// Size is the plaintext length, known without decrypting: every body is
// the plaintext plus identity.Overhead bytes. It reads the body when there
// is one and BodySize when not. It is 0 for a body too short to be valid,
// which Open then reports.
func (m UserMessage) Size() int64 {
	n := m.BodySize
	if len(m.Body) > 0 {
		n = int64(len(m.Body))
	}
	return max(n-identity.Overhead, 0)
}

// Unread reports whether an inbox message has not been marked read.
func (m UserMessage) Unread() bool { return m.ReadAt.IsZero() }

// Status selects inbox messages by read state. The zero value is all.
// (The wire enum is different, and @textile/hub maps it wrongly; see
// protocol.md §1.1. These values are ours.)
type Status int

const (
	StatusAll Status = iota
	StatusRead
	StatusUnread
)

func (s Status) wire() (hubpb.ListInboxMessagesRequest_Status, bool) {
	switch s {
	case StatusAll:
		return hubpb.ListInboxMessagesRequest_STATUS_ALL, true
	case StatusRead:
		return hubpb.ListInboxMessagesRequest_STATUS_READ, true
	case StatusUnread:
		return hubpb.ListInboxMessagesRequest_STATUS_UNREAD, true
	}
	return 0, false
}

// InboxListOptions selects one page of an inbox. Seek is inclusive: the page
// starts at that message when it exists. Limit 0 means the hub's default
// (100); hubs cap it (a Textile hub at 10000). The default order is newest
// first.
type InboxListOptions struct {
	Seek      string
	Limit     int
	Ascending bool
	Status    Status
	// WithoutBodies asks for metadata only: messages without Body, with
	// BodySize. hubfs serve honours it (hubfs_without_bodies, our field);
	// other Textile hubs ignore it and send bodies, so a caller must take
	// either answer.
	WithoutBodies bool
}

// SentboxListOptions is InboxListOptions for a sentbox, which has no read state.
type SentboxListOptions struct {
	Seek          string
	Limit         int
	Ascending     bool
	WithoutBodies bool // as in InboxListOptions
}

// UsageOptions selects whose usage GetUsage reports: the caller's, or that
// of a dependent user by public-key string.
type UsageOptions struct {
	DependentUserKey string
}

// GetThreadResponse describes one of the caller's threads.
type GetThreadResponse struct {
	ID   identity.ThreadID
	Name string
	IsDB bool
}

// GetUsageResponse is the billing account and usage a hub reports, field for
// field as the hub sends it (times in Unix seconds, as billingd keeps them).
// A hub without billing returns an empty one or an error.
type GetUsageResponse struct {
	Customer *Customer        // nil when the hub sent none
	Usage    map[string]Usage // by usage kind
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
	DailyUsage         map[string]Usage
	Dependents         int64
}

// Usage is billingd's usage of one kind in one period.
type Usage struct {
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

// MailboxEventType says what a MailboxEvent reports. The first three are the
// hub's own actions, numbered as on the wire; the rest come from the watch.
type MailboxEventType int

const (
	MailboxEventCreate MailboxEventType = iota // a new message
	MailboxEventSave                           // a message changed (read)
	MailboxEventDelete                         // a message is gone; Message is nil
	// MailboxEventDisconnected: the stream broke (Err says why) and the
	// watch is reconnecting with backoff; events until the next
	// MailboxEventReconnected are lost.
	MailboxEventDisconnected
	// MailboxEventReconnected: the stream is back, confirmed by the hub.
	// List the box again to catch up on what was missed.
	MailboxEventReconnected
	// MailboxEventStopped: the watch ended for good on an error that
	// reconnecting cannot fix (Err: auth, permission, no such mailbox, or
	// context.Canceled when the Client was closed). It is the last event;
	// the Watch's Done channel closes after it.
	MailboxEventStopped
)

func (t MailboxEventType) String() string {
	switch t {
	case MailboxEventCreate:
		return "CREATE"
	case MailboxEventSave:
		return "SAVE"
	case MailboxEventDelete:
		return "DELETE"
	case MailboxEventDisconnected:
		return "DISCONNECTED"
	case MailboxEventReconnected:
		return "RECONNECTED"
	case MailboxEventStopped:
		return "STOPPED"
	}
	return "UNKNOWN"
}

// MailboxEvent is one change seen by WatchInbox or WatchSentbox.
type MailboxEvent struct {
	Type      MailboxEventType
	MessageID string       // for Create, Save and Delete
	Message   *UserMessage // for Create and Save, when the hub sent a readable record
	// Err is why the stream broke (Disconnected, Stopped), or why a
	// Create or Save came without a Message (the record did not decode).
	Err error
}

func messageFromPB(m *hubpb.Message) UserMessage {
	size := int64(len(m.GetBody()))
	if size == 0 {
		size = max(m.GetHubfsBodySize(), 0) // a listing without bodies
	}
	return UserMessage{
		ID:        m.GetId(),
		From:      m.GetFrom(),
		To:        m.GetTo(),
		Body:      m.GetBody(),
		Signature: m.GetSignature(),
		CreatedAt: fromNanos(m.GetCreatedAt()),
		ReadAt:    fromNanos(m.GetReadAt()),
		BodySize:  size,
	}
}

// fromNanos reads the hub's Unix-nanosecond times; 0 stays the zero Time
// so that IsZero means "never" (unread).
func fromNanos(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns)
}

func usageFromPB(r *hubpb.GetUsageResponse) GetUsageResponse {
	var out GetUsageResponse
	if c := r.GetCustomer(); c != nil {
		out.Customer = &Customer{
			Key:                c.GetKey(),
			CustomerID:         c.GetCustomerId(),
			ParentKey:          c.GetParentKey(),
			Email:              c.GetEmail(),
			AccountType:        c.GetAccountType(),
			AccountStatus:      c.GetAccountStatus(),
			SubscriptionStatus: c.GetSubscriptionStatus(),
			Balance:            c.GetBalance(),
			Billable:           c.GetBillable(),
			Delinquent:         c.GetDelinquent(),
			CreatedAt:          c.GetCreatedAt(),
			GracePeriodEnd:     c.GetGracePeriodEnd(),
			InvoicePeriod:      periodFromPB(c.GetInvoicePeriod()),
			DailyUsage:         usageMap(c.GetDailyUsage()),
			Dependents:         c.GetDependents(),
		}
	}
	if u := r.GetUsage(); u != nil {
		out.Usage = usageMap(u.GetUsage())
	}
	return out
}

func usageMap(in map[string]*hubpb.Usage) map[string]Usage {
	if len(in) == 0 {
		return nil
	}
	out := make(map[string]Usage, len(in))
	for k, u := range in {
		out[k] = Usage{
			Description: u.GetDescription(),
			Units:       u.GetUnits(),
			Total:       u.GetTotal(),
			Free:        u.GetFree(),
			Grace:       u.GetGrace(),
			Cost:        u.GetCost(),
			Period:      periodFromPB(u.GetPeriod()),
		}
	}
	return out
}

func periodFromPB(p *hubpb.Period) Period {
	return Period{UnixStart: p.GetUnixStart(), UnixEnd: p.GetUnixEnd()}
}
