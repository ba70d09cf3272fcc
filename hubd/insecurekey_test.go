package hubd_test

import (
	"context"
	"net"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"

	"github.com/hubfs/hubfs/hubd"
	"github.com/hubfs/hubfs/hubd/hubdtest"
	"github.com/hubfs/hubfs/identity"
	hubpb "github.com/hubfs/hubfs/wire/pb"
)

// insecureUser takes a token and makes calls with the key alone, as the JS
// client does with {key} and no secret.
func insecureUser(t *testing.T, conn *grpc.ClientConn, key string) (*user, error) {
	t.Helper()
	k, err := identity.NewPrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	u := &user{key: k, id: k.Public().String(), conn: conn,
		users: hubpb.NewAPIServiceClient(conn), threads: hubpb.NewAPIClient(conn)}
	u.md = metadata.Pairs("x-textile-api-key", key)
	tok, err := getToken(context.Background(), u.threads, u.md, k, nil)
	if err != nil {
		return nil, err
	}
	u.md = metadata.Join(u.md, metadata.Pairs("authorization", "bearer "+tok))
	return u, nil
}

// TestInsecureKeyOnLoopback: a non-signing key needs no signature on a
// loopback hub, and a signature sent with it anyway is ignored.
func TestInsecureKeyOnLoopback(t *testing.T) {
	h := hubdtest.Start(t)
	k, err := h.Server.CreateInsecureKey(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !hubd.IsInsecure(k) || k.Secret != "" {
		t.Fatalf("insecure key %+v has a secret", k)
	}
	conn := dial(t, h)
	u, err := insecureUser(t, conn, k.Key)
	if err != nil {
		t.Fatalf("GetToken with an insecure key on loopback: %v", err)
	}
	if _, err := u.users.SetupMailbox(u.ctx(), &hubpb.SetupMailboxRequest{}); err != nil {
		t.Fatalf("SetupMailbox with an insecure key: %v", err)
	}
	// A stray signature (made with some secret) does not matter.
	u.md = metadata.Join(u.md, metadata.Pairs("x-textile-api-sig-msg", "2000-01-01T00:00:00Z", "x-textile-api-sig", "bogus"))
	if _, err := u.users.ListThreads(u.ctx(), &hubpb.ListThreadsRequest{}); err != nil {
		t.Fatalf("ListThreads with an insecure key and a stray signature: %v", err)
	}
	// A signing key still needs its signature.
	md := metadata.Pairs("x-textile-api-key", h.Key, "authorization", "bearer "+u.md.Get("authorization")[0][len("bearer "):])
	_, err = u.users.ListThreads(metadata.NewOutgoingContext(context.Background(), md), &hubpb.ListThreadsRequest{})
	wantCode(t, err, codes.Unauthenticated, "API key signature required")
}

// TestInsecureKeyRefusedOffLoopback: a hub others can reach (TLS on every
// interface, no AllowInsecure) refuses a non-signing key, saying why.
func TestInsecureKeyRefusedOffLoopback(t *testing.T) {
	certFile, keyFile, pool := hubdtest.SelfSigned(t)
	h := hubdtest.Start(t, func(c *hubd.Config) {
		c.Listen = "0.0.0.0:0"
		c.TLSCertFile, c.TLSKeyFile = certFile, keyFile
	})
	if h.Server.InsecureKeysAccepted() {
		t.Fatal("a hub on 0.0.0.0 without AllowInsecure accepts insecure keys")
	}
	k, err := h.Server.CreateInsecureKey(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(h.Addr)
	conn, err := grpc.NewClient(net.JoinHostPort("127.0.0.1", port),
		grpc.WithTransportCredentials(credentials.NewClientTLSFromCert(pool, "localhost")))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	_, err = insecureUser(t, conn, k.Key)
	wantCode(t, err, codes.Unauthenticated, "API key signature required: this is an insecure (non-signing) key, which this hub accepts only while it listens on loopback or runs with --insecure")

	// With AllowInsecure the same hub takes it.
	h2 := hubdtest.Start(t, func(c *hubd.Config) {
		c.Listen = "0.0.0.0:0"
		c.AllowInsecure = true
	})
	if !h2.Server.InsecureKeysAccepted() {
		t.Fatal("a hub with AllowInsecure refuses insecure keys")
	}
}
