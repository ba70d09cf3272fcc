package hubd

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/hubfs/hubfs/hubd/store"
	"github.com/hubfs/hubfs/identity"
	"github.com/hubfs/hubfs/wire"
	hubpb "github.com/hubfs/hubfs/wire/pb"
)

// MailboxName is the thread DB that holds a user's inbox and sentbox.
const MailboxName = wire.MailboxName

// Paging bounds of the hub (protocol.md §5).
const (
	defaultLimit = 100
	maxLimit     = wire.MaxPageSize
)

// Errors of protocol.md §5's table, with the hub's codes and messages.
var (
	errBadMsgSig      = status.Error(codes.Unauthenticated, "Bad message signature")
	errBadPublicKey   = status.Error(codes.FailedPrecondition, "Invalid public key")
	errNoMailbox      = status.Error(codes.FailedPrecondition, "mail not found")
	errThreadNotFound = status.Error(codes.NotFound, "Thread not found")
	errNoInstance     = status.Error(codes.NotFound, "instance not found")
)

// usersService is api.usersd.pb.APIService. The archive methods stay
// unimplemented: hubfs has no Filecoin archives.
type usersService struct {
	hubpb.UnimplementedAPIServiceServer
	s *Server

	mailboxes mailboxCache
}

// mailboxCache remembers owners known to have a mailbox. A mailbox never
// goes away (DeleteDB of it is refused), so a positive answer stays true
// and a send need not ask the store twice each time; a negative one is
// never cached, so a mailbox set up by another hub process is seen at once.
type mailboxCache struct {
	mu    sync.Mutex          // guards known
	known map[string]struct{} // owners with a mailbox
}

// maxCachedMailboxes bounds the cache: past it, it starts over.
const maxCachedMailboxes = 1 << 16

func (c *mailboxCache) has(owner string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.known[owner]
	return ok
}

func (c *mailboxCache) add(owner string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.known == nil || len(c.known) >= maxCachedMailboxes {
		c.known = make(map[string]struct{})
	}
	c.known[owner] = struct{}{}
}

func threadReply(t Thread) *hubpb.GetThreadResponse {
	return &hubpb.GetThreadResponse{Id: t.ID, Name: t.Name, IsDb: t.IsDB}
}

func (u *usersService) GetThread(ctx context.Context, req *hubpb.GetThreadRequest) (*hubpb.GetThreadResponse, error) {
	c := callerFrom(ctx)
	t, err := u.s.store.GetThread(ctx, c.id, req.GetName())
	if errors.Is(err, ErrNotFound) {
		return nil, errThreadNotFound
	}
	if err != nil {
		return nil, u.s.internal(ctx, "get thread", err)
	}
	return threadReply(t), nil
}

func (u *usersService) ListThreads(ctx context.Context, _ *hubpb.ListThreadsRequest) (*hubpb.ListThreadsResponse, error) {
	c := callerFrom(ctx)
	ts, err := u.s.store.ListThreads(ctx, c.id)
	if err != nil {
		return nil, u.s.internal(ctx, "list threads", err)
	}
	resp := &hubpb.ListThreadsResponse{List: make([]*hubpb.GetThreadResponse, 0, len(ts))}
	for _, t := range ts {
		resp.List = append(resp.List, threadReply(t))
	}
	return resp, nil
}

func (u *usersService) SetupMailbox(ctx context.Context, _ *hubpb.SetupMailboxRequest) (*hubpb.SetupMailboxResponse, error) {
	c := callerFrom(ctx)
	t, err := u.s.store.CreateThread(ctx, Thread{
		ID:        identity.NewThreadID().Bytes(),
		Owner:     c.id,
		Name:      MailboxName,
		IsDB:      true,
		CreatedAt: time.Now(),
	})
	// ErrNameTaken returns the existing mailbox: SetupMailbox is idempotent.
	if err != nil && !errors.Is(err, ErrNameTaken) {
		return nil, u.s.internal(ctx, "set up mailbox", err)
	}
	u.mailboxes.add(c.id)
	return &hubpb.SetupMailboxResponse{MailboxId: t.ID}, nil
}

