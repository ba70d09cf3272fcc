package hub

import (
	"context"
	cryptorand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/peer"

	"github.com/hubfs/hubfs/identity"
	"github.com/hubfs/hubfs/wire"
	hubpb "github.com/hubfs/hubfs/wire/pb"
)

// MailboxName is the thread that holds a user's mailbox on every hub.
const MailboxName = wire.MailboxName

// SetupMailbox creates the caller's mailbox if it does not exist yet and
// returns its id. It is idempotent: a second call returns the same id.
func (c *Client) SetupMailbox(ctx context.Context) (identity.ThreadID, error) {
	const op = "setup mailbox"
	var res *hubpb.SetupMailboxResponse
	err := c.call(ctx, op, plainCall, true, nil, func(ctx context.Context) (err error) {
		res, err = c.users.SetupMailbox(ctx, &hubpb.SetupMailboxRequest{})
		return err
	})
	if err != nil {
		return identity.ThreadID{}, err
	}
	return threadIDFromHub(op, res.GetMailboxId())
}

// GetMailboxID returns the id of the caller's mailbox. Before SetupMailbox
// has run it fails with an error that is both ErrNoMailbox and ErrNotFound.
func (c *Client) GetMailboxID(ctx context.Context) (identity.ThreadID, error) {
	t, err := c.GetThread(ctx, MailboxName)
	if errors.Is(err, ErrNotFound) {
		return identity.ThreadID{}, fmt.Errorf("%w: %w", ErrNoMailbox, err)
	}
	return t.ID, err
}

// Sealed is a message ready to send (wire.Sealed): both encrypted copies
// and their signatures, no plaintext.
type Sealed = wire.Sealed

// Seal encrypts body to the recipient and to the sender and signs both
// copies with the sender's key.
func Seal(from identity.Identity, to *identity.PublicKey, body []byte) (Sealed, error) {
	const op = "seal message"
	if from == nil || to == nil {
		return Sealed{}, invalidf("%s: nil sender or recipient", op)
	}
	self := from.Public()
	toBody, err := to.Encrypt(body)
	if err != nil {
		return Sealed{}, fmt.Errorf("%s: encrypt to recipient: %w", op, err)
	}
	fromBody, err := self.Encrypt(body)
	if err != nil {
		return Sealed{}, fmt.Errorf("%s: encrypt to sender: %w", op, err)
	}
	toSig, err := from.Sign(toBody)
	if err != nil {
		return Sealed{}, fmt.Errorf("%s: sign: %w", op, err)
	}
	fromSig, err := from.Sign(fromBody)
	if err != nil {
		return Sealed{}, fmt.Errorf("%s: sign: %w", op, err)
	}
	return Sealed{From: self.String(), To: to.String(), ToBody: toBody, ToSignature: toSig, FromBody: fromBody, FromSignature: fromSig}, nil
}

// SendMessage seals body from the sender to the recipient and sends it once,
// under a fresh idempotency key: it never retries, since a hub that ignores
// the key would store a copy per try. A failure that leaves unknown whether
// the hub stored it wraps ErrUnknownOutcome. To retry safely, Seal and send
// with SendSealed under a key kept for the message.
func (c *Client) SendMessage(ctx context.Context, from identity.Identity, to *identity.PublicKey, body []byte) (UserMessage, error) {
	s, err := Seal(from, to, body)
	if err != nil {
		return UserMessage{}, fmt.Errorf("send message: %w", err)
	}
	return c.send(ctx, s, NewIdempotencyKey(), false)
}

// NewIdempotencyKey returns a fresh random key naming one logical send.
func NewIdempotencyKey() string {
	var b [16]byte
	if _, err := cryptorand.Read(b[:]); err != nil {
		panic(err) // crypto/rand never fails on Linux
	}
	return hex.EncodeToString(b[:])
}

// SendSealed sends s. key names this logical send (wire.IdempotencyKeyHeader):
// a hub that honours it answers a repeat with the first message's id, so a
// retry after a failure whose outcome is unknown cannot store a copy. With a
// key, SendSealed itself retries (with backoff, a few times, within ctx)
// when the hub is unavailable or an attempt's outcome is unknown (its
// deadline passed or its connection broke once the request was on its way).
// An empty key sends once, without one.
//
// An error after which the hub may still have stored the message wraps
// ErrUnknownOutcome besides the sentinel of the last failure: send again
// under the same key, never under a new one, and never report it as failed.
func (c *Client) SendSealed(ctx context.Context, s Sealed, key string) (UserMessage, error) {
	return c.send(ctx, s, key, key != "")
}

func (c *Client) send(ctx context.Context, s Sealed, key string, retry bool) (UserMessage, error) {
	const op = "send message"
	req := &hubpb.SendMessageRequest{
		To:            s.To,
		ToBody:        s.ToBody,
		ToSignature:   s.ToSignature,
		FromBody:      s.FromBody,
		FromSignature: s.FromSignature,
	}
	var extra []string
	if key != "" {
		extra = []string{wire.IdempotencyKeyHeader, key}
	}
	var res *hubpb.SendMessageResponse
	unknown := false // some attempt may have been stored
	for attempt := 0; ; attempt++ {
		var p peer.Peer
		err := c.call(ctx, op, mailboxCall, false, extra, func(ctx context.Context) (err error) {
			p = peer.Peer{}
			res, err = c.users.SendMessage(ctx, req, grpc.Peer(&p))
			return err
		})
		if err == nil {
			break
		}
		ambiguous := ambiguousSend(err, p.Addr != nil)
		unknown = unknown || ambiguous
		again := retry && (ambiguous || errors.Is(err, ErrUnavailable)) && attempt < retries
		if !again || !sleep(ctx, backoffDelay(retryBase, attempt, time.Second)) {
			if unknown {
				err = fmt.Errorf("%w (%d tries): %w", ErrUnknownOutcome, attempt+1, err)
			}
			return UserMessage{}, err
		}
	}
	if err := checkID(res.GetId()); err != nil {
		return UserMessage{}, fmt.Errorf("%s: hub returned a bad message id: %w", op, err)
	}
	return UserMessage{
		ID:        res.GetId(),
		From:      s.From,
		To:        s.To,
		Body:      s.FromBody,
		Signature: s.FromSignature,
		CreatedAt: fromNanos(res.GetCreatedAt()),
		BodySize:  int64(len(s.FromBody)),
	}, nil
}

