package hubd_test

import (
	"context"
	"crypto/tls"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"nhooyr.io/websocket"

	"github.com/hubfs/hubfs/hubd"
	"github.com/hubfs/hubfs/hubd/hubdtest"
	hubpb "github.com/hubfs/hubfs/wire/pb"
)

// TestRestartKeepsEverything: what was acknowledged before a stop is there
// after a start on the same directory and address.
func TestRestartKeepsEverything(t *testing.T) {
	h := hubdtest.Start(t)
	conn := dial(t, h)
	alice, bob := mailboxUser(t, h, conn), mailboxUser(t, h, conn)
	mb, _ := bob.users.GetThread(bob.ctx(), &hubpb.GetThreadRequest{Name: "hubmail"})
	var sent []string
	for i := range 5 {
		sent = append(sent, send(t, alice, bob.id, []byte{byte(i)}).Id)
	}
	rd, err := bob.users.ReadInboxMessage(bob.ctx(), &hubpb.ReadInboxMessageRequest{Id: sent[2]})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bob.users.DeleteInboxMessage(bob.ctx(), &hubpb.DeleteInboxMessageRequest{Id: sent[4]}); err != nil {
		t.Fatal(err)
	}
	addr := h.Addr

	h.Restart(t)
	if h.Addr != addr {
		t.Fatalf("restart moved the hub from %s to %s", addr, h.Addr)
	}
	// The old connection reconnects by itself.
	in, err := bob.users.ListInboxMessages(bob.ctx(), &hubpb.ListInboxMessagesRequest{Ascending: true}, grpc.WaitForReady(true))
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(in.Messages); len(got) != 4 || got[0] != sent[0] || got[3] != sent[3] {
		t.Fatalf("inbox after restart = %v", got)
	}
	if in.Messages[2].ReadAt != rd.ReadAt {
		t.Fatalf("read_at after restart = %d, want %d", in.Messages[2].ReadAt, rd.ReadAt)
	}
	mb2, err := bob.users.GetThread(bob.ctx(), &hubpb.GetThreadRequest{Name: "hubmail"})
	if err != nil || string(mb2.Id) != string(mb.Id) {
		t.Fatalf("mailbox after restart: %v", err)
	}
	// New ids still sort after the old ones.
	if id := send(t, alice, bob.id, []byte("after")).Id; id <= sent[4] {
		t.Fatalf("id %s after restart sorts before %s", id, sent[4])
	}
}