// hasMailbox reports whether owner ran SetupMailbox.
func (u *usersService) hasMailbox(ctx context.Context, owner string) error {
	if u.mailboxes.has(owner) {
		return nil
	}
	_, err := u.s.store.GetThread(ctx, owner, MailboxName)
	if errors.Is(err, ErrNotFound) {
		return errNoMailbox
	}
	if err != nil {
		return u.s.internal(ctx, "look up mailbox", err)
	}
	u.mailboxes.add(owner)
	return nil
}

// maxIdempotencyKey bounds an idempotency key: ours are 32 hex digits, and
// a key is a name, not a payload.
const maxIdempotencyKey = 128

// idempotencyKey reads and checks the call's wire.IdempotencyKeyHeader;
// "" when there is none.
func idempotencyKey(ctx context.Context) (string, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	key := firstMD(md, wire.IdempotencyKeyHeader)
	if len(key) > maxIdempotencyKey {
		return "", status.Errorf(codes.InvalidArgument, "%s is %d bytes, the limit is %d", wire.IdempotencyKeyHeader, len(key), maxIdempotencyKey)
	}
	for i := 0; i < len(key); i++ {
		if key[i] <= ' ' || key[i] > '~' {
			return "", status.Errorf(codes.InvalidArgument, "%s must be printable ASCII without spaces", wire.IdempotencyKeyHeader)
		}
	}
	return key, nil
}

func (u *usersService) SendMessage(ctx context.Context, req *hubpb.SendMessageRequest) (*hubpb.SendMessageResponse, error) {
	c := callerFrom(ctx)
	key, err := idempotencyKey(ctx)
	if err != nil {
		return nil, err
	}
	max := u.s.cfg.MaxMessageSize
	for _, b := range [][]byte{req.GetToBody(), req.GetFromBody()} {
		if len(b) > max {
			return nil, status.Errorf(codes.ResourceExhausted,
				"message body is %d bytes, over this hub's limit of %d bytes of ciphertext per copy", len(b), max)
		}
		if len(b) < identity.Overhead {
			return nil, status.Errorf(codes.InvalidArgument,
				"message body is %d bytes, shorter than the %d bytes of encryption overhead: bodies must be encrypted", len(b), identity.Overhead)
		}
	}
	// Both copies must be signed by the caller, as the hub checks (the
	// recipient's client verifies again, since a hub could lie).
	if !verifies(c.user, req.GetToBody(), req.GetToSignature()) ||
		!verifies(c.user, req.GetFromBody(), req.GetFromSignature()) {
		return nil, errBadMsgSig
	}
	to, err := identity.ParsePublicKey(req.GetTo())
	if err != nil {
		return nil, errBadPublicKey
	}
	toID := to.String() // canonical, whatever multibase the client used
	if err := u.hasMailbox(ctx, toID); err != nil {
		return nil, err
	}
	if err := u.hasMailbox(ctx, c.id); err != nil {
		return nil, err
	}

	if u.s.testHookSend != nil {
		u.s.testHookSend()
	}
	// The store mints the id and publishes the events (to every process
	// sharing it), in commit order.
	stored, err := u.s.store.AddMessage(ctx, store.Send{
		From: c.id, To: toID,
		ToBody: req.GetToBody(), ToSignature: req.GetToSignature(),
		FromBody: req.GetFromBody(), FromSignature: req.GetFromSignature(),
		Key: key,
	})
	if err != nil {
		return nil, u.s.internal(ctx, "store message", err)
	}
	u.s.metrics.sent(stored.Stored, len(req.GetToBody())+len(req.GetToSignature())+len(req.GetFromBody())+len(req.GetFromSignature()))
	// A repeat of a send that is stored already (Stored false) is answered
	// as the first time; the store told listeners nothing.
	return &hubpb.SendMessageResponse{Id: stored.ID, CreatedAt: stored.CreatedAt}, nil
}

func verifies(pk *identity.PublicKey, data, sig []byte) bool {
	ok, err := pk.Verify(data, sig)
	return err == nil && ok
}

