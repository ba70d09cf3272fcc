package main

import (
	"bufio"
	"context"
	"io"
	"net"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/hubfs/hubfs/identity"
	hubpb "github.com/hubfs/hubfs/wire/pb"
)

// lockedBuffer is stderr shared by the serving goroutine and the test.
type lockedBuffer struct {
	mu sync.Mutex // guards b
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startServe runs `hubfs serve ARGS` in process and returns the address it
// printed on stdout, its stderr and its result.
func startServe(t *testing.T, ctx context.Context, args ...string) (addr string, stderr *lockedBuffer, done chan error) {
	t.Helper()
	pr, pw := io.Pipe()
	stderr = &lockedBuffer{}
	app := newApp()
	app.Writer, app.ErrWriter = pw, stderr
	done = make(chan error, 1)
	go func() {
		err := app.RunContext(ctx, append([]string{"hubfs", "serve"}, args...))
		pw.Close()
		done <- err
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatalf("serve printed no address: %v (stderr %q, result %v)", err, stderr.String(), <-done)
	}
	go io.Copy(io.Discard, pr)
	return strings.TrimSpace(line), stderr, done
}

// apiCall makes a ListThreads call with an API key but no token: it gets as
// far as "Token required" only if the key and its signature were accepted.
func apiCall(t *testing.T, addr, key, secret string) error {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	msg := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	sig, err := identity.APISig(secret, msg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ctx = metadata.NewOutgoingContext(ctx, metadata.Pairs("x-textile-api-key", key, "x-textile-api-sig-msg", msg, "x-textile-api-sig", sig))
	_, err = hubpb.NewAPIServiceClient(conn).ListThreads(ctx, &hubpb.ListThreadsRequest{})
	return err
}

func TestServeWithKeys(t *testing.T) {
	dir := t.TempDir()
	key := createKeyJSON(t, dir)

	addr, stderr, done := startServe(t, context.Background(), "--listen", "127.0.0.1:0", "--data", dir, "--debug")
	if _, _, err := net.SplitHostPort(addr); err != nil {
		t.Fatalf("serve printed %q, not an address", addr)
	}
	if st, _ := status.FromError(apiCall(t, addr, key.Key, key.Secret)); st.Code() != codes.Unauthenticated || st.Message() != "Token required" {
		t.Fatalf("call with a fresh key: %v", st)
	}

	// Revoke while the server runs: the next call is refused.
	if _, errOut, err := runCLI(t, "keys", "revoke", "--data", dir, key.Key); err != nil {
		t.Fatalf("keys revoke: %v (%s)", err, errOut)
	}
	if st, _ := status.FromError(apiCall(t, addr, key.Key, key.Secret)); st.Code() != codes.NotFound {
		t.Fatalf("call with a revoked key: %v", st)
	}

	// SIGTERM stops it gracefully.
	if err := syscall.Kill(syscall.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve after SIGTERM: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not stop on SIGTERM")
	}

	logs := stderr.String()
	if !strings.Contains(logs, "method=/api.usersd.pb.APIService/ListThreads") || !strings.Contains(logs, "code=Unauthenticated") {
		t.Errorf("--debug logged no call line:\n%s", logs)
	}
	if strings.Contains(logs, key.Secret) || strings.Contains(logs, key.Key) {
		t.Errorf("the log shows a secret or a whole key:\n%s", logs)
	}
	if !strings.Contains(logs, key.Key[:8]) {
		t.Errorf("the log does not show the key prefix:\n%s", logs)
	}
}

func TestServeStopsOnContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	_, stderr, done := startServe(t, ctx, "--listen", "127.0.0.1:0", "--data", t.TempDir())
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stderr.String(), "hubfs keys create") {
		t.Errorf("no hint about creating a key on an empty data directory:\n%s", stderr.String())
	}
}

func TestServeErrors(t *testing.T) {
	dir := t.TempDir()
	addr, _, done := startServe(t, context.Background(), "--listen", "127.0.0.1:0", "--data", dir)
	defer func() {
		syscall.Kill(syscall.Getpid(), syscall.SIGINT)
		<-done
	}()

	_, _, err := runCLI(t, "serve", "--listen", addr, "--data", t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "address already in use") || strings.Count(err.Error(), "\n") > 0 {
		t.Errorf("port in use: %v", err)
	}
	_, _, err = runCLI(t, "serve", "--listen", "0.0.0.0:0", "--data", t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "plaintext") {
		t.Errorf("plaintext on 0.0.0.0: %v", err)
	}
	_, _, err = runCLI(t, "serve", "--listen", "127.0.0.1:0", "--metrics-listen", "0.0.0.0:0", "--data", t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "refusing to serve metrics in plaintext") {
		t.Errorf("plaintext metrics on 0.0.0.0: %v", err)
	}
	_, _, err = runCLI(t, "serve", "--drain-timeout", "0s", "--data", t.TempDir())
	wantUsage(t, err, "--drain-timeout 0s")
	_, _, err = runCLI(t, "serve", "--tls-cert", "c.pem", "--data", t.TempDir())
	wantUsage(t, err, "--tls-cert without --tls-key")
	_, _, err = runCLI(t, "serve", "--max-message-size", "0", "--data", t.TempDir())
	wantUsage(t, err, "--max-message-size 0")
	_, _, err = runCLI(t, "serve", "--max-message-size", "1099511627776", "--data", t.TempDir())
	wantUsage(t, err, "--max-message-size 1 TiB")
	_, _, err = runCLI(t, "serve", "extra")
	wantUsage(t, err, "serve with an argument")

	out, _, err := runCLI(t, "serve", "--help")
	if err != nil || !strings.Contains(out, "Example:") || !strings.Contains(out, "--max-message-size") {
		t.Errorf("serve --help: %v\n%s", err, out)
	}
}
