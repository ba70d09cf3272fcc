package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"os"
	osexec "os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/hubfs/hubfs/hub"
	"github.com/hubfs/hubfs/hubd"
	"github.com/hubfs/hubfs/hubd/store/sqlite"
	"github.com/hubfs/hubfs/identity"
	hubpb "github.com/hubfs/hubfs/wire/pb"
)

// drainHub is a `hubfs serve` child process with metrics on, and what a
// drain test needs to watch it.
type drainHub struct {
	cmd           *osexec.Cmd
	addr, metrics string
	stderr        *lockedBuffer
	exited        chan struct{} // closed when the process has exited, with exitErr
	exitErr       error
	key           createdKey
	conn          *grpc.ClientConn // opened before any signal
	health        healthpb.HealthClient
	users         hubpb.APIServiceClient
	client        *hub.Client
	me            *identity.PrivateKey
	dir           string
}

var metricsLine = regexp.MustCompile(`msg="metrics serving" addr=(\S+)`)

// startDrainHub runs `hubfs serve` with metrics and the given extra flags,
// a client with a mailbox, and a raw connection for health and key-only
// calls.
func startDrainHub(t *testing.T, ctx context.Context, extra ...string) *drainHub {
	t.Helper()
	d := &drainHub{dir: t.TempDir(), stderr: &lockedBuffer{}, exited: make(chan struct{})}
	d.key = createKeyJSON(t, d.dir)
	args := append([]string{"serve", "--listen", "127.0.0.1:0", "--data", d.dir, "--metrics-listen", "127.0.0.1:0"}, extra...)
	d.cmd = hubfsProcess(args...)
	out, err := d.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	d.cmd.Stderr = io.MultiWriter(d.stderr, os.Stderr)
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		d.exitErr = d.cmd.Wait()
		close(d.exited)
	}()
	t.Cleanup(func() {
		d.cmd.Process.Kill()
		<-d.exited
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("serve printed no address: %v", err)
	}
	go io.Copy(io.Discard, out)
	d.addr = strings.TrimSpace(line)
	for d.metrics == "" {
		if m := metricsLine.FindStringSubmatch(d.stderr.String()); m != nil {
			d.metrics = m[1]
		} else {
			time.Sleep(10 * time.Millisecond)
		}
	}

	d.conn, err = grpc.NewClient(d.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.conn.Close() })
	d.health, d.users = healthpb.NewHealthClient(d.conn), hubpb.NewAPIServiceClient(d.conn)
	if got := d.check(t, ctx); got != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health at start: %v", got)
	}
	if d.me, err = identity.NewPrivateKey(); err != nil {
		t.Fatal(err)
	}
	if d.client, err = hub.Dial(ctx, d.addr, hub.WithKeyInfo(d.key.Key, d.key.Secret)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.client.Close() })
	if _, err := d.client.GetToken(ctx, d.me); err != nil {
		t.Fatal(err)
	}
	if _, err := d.client.SetupMailbox(ctx); err != nil {
		t.Fatal(err)
	}
	return d
}

func (d *drainHub) check(t *testing.T, ctx context.Context) healthpb.HealthCheckResponse_ServingStatus {
	t.Helper()
	res, err := d.health.Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatalf("health check: %v", err)
	}
	return res.Status
}

// keyCall is a ListThreads with an API key and no token, on the
// connection opened at start: "Token required" while serving.
func (d *drainHub) keyCall(t *testing.T, ctx context.Context) error {
	t.Helper()
	msg := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	sig, err := identity.APISig(d.key.Secret, msg)
	if err != nil {
		t.Fatal(err)
	}
	ctx = metadata.NewOutgoingContext(ctx, metadata.Pairs("x-textile-api-key", d.key.Key, "x-textile-api-sig-msg", msg, "x-textile-api-sig", sig))
	_, err = d.users.ListThreads(ctx, &hubpb.ListThreadsRequest{})
	return err
}

// sendInFlight takes the store's write lock from this process (as another
// writer would) and starts a send, which waits inside the hub for the lock
// until release; it returns once the hub's metrics show the send in
// flight.
func (d *drainHub) sendInFlight(t *testing.T, ctx context.Context) (release func(), sent chan error) {
	t.Helper()
	st, err := sqlite.Open(ctx, filepath.Join(d.dir, "hub.db"))
	if err != nil {
		t.Fatal(err)
	}
	rel, err := st.HoldWriteLock(ctx)
	if err != nil {
		t.Fatal(err)
	}
	release = func() { rel(); st.Close() }
	sent = make(chan error, 1)
	go func() {
		_, err := d.client.SendMessage(ctx, d.me, d.me.Public(), []byte("in flight at SIGTERM"))
		sent <- err
	}()
	for d.inFlight(t, "/api.usersd.pb.APIService/SendMessage") < 1 {
		time.Sleep(10 * time.Millisecond)
	}
	return release, sent
}

func (d *drainHub) inFlight(t *testing.T, method string) float64 {
	t.Helper()
	res, err := http.Get("http://" + d.metrics + hubd.MetricsPath)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range fams["hubfs_hub_requests_in_flight"].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "method" && l.GetValue() == method {
				return m.GetGauge().GetValue()
			}
		}
	}
	return 0
}

// TestServeDrainsOnSIGTERM: SIGTERM with a send in flight turns health
// NOT_SERVING, refuses new calls with Unavailable on open connections,
// lets the send finish and be stored, and exits 0.
func TestServeDrainsOnSIGTERM(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	d := startDrainHub(t, ctx, "--drain-timeout", "30s")
	if err := d.keyCall(t, ctx); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("a key-only call while serving: %v, want Token required", err)
	}
	release, sent := d.sendInFlight(t, ctx)
	defer release()

	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for {
		err := d.keyCall(t, ctx)
		if status.Code(err) == codes.Unavailable {
			if st, _ := status.FromError(err); st.Message() != "hub is shutting down" {
				t.Fatalf("a call while draining: %v, want the hub's own refusal", err)
			}
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if got := d.check(t, ctx); got != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("health while draining: %v, want NOT_SERVING", got)
	}
	select {
	case <-d.exited:
		t.Fatalf("serve exited with a send in flight: %v", d.exitErr)
	default:
	}
	release()
	if err := <-sent; err != nil {
		t.Fatalf("the send in flight at SIGTERM: %v", err)
	}
	if <-d.exited; d.exitErr != nil {
		t.Fatalf("serve after a drain: %v (stderr %s)", d.exitErr, d.stderr.String())
	}

	st, err := sqlite.Open(ctx, filepath.Join(d.dir, "hub.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	msgs, err := st.ListMessages(ctx, hubd.Query{Box: hubd.Inbox, Owner: d.me.Public().String(), Limit: 10})
	if err != nil || len(msgs) != 1 {
		t.Fatalf("inbox after the drain: %d messages, %v; want the one in flight", len(msgs), err)
	}
}

// TestServeDrainTimeout: a call that outlasts --drain-timeout does not
// hold the process: it stops anyway and says calls were cut off.
func TestServeDrainTimeout(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	d := startDrainHub(t, ctx, "--drain-timeout", "200ms")
	release, sent := d.sendInFlight(t, ctx)
	defer release()
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if <-d.exited; d.exitErr == nil {
		t.Fatal("serve cut a call off at the drain timeout and exited 0")
	}
	if !strings.Contains(d.stderr.String(), "calls still running at shutdown") {
		t.Fatalf("serve's stderr does not say calls were cut off:\n%s", d.stderr.String())
	}
	release()
	<-sent
}
