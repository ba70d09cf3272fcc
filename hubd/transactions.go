package hubd

import (
	"bytes"
	"context"
	"errors"
	"io"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/hubfs/hubfs/hubd/store"
	hubpb "github.com/hubfs/hubfs/wire/pb"
)

// ReadTransaction and WriteTransaction are the bidirectional streams of
// @textile/threads-client's transactions, with go-threads' protocol: the
// first request (startTransactionRequest) names the database and the
// collection, and gets no reply; every later request gets exactly one
// reply, with any error in its transactionError while the stream goes
// on. The client's end() closes its side: a write transaction then
// commits every write it buffered in one store batch, all or nothing, and
// the stream's status says whether it did.
//
// Reads inside a write transaction see what is committed, not the
// transaction's own buffered writes (as go-threads' Txn reads its
// datastore). The transaction takes no lock: a create of an id another
// writer committed meanwhile, or a unique value taken meanwhile, fails the
// commit, and the stream ends with that error.

var errNotStart = status.Error(codes.InvalidArgument, "the first request of a transaction must be a startTransactionRequest")

// recv takes the next request of a stream, or gives up when the call ends
// or the hub shuts down: Recv takes no context, so it runs in a goroutine,
// which the stream's end (on return) releases.
func recv[T any](th *threadsService, ctx context.Context, next func() (T, error)) (T, error) {
	type got struct {
		v   T
		err error
	}
	ch := make(chan got, 1)
	go func() {
		v, err := next()
		ch <- got{v, err}
	}()
	var zero T
	select {
	case g := <-ch:
		return g.v, g.err
	case <-th.s.events.done:
		return zero, errShuttingDown
	case <-ctx.Done():
		return zero, status.FromContextError(ctx.Err()).Err()
	}
}

// startTxn opens the collection the first request names.
func (th *threadsService) startTxn(ctx context.Context, start *hubpb.StartTransactionRequest) (*collCall, error) {
	if start == nil {
		return nil, errNotStart
	}
	return th.openCollection(ctx, start.GetDbID(), start.GetCollectionName())
}

// sameTarget refuses an inner request that names another database or
// collection than the transaction's. The JS client names neither;
// go-threads ignores them, which would write somewhere the caller did not
// mean.
func (cc *collCall) sameTarget(dbID []byte, collection string) error {
	if len(dbID) > 0 && !bytes.Equal(dbID, cc.t.ID) || collection != "" && collection != cc.c.Name {
		return status.Errorf(codes.InvalidArgument, "this transaction is on collection %q of its own db: a request inside it names another", cc.c.Name)
	}
	return nil
}

// hasReply, findReply and findByIDReply answer the reads both kinds of
// transaction take.
func (cc *collCall) hasReply(ctx context.Context, r *hubpb.HasRequest) *hubpb.HasReply {
	err := cc.sameTarget(r.GetDbID(), r.GetCollectionName())
	var ok bool
	if err == nil {
		ok, err = cc.has(ctx, r.GetInstanceIDs())
	}
	return &hubpb.HasReply{Exists: ok, TransactionError: txnError(err)}
}

func (cc *collCall) findReply(ctx context.Context, r *hubpb.FindRequest) *hubpb.FindReply {
	err := cc.sameTarget(r.GetDbID(), r.GetCollectionName())
	var found [][]byte
	if err == nil {
		found, err = cc.find(ctx, r.GetQueryJSON())
	}
	return &hubpb.FindReply{Instances: found, TransactionError: txnError(err)}
}

func (cc *collCall) findByIDReply(ctx context.Context, r *hubpb.FindByIDRequest) *hubpb.FindByIDReply {
	err := cc.sameTarget(r.GetDbID(), r.GetCollectionName())
	var j []byte
	if err == nil {
		j, err = cc.findByID(ctx, r.GetInstanceID())
	}
	if err != nil {
		// threads-client 2.3.4 rejects on transactionError and then parses
		// the instance anyway: empty bytes throw inside its stream callback,
		// where nothing catches it. JSON null parses, and the caller still
		// sees the rejection.
		j = []byte("null")
	}
	return &hubpb.FindByIDReply{Instance: j, TransactionError: txnError(err)}
}

func (th *threadsService) ReadTransaction(stream hubpb.API_ReadTransactionServer) error {
	ctx := stream.Context()
	first, err := recv(th, ctx, stream.Recv)
	if err != nil {
		return err
	}
	cc, err := th.startTxn(ctx, first.GetStartTransactionRequest())
	if err != nil {
		return err
	}
	for {
		req, err := recv(th, ctx, stream.Recv)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		var rep hubpb.ReadTransactionReply
		switch x := req.GetOption().(type) {
		case *hubpb.ReadTransactionRequest_HasRequest:
			rep.Option = &hubpb.ReadTransactionReply_HasReply{HasReply: cc.hasReply(ctx, x.HasRequest)}
		case *hubpb.ReadTransactionRequest_FindRequest:
			rep.Option = &hubpb.ReadTransactionReply_FindReply{FindReply: cc.findReply(ctx, x.FindRequest)}
		case *hubpb.ReadTransactionRequest_FindByIDRequest:
			rep.Option = &hubpb.ReadTransactionReply_FindByIDReply{FindByIDReply: cc.findByIDReply(ctx, x.FindByIDRequest)}
		case *hubpb.ReadTransactionRequest_StartTransactionRequest:
			return status.Error(codes.InvalidArgument, "a transaction is started once, by its first request")
		default:
			return status.Error(codes.InvalidArgument, "a read transaction request must be has, find or findByID")
		}
		if err := stream.Send(&rep); err != nil {
			return err
		}
	}
}

