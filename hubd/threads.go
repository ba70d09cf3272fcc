package hubd

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/hubfs/hubfs/hubd/store"
	"github.com/hubfs/hubfs/identity"
	hubpb "github.com/hubfs/hubfs/wire/pb"
)

// mdThreadName is where the hub's JS client puts a new DB's name.
const mdThreadName = "x-textile-thread-name"

// maxThreadName bounds a thread name; the hub has no documented limit, but
// a name is a label, not a payload.
const maxThreadName = 256

// maxFilters bounds a Listen request's filters; clients send one.
const maxFilters = 64

// threadsService is threads.pb.API: token issue and the mailbox's events
// for Users clients (this file), and ThreadDB databases, collections,
// instances and transactions for the JS Client (dbs.go, collections.go,
// instances.go, transactions.go). NewDBFromAddr stays unimplemented: this
// hub runs no thread network to join.
type threadsService struct {
	hubpb.UnimplementedAPIServer
	s       *Server
	schemas schemaCache
}

// GetToken runs the challenge of protocol.md §3.4: key, 32 random bytes,
// their signature, then a token for that key.
func (th *threadsService) GetToken(stream hubpb.API_GetTokenServer) error {
	ctx, cancel := context.WithTimeout(stream.Context(), th.s.cfg.ChallengeTimeout)
	defer cancel()
	type recv struct {
		req *hubpb.GetTokenRequest
		err error
	}
	// Recv does not take a context; reading in a goroutine lets the
	// challenge deadline and shutdown end the call. Returning cancels the
	// stream, which ends the goroutine's Recv.
	next := func() (*hubpb.GetTokenRequest, error) {
		ch := make(chan recv, 1)
		go func() {
			req, err := stream.Recv()
			ch <- recv{req, err}
		}()
		select {
		case r := <-ch:
			return r.req, r.err
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return nil, status.Error(codes.DeadlineExceeded, "Challenge deadline exceeded")
			}
			return nil, status.FromContextError(ctx.Err()).Err()
		case <-th.s.events.done:
			return nil, errShuttingDown
		}
	}

	req, err := next()
	if err != nil {
		return err
	}
	keyStr := req.GetKey()
	if keyStr == "" {
		return status.Error(codes.InvalidArgument, "Key is required")
	}
	user, err := identity.ParsePublicKey(keyStr)
	if err != nil {
		return status.Error(codes.InvalidArgument, "Invalid public key")
	}
	challenge := make([]byte, 32)
	if _, err := rand.Read(challenge); err != nil {
		return th.s.internal(ctx, "make challenge", err)
	}
	if err := stream.Send(&hubpb.GetTokenReply{Payload: &hubpb.GetTokenReply_Challenge{Challenge: challenge}}); err != nil {
		return err
	}
	req, err = next()
	if err != nil {
		return err
	}
	sig := req.GetSignature()
	if len(sig) == 0 {
		return status.Error(codes.InvalidArgument, "Signature is required")
	}
	if !verifies(user, challenge, sig) {
		// go-threads answers a plain error (code Unknown); Unauthenticated
		// says what happened, and JS only sees the message anyway.
		return status.Error(codes.Unauthenticated, "bad signature")
	}
	tok, err := th.s.tokens.issue(user)
	if err != nil {
		return th.s.internal(ctx, "issue token", err)
	}
	return stream.Send(&hubpb.GetTokenReply{Payload: &hubpb.GetTokenReply_Token{Token: tok}})
}

// NewDB creates a named thread for the caller; it has no collections here,
// but it is listed by ListThreads and GetThread as on the hub.
func (th *threadsService) NewDB(ctx context.Context, req *hubpb.NewDBRequest) (*hubpb.NewDBReply, error) {
	c := callerFrom(ctx)
	id, err := identity.ThreadIDFromBytes(req.GetDbID())
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "invalid db id: %v", err)
	}
	name := req.GetName()
	if name == "" {
		md, _ := metadata.FromIncomingContext(ctx)
		name = firstMD(md, mdThreadName)
	}
	if len(name) > maxThreadName {
		return nil, status.Errorf(codes.InvalidArgument, "thread name is %d bytes, the limit is %d", len(name), maxThreadName)
	}
	if name == MailboxName {
		return nil, status.Errorf(codes.InvalidArgument, "the name %q is reserved for the mailbox: use SetupMailbox", MailboxName)
	}
	colls, err := newDBCollections(id.Bytes(), req.GetCollections())
	if err != nil {
		return nil, err
	}
	t, err := th.s.store.CreateThread(ctx, Thread{ID: id.Bytes(), Owner: c.id, Name: name, IsDB: true, CreatedAt: time.Now()})
	switch {
	case errors.Is(err, ErrNameTaken):
		return nil, status.Errorf(codes.AlreadyExists, "a thread named %q already exists", name)
	case errors.Is(err, ErrIDTaken):
		return nil, status.Error(codes.AlreadyExists, "db already exists")
	case err != nil:
		return nil, th.s.internal(ctx, "create thread", err)
	}
	if err := th.createCollections(ctx, t, colls); err != nil {
		// All or nothing: a db without the collections asked for is not
		// the one the caller wanted.
		if derr := th.s.store.DeleteThread(ctx, t.ID); derr != nil && !errors.Is(derr, ErrNotFound) {
			th.s.log.ErrorContext(ctx, "remove a db whose collections failed", "err", derr)
		}
		return nil, err
	}
	return &hubpb.NewDBReply{}, nil
}

