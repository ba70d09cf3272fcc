package hubd

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"regexp"
	"sort"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"
)

// Metrics are labelled by method and status code only: both are small,
// fixed sets (grpc answers unknown methods before any interceptor runs).
// Never by user, API key or message id: there are unboundedly many, and
// the metrics endpoint would tell who talks to whom.

// PoolStatser is a store that can describe its connection pool, for the
// metrics endpoint (hubfs_store_pool_*). Optional: a store without it
// exports no pool metrics.
type PoolStatser interface {
	PoolStats() map[string]float64
}

// MetricsPath is where the metrics listener serves the Prometheus text
// exposition.
const MetricsPath = "/metrics"

const methodListen = "/threads.pb.API/Listen"

// metrics is one hub's Prometheus collectors, in a registry of its own so
// that several hubs in one process (tests) do not collide.
type metrics struct {
	reg       *prometheus.Registry
	requests  *prometheus.CounterVec
	inFlight  *prometheus.GaugeVec
	latency   *prometheus.HistogramVec
	refused   *prometheus.CounterVec
	stored    prometheus.Counter
	repeats   prometheus.Counter
	bytes     prometheus.Counter
	listeners prometheus.Gauge
	storeUp   prometheus.Gauge
}

func newMetrics(st Store) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hubfs_hub_requests_total",
			Help: "Calls handled (native gRPC and grpc-web), by full method and gRPC status code. Calls refused before their body was read are in hubfs_hub_preauth_refused_total.",
		}, []string{"method", "code"}),
		inFlight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "hubfs_hub_requests_in_flight",
			Help: "Calls being handled now, by full method: what a drain waits for (Listen streams included until they end).",
		}, []string{"method"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "hubfs_hub_request_duration_seconds",
			Help: "Time from a call's first interceptor to its status, by full method and gRPC status code; for streams (Listen, GetToken) the stream's lifetime.",
			// 1 ms to 4.4 min: unary calls at the bottom, streams at
			// the top.
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 10),
		}, []string{"method", "code"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hubfs_hub_preauth_refused_total",
			Help: "Calls refused before their body was read (missing, unknown or revoked API key, or the key could not be checked), by gRPC status code.",
		}, []string{"code"}),
		stored: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hubfs_hub_messages_stored_total",
			Help: "Sends this process stored (each stores an inbox and a sentbox copy).",
		}),
		repeats: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hubfs_hub_send_repeats_total",
			Help: "Sends answered from their idempotency key: a retry of a send already stored, nothing stored again.",
		}),
		bytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hubfs_hub_stored_bytes_total",
			Help: "Ciphertext and signature bytes of both copies of the sends this process stored.",
		}),
		listeners: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "hubfs_hub_listen_streams",
			Help: "Listen streams open now.",
		}),
		storeUp: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "hubfs_hub_store_up",
			Help: "1 if the store answered its last health ping (or cannot be pinged), 0 while calls are refused with Unavailable because it did not.",
		}),
	}
	m.storeUp.Set(1)
	m.reg.MustRegister(m.requests, m.inFlight, m.latency, m.refused, m.stored, m.repeats, m.bytes, m.listeners, m.storeUp,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if ps, ok := st.(PoolStatser); ok {
		m.reg.MustRegister(poolCollector{ps})
	}
	return m
}

// sent counts a send that reached the store: stored, or a repeat answered
// from its idempotency key.
func (m *metrics) sent(stored bool, bytes int) {
	if !stored {
		m.repeats.Inc()
		return
	}
	m.stored.Inc()
	m.bytes.Add(float64(bytes))
}

func (m *metrics) observe(method string, start time.Time, err error) {
	code := status.Code(err).String()
	m.requests.WithLabelValues(method, code).Inc()
	m.latency.WithLabelValues(method, code).Observe(time.Since(start).Seconds())
}

// unary and stream are the outermost interceptors, so that refusals by
// the others (draining, auth, a store that is down) are counted too.
// grpc-web calls reach the same grpc.Server and pass through them as well.
func (m *metrics) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	start := time.Now()
	g := m.inFlight.WithLabelValues(info.FullMethod)
	g.Inc()
	defer g.Dec()
	resp, err := handler(ctx, req)
	m.observe(info.FullMethod, start, err)
	return resp, err
}

func (m *metrics) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	start := time.Now()
	g := m.inFlight.WithLabelValues(info.FullMethod)
	g.Inc()
	defer g.Dec()
	if info.FullMethod == methodListen {
		m.listeners.Inc()
		defer m.listeners.Dec()
	}
	err := handler(srv, ss)
	m.observe(info.FullMethod, start, err)
	return err
}

func (m *metrics) refusedPreAuth(err error) {
	m.refused.WithLabelValues(status.Code(err).String()).Inc()
}

// poolCollector exports a store's PoolStats as hubfs_store_pool_<stat>
// gauges. The stats are the store's to name, so it is an unchecked
// collector (it describes nothing in advance).
type poolCollector struct{ s PoolStatser }

func (poolCollector) Describe(chan<- *prometheus.Desc) {}

var notMetricName = regexp.MustCompile(`[^a-zA-Z0-9_]`)

func (c poolCollector) Collect(ch chan<- prometheus.Metric) {
	stats := c.s.PoolStats()
	names := make([]string, 0, len(stats))
	for k := range stats {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		desc := prometheus.NewDesc("hubfs_store_pool_"+notMetricName.ReplaceAllString(k, "_"),
			"Store connection pool: "+k+" (as the store reports it).", nil, nil)
		ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, stats[k])
	}
}

// listenMetrics binds the metrics address under the rules of the API's:
// TLS if the API has it, else plaintext only on loopback unless insecure
// serving was allowed.
func listenMetrics(addr string, tlsConfig *tls.Config, allowInsecure bool) (net.Listener, error) {
	if tlsConfig == nil && !allowInsecure {
		loop, err := isLoopback(addr)
		if err != nil {
			return nil, fmt.Errorf("metrics: %w", err)
		}
		if !loop {
			return nil, fmt.Errorf("refusing to serve metrics in plaintext on non-loopback address %s: give a TLS certificate and key, or allow insecure serving explicitly", addr)
		}
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics: listen on %s: %w", addr, err)
	}
	if tlsConfig != nil {
		c := tlsConfig.Clone()
		c.NextProtos = []string{"http/1.1"}
		ln = tls.NewListener(ln, c)
	}
	return ln, nil
}

func (s *Server) metricsServer() *http.Server {
	mux := http.NewServeMux()
	mux.Handle(MetricsPath, promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{
		ErrorLog: slogPrinter{s},
	}))
	return &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
}

// slogPrinter is promhttp's error log.
type slogPrinter struct{ s *Server }

func (p slogPrinter) Println(v ...any) { p.s.log.Warn("metrics", "err", fmt.Sprint(v...)) }

// MetricsAddr is the bound metrics address, or "" without one.
func (s *Server) MetricsAddr() string {
	if s.metricsLn == nil {
		return ""
	}
	return s.metricsLn.Addr().String()
}

// serveMetrics runs until Shutdown closes the metrics server.
func (s *Server) serveMetrics() {
	if s.metricsLn == nil {
		return
	}
	s.log.Info("metrics serving", "addr", s.MetricsAddr(), "path", MetricsPath)
	if err := s.metricsHTTP.Serve(s.metricsLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
		s.serveErr <- fmt.Errorf("serve metrics: %w", err)
	}
}
