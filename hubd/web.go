package hubd

import (
	"bufio"
	"errors"
	"net"
	"net/http"

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
	wrapped := grpcweb.WrapServer(s.grpc,
		grpcweb.WithWebsockets(true),
		grpcweb.WithWebsocketOriginFunc(func(*http.Request) bool { return true }),
		grpcweb.WithOriginFunc(anyOrigin),
		grpcweb.WithAllowedRequestHeaders([]string{"*"}),
		// The default is 32 KiB per websocket message, and a message
		// carries a whole request (protocol.md §6.1).
		grpcweb.WithWebsocketsMessageReadLimit(s.wsReadLimit()),
	)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if wrapped.IsGrpcWebSocketRequest(r) {
			// The wrapper leaves the socket open when it gives up on a
			// call (a malformed header block, say), and the client would
			// wait forever: close whatever it hijacked once it is done. On
			// the normal path it has already closed the socket cleanly.
			ht := &hijackTracker{ResponseWriter: w}
			wrapped.ServeHTTP(ht, r)
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

// hijackTracker remembers the connection a websocket upgrade takes over.
type hijackTracker struct {
	http.ResponseWriter
	conn net.Conn
}

func (h *hijackTracker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := h.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("connection cannot be hijacked")
	}
	c, rw, err := hj.Hijack()
	h.conn = c
	return c, rw, err
}