// TestShutdownFinishesInFlight: a call inside its handler when Shutdown
// starts completes and is stored; calls after that are refused.
func TestShutdownFinishesInFlight(t *testing.T) {
	h := hubdtest.Start(t)
	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	hubd.SetSendHook(h.Server, func() {
		once.Do(func() {
			close(entered)
			<-release
		})
	})
	conn := dial(t, h)
	alice, bob := mailboxUser(t, h, conn), mailboxUser(t, h, conn)

	sendErr := make(chan error, 1)
	go func() {
		_, err := alice.users.SendMessage(alice.ctx(), sendReq(t, alice, bob.id, []byte("in flight")))
		sendErr <- err
	}()
	<-entered
	stopped := make(chan struct{})
	go func() {
		h.Stop(t)
		close(stopped)
	}()
	// Wait until the hub refuses new calls: it is draining.
	for {
		_, err := bob.users.ListThreads(bob.ctx(), &hubpb.ListThreadsRequest{})
		if codeOf(err) == codes.Unavailable {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	select {
	case <-stopped:
		t.Fatal("Shutdown returned with a call in flight")
	default:
	}
	close(release)
	if err := <-sendErr; err != nil {
		t.Fatalf("the in-flight send failed: %v", err)
	}
	<-stopped

	h2 := hubdtest.Start(t, hubdtest.WithDataDir(h.DataDir))
	conn2 := dial(t, h2)
	bob2 := &user{users: hubpb.NewAPIServiceClient(conn2),
		md: metadata.Join(keyMD(t, h2.Key, h2.Secret), metadata.Pairs("authorization", "bearer "+bob.token))}
	in, err := bob2.users.ListInboxMessages(bob2.ctx(), &hubpb.ListInboxMessagesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(in.Messages) != 1 {
		t.Fatalf("the in-flight send was acknowledged but %d messages are stored", len(in.Messages))
	}
}

func codeOf(err error) codes.Code { return status.Code(err) }

func TestNewErrors(t *testing.T) {
	t.Run("port in use", func(t *testing.T) {
		h := hubdtest.Start(t)
		_, err := hubd.New(hubd.Config{Listen: h.Addr, DataDir: t.TempDir()})
		if err == nil || !strings.Contains(err.Error(), "address already in use") {
			t.Fatalf("New on a used port: %v", err)
		}
	})
	t.Run("unwritable data dir", func(t *testing.T) {
		if os.Geteuid() == 0 {
			// root ignores permissions; a file where the directory should be
			// still fails.
			f := filepath.Join(t.TempDir(), "file")
			os.WriteFile(f, nil, 0o600)
			_, err := hubd.New(hubd.Config{Listen: "127.0.0.1:0", DataDir: f})
			if err == nil || !strings.Contains(err.Error(), "data directory") {
				t.Fatalf("New on a file: %v", err)
			}
			_, err = hubd.New(hubd.Config{Listen: "127.0.0.1:0", DataDir: filepath.Join(f, "sub")})
			if err == nil || !strings.Contains(err.Error(), "data directory") {
				t.Fatalf("New under a file: %v", err)
			}
			return
		}
		dir := filepath.Join(t.TempDir(), "ro")
		os.Mkdir(dir, 0o500)
		_, err := hubd.New(hubd.Config{Listen: "127.0.0.1:0", DataDir: dir})
		if err == nil || !strings.Contains(err.Error(), "not writable") {
			t.Fatalf("New on a read-only dir: %v", err)
		}
	})
	t.Run("plaintext on a public address", func(t *testing.T) {
		_, err := hubd.New(hubd.Config{Listen: "0.0.0.0:0", DataDir: t.TempDir()})
		if err == nil || !strings.Contains(err.Error(), "plaintext") {
			t.Fatalf("New on 0.0.0.0 without TLS: %v", err)
		}
		s, err := hubd.New(hubd.Config{Listen: "0.0.0.0:0", DataDir: t.TempDir(), AllowInsecure: true})
		if err != nil {
			t.Fatalf("with AllowInsecure: %v", err)
		}
		s.Shutdown(context.Background())
	})
	t.Run("max message size out of range", func(t *testing.T) {
		// 8x the limit is grpc's receive limit, a uint32 on the wire.
		for _, n := range []int{-1, hubd.MaxMaxMessageSize + 1, 1 << 40} {
			_, err := hubd.New(hubd.Config{Listen: "127.0.0.1:0", DataDir: t.TempDir(), MaxMessageSize: n})
			if err == nil || !strings.Contains(err.Error(), "max message size") {
				t.Errorf("New with a max message size of %d: %v", n, err)
			}
		}
	})
	t.Run("half TLS", func(t *testing.T) {
		_, err := hubd.New(hubd.Config{Listen: "127.0.0.1:0", DataDir: t.TempDir(), TLSCertFile: "x"})
		if err == nil {
			t.Fatal("New with a cert and no key succeeded")
		}
	})
	t.Run("secret files are private", func(t *testing.T) {
		h := hubdtest.Start(t)
		for _, name := range []string{"host.key", "hub.db"} {
			fi, err := os.Stat(filepath.Join(h.DataDir, name))
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != 0o600 {
				t.Errorf("%s has mode %o", name, fi.Mode().Perm())
			}
		}
	})
}

// TestTLS: native gRPC and websockets share one TLS listener, on a
// non-loopback-capable address.
func TestTLS(t *testing.T) {
	certFile, keyFile, pool := hubdtest.SelfSigned(t)
	h := hubdtest.Start(t, func(c *hubd.Config) {
		c.TLSCertFile, c.TLSKeyFile = certFile, keyFile
	})
	conn, err := grpc.NewClient(h.Addr, grpc.WithTransportCredentials(credentials.NewClientTLSFromCert(pool, "localhost")))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	u := newUser(t, h, conn)
	if _, err := u.users.SetupMailbox(u.ctx(), &hubpb.SetupMailboxRequest{}); err != nil {
		t.Fatalf("native gRPC over TLS: %v", err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	httpc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	c, _, err := websocket.Dial(ctx, "wss://"+h.Addr+"/api.usersd.pb.APIService/ListThreads", &websocket.DialOptions{
		Subprotocols: []string{"grpc-websockets"}, HTTPClient: httpc,
	})
	if err != nil {
		t.Fatalf("websocket over TLS: %v", err)
	}
	c.Close(websocket.StatusNormalClosure, "")
}
