package hubd_test

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"

	"github.com/hubfs/hubfs/hubd"
	"github.com/hubfs/hubfs/hubd/hubdtest"
	"github.com/hubfs/hubfs/wire"
	hubpb "github.com/hubfs/hubfs/wire/pb"
)

// scrape reads the hub's metrics endpoint as Prometheus would.
func scrape(t testing.TB, addr string) map[string]*dto.MetricFamily {
	t.Helper()
	res, err := http.Get("http://" + addr + hubd.MetricsPath)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", hubd.MetricsPath, res.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(res.Body)
	if err != nil {
		t.Fatalf("parse metrics: %v", err)
	}
	return fams
}

// metricValue is the value of the sample of family name whose labels
// include want, or -1 if there is none.
func metricValue(fams map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	f := fams[name]
	if f == nil {
		return -1
	}
next:
	for _, m := range f.Metric {
		have := map[string]string{}
		for _, l := range m.Label {
			have[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if have[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount())
		case m.Untyped != nil:
			return m.Untyped.GetValue()
		}
	}
	return -1
}

func withMetrics(c *hubd.Config) { c.MetricsListen = "127.0.0.1:0" }

// TestMetrics: a scrape shows the calls by method and code (grpc-web ones
// too), sends stored and repeated, the bytes stored, open Listen streams,
// calls refused before auth and the store's pool, and never a user, key
// or message id.
func TestMetrics(t *testing.T) {
	h := hubdtest.Start(t, withMetrics)
	maddr := h.Server.MetricsAddr()
	if maddr == "" {
		t.Fatal("no metrics address")
	}
	conn := dial(t, h)
	alice, bob := mailboxUser(t, h, conn), mailboxUser(t, h, conn)
	req := sendReq(t, alice, bob.id, []byte("counted"))
	ctx := metadata.AppendToOutgoingContext(alice.ctx(), wire.IdempotencyKeyHeader, "metrics-test-key")
	first, err := alice.users.SendMessage(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := alice.users.SendMessage(ctx, req); err != nil { // a retry
		t.Fatal(err)
	}
	_ = listen(t, bob)
	// A call refused before its body (no key), and a health check, both
	// over grpc-web.
	unaryWS(t, h.Addr, "/api.usersd.pb.APIService/ListThreads", nil, &hubpb.ListThreadsRequest{}, &hubpb.ListThreadsResponse{})
	unaryWS(t, h.Addr, "/grpc.health.v1.Health/Check", nil, &healthpb.HealthCheckRequest{}, &healthpb.HealthCheckResponse{})
	// A call refused by auth, natively.
	_, err = alice.users.ListThreads(metadataCtx(context.Background(), keyMD(t, h.Key, h.Secret)), &hubpb.ListThreadsRequest{})
	wantCode(t, err, codes.Unauthenticated, "Token required")

	fams := scrape(t, maddr)
	send := map[string]string{"method": "/api.usersd.pb.APIService/SendMessage", "code": "OK"}
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"hubfs_hub_requests_total", send, 2},
		{"hubfs_hub_request_duration_seconds", send, 2},
		{"hubfs_hub_requests_total", map[string]string{"method": "/api.usersd.pb.APIService/SetupMailbox", "code": "OK"}, 2},
		{"hubfs_hub_requests_total", map[string]string{"method": "/api.usersd.pb.APIService/ListThreads", "code": "Unauthenticated"}, 1},
		{"hubfs_hub_requests_total", map[string]string{"method": "/grpc.health.v1.Health/Check", "code": "OK"}, 1},
		{"hubfs_hub_preauth_refused_total", map[string]string{"code": "Unauthenticated"}, 1},
		{"hubfs_hub_messages_stored_total", nil, 1},
		{"hubfs_hub_send_repeats_total", nil, 1},
		{"hubfs_hub_stored_bytes_total", nil, float64(len(req.ToBody) + len(req.ToSignature) + len(req.FromBody) + len(req.FromSignature))},
		{"hubfs_hub_listen_streams", nil, 1},
		{"hubfs_hub_store_up", nil, 1},
	} {
		if got := metricValue(fams, c.name, c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	if metricValue(fams, "hubfs_store_pool_open_connections", nil) < 1 {
		t.Errorf("no store pool metrics: %v", fams["hubfs_store_pool_open_connections"])
	}
	if fams["go_goroutines"] == nil || fams["process_open_fds"] == nil {
		t.Error("no Go runtime or process metrics")
	}
	secrets := []string{alice.id, bob.id, h.Key, first.Id}
	for name, f := range fams {
		for _, m := range f.Metric {
			for _, l := range m.Label {
				for _, s := range secrets {
					if strings.Contains(l.GetValue(), s) {
						t.Errorf("%s has label %s=%q: metrics must not name users, keys or messages", name, l.GetName(), l.GetValue())
					}
				}
			}
		}
	}
	// Unknown paths are not served.
	res, err := http.Get("http://" + maddr + "/")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusNotFound {
		t.Errorf("GET / on the metrics address: %s, want 404", res.Status)
	}
}

// TestMetricsListenRules: plaintext metrics on an address other machines
// can reach are refused, as the API's are, unless insecure serving is
// allowed; without MetricsListen there is no metrics address.
func TestMetricsListenRules(t *testing.T) {
	_, err := hubd.New(hubd.Config{Listen: "127.0.0.1:0", DataDir: t.TempDir(), MetricsListen: "0.0.0.0:0"})
	if err == nil || !strings.Contains(err.Error(), "refusing to serve metrics in plaintext") {
		t.Fatalf("plaintext metrics on 0.0.0.0: %v, want a refusal", err)
	}
	h := hubdtest.Start(t, func(c *hubd.Config) { c.MetricsListen = "0.0.0.0:0"; c.AllowInsecure = true })
	if h.Server.MetricsAddr() == "" {
		t.Fatal("insecure metrics were not served")
	}
	if a := hubdtest.Start(t).Server.MetricsAddr(); a != "" {
		t.Fatalf("metrics served at %s without MetricsListen", a)
	}
}

// TestMetricsEndWithShutdown: the metrics endpoint closes once the drain
// is over.
func TestMetricsEndWithShutdown(t *testing.T) {
	h := hubdtest.Start(t, withMetrics)
	maddr := h.Server.MetricsAddr()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.Server.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := http.Get("http://" + maddr + hubd.MetricsPath); err == nil {
		t.Fatal("metrics still served after Shutdown returned")
	}
}

// TestMetricsOverTLS: with a certificate, the metrics address serves TLS
// too, and so may listen beyond loopback without AllowInsecure.
func TestMetricsOverTLS(t *testing.T) {
	cert, key, pool := hubdtest.SelfSigned(t)
	h := hubdtest.Start(t, func(c *hubd.Config) {
		c.TLSCertFile, c.TLSKeyFile, c.MetricsListen = cert, key, "0.0.0.0:0"
	})
	_, port, err := net.SplitHostPort(h.Server.MetricsAddr())
	if err != nil {
		t.Fatal(err)
	}
	cl := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	res, err := cl.Get("https://127.0.0.1:" + port + hubd.MetricsPath)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("metrics over TLS: %s", res.Status)
	}
	// A plaintext request gets net/http's 400 for HTTP to an HTTPS port.
	if res, err := http.Get("http://127.0.0.1:" + port + hubd.MetricsPath); err == nil {
		res.Body.Close()
		if res.StatusCode == http.StatusOK {
			t.Fatal("metrics answered in plaintext with TLS configured")
		}
	}
}
