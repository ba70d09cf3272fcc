package hubd_test

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/hubfs/hubfs/hubd/hubdtest"
	"github.com/hubfs/hubfs/identity"
	hubpb "github.com/hubfs/hubfs/wire/pb"
)

// dial opens a native gRPC connection to the hub.
func dial(t testing.TB, h *hubdtest.Hub) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(h.Addr,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(64<<20), grpc.MaxCallSendMsgSize(64<<20)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// keyMD is the API key metadata, signed over a date an hour ahead.
func keyMD(t testing.TB, key, secret string) metadata.MD {
	t.Helper()
	msg := time.Now().Add(time.Hour).UTC().Format("2006-01-02T15:04:05.000Z07:00")
	sig, err := identity.APISig(secret, msg)
	if err != nil {
		t.Fatal(err)
	}
	return metadata.Pairs("x-textile-api-key", key, "x-textile-api-sig-msg", msg, "x-textile-api-sig", sig)
}

// user is one identity talking to the hub with a token.
type user struct {
	key     *identity.PrivateKey
	id      string
	conn    *grpc.ClientConn
	users   hubpb.APIServiceClient
	threads hubpb.APIClient
	md      metadata.MD // API key and token
	token   string
}

func newUser(t testing.TB, h *hubdtest.Hub, conn *grpc.ClientConn) *user {
	t.Helper()
	k, err := identity.NewPrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	u := &user{key: k, id: k.Public().String(), conn: conn,
		users: hubpb.NewAPIServiceClient(conn), threads: hubpb.NewAPIClient(conn)}
	u.md = keyMD(t, h.Key, h.Secret)
	tok, err := getToken(context.Background(), u.threads, u.md, k, nil)
	if err != nil {
		t.Fatalf("GetToken: %v", err)
	}
	u.token = tok
	u.md = metadata.Join(u.md, metadata.Pairs("authorization", "bearer "+tok))
	return u
}

// mailboxUser is a user who has run SetupMailbox.
func mailboxUser(t testing.TB, h *hubdtest.Hub, conn *grpc.ClientConn) *user {
	t.Helper()
	u := newUser(t, h, conn)
	if _, err := u.users.SetupMailbox(u.ctx(), &hubpb.SetupMailboxRequest{}); err != nil {
		t.Fatalf("SetupMailbox: %v", err)
	}
	return u
}

func (u *user) ctx() context.Context {
	return metadata.NewOutgoingContext(context.Background(), u.md)
}

// getToken runs the challenge; sign, if set, replaces the honest signer.
func getToken(ctx context.Context, c hubpb.APIClient, md metadata.MD, k *identity.PrivateKey, sign func([]byte) []byte) (string, error) {
	ctx, cancel := context.WithTimeout(metadata.NewOutgoingContext(ctx, md), 10*time.Second)
	defer cancel()
	st, err := c.GetToken(ctx)
	if err != nil {
		return "", err
	}
	if err := st.Send(&hubpb.GetTokenRequest{Payload: &hubpb.GetTokenRequest_Key{Key: k.Public().String()}}); err != nil {
		// Send reports only io.EOF; the status comes from Recv.
		_, err = st.Recv()
		return "", err
	}
	rep, err := st.Recv()
	if err != nil {
		return "", err
	}
	var sig []byte
	if sign != nil {
		sig = sign(rep.GetChallenge())
	} else if sig, err = k.Sign(rep.GetChallenge()); err != nil {
		return "", err
	}
	if err := st.Send(&hubpb.GetTokenRequest{Payload: &hubpb.GetTokenRequest_Signature{Signature: sig}}); err != nil {
		return "", err
	}
	if err := st.CloseSend(); err != nil {
		return "", err
	}
	rep, err = st.Recv()
	if err != nil {
		return "", err
	}
	if _, err := st.Recv(); !errors.Is(err, io.EOF) {
		return "", err
	}
	return rep.GetToken(), nil
}

// send encrypts body to "to" and to the sender, and signs both, as the JS
// client does.
func send(t testing.TB, from *user, to string, body []byte) *hubpb.SendMessageResponse {
	t.Helper()
	res, err := from.users.SendMessage(from.ctx(), sendReq(t, from, to, body))
	if err != nil {
		t.Fatalf("SendMessage: %v", err)
	}
	return res
}

func sendReq(t testing.TB, from *user, to string, body []byte) *hubpb.SendMessageRequest {
	t.Helper()
	toKey, err := identity.ParsePublicKey(to)
	if err != nil {
		t.Fatal(err)
	}
	toBody, err := toKey.Encrypt(body)
	if err != nil {
		t.Fatal(err)
	}
	fromBody, err := from.key.Public().Encrypt(body)
	if err != nil {
		t.Fatal(err)
	}
	toSig, _ := from.key.Sign(toBody)
	fromSig, _ := from.key.Sign(fromBody)
	return &hubpb.SendMessageRequest{To: to, ToBody: toBody, ToSignature: toSig, FromBody: fromBody, FromSignature: fromSig}
}

// wantCode fails unless err is a gRPC status with code and, if msg is not
// empty, exactly that message.
func wantCode(t testing.TB, err error, code codes.Code, msg string) {
	t.Helper()
	st, ok := status.FromError(err)
	if !ok {
		t.Fatalf("error %v is not a gRPC status (want %v %q)", err, code, msg)
	}
	if st.Code() != code || (msg != "" && st.Message() != msg) {
		t.Fatalf("got %v %q, want %v %q", st.Code(), st.Message(), code, msg)
	}
}
