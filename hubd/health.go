package hubd

import (
	"context"
	"errors"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

// Health (grpc.health.v1) is served on the API's own address, without an
// API key, for load balancers and orchestrators: SERVING while the hub
// takes calls, NOT_SERVING from the moment it starts draining, and
// NOT_SERVING while its store does not answer a ping. The overall status
// ("") and each API service's name report the same.

// healthPrefix is the health service's method prefix: these calls skip the
// pre-auth tap, the API interceptors and the draining refusal.
const healthPrefix = "/grpc.health.v1.Health/"

func isHealthMethod(method string) bool { return strings.HasPrefix(method, healthPrefix) }

// StorePinger is a store that can tell cheaply whether its database
// answers. Optional: a store without it is taken to be always up.
type StorePinger interface {
	Ping(ctx context.Context) error
}

// Store health checking. A store found down is pinged more often, so the
// hub recovers soon after it returns.
const (
	DefaultStoreCheckEvery = 5 * time.Second
	storeRecheckDown       = 500 * time.Millisecond
	storePingTimeout       = 2 * time.Second
)

// errStoreDown answers calls while the store does not answer its pings:
// at once, rather than after the client's whole deadline.
var errStoreDown = status.Error(codes.Unavailable, "the hub cannot reach its store: try again")

// setupHealth registers the health service; call it after the API
// services, whose names it reports.
func (s *Server) setupHealth() {
	s.health = health.NewServer()
	for name := range s.grpc.GetServiceInfo() {
		s.health.SetServingStatus(name, healthpb.HealthCheckResponse_SERVING)
	}
	s.health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(s.grpc, &healthService{Server: s.health, draining: s.draining})
	s.storeUp.Store(true)
	s.storeLost, s.loseStore = context.WithCancelCause(context.Background())
	if p, ok := s.store.(StorePinger); ok {
		s.pinger = p
	}
}

// setStoreUp records a ping's outcome in health, the gate and metrics.
func (s *Server) setStoreUp(up bool, err error) {
	if s.storeUp.Swap(up) == up {
		return
	}
	st := healthpb.HealthCheckResponse_SERVING
	s.storeMu.Lock()
	if up {
		s.log.Info("store reachable again")
		s.metrics.storeUp.Set(1)
		s.storeLost, s.loseStore = context.WithCancelCause(context.Background())
	} else {
		s.log.Error("store unreachable: refusing calls until it answers", "err", err)
		s.metrics.storeUp.Set(0)
		st = healthpb.HealthCheckResponse_NOT_SERVING
		s.loseStore(errStoreDown)
	}
	s.storeMu.Unlock()
	// After health.Shutdown (draining) this changes nothing: NOT_SERVING
	// sticks.
	for name := range s.grpc.GetServiceInfo() {
		if name != healthpb.Health_ServiceDesc.ServiceName {
			s.health.SetServingStatus(name, st)
		}
	}
	s.health.SetServingStatus("", st)
}

// storeFailed is told of a call that found the store unreachable: check it
// now rather than at the next tick.
func (s *Server) storeFailed() {
	select {
	case s.checkStoreNow <- struct{}{}:
	default:
	}
}

// watchStore pings the store until the hub drains (after which the store
// is about to be closed).
func (s *Server) watchStore() {
	if s.pinger == nil {
		return
	}
	every := s.cfg.StoreCheckEvery
	t := time.NewTimer(every)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-s.checkStoreNow:
		case <-s.draining:
			return
		}
		if !s.inflight.enter() {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), storePingTimeout)
		err := s.pinger.Ping(ctx)
		cancel()
		s.inflight.leave()
		s.setStoreUp(err == nil, err)
		next := every
		if err != nil {
			next = min(every, storeRecheckDown)
		}
		t.Reset(next)
	}
}

// gateUnary and gateStream refuse calls at once while the store is down.
// A unary call in flight when the store is found down is cancelled and
// answered Unavailable too: a store that hangs (a database behind a dead
// connection) would otherwise hold it for the client's whole deadline.
// Streams are left alone: Listen does not wait on the store, and
// GetToken's lookups are bounded by its challenge timeout.
func (s *Server) gateUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if !s.storeUp.Load() {
		return nil, errStoreDown
	}
	s.storeMu.Lock()
	lost := s.storeLost
	s.storeMu.Unlock()
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stop := context.AfterFunc(lost, func() { cancel(errStoreDown) })
	defer stop()
	resp, err := handler(ctx, req)
	if err != nil && errors.Is(context.Cause(ctx), errStoreDown) {
		return nil, errStoreDown
	}
	return resp, err
}

func (s *Server) gateStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	if !s.storeUp.Load() {
		return errStoreDown
	}
	return handler(srv, ss)
}

// exceptHealthUnary and exceptHealthStream let health calls past an
// interceptor: they need no API key, and must be answered while draining.
func exceptHealthUnary(ic grpc.UnaryServerInterceptor) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if isHealthMethod(info.FullMethod) {
			return handler(ctx, req)
		}
		return ic(ctx, req, info, handler)
	}
}

func exceptHealthStream(ic grpc.StreamServerInterceptor) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		if isHealthMethod(info.FullMethod) {
			return handler(srv, ss)
		}
		return ic(srv, ss, info, handler)
	}
}

// healthService is grpc's health server whose Watch streams end when the
// hub drains, after saying NOT_SERVING: left open they would hold
// GracefulStop until the drain timeout.
type healthService struct {
	*health.Server
	draining <-chan struct{}
}

func (h *healthService) Watch(req *healthpb.HealthCheckRequest, stream healthpb.Health_WatchServer) error {
	ctx, cancel := context.WithCancel(stream.Context())
	defer cancel()
	go func() {
		select {
		case <-h.draining:
			cancel()
		case <-ctx.Done():
		}
	}()
	ws := &watchStream{Health_WatchServer: stream, ctx: ctx, last: -1}
	err := h.Server.Watch(req, ws)
	select {
	case <-h.draining:
	default:
		return err
	}
	// The watch loop may have seen the end before the last update.
	if ws.last != healthpb.HealthCheckResponse_NOT_SERVING && stream.Context().Err() == nil {
		_ = stream.Send(&healthpb.HealthCheckResponse{Status: healthpb.HealthCheckResponse_NOT_SERVING})
	}
	return errShuttingDown
}

// watchStream is a Watch stream with the drain's context, remembering what
// it last sent.
type watchStream struct {
	healthpb.Health_WatchServer
	ctx  context.Context
	last healthpb.HealthCheckResponse_ServingStatus
}

func (w *watchStream) Context() context.Context { return w.ctx }

func (w *watchStream) Send(r *healthpb.HealthCheckResponse) error {
	w.last = r.GetStatus()
	return w.Health_WatchServer.Send(r)
}