// pageQuery turns a request's paging fields into a store query.
func pageQuery(box Box, owner, seek string, limit int64, ascending bool) (Query, error) {
	if limit < 0 {
		return Query{}, status.Errorf(codes.InvalidArgument, "limit must not be negative, got %d", limit)
	}
	if limit == 0 {
		limit = defaultLimit
	}
	limit = min(limit, maxLimit)
	seek = strings.ToLower(seek) // ids are stored lower-case; a ULID's case carries no meaning
	if len(seek) > 26 {
		// Not echoed: it may be megabytes, and the status is a trailer.
		return Query{}, status.Errorf(codes.InvalidArgument, "seek is %d characters, longer than a message id", len(seek))
	}
	if strings.Trim(seek, "0123456789abcdefghjkmnpqrstvwxyz") != "" {
		return Query{}, status.Errorf(codes.InvalidArgument, "seek %q is not a message id", seek)
	}
	return Query{Box: box, Owner: owner, Seek: seek, Limit: int(limit), Ascending: ascending}, nil
}

func messageReply(m Message) *hubpb.Message {
	return &hubpb.Message{Id: m.ID, From: m.From, To: m.To, Body: m.Body, Signature: m.Signature, CreatedAt: m.CreatedAt, ReadAt: m.ReadAt}
}

// listedReply is a listed message's reply. A page asked without bodies
// carries each body's size instead; one asked with bodies is the reply
// every Textile client knows, byte for byte.
func listedReply(m Message, withoutBodies bool) *hubpb.Message {
	r := messageReply(m)
	if withoutBodies {
		r.HubfsBodySize = m.BodySize
	}
	return r
}

func (u *usersService) list(ctx context.Context, q Query) ([]*hubpb.Message, error) {
	if err := u.hasMailbox(ctx, q.Owner); err != nil {
		return nil, err
	}
	q.MaxBytes = u.s.limits.pageBytes
	msgs, err := u.s.store.ListMessages(ctx, q)
	if errors.Is(err, ErrTooLarge) {
		return nil, status.Errorf(codes.ResourceExhausted,
			"a page of up to %d messages is over this hub's limit of %d bytes per reply: ask for fewer", q.Limit, q.MaxBytes)
	}
	if err != nil {
		return nil, u.s.internal(ctx, "list messages", err)
	}
	out := make([]*hubpb.Message, len(msgs))
	for i, m := range msgs {
		out[i] = listedReply(m, q.WithoutBodies)
	}
	return out, nil
}

func (u *usersService) ListInboxMessages(ctx context.Context, req *hubpb.ListInboxMessagesRequest) (*hubpb.ListInboxMessagesResponse, error) {
	c := callerFrom(ctx)
	q, err := pageQuery(Inbox, c.id, req.GetSeek(), req.GetLimit(), req.GetAscending())
	if err != nil {
		return nil, err
	}
	q.WithoutBodies = req.GetHubfsWithoutBodies() // our extension; other hubs ignore it
	switch st := req.GetStatus(); st {
	case hubpb.ListInboxMessagesRequest_STATUS_UNSPECIFIED, hubpb.ListInboxMessagesRequest_STATUS_ALL:
		// The JS client sends 0 for ALL (protocol.md §1.1).
	case hubpb.ListInboxMessagesRequest_STATUS_READ:
		q.Read = new(bool)
		*q.Read = true
	case hubpb.ListInboxMessagesRequest_STATUS_UNREAD:
		q.Read = new(bool)
	default:
		// The hub's code and message (protocol.md §5).
		return nil, status.Errorf(codes.Unknown, "unknown message status: %d", int32(st))
	}
	msgs, err := u.list(ctx, q)
	if err != nil {
		return nil, err
	}
	return &hubpb.ListInboxMessagesResponse{Messages: msgs}, nil
}

func (u *usersService) ListSentboxMessages(ctx context.Context, req *hubpb.ListSentboxMessagesRequest) (*hubpb.ListSentboxMessagesResponse, error) {
	c := callerFrom(ctx)
	q, err := pageQuery(Sentbox, c.id, req.GetSeek(), req.GetLimit(), req.GetAscending())
	if err != nil {
		return nil, err
	}
	q.WithoutBodies = req.GetHubfsWithoutBodies() // our extension; other hubs ignore it
	msgs, err := u.list(ctx, q)
	if err != nil {
		return nil, err
	}
	return &hubpb.ListSentboxMessagesResponse{Messages: msgs}, nil
}

