package hubd

import (
	"context"
	"errors"
	"strings"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/hubfs/hubfs/identity"
	"github.com/hubfs/hubfs/wire"
)

// Metadata keys of protocol.md §3.1.
const (
	mdAPIKey = "x-textile-api-key"
	mdSigMsg = "x-textile-api-sig-msg"
	mdSig    = "x-textile-api-sig"
	mdAuth   = "authorization"
	mdThread = "x-textile-thread"
)

// Methods with rules of their own.
const (
	methodGetToken = "/threads.pb.API/GetToken"
	usersPrefix    = "/api.usersd.pb.APIService/"
)

// caller is who makes a call, as established by authenticate.
type caller struct {
	apiKey string
	user   *identity.PublicKey // nil only during GetToken
	id     string              // user.String(), the canonical key string everything is stored under
}

type callerKey struct{}

// callerFrom returns the authenticated caller. Every handler but GetToken
// runs behind authenticate, which always sets a user.
func callerFrom(ctx context.Context) caller {
	c, _ := ctx.Value(callerKey{}).(caller)
	return c
}

// Auth errors, with the codes and messages of the Textile hub (protocol.md
// §3.3), so clients written against it react the same way.
var (
	errNoAPIKey      = status.Error(codes.Unauthenticated, "Session or API key required")
	errBadAPIKey     = reasonError(codes.NotFound, "API key not found or is invalid", wire.ReasonBadAPIKey)
	errNoAPISig      = status.Error(codes.Unauthenticated, "API key signature required")
	errBadAPISig     = status.Error(codes.Unauthenticated, "Bad API key signature")
	errNoToken       = status.Error(codes.Unauthenticated, "Token required")
	errBadAuthString = status.Error(codes.Unauthenticated, "Bad authorization string")
	errNotBearer     = status.Error(codes.Unauthenticated, "Request unauthenticated with bearer")
	errBadToken      = reasonError(codes.PermissionDenied, "Bad authorization", wire.ReasonBadToken)
	errNotOwner      = status.Error(codes.PermissionDenied, "User does not own thread")
	// errInsecureKey: a non-signing key used on a hub that others can
	// reach and whose operator did not pass --insecure.
	errInsecureKey  = status.Error(codes.Unauthenticated, "API key signature required: this is an insecure (non-signing) key, which this hub accepts only while it listens on loopback or runs with --insecure")
	errShuttingDown = status.Error(codes.Unavailable, "hub is shutting down")
	// errEventsLost ends a Listen stream whose events the hub may have
	// missed; Unavailable, so clients listen again and list to catch up.
	errEventsLost = status.Error(codes.Unavailable, "the hub lost its event feed for a moment: listen again and list to catch up")
	errNoSpace    = reasonError(codes.ResourceExhausted, "the hub is out of disk space: nothing was stored", wire.ReasonNoSpace)
)

// reasonError is a status that carries a google.rpc.ErrorInfo naming why,
// so our client can tell failures apart that share a code (wire.ErrorDomain).
// Code and message stay the Textile hub's: other clients see no change.
func reasonError(code codes.Code, msg, reason string) error {
	st, err := status.New(code, msg).WithDetails(&errdetails.ErrorInfo{Domain: wire.ErrorDomain, Reason: reason})
	if err != nil {
		return status.Error(code, msg) // cannot happen: the detail always marshals
	}
	return st.Err()
}

// authenticate checks the API key, its signature and (except for GetToken)
// the token, in the hub's order.
func (s *Server) authenticate(ctx context.Context, method string) (caller, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	apiKey := firstMD(md, mdAPIKey)
	if apiKey == "" {
		return caller{}, errNoAPIKey
	}
	k, err := s.activeKey(ctx, apiKey)
	if err != nil {
		return caller{}, err
	}
	if IsInsecure(k) {
		// A non-signing key: whatever signature comes with it is ignored,
		// as on the Textile hub. Only a hub nobody else can reach, or one
		// its operator said is insecure, takes it.
		if !s.insecureKeysOK {
			return caller{}, errInsecureKey
		}
	} else if err := checkAPISig(md, k); err != nil {
		return caller{}, err
	}
	c := caller{apiKey: apiKey}
	if method == methodGetToken {
		return c, nil
	}

	auth := firstMD(md, mdAuth)
	if auth == "" {
		return caller{}, errNoToken
	}
	scheme, tok, ok := strings.Cut(auth, " ")
	if !ok || tok == "" {
		return caller{}, errBadAuthString
	}
	if !strings.EqualFold(scheme, "bearer") {
		return caller{}, errNotBearer
	}
	user, err := s.tokens.verify(tok)
	if err != nil {
		return caller{}, errBadToken
	}
	c.user, c.id = user, user.String()

	// The hub's thread interceptor: naming a thread you do not own in the
	// header is refused even when the call does not use it.
	if th := firstMD(md, mdThread); th != "" && strings.HasPrefix(method, usersPrefix) {
		id, err := identity.ParseThreadID(th)
		if err != nil {
			return caller{}, status.Error(codes.InvalidArgument, "Invalid thread id")
		}
		t, err := s.store.GetThreadByID(ctx, id.Bytes())
		if err != nil && !errors.Is(err, ErrNotFound) {
			return caller{}, s.internal(ctx, "look up thread", err)
		}
		if err != nil || t.Owner != c.id {
			return caller{}, errNotOwner
		}
	}
	return c, nil
}

