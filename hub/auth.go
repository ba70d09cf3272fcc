package hub

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/hubfs/hubfs/identity"
	hubpb "github.com/hubfs/hubfs/wire/pb"
)

// Metadata keys of the Textile wire contract (protocol.md §3.1).
const (
	mdAPIKey     = "x-textile-api-key"
	mdAPISig     = "x-textile-api-sig"
	mdAPISigMsg  = "x-textile-api-sig-msg"
	mdAuth       = "authorization"
	mdThread     = "x-textile-thread"
	mdThreadName = "x-textile-thread-name"
)

const (
	// sigLifetime is how far ahead a signed date lies, as in @textile/hub.
	sigLifetime = 30 * time.Minute
	// sigRenew: a signature with less than this left is made again. Half
	// the lifetime leaves room for a client clock minutes behind the hub's.
	sigRenew = sigLifetime / 2
	// userAuthRenew: a callback's auth with less than this left is fetched
	// again; its lifetime is the callback's choice, so the margin is small.
	userAuthRenew = time.Minute
	// sigDateLayout is JavaScript's Date.toISOString, which every hub accepts.
	sigDateLayout = "2006-01-02T15:04:05.000Z"
)

// auth is the credentials one Client and its copies share, like the Context
// object @textile/hub's copyAuth shares.
type auth struct {
	now      func() time.Time
	key      string
	secret   string
	userAuth func(context.Context) (UserAuth, error)
	identity identity.Identity  // gets and renews the token; nil: the caller does
	renew    singleflight.Group // one signing, callback or token handshake at a time

	mu      sync.Mutex // guards the fields below
	sigKey  string     // the key the signature goes with (the callback's, for user auth)
	sig     string
	sigMsg  string
	expires time.Time // of sigMsg; zero when there is no signature yet
	token   string
}

// validate signs once so that a malformed secret fails Dial, not a call.
func (a *auth) validate() error {
	if a.secret == "" {
		return nil
	}
	if _, err := identity.APISig(a.secret, a.now().UTC().Format(sigDateLayout)); err != nil {
		return invalidf("API secret: %v", err) // identity's error never echoes the secret
	}
	return nil
}