// messageID takes an id from a request. It is deliberately lenient (as the
// Textile hub is): any short string is looked up, and one that is not a
// message id (wire.ValidMessageID) is simply not found.
func messageID(id string) (string, error) {
	if id == "" {
		return "", status.Error(codes.InvalidArgument, "message id is required")
	}
	if len(id) > 64 {
		return "", status.Errorf(codes.InvalidArgument, "message id is %d characters, not a message id", len(id))
	}
	return strings.ToLower(id), nil
}

func (u *usersService) ReadInboxMessage(ctx context.Context, req *hubpb.ReadInboxMessageRequest) (*hubpb.ReadInboxMessageResponse, error) {
	c := callerFrom(ctx)
	id, err := messageID(req.GetId())
	if err != nil {
		return nil, err
	}
	if err := u.hasMailbox(ctx, c.id); err != nil {
		return nil, err
	}
	m, err := u.s.store.MarkRead(ctx, c.id, id, time.Now().UnixNano())
	if errors.Is(err, ErrNotFound) {
		return nil, errNoInstance
	}
	if err != nil {
		return nil, u.s.internal(ctx, "mark read", err)
	}
	return &hubpb.ReadInboxMessageResponse{ReadAt: m.ReadAt}, nil
}

func (u *usersService) delete(ctx context.Context, box Box, rawID string) error {
	c := callerFrom(ctx)
	id, err := messageID(rawID)
	if err != nil {
		return err
	}
	if err := u.hasMailbox(ctx, c.id); err != nil {
		return err
	}
	// Deleting an unknown id succeeds (as in go-threads) and changes
	// nothing, so the store tells listeners nothing.
	if _, err := u.s.store.DeleteMessage(ctx, box, c.id, id); err != nil {
		return u.s.internal(ctx, "delete message", err)
	}
	return nil
}

func (u *usersService) DeleteInboxMessage(ctx context.Context, req *hubpb.DeleteInboxMessageRequest) (*hubpb.DeleteInboxMessageResponse, error) {
	if err := u.delete(ctx, Inbox, req.GetId()); err != nil {
		return nil, err
	}
	return &hubpb.DeleteInboxMessageResponse{}, nil
}

func (u *usersService) DeleteSentboxMessage(ctx context.Context, req *hubpb.DeleteSentboxMessageRequest) (*hubpb.DeleteSentboxMessageResponse, error) {
	if err := u.delete(ctx, Sentbox, req.GetId()); err != nil {
		return nil, err
	}
	return &hubpb.DeleteSentboxMessageResponse{}, nil
}

func (u *usersService) GetUsage(ctx context.Context, req *hubpb.GetUsageRequest) (*hubpb.GetUsageResponse, error) {
	c := callerFrom(ctx)
	if k := req.GetKey(); k != "" {
		pk, err := identity.ParsePublicKey(k)
		if err != nil {
			return nil, errBadPublicKey
		}
		// On the hub an account can read its dependents' usage; a user
		// has no dependents, and another user's figures are theirs.
		if pk.String() != c.id {
			return nil, status.Error(codes.PermissionDenied, "usage of another user is not yours to read")
		}
	}
	us, err := u.s.store.Usage(ctx, c.id)
	if err != nil {
		return nil, u.s.internal(ctx, "usage", err)
	}
	us.InstanceReads += u.s.reads.pending(c.id) // counted, not yet flushed
	now := time.Now()
	period := &hubpb.Period{UnixStart: us.FirstSeen.Unix(), UnixEnd: now.Unix()}
	if us.FirstSeen.IsZero() {
		period.UnixStart = now.Unix()
	}
	usage := u.s.cfg.Quotas.usageMap(us, period)
	var created int64
	if !us.FirstSeen.IsZero() {
		created = us.FirstSeen.Unix()
	}
	return &hubpb.GetUsageResponse{
		Customer: &hubpb.GetCustomerResponse{
			Key:                c.id,
			AccountStatus:      "active",
			CreatedAt:          created,
			InvoicePeriod:      period,
			DailyUsage:         usage,
			Billable:           false,
			Delinquent:         false,
			SubscriptionStatus: "",
		},
		Usage: &hubpb.GetCustomerUsageResponse{Usage: usage},
	}, nil
}