// ambiguousSend reports whether a send that failed with err may still have
// been stored. Only a call that got as far as a connection (reached: gRPC
// gave it a peer) can have been; then a broken connection (Unavailable), a
// deadline or a cancellation leaves the outcome unknown. A status the hub
// answered with is a refusal, and one that never left this process is no
// send at all.
func ambiguousSend(err error, reached bool) bool {
	if !reached {
		return false
	}
	return errors.Is(err, ErrUnavailable) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)
}

// ListInboxMessages returns one page of the caller's inbox; InboxMessages
// walks all of them.
func (c *Client) ListInboxMessages(ctx context.Context, opts InboxListOptions) ([]UserMessage, error) {
	const op = "list inbox"
	status, ok := opts.Status.wire()
	if !ok {
		return nil, invalidf("%s: unknown status %d", op, opts.Status)
	}
	if err := checkPage(opts.Seek, opts.Limit); err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	req := &hubpb.ListInboxMessagesRequest{Seek: opts.Seek, Limit: int64(opts.Limit), Ascending: opts.Ascending, Status: status, HubfsWithoutBodies: opts.WithoutBodies}
	var res *hubpb.ListInboxMessagesResponse
	err := c.call(ctx, op, mailboxCall, true, nil, func(ctx context.Context) (err error) {
		res, err = c.users.ListInboxMessages(ctx, req)
		return err
	})
	if err != nil {
		return nil, err
	}
	return messagesFromPB(res.GetMessages()), nil
}

// ListSentboxMessages returns one page of the caller's sentbox;
// SentboxMessages walks all of them.
func (c *Client) ListSentboxMessages(ctx context.Context, opts SentboxListOptions) ([]UserMessage, error) {
	const op = "list sentbox"
	if err := checkPage(opts.Seek, opts.Limit); err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	req := &hubpb.ListSentboxMessagesRequest{Seek: opts.Seek, Limit: int64(opts.Limit), Ascending: opts.Ascending, HubfsWithoutBodies: opts.WithoutBodies}
	var res *hubpb.ListSentboxMessagesResponse
	err := c.call(ctx, op, mailboxCall, true, nil, func(ctx context.Context) (err error) {
		res, err = c.users.ListSentboxMessages(ctx, req)
		return err
	})
	if err != nil {
		return nil, err
	}
	return messagesFromPB(res.GetMessages()), nil
}

// ReadInboxMessage marks an inbox message read and returns when. Marking
// again moves the time; it is safe to repeat.
func (c *Client) ReadInboxMessage(ctx context.Context, id string) (time.Time, error) {
	const op = "read inbox message"
	if err := checkID(id); err != nil {
		return time.Time{}, fmt.Errorf("%s: %w", op, err)
	}
	var res *hubpb.ReadInboxMessageResponse
	err := c.call(ctx, op, mailboxCall, true, nil, func(ctx context.Context) (err error) {
		res, err = c.users.ReadInboxMessage(ctx, &hubpb.ReadInboxMessageRequest{Id: id})
		return err
	})
	if err != nil {
		return time.Time{}, err
	}
	return fromNanos(res.GetReadAt()), nil
}

// DeleteInboxMessage deletes a message from the caller's inbox. A Textile
// hub answers success for an id it does not have.
func (c *Client) DeleteInboxMessage(ctx context.Context, id string) error {
	const op = "delete inbox message"
	if err := checkID(id); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	return c.call(ctx, op, mailboxCall, true, nil, func(ctx context.Context) error {
		_, err := c.users.DeleteInboxMessage(ctx, &hubpb.DeleteInboxMessageRequest{Id: id})
		return err
	})
}

// DeleteSentboxMessage deletes a message from the caller's sentbox.
func (c *Client) DeleteSentboxMessage(ctx context.Context, id string) error {
	const op = "delete sentbox message"
	if err := checkID(id); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	return c.call(ctx, op, mailboxCall, true, nil, func(ctx context.Context) error {
		_, err := c.users.DeleteSentboxMessage(ctx, &hubpb.DeleteSentboxMessageRequest{Id: id})
		return err
	})
}

func messagesFromPB(in []*hubpb.Message) []UserMessage {
	out := make([]UserMessage, len(in))
	for i, m := range in {
		out[i] = messageFromPB(m)
	}
	return out
}

// CheckMessageID reports whether id has the form of a hub message id: a
// 26-character ULID (hubs send it in lower case). Use it to reject a bad id
// from a user before any call.
func CheckMessageID(id string) error { return checkID(id) }

func checkID(id string) error {
	if err := wire.CheckMessageID(id); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	return nil
}

func checkPage(seek string, limit int) error {
	if seek != "" {
		if err := checkID(seek); err != nil {
			return fmt.Errorf("seek: %w", err)
		}
	}
	if limit < 0 {
		return invalidf("negative limit %d", limit)
	}
	return nil
}

// clip shortens what goes into an error message from user input.
func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}