// checkAPISig checks the signature a signing key's call carries.
func checkAPISig(md metadata.MD, k APIKey) error {
	msg, sig := firstMD(md, mdSigMsg), firstMD(md, mdSig)
	if msg == "" || sig == "" {
		return errNoAPISig
	}
	// RFC3339 parsing accepts the fractional seconds JS sends. The date must
	// be in the future: a signature is a bearer credential until then.
	until, err := time.Parse(time.RFC3339, msg)
	if err != nil || !until.After(time.Now()) {
		return errBadAPISig
	}
	if err := identity.VerifyAPISig(k.Secret, msg, sig); err != nil {
		return errBadAPISig
	}
	return nil
}

// activeKey loads an API key that exists and is not revoked.
func (s *Server) activeKey(ctx context.Context, apiKey string) (APIKey, error) {
	k, err := s.store.GetKey(ctx, apiKey)
	if errors.Is(err, ErrNotFound) || err == nil && k.Revoked {
		return APIKey{}, errBadAPIKey
	}
	if err != nil {
		return APIKey{}, s.internal(ctx, "look up API key", err)
	}
	return k, nil
}

func firstMD(md metadata.MD, key string) string {
	if v := md.Get(key); len(v) > 0 {
		return v[0]
	}
	return ""
}

// apiKeyPrefix is what logs may show of an API key: enough to tell keys
// apart, too little to use.
func apiKeyPrefix(ctx context.Context) string {
	md, _ := metadata.FromIncomingContext(ctx)
	k := firstMD(md, mdAPIKey)
	if len(k) > 8 {
		return k[:8] + "…"
	}
	return k
}

// internal logs a store failure and returns a status that does not leak it.
// A full disk is one failure a client can act on (and must not retry
// at once): ResourceExhausted with wire.ReasonNoSpace. An unreachable
// database (PostgreSQL down) is Unavailable, which clients retry.
func (s *Server) internal(ctx context.Context, what string, err error) error {
	s.log.ErrorContext(ctx, what, "err", err)
	if errors.Is(err, ErrNoSpace) {
		return errNoSpace
	}
	if errors.Is(err, ErrUnavailable) {
		s.storeFailed() // ping now: health and the gate follow
		return status.Error(codes.Unavailable, "the hub's store is unavailable: "+what)
	}
	return status.Error(codes.Internal, "internal error: "+what)
}

func (s *Server) authUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	c, err := s.authenticate(ctx, info.FullMethod)
	if err != nil {
		return nil, err
	}
	return handler(context.WithValue(ctx, callerKey{}, c), req)
}

func (s *Server) authStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	c, err := s.authenticate(ss.Context(), info.FullMethod)
	if err != nil {
		return err
	}
	return handler(srv, &ctxStream{ServerStream: ss, ctx: context.WithValue(ss.Context(), callerKey{}, c)})
}

// ctxStream carries the authenticated caller into stream handlers.
type ctxStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *ctxStream) Context() context.Context { return s.ctx }

func (s *Server) trackUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if !s.inflight.enter() {
		return nil, errShuttingDown
	}
	defer s.inflight.leave()
	return handler(ctx, req)
}

func (s *Server) trackStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	if !s.inflight.enter() {
		return errShuttingDown
	}
	defer s.inflight.leave()
	return handler(srv, ss)
}

// logUnary writes one debug line per call: method, API key prefix, status
// code and duration. Never bodies, secrets or tokens.
func (s *Server) logUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	start := time.Now()
	resp, err := handler(ctx, req)
	s.logCall(ctx, info.FullMethod, start, err)
	return resp, err
}

func (s *Server) logStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	start := time.Now()
	err := handler(srv, ss)
	s.logCall(ss.Context(), info.FullMethod, start, err)
	return err
}

func (s *Server) logCall(ctx context.Context, method string, start time.Time, err error) {
	s.log.DebugContext(ctx, "call",
		"method", method,
		"key", apiKeyPrefix(ctx),
		"code", status.Code(err).String(),
		"duration", time.Since(start).Round(time.Microsecond))
}
