package hubd_test

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"

	"github.com/hubfs/hubfs/hubd/hubdtest"
	"github.com/hubfs/hubfs/identity"
	hubpb "github.com/hubfs/hubfs/wire/pb"
)

func TestAuthFailures(t *testing.T) {
	h := hubdtest.Start(t)
	conn := dial(t, h)
	u := mailboxUser(t, h, conn)
	users := hubpb.NewAPIServiceClient(conn)

	signed := func(key, secret, msg string) metadata.MD {
		sig, err := identity.APISig(secret, msg)
		if err != nil {
			t.Fatal(err)
		}
		return metadata.Pairs("x-textile-api-key", key, "x-textile-api-sig-msg", msg, "x-textile-api-sig", sig)
	}
	future := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	past := time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)
	other, err := h.Server.CreateKey(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	bearer := metadata.Pairs("authorization", "bearer "+u.token)

	// A token for a key pair the hub never saw, signed by a host key that is
	// not this hub's.
	foreignHost := ed25519.NewKeyFromSeed(make([]byte, 32))
	foreignID, err := identity.PrivateKeyFromSeed(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	foreign := signJWT(t, foreignHost, u.id, foreignID.Public().String())

	// A token naming this hub as issuer but signed by someone else.
	forged := signJWT(t, foreignHost, u.id, h.Server.HostKey())

	// The header and claims of a real token with the signature of another.
	parts := strings.Split(u.token, ".")
	spliced := parts[0] + "." + parts[1] + "." + strings.Split(foreign, ".")[2]

	// "alg: none" must not be accepted.
	none := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + parts[1] + "."

	cases := []struct {
		name string
		md   metadata.MD
		code codes.Code
		msg  string
	}{
		{"no key", bearer, codes.Unauthenticated, "Session or API key required"},
		{"unknown key", metadata.Join(signed("bunknownkeyaaaaaaaaaaaaaaaa", h.Secret, future), bearer), codes.NotFound, "API key not found or is invalid"},
		{"no signature", metadata.Join(metadata.Pairs("x-textile-api-key", h.Key), bearer), codes.Unauthenticated, "API key signature required"},
		{"signature by another key's secret", metadata.Join(signed(h.Key, other.Secret, future), bearer), codes.Unauthenticated, "Bad API key signature"},
		{"expired date", metadata.Join(signed(h.Key, h.Secret, past), bearer), codes.Unauthenticated, "Bad API key signature"},
		{"date not RFC3339", metadata.Join(signed(h.Key, h.Secret, "tomorrow"), bearer), codes.Unauthenticated, "Bad API key signature"},
		{"garbage signature", metadata.Join(metadata.Pairs("x-textile-api-key", h.Key, "x-textile-api-sig-msg", future, "x-textile-api-sig", "bnotasig"), bearer), codes.Unauthenticated, "Bad API key signature"},
		{"no token", signed(h.Key, h.Secret, future), codes.Unauthenticated, "Token required"},
		{"authorization without scheme", metadata.Join(signed(h.Key, h.Secret, future), metadata.Pairs("authorization", u.token)), codes.Unauthenticated, "Bad authorization string"},
		{"basic scheme", metadata.Join(signed(h.Key, h.Secret, future), metadata.Pairs("authorization", "basic "+u.token)), codes.Unauthenticated, "Request unauthenticated with bearer"},
		{"malformed token", metadata.Join(signed(h.Key, h.Secret, future), metadata.Pairs("authorization", "bearer not.a.jwt")), codes.PermissionDenied, "Bad authorization"},
		{"foreign-signed token", metadata.Join(signed(h.Key, h.Secret, future), metadata.Pairs("authorization", "bearer "+foreign)), codes.PermissionDenied, "Bad authorization"},
		{"forged token", metadata.Join(signed(h.Key, h.Secret, future), metadata.Pairs("authorization", "bearer "+forged)), codes.PermissionDenied, "Bad authorization"},
		{"spliced signature", metadata.Join(signed(h.Key, h.Secret, future), metadata.Pairs("authorization", "bearer "+spliced)), codes.PermissionDenied, "Bad authorization"},
		{"alg none", metadata.Join(signed(h.Key, h.Secret, future), metadata.Pairs("authorization", "bearer "+none)), codes.PermissionDenied, "Bad authorization"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := metadata.NewOutgoingContext(context.Background(), tc.md)
			_, err := users.ListThreads(ctx, &hubpb.ListThreadsRequest{})
			wantCode(t, err, tc.code, tc.msg)
		})
	}

	t.Run("JS date form and upper-case Bearer pass", func(t *testing.T) {
		msg := time.Now().Add(time.Hour).UTC().Format("2006-01-02T15:04:05.000Z")
		md := metadata.Join(signed(h.Key, h.Secret, msg), metadata.Pairs("authorization", "Bearer "+u.token))
		if _, err := users.ListThreads(metadata.NewOutgoingContext(context.Background(), md), &hubpb.ListThreadsRequest{}); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("token works with another API key", func(t *testing.T) {
		md := metadata.Join(signed(other.Key, other.Secret, future), bearer)
		if _, err := users.ListThreads(metadata.NewOutgoingContext(context.Background(), md), &hubpb.ListThreadsRequest{}); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("revoked key", func(t *testing.T) {
		if err := h.Server.RevokeKey(context.Background(), other.Key); err != nil {
			t.Fatal(err)
		}
		md := metadata.Join(signed(other.Key, other.Secret, future), bearer)
		_, err := users.ListThreads(metadata.NewOutgoingContext(context.Background(), md), &hubpb.ListThreadsRequest{})
		wantCode(t, err, codes.NotFound, "API key not found or is invalid")
	})

	t.Run("token claims", func(t *testing.T) {
		hdr, claims := decodeJWT(t, u.token)
		if hdr["alg"] != "Ed25519" || hdr["typ"] != "JWT" {
			t.Fatalf("token header = %v", hdr)
		}
		if claims["sub"] != u.id || claims["iss"] != h.Server.HostKey() || claims["iat"] == nil || claims["exp"] != nil {
			t.Fatalf("token claims = %v", claims)
		}
	})
}

func TestGetTokenFailures(t *testing.T) {
	h := hubdtest.Start(t, hubdtest.WithChallengeTimeout(200*time.Millisecond))
	conn := dial(t, h)
	threads := hubpb.NewAPIClient(conn)
	md := keyMD(t, h.Key, h.Secret)
	k, _ := identity.NewPrivateKey()

	t.Run("wrong challenge signature", func(t *testing.T) {
		other, _ := identity.NewPrivateKey()
		_, err := getToken(context.Background(), threads, md, k, func(c []byte) []byte {
			sig, _ := other.Sign(c)
			return sig
		})
		wantCode(t, err, codes.Unauthenticated, "bad signature")
	})
	t.Run("signature over something else", func(t *testing.T) {
		_, err := getToken(context.Background(), threads, md, k, func(c []byte) []byte {
			sig, _ := k.Sign(append(c, 0))
			return sig
		})
		wantCode(t, err, codes.Unauthenticated, "bad signature")
	})
	t.Run("no API key", func(t *testing.T) {
		_, err := getToken(context.Background(), threads, metadata.MD{}, k, nil)
		wantCode(t, err, codes.Unauthenticated, "Session or API key required")
	})

	stream := func(t *testing.T) hubpb.API_GetTokenClient {
		ctx, cancel := context.WithTimeout(metadata.NewOutgoingContext(context.Background(), md), 10*time.Second)
		t.Cleanup(cancel)
		st, err := threads.GetToken(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	t.Run("signature first", func(t *testing.T) {
		st := stream(t)
		st.Send(&hubpb.GetTokenRequest{Payload: &hubpb.GetTokenRequest_Signature{Signature: make([]byte, 64)}})
		_, err := st.Recv()
		wantCode(t, err, codes.InvalidArgument, "Key is required")
	})
	t.Run("bad key string", func(t *testing.T) {
		st := stream(t)
		st.Send(&hubpb.GetTokenRequest{Payload: &hubpb.GetTokenRequest_Key{Key: "bnotakey"}})
		_, err := st.Recv()
		wantCode(t, err, codes.InvalidArgument, "Invalid public key")
	})
	t.Run("key twice", func(t *testing.T) {
		st := stream(t)
		st.Send(&hubpb.GetTokenRequest{Payload: &hubpb.GetTokenRequest_Key{Key: k.Public().String()}})
		if _, err := st.Recv(); err != nil {
			t.Fatal(err)
		}
		st.Send(&hubpb.GetTokenRequest{Payload: &hubpb.GetTokenRequest_Key{Key: k.Public().String()}})
		_, err := st.Recv()
		wantCode(t, err, codes.InvalidArgument, "Signature is required")
	})
	t.Run("too slow", func(t *testing.T) {
		st := stream(t)
		st.Send(&hubpb.GetTokenRequest{Payload: &hubpb.GetTokenRequest_Key{Key: k.Public().String()}})
		if _, err := st.Recv(); err != nil {
			t.Fatal(err)
		}
		// Send nothing: the server's deadline (200ms here) ends the call.
		_, err := st.Recv()
		wantCode(t, err, codes.DeadlineExceeded, "Challenge deadline exceeded")
	})
}

// TestTokenSurvivesRestart: the host key is kept in the data directory, so
// tokens stay valid across a restart.
func TestTokenSurvivesRestart(t *testing.T) {
	h := hubdtest.Start(t)
	conn := dial(t, h)
	u := mailboxUser(t, h, conn)
	host := h.Server.HostKey()
	h.Restart(t)
	if h.Server.HostKey() != host {
		t.Fatal("host key changed across a restart")
	}
	if _, err := u.users.ListThreads(u.ctx(), &hubpb.ListThreadsRequest{}); err != nil {
		t.Fatalf("token after restart: %v", err)
	}
}

func signJWT(t testing.TB, priv ed25519.PrivateKey, sub, iss string) string {
	t.Helper()
	tok, err := jwt.NewWithClaims(jwtEd25519{jwt.SigningMethodEdDSA}, jwt.RegisteredClaims{
		Subject: sub, Issuer: iss, IssuedAt: jwt.NewNumericDate(time.Now()),
	}).SignedString(priv)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// jwtEd25519 signs as go-threads does, under alg "Ed25519".
type jwtEd25519 struct{ *jwt.SigningMethodEd25519 }

func (jwtEd25519) Alg() string { return "Ed25519" }

func decodeJWT(t testing.TB, tok string) (header, claims map[string]any) {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d parts", len(parts))
	}
	for i, dst := range []*map[string]any{&header, &claims} {
		b, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, dst); err != nil {
			t.Fatal(err)
		}
	}
	return header, claims
}