// ownThread loads a thread the caller names by id and checks they own it.
func (th *threadsService) ownThread(ctx context.Context, rawID []byte) (Thread, error) {
	c := callerFrom(ctx)
	id, err := identity.ThreadIDFromBytes(rawID)
	if err != nil {
		return Thread{}, status.Errorf(codes.InvalidArgument, "invalid db id: %v", err)
	}
	t, err := th.s.store.GetThreadByID(ctx, id.Bytes())
	if errors.Is(err, ErrNotFound) {
		return Thread{}, errThreadNotFound
	}
	if err != nil {
		return Thread{}, th.s.internal(ctx, "get thread", err)
	}
	if t.Owner != c.id {
		return Thread{}, errNotOwner
	}
	return t, nil
}

func (th *threadsService) DeleteDB(ctx context.Context, req *hubpb.DeleteDBRequest) (*hubpb.DeleteDBReply, error) {
	t, err := th.ownThread(ctx, req.GetDbID())
	if err != nil {
		return nil, err
	}
	if t.Name == MailboxName {
		// Deleting it would orphan every stored message of both boxes.
		return nil, status.Error(codes.FailedPrecondition, "the mailbox thread cannot be deleted")
	}
	if err := th.s.store.DeleteThread(ctx, t.ID); err != nil && !errors.Is(err, ErrNotFound) {
		return nil, th.s.internal(ctx, "delete thread", err)
	}
	return &hubpb.DeleteDBReply{}, nil
}

// Listen streams the caller's mailbox events (protocol.md §1.3). Only the
// owner of a thread may listen to it.
func (th *threadsService) Listen(req *hubpb.ListenRequest, stream hubpb.API_ListenServer) error {
	ctx := stream.Context()
	c := callerFrom(ctx)
	t, err := th.ownThread(ctx, req.GetDbID())
	if err != nil {
		return err
	}
	filters := req.GetFilters()
	// Filters run for each event as the store publishes it, while it
	// holds back the next writer: a request may not make every send slow.
	if len(filters) > maxFilters {
		return status.Errorf(codes.InvalidArgument, "%d filters, the limit is %d", len(filters), maxFilters)
	}
	isMailbox := t.Name == MailboxName
	for _, f := range filters {
		if isMailbox {
			switch f.GetCollectionName() {
			case "", Inbox.String(), Sentbox.String():
			default:
				return status.Errorf(codes.NotFound, "collection not found: %q (the mailbox has inbox and sentbox)", f.GetCollectionName())
			}
		} else if n := f.GetCollectionName(); n != "" {
			// A collection made later is listened to as well: no lookup.
			if err := checkCollectionName(n); err != nil {
				return err
			}
		}
		if len(f.GetInstanceID()) > store.MaxNameLen {
			return status.Errorf(codes.InvalidArgument, "filter instance id over %d bytes", store.MaxNameLen)
		}
		if a := f.GetAction(); a < hubpb.ListenRequest_Filter_ALL || a > hubpb.ListenRequest_Filter_DELETE {
			return status.Errorf(codes.InvalidArgument, "invalid filter action %v", a)
		}
	}
	// A mailbox stream takes mailbox events, a thread DB stream the
	// instance events of its own db.
	accept := func(e event) bool {
		if isMailbox {
			return e.thread == nil && matches(filters, e)
		}
		return bytes.Equal(e.thread, t.ID) && matches(filters, e)
	}
	sub, cancel := th.s.events.subscribe(c.id, accept)
	defer cancel()
	// Send the headers now, so a client knows it is subscribed before the
	// first event: without this a grpc-web client sees nothing until then.
	if err := stream.SendHeader(metadata.MD{}); err != nil {
		return err
	}
	// The stream outlives the call's auth: recheck the key now and then,
	// so that revoking it ends the streams it opened.
	recheck := time.NewTicker(th.s.cfg.KeyRecheck)
	defer recheck.Stop()
	for {
		select {
		case <-sub.ready:
			e, ok := sub.next()
			if !ok {
				continue
			}
			if err := stream.Send(&hubpb.ListenReply{
				CollectionName: e.coll,
				InstanceID:     e.id,
				Action:         e.action,
				Instance:       e.instance,
			}); err != nil {
				return err
			}
		case <-sub.dropped:
			return status.Errorf(codes.ResourceExhausted, "listener fell more than %d events or %d bytes behind and was dropped: listen again and list to catch up", maxQueue, th.s.events.maxBytes)
		case <-sub.lost:
			return errEventsLost
		case <-recheck.C:
			if _, err := th.s.activeKey(ctx, c.apiKey); err != nil {
				return err
			}
		case <-th.s.events.done:
			return errShuttingDown
		case <-ctx.Done():
			return status.FromContextError(ctx.Err()).Err()
		}
	}
}

// filterAction maps a ListenReply action to the Filter enum, which numbers
// the same actions differently.
var filterAction = map[hubpb.ListenReply_Action]hubpb.ListenRequest_Filter_Action{
	hubpb.ListenReply_CREATE: hubpb.ListenRequest_Filter_CREATE,
	hubpb.ListenReply_SAVE:   hubpb.ListenRequest_Filter_SAVE,
	hubpb.ListenReply_DELETE: hubpb.ListenRequest_Filter_DELETE,
}

// matches applies go-threads' rule: no filters means everything, else an
// event passes if any filter accepts it.
func matches(filters []*hubpb.ListenRequest_Filter, e event) bool {
	if len(filters) == 0 {
		return true
	}
	for _, f := range filters {
		if n := f.GetCollectionName(); n != "" && n != e.coll {
			continue
		}
		if id := f.GetInstanceID(); id != "" && id != e.id {
			continue
		}
		if a := f.GetAction(); a != hubpb.ListenRequest_Filter_ALL && a != filterAction[e.action] {
			continue
		}
		return true
	}
	return false
}
