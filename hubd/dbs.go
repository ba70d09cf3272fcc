package hubd

import (
	"context"
	"crypto/sha256"
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/hubfs/hubfs/identity"
	hubpb "github.com/hubfs/hubfs/wire/pb"
)

// The database calls of threads.pb.API beyond NewDB and DeleteDB
// (threads.go): ListDBs, GetDBInfo, and how every ThreadDB call finds its
// database.

// errDBNotFound is go-threads' answer for a database it does not have. A
// database of another user is answered the same way: whether it exists is
// not the caller's business (protocol.md §8).
var errDBNotFound = status.Error(codes.NotFound, "db not found")

// errMailboxDB refuses collection and instance calls on the mailbox
// thread, whose inbox and sentbox the Users API serves.
var errMailboxDB = status.Errorf(codes.FailedPrecondition, "the %s thread holds the mailbox, not collections of its own: use the Users API", MailboxName)

// callerDB loads the database a ThreadDB call names, by the request's
// dbID or, when that is empty, by the x-textile-thread header the JS
// client sets after newDB, and checks the caller owns it.
func (th *threadsService) callerDB(ctx context.Context, rawID []byte) (Thread, error) {
	var id identity.ThreadID
	var err error
	if len(rawID) > 0 {
		id, err = identity.ThreadIDFromBytes(rawID)
	} else {
		md, _ := metadata.FromIncomingContext(ctx)
		h := firstMD(md, mdThread)
		if h == "" {
			return Thread{}, status.Error(codes.InvalidArgument, "no db named: give dbID or the x-textile-thread header")
		}
		id, err = identity.ParseThreadID(h)
	}
	if err != nil {
		return Thread{}, status.Errorf(codes.InvalidArgument, "invalid db id: %v", err)
	}
	t, err := th.s.store.GetThreadByID(ctx, id.Bytes())
	if errors.Is(err, ErrNotFound) {
		return Thread{}, errDBNotFound
	}
	if err != nil {
		return Thread{}, th.s.internal(ctx, "get db", err)
	}
	if t.Owner != callerFrom(ctx).id {
		return Thread{}, errDBNotFound
	}
	return t, nil
}

// collectionDB is callerDB for calls on collections and instances, which
// the mailbox thread has none of.
func (th *threadsService) collectionDB(ctx context.Context, rawID []byte) (Thread, error) {
	t, err := th.callerDB(ctx, rawID)
	if err == nil && t.Name == MailboxName {
		return Thread{}, errMailboxDB
	}
	return t, err
}

// ListDBs lists the caller's threads, the mailbox among them, as
// ListThreads does: the JS client calls this with a non-signing key, and
// ListThreads with a signing one.
func (th *threadsService) ListDBs(ctx context.Context, _ *hubpb.ListDBsRequest) (*hubpb.ListDBsReply, error) {
	ts, err := th.s.store.ListThreads(ctx, callerFrom(ctx).id)
	if err != nil {
		return nil, th.s.internal(ctx, "list dbs", err)
	}
	rep := &hubpb.ListDBsReply{Dbs: make([]*hubpb.ListDBsReply_DB, 0, len(ts))}
	for _, t := range ts {
		rep.Dbs = append(rep.Dbs, &hubpb.ListDBsReply_DB{DbID: t.ID, Info: dbInfo(t)})
	}
	return rep, nil
}

func (th *threadsService) GetDBInfo(ctx context.Context, req *hubpb.GetDBInfoRequest) (*hubpb.GetDBInfoReply, error) {
	t, err := th.callerDB(ctx, req.GetDbID())
	if err != nil {
		return nil, err
	}
	return dbInfo(t), nil
}

// dbInfo is a database's info. This hub runs no thread network, so there
// are no addresses to join it at, and the key opens nothing; but the JS
// client insists on a key of 32 or 64 bytes (ThreadKey.fromBytes throws
// otherwise), so it gets a service key derived from the id alone: stable,
// and no secret of anyone's (protocol.md §8).
func dbInfo(t Thread) *hubpb.GetDBInfoReply {
	k := sha256.Sum256(append([]byte("hubfs: a thread key that opens nothing\x00"), t.ID...))
	return &hubpb.GetDBInfoReply{Name: t.Name, Key: k[:], Addrs: [][]byte{}}
}