// writeTxn is what a write transaction has buffered.
type writeTxn struct {
	cc      *collCall
	ops     []store.InstanceOp
	bytes   int
	created map[string]bool // ids the buffered ops create
	max     int             // bytes of JSON it may buffer
}

// add buffers ops, unless they would pass the transaction's bound or
// create an id the transaction creates already.
func (w *writeTxn) add(ops []store.InstanceOp) error {
	n := 0
	for _, op := range ops {
		n += len(op.JSON) + len(op.ID)
		if op.Kind == store.OpCreate && w.created[op.ID] {
			return errInstanceExists
		}
	}
	if w.bytes+n > w.max || len(w.ops)+len(ops) > maxBatch {
		return status.Errorf(codes.ResourceExhausted, "a transaction buffers at most %d writes and %d bytes: end this one and start another", maxBatch, w.max)
	}
	for _, op := range ops {
		if op.Kind == store.OpCreate {
			w.created[op.ID] = true
		}
	}
	w.ops = append(w.ops, ops...)
	w.bytes += n
	return nil
}

// discard drops what is buffered; the transaction goes on, and end
// commits only what comes after.
func (w *writeTxn) discard() {
	w.ops, w.bytes = nil, 0
	clear(w.created)
}

func (th *threadsService) WriteTransaction(stream hubpb.API_WriteTransactionServer) error {
	ctx := stream.Context()
	first, err := recv(th, ctx, stream.Recv)
	if err != nil {
		return err
	}
	cc, err := th.startTxn(ctx, first.GetStartTransactionRequest())
	if err != nil {
		return err
	}
	w := &writeTxn{cc: cc, created: make(map[string]bool), max: 4 * th.s.limits.maxRecv}
	for {
		req, err := recv(th, ctx, stream.Recv)
		if errors.Is(err, io.EOF) {
			return cc.write(ctx, w.ops)
		}
		if err != nil {
			return err // nothing buffered is written
		}
		var rep hubpb.WriteTransactionReply
		switch x := req.GetOption().(type) {
		case *hubpb.WriteTransactionRequest_CreateRequest:
			r := x.CreateRequest
			err := cc.sameTarget(r.GetDbID(), r.GetCollectionName())
			var ops []store.InstanceOp
			var ids []string
			if err == nil {
				ops, ids, err = cc.createOps(ctx, r.GetInstances(), true)
			}
			if err == nil {
				err = w.add(ops)
			}
			if err != nil {
				ids = nil
			}
			rep.Option = &hubpb.WriteTransactionReply_CreateReply{CreateReply: &hubpb.CreateReply{InstanceIDs: ids, TransactionError: txnError(err)}}
		case *hubpb.WriteTransactionRequest_SaveRequest:
			r := x.SaveRequest
			err := cc.sameTarget(r.GetDbID(), r.GetCollectionName())
			var ops []store.InstanceOp
			if err == nil {
				ops, err = cc.saveOps(r.GetInstances())
			}
			if err == nil {
				err = w.add(ops)
			}
			rep.Option = &hubpb.WriteTransactionReply_SaveReply{SaveReply: &hubpb.SaveReply{TransactionError: txnError(err)}}
		case *hubpb.WriteTransactionRequest_DeleteRequest:
			r := x.DeleteRequest
			err := cc.sameTarget(r.GetDbID(), r.GetCollectionName())
			var ops []store.InstanceOp
			if err == nil {
				ops, err = deleteOps(r.GetInstanceIDs())
			}
			if err == nil {
				err = w.add(ops)
			}
			rep.Option = &hubpb.WriteTransactionReply_DeleteReply{DeleteReply: &hubpb.DeleteReply{TransactionError: txnError(err)}}
		case *hubpb.WriteTransactionRequest_VerifyRequest:
			r := x.VerifyRequest
			err := cc.sameTarget(r.GetDbID(), r.GetCollectionName())
			if err == nil {
				err = cc.verify(r.GetInstances())
			}
			rep.Option = &hubpb.WriteTransactionReply_VerifyReply{VerifyReply: &hubpb.VerifyReply{TransactionError: txnError(err)}}
		case *hubpb.WriteTransactionRequest_HasRequest:
			rep.Option = &hubpb.WriteTransactionReply_HasReply{HasReply: cc.hasReply(ctx, x.HasRequest)}
		case *hubpb.WriteTransactionRequest_FindRequest:
			rep.Option = &hubpb.WriteTransactionReply_FindReply{FindReply: cc.findReply(ctx, x.FindRequest)}
		case *hubpb.WriteTransactionRequest_FindByIDRequest:
			rep.Option = &hubpb.WriteTransactionReply_FindByIDReply{FindByIDReply: cc.findByIDReply(ctx, x.FindByIDRequest)}
		case *hubpb.WriteTransactionRequest_DiscardRequest:
			w.discard()
			rep.Option = &hubpb.WriteTransactionReply_DiscardReply{DiscardReply: &hubpb.DiscardReply{}}
		case *hubpb.WriteTransactionRequest_StartTransactionRequest:
			return status.Error(codes.InvalidArgument, "a transaction is started once, by its first request")
		default:
			return status.Error(codes.InvalidArgument, "a write transaction request must be create, save, delete, verify, has, find, findByID or discard")
		}
		if err := stream.Send(&rep); err != nil {
			return err
		}
	}
}
