package hubd

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/tap"
	"google.golang.org/protobuf/proto"
)

// Refusing a caller before its request is read: grpc decodes a whole
// request before any interceptor runs, so without this a client with no API
// key could make the hub hold MaxRecvMsgSize bytes per stream (2.8 GB for
// 256 clients sending 8 MB each). The tap handle sees a stream's headers
// first; the interceptor then does the full check (signature, token) as
// before, so the tap only needs to be cheap and never wrong in the
// caller's favour for long.

// keyCacheTTL is how long a key found active is trusted by the tap without
// asking the store. A key revoked through this server is forgotten at once;
// one revoked by `hubfs keys revoke` in another process passes the tap for
// at most this long, and is still refused by the interceptor.
const keyCacheTTL = 30 * time.Second

// maxCachedKeys bounds the cache. Only keys that exist enter it, so a flood
// of made-up keys cannot grow it.
const maxCachedKeys = 4096

// keyCache remembers which API keys were active lately. A key it does not
// know is looked up in the store, so one made by another process is
// accepted at once.
type keyCache struct {
	store Store
	now   func() time.Time

	mu     sync.Mutex           // guards active
	active map[string]time.Time // key -> when the store said it was active
}

func newKeyCache(store Store) *keyCache {
	return &keyCache{store: store, now: time.Now, active: make(map[string]time.Time)}
}

// check returns nil for an active key, errBadAPIKey for an unknown or
// revoked one, and another error if the store cannot tell.
func (c *keyCache) check(ctx context.Context, key string) error {
	now := c.now()
	c.mu.Lock()
	seen, ok := c.active[key]
	c.mu.Unlock()
	if ok && now.Sub(seen) < keyCacheTTL {
		return nil
	}
	k, err := c.store.GetKey(ctx, key)
	if errors.Is(err, ErrNotFound) || err == nil && k.Revoked {
		c.forget(key)
		return errBadAPIKey
	}
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.active) >= maxCachedKeys {
		clear(c.active)
	}
	c.active[key] = now
	return nil
}

// forget drops key, after it was revoked through this server.
func (c *keyCache) forget(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.active, key)
}

// tapLookupTimeout bounds the store lookup of a key the cache does not
// know: the tap runs on the connection's reader goroutine.
const tapLookupTimeout = 2 * time.Second

// preAuth refuses a call whose API key is missing, unknown or revoked,
// with the interceptor's codes and messages, before its body is read.
func (s *Server) preAuth(ctx context.Context, key string) error {
	if key == "" {
		return errNoAPIKey
	}
	ctx, cancel := context.WithTimeout(ctx, tapLookupTimeout)
	defer cancel()
	err := s.keys.check(ctx, key)
	if err != nil && !errors.Is(err, errBadAPIKey) {
		s.log.ErrorContext(ctx, "look up API key", "err", err)
		if errors.Is(err, ErrUnavailable) {
			s.storeFailed()
		}
		return status.Error(codes.Unavailable, "cannot check the API key now: try again")
	}
	return err
}

// tapHandle is the native gRPC side of preAuth (grpc.InTapHandle). Health
// checks need no API key.
func (s *Server) tapHandle(ctx context.Context, info *tap.Info) (context.Context, error) {
	if isHealthMethod(info.FullMethodName) {
		return ctx, nil
	}
	if err := s.unknownMethod(info.FullMethodName); err != nil {
		return nil, err
	}
	if err := s.preAuth(ctx, firstMD(info.Header, mdAPIKey)); err != nil {
		s.metrics.refusedPreAuth(err)
		return nil, err
	}
	return ctx, nil
}

// webPreAuth is the grpc-web side of preAuth: the grpcweb wrapper calls it
// with the call's headers (for websockets, the first message) and the body
// not yet read. A refusal is written as grpc writes a status, in the
// trailers, which the wrapper turns into grpc-web frames.
func (s *Server) webPreAuth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := s.unknownMethod(r.URL.Path); err != nil {
			liftPreAuthLimit(r.Context())
			writeStatus(w, status.Convert(err))
			r.Body.Close()
			return
		}
		if isHealthMethod(r.URL.Path) {
			liftPreAuthLimit(r.Context())
			next.ServeHTTP(w, r)
			return
		}
		md := metadata.MD{}
		for k, v := range r.Header {
			md.Set(k, v...)
		}
		err := s.preAuth(r.Context(), firstMD(md, mdAPIKey))
		if err != nil {
			s.metrics.refusedPreAuth(err)
		}
		if err == nil {
			liftPreAuthLimit(r.Context())
			next.ServeHTTP(w, r)
			return
		}
		writeStatus(w, status.Convert(err))
		// For websockets, closing the body flushes the trailers and closes
		// the socket; for a POST it only ends the read.
		r.Body.Close()
	})
}

// writeStatus writes a trailers-carried gRPC status as grpc-go's own HTTP
// handler transport does.
func writeStatus(w http.ResponseWriter, st *status.Status) {
	h := w.Header()
	h.Set("Content-Type", "application/grpc")
	w.WriteHeader(http.StatusOK)
	h.Set(http.TrailerPrefix+"Grpc-Status", strconv.Itoa(int(st.Code())))
	h.Set(http.TrailerPrefix+"Grpc-Message", percentEncode(st.Message()))
	if p := st.Proto(); len(p.GetDetails()) > 0 {
		if b, err := proto.Marshal(p); err == nil {
			h.Set(http.TrailerPrefix+"Grpc-Status-Details-Bin", base64.RawStdEncoding.EncodeToString(b))
		}
	}
}

// percentEncode escapes a grpc-message as the gRPC spec says: every byte
// outside printable ASCII, and '%' itself.
func percentEncode(msg string) string {
	const hex = "0123456789ABCDEF"
	var b []byte
	for i := 0; i < len(msg); i++ {
		c := msg[i]
		if c >= ' ' && c <= '~' && c != '%' {
			b = append(b, c)
			continue
		}
		b = append(b, '%', hex[c>>4], hex[c&15])
	}
	return string(b)
}

// unknownMethod answers a method this hub does not serve with
// Unimplemented before anything else, whoever asks: which methods exist is
// no secret, and a client told "no API key" for a method that does not
// exist would look for the fault in the wrong place.
func (s *Server) unknownMethod(method string) error {
	if _, ok := s.methods[method]; ok {
		return nil
	}
	return status.Errorf(codes.Unimplemented, "unknown method %s: this hub does not serve it", method)
}

// servedMethods is every method grpc serves, as "/service/Method".
func servedMethods(g interface {
	GetServiceInfo() map[string]grpc.ServiceInfo
}) map[string]struct{} {
	m := make(map[string]struct{})
	for svc, info := range g.GetServiceInfo() {
		for _, mi := range info.Methods {
			m["/"+svc+"/"+mi.Name] = struct{}{}
		}
	}
	return m
}
