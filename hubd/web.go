package hubd

import (
	"bufio"
	"context"
	"errors"
	"net"
	"net/http"
	"sync/atomic"

	"github.com/improbable-eng/grpc-web/go/grpcweb"
)

// webHandler serves grpc-web, over websockets (all the @textile/hub client
// ever uses, protocol.md §6) and plain HTTP POST, by handing each call to the
// same grpc.Server that serves native gRPC.
func (s *Server) webHandler() http.Handler {
	// Any origin is accepted. The hub authenticates every call with an API
	// key and a token sent as metadata, never with cookies, so an origin
	// check protects nothing; and Node's websocket client sends no Origin at
	// all, which the default check answers with 403 (protocol.md §6.1).
	anyOrigin := func(string) bool { return true }
	// WrapHandler, not WrapServer: between the wrapper, which has parsed
	// the call's headers, and grpc, which would read its whole body, the
	// API key is checked (webPreAuth).
	wrapped := grpcweb.WrapHandler(s.webPreAuth(s.grpc),
		grpcweb.WithWebsockets(true),
		grpcweb.WithWebsocketOriginFunc(func(*http.Request) bool { return true }),
		grpcweb.WithOriginFunc(anyOrigin),
		grpcweb.WithAllowedRequestHeaders([]string{"*"}),
		grpcweb.WithEndpointsFunc(func() []string { return grpcweb.ListGRPCResources(s.grpc) }),
		// By default the wrapper refuses a websocket for a method grpc
		// does not serve with HTTP 403 at the upgrade, which the JS client
		// reports only as "Response closed without headers"; let every
		// method through, and webPreAuth answers an unknown one with
		// Unimplemented, as grpc does natively.
		grpcweb.WithCorsForRegisteredEndpointsOnly(false),
		// The default is 32 KiB per websocket message, and a message
		// carries a whole request (protocol.md §6.1).
		grpcweb.WithWebsocketsMessageReadLimit(s.limits.wsReadLimit),
	)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if wrapped.IsGrpcWebSocketRequest(r) {
			// The wrapper leaves the socket open when it gives up on a
			// call (a malformed header block, say), and the client would
			// wait forever: close whatever it hijacked once it is done. On
			// the normal path it has already closed the socket cleanly.
			lim := &preAuthLimit{}
			ht := &hijackTracker{ResponseWriter: w, limit: lim}
			wrapped.ServeHTTP(ht, r.WithContext(context.WithValue(r.Context(), preAuthLimitKey{}, lim)))
			if ht.conn != nil {
				ht.conn.Close()
			}
			return
		}
		if wrapped.IsGrpcWebRequest(r) || wrapped.IsAcceptableGrpcCorsRequest(r) {
			wrapped.ServeHTTP(w, r)
			return
		}
		http.Error(w, "this is a hubfs hub: it speaks gRPC and grpc-web, not plain HTTP", http.StatusNotFound)
	})
}

// hijackTracker remembers the connection a websocket upgrade takes over,
// and bounds what is read from it before the call's API key is checked.
type hijackTracker struct {
	http.ResponseWriter
	limit *preAuthLimit
	conn  net.Conn
}

func (h *hijackTracker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := h.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("connection cannot be hijacked")
	}
	c, rw, err := hj.Hijack()
	h.conn = c
	if err == nil {
		// The websocket library reads through the returned connection once
		// rw's buffer is drained.
		c = &limitedConn{Conn: c, limit: h.limit}
	}
	return c, rw, err
}

// preAuthBytes bounds what a websocket client may send before its API key
// is known good: the first message carries only the call's headers, and
// the websocket read limit (up to four messages of the largest size) is
// for requests, which come after.
const preAuthBytes = 64 << 10

// preAuthLimit counts the bytes read from one websocket before its call
// passed webPreAuth, which lifts the limit.
type preAuthLimit struct {
	lifted atomic.Bool
	read   atomic.Int64
}

type preAuthLimitKey struct{}

// liftPreAuthLimit ends the pre-auth bound of the websocket ctx belongs to,
// if any: plain grpc-web POSTs have none.
func liftPreAuthLimit(ctx context.Context) {
	if lim, ok := ctx.Value(preAuthLimitKey{}).(*preAuthLimit); ok {
		lim.lifted.Store(true)
	}
}

// errPreAuthTooLong ends a websocket whose client sent more than
// preAuthBytes before its call was authorized.
var errPreAuthTooLong = errors.New("websocket sent too much before its API key was checked")

type limitedConn struct {
	net.Conn
	limit *preAuthLimit
}

func (c *limitedConn) Read(p []byte) (int, error) {
	if c.limit.lifted.Load() {
		return c.Conn.Read(p)
	}
	left := preAuthBytes - c.limit.read.Load()
	if left <= 0 {
		return 0, errPreAuthTooLong
	}
	if int64(len(p)) > left {
		p = p[:left]
	}
	n, err := c.Conn.Read(p)
	c.limit.read.Add(int64(n))
	return n, err
}