// headers returns the auth metadata for a call starting now, signing again
// or asking the callback again when the signature is close to its expiry.
func (a *auth) headers(ctx context.Context) ([]string, error) {
	if err := a.renewIfNeeded(ctx); err != nil {
		return nil, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	md := make([]string, 0, 8)
	if a.sigKey != "" {
		md = append(md, mdAPIKey, a.sigKey)
	}
	if a.sig != "" {
		md = append(md, mdAPISigMsg, a.sigMsg, mdAPISig, a.sig)
	}
	if a.token != "" {
		md = append(md, mdAuth, "bearer "+a.token)
	}
	return md, nil
}

func (a *auth) renewIfNeeded(ctx context.Context) error {
	if a.secret == "" && a.userAuth == nil {
		return nil // a bare key (or nothing): no signature to keep fresh
	}
	margin := sigRenew
	if a.userAuth != nil {
		margin = userAuthRenew
	}
	a.mu.Lock()
	fresh := !a.expires.IsZero() && a.now().Add(margin).Before(a.expires)
	a.mu.Unlock()
	if fresh {
		return nil
	}
	// Signing is cheap, but the callback may be a network call: run it
	// once for all concurrent callers and never under a.mu.
	_, err, _ := a.renew.Do("", func() (any, error) {
		if a.userAuth != nil {
			return nil, a.renewUserAuth(ctx)
		}
		now := a.now()
		msg := now.Add(sigLifetime).UTC().Format(sigDateLayout)
		sig, err := identity.APISig(a.secret, msg)
		if err != nil {
			return nil, invalidf("API secret: %v", err)
		}
		a.mu.Lock()
		a.sigKey, a.sig, a.sigMsg, a.expires = a.key, sig, msg, now.Add(sigLifetime)
		a.mu.Unlock()
		return nil, nil
	})
	return err
}

func (a *auth) renewUserAuth(ctx context.Context) error {
	ua, err := a.userAuth(ctx)
	if err != nil {
		return fmt.Errorf("%w: user auth callback: %w", ErrUnauthenticated, err)
	}
	if ua.Key == "" {
		return fmt.Errorf("%w: user auth callback returned no API key", ErrUnauthenticated)
	}
	var expires time.Time
	if ua.Sig != "" || ua.Msg != "" {
		expires, err = time.Parse(time.RFC3339, ua.Msg)
		if err != nil {
			return fmt.Errorf("%w: user auth callback returned msg %q, not an RFC 3339 date", ErrUnauthenticated, ua.Msg)
		}
		if !a.now().Before(expires) {
			return fmt.Errorf("%w: user auth callback returned auth that expired at %s", ErrUnauthenticated, ua.Msg)
		}
	} else {
		// A key without a secret needs no signature and never expires.
		expires = a.now().Add(100 * 365 * 24 * time.Hour)
	}
	if ua.Token != "" {
		if err := checkToken(ua.Token); err != nil {
			return err
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.sigKey, a.sig, a.sigMsg, a.expires = ua.Key, ua.Sig, ua.Msg, expires
	if ua.Token != "" {
		a.token = ua.Token
	}
	return nil
}

// checkToken rejects what cannot travel in a header: a token is opaque to
// us, but it comes from files and callbacks, where a stray newline lurks.
func checkToken(t string) error {
	if t == "" {
		return invalidf("empty token")
	}
	for i := 0; i < len(t); i++ {
		if t[i] <= ' ' || t[i] >= 0x7f {
			return invalidf("token has a character that cannot go in a header at byte %d", i)
		}
	}
	return nil
}

// outgoing adds this client's auth and thread headers (and extra pairs) to ctx.
func (c *Client) outgoing(ctx context.Context, extra ...string) (context.Context, error) {
	md, err := c.auth.headers(ctx)
	if err != nil {
		return nil, err
	}
	if c.thread != "" {
		md = append(md, mdThread, c.thread)
	}
	md = append(md, extra...)
	return metadata.AppendToOutgoingContext(ctx, md...), nil
}

// SetToken sets the user token that every later call, on c and on all its
// copies, sends in the authorization header. An empty token clears it.
func (c *Client) SetToken(token string) error {
	if token != "" {
		if err := checkToken(token); err != nil {
			return err
		}
	}
	c.auth.mu.Lock()
	c.auth.token = token
	c.auth.mu.Unlock()
	return nil
}

// Token returns the user token calls send, "" if none; save it to skip the
// challenge next time: a hub's tokens do not expire.
func (c *Client) Token() string {
	c.auth.mu.Lock()
	defer c.auth.mu.Unlock()
	return c.auth.token
}

// GetToken proves to the hub that the caller holds id's private key and
// keeps the token the hub issues for it (see SetToken); it returns the token.
func (c *Client) GetToken(ctx context.Context, id identity.Identity) (string, error) {
	if id == nil {
		return "", invalidf("get token: nil identity")
	}
	return c.GetTokenChallenge(ctx, id.Public().String(), id.Sign)
}

// GetTokenChallenge runs the token handshake for publicKey with the
// signature made by sign, for keys held elsewhere (a hardware key, another
// process). sign gets the hub's raw 32-byte challenge and returns an ed25519
// signature over it. The token is kept as with SetToken and returned.
func (c *Client) GetTokenChallenge(ctx context.Context, publicKey string, sign func(challenge []byte) ([]byte, error)) (string, error) {
	const op = "get token"
	if _, err := identity.ParsePublicKey(publicKey); err != nil {
		return "", fmt.Errorf("%s: %w: public key: %w", op, ErrInvalid, err)
	}
	if sign == nil {
		return "", invalidf("%s: nil sign function", op)
	}
	var token string
	var signErr error
	err := c.call(ctx, op, tokenCall, true, nil, func(ctx context.Context) error {
		token, signErr = "", nil
		// The stream dies with this attempt, whatever happens to it.
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		stream, err := c.threads.GetToken(ctx)
		if err != nil {
			return err
		}
		if err := stream.Send(&hubpb.GetTokenRequest{Payload: &hubpb.GetTokenRequest_Key{Key: publicKey}}); err != nil {
			return recvErr(stream, err)
		}
		reply, err := stream.Recv()
		if err != nil {
			return err
		}
		challenge := reply.GetChallenge()
		if len(challenge) == 0 {
			return fmt.Errorf("%w: hub sent no challenge", ErrInvalid)
		}
		sig, err := sign(challenge)
		if err != nil {
			signErr = err
			return fmt.Errorf("sign challenge: %w", err)
		}
		if err := stream.Send(&hubpb.GetTokenRequest{Payload: &hubpb.GetTokenRequest_Signature{Signature: sig}}); err != nil {
			return recvErr(stream, err)
		}
		if err := stream.CloseSend(); err != nil {
			return err
		}
		for {
			reply, err := stream.Recv()
			if errors.Is(err, io.EOF) {
				break // OK status
			}
			if err != nil {
				return err
			}
			if t := reply.GetToken(); t != "" {
				token = t
			}
		}
		if token == "" {
			return fmt.Errorf("%w: hub ended the handshake without a token", ErrInvalid)
		}
		return nil
	})
	if err != nil {
		if signErr != nil {
			return "", fmt.Errorf("%s: sign challenge: %w", op, signErr)
		}
		return "", err
	}
	if err := c.SetToken(token); err != nil {
		return "", fmt.Errorf("%s: hub issued a token that %w", op, err)
	}
	return token, nil
}

// ensureToken gets a token for the client's identity (WithIdentity) when
// it has none, before a call that needs one.
func (c *Client) ensureToken(ctx context.Context, kind callKind) error {
	if c.auth.identity == nil || kind == tokenCall || c.Token() != "" {
		return nil
	}
	return c.renewToken(ctx, "")
}

// mayRenew reports whether a new token may cure err, the classified
// failure of a call of kind: the hub refused the token and the client can
// get another itself.
func (c *Client) mayRenew(kind callKind, err error) bool {
	var se *statusError
	return c.auth.identity != nil && kind != tokenCall && errors.As(err, &se) && se.badToken
}

// renewToken replaces the token stale with a new one for the client's
// identity. Concurrent callers refused with the same token share one
// handshake, and one whose token was already replaced makes none.
func (c *Client) renewToken(ctx context.Context, stale string) error {
	_, err, _ := c.auth.renew.Do("token", func() (any, error) {
		if t := c.Token(); t != stale {
			return nil, nil
		}
		_, err := c.GetToken(ctx, c.auth.identity)
		return nil, err
	})
	return err
}

// recvErr recovers the status behind a failed Send: gRPC reports io.EOF
// from Send and keeps the reason for Recv.
func recvErr(stream grpc.BidiStreamingClient[hubpb.GetTokenRequest, hubpb.GetTokenReply], err error) error {
	if errors.Is(err, io.EOF) {
		if _, rerr := stream.Recv(); rerr != nil {
			return rerr
		}
	}
	return err
}
