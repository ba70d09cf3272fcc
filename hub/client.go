package hub

import (
	"context"
	"crypto/tls"
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"

	"github.com/hubfs/hubfs/identity"
	"github.com/hubfs/hubfs/wire"
	hubpb "github.com/hubfs/hubfs/wire/pb"
)

const (
	// DefaultTimeout bounds every call that does not say otherwise.
	DefaultTimeout = 10 * time.Second

	// DefaultKeepaliveTime and DefaultKeepaliveTimeout: a connection that
	// has carried nothing for DefaultKeepaliveTime gets a ping, and one
	// whose ping is not answered within DefaultKeepaliveTimeout is closed,
	// so a silently dead connection (a stalled NAT, a vanished peer) fails
	// its calls with ErrUnavailable and breaks its watches within 25 s,
	// instead of leaving them to time out for as long as TCP retransmits.
	// Our hub permits a ping every 10 s (hubd.DefaultKeepaliveMinTime).
	DefaultKeepaliveTime    = 15 * time.Second
	DefaultKeepaliveTimeout = 10 * time.Second

	// retries of an idempotent call on Unavailable, after the first try; with
	// retryBase doubling, the last one starts about 1.5 s after the first.
	retries   = 4
	retryBase = 100 * time.Millisecond
)

// Option configures Dial.
type Option func(*config)

type config struct {
	insecure bool
	tls      *tls.Config
	timeout  time.Duration
	now      func() time.Time
	key      string
	secret   string
	userAuth func(context.Context) (UserAuth, error)
	identity identity.Identity
	kaTime   time.Duration
	kaWait   time.Duration
}

// WithKeyInfo authenticates every call with an API key and, when secret is
// not empty, an API signature over a date 30 minutes ahead, signed again well
// before it expires so a long-lived client never sends an expired one.
// Pass the secret from an environment variable or a file, never from argv.
func WithKeyInfo(key, secret string) Option {
	return func(c *config) { c.key, c.secret = key, secret }
}

// UserAuth is what a WithUserAuth callback returns: the API key, a signature
// over Msg (an RFC 3339 date, the expiry) and optionally a user token, as
// @textile/hub's createUserAuth makes them.
type UserAuth struct {
	Key   string
	Sig   string
	Msg   string
	Token string
}

// WithUserAuth takes auth from fn instead of a key and secret held here: the
// way an app lets a trusted server sign for it. fn is called before the
// first call and again whenever the Msg it returned is about to expire.
func WithUserAuth(fn func(ctx context.Context) (UserAuth, error)) Option {
	return func(c *config) { c.userAuth = fn }
}

// WithInsecure sends everything in plaintext, even to a non-loopback hub. It
// cannot be combined with WithTLSConfig.
func WithInsecure() Option { return func(c *config) { c.insecure = true } }

// WithTLSConfig uses cfg for TLS, e.g. to trust a self-hosted hub's CA. It
// also makes Dial use TLS for loopback addresses.
func WithTLSConfig(cfg *tls.Config) Option { return func(c *config) { c.tls = cfg } }

// WithTimeout sets the deadline of each call (DefaultTimeout if not set).
// A deadline already on the caller's context wins when it is sooner.
func WithTimeout(d time.Duration) Option { return func(c *config) { c.timeout = d } }

// WithClock replaces time.Now when deciding API-signature dates and expiry,
// so tests can step time instead of sleeping.
func WithClock(now func() time.Time) Option { return func(c *config) { c.now = now } }

// WithIdentity lets the client get its user token itself: it runs the
// token handshake for id before the first call that needs a token when it
// has none, and again, once per call, when the hub refuses the token it has
// (Unauthenticated, or our hub's "bad token" after its host key changed),
// retrying the call with the new one. Without it a refused token is the
// caller's to renew (GetToken, SetToken).
func WithIdentity(id identity.Identity) Option { return func(c *config) { c.identity = id } }

// WithKeepalive sets how long a connection may stay silent before a ping
// (idle) and how long the ping may take to be answered (DefaultKeepaliveTime and
// DefaultKeepaliveTimeout if not set), e.g. to shorten them in tests. grpc
// raises an idle time under 10 s to 10 s, and a hub that permits pings less
// often than every idle closes the connection.
func WithKeepalive(idle, timeout time.Duration) Option {
	return func(c *config) { c.kaTime, c.kaWait = idle, timeout }
}

// Client talks to one hub. It is safe for concurrent use. Copies made by
// CopyAuth and WithThread share its connection and its auth.
type Client struct {
	conn    *grpc.ClientConn
	users   hubpb.APIServiceClient
	threads hubpb.APIClient
	cfg     *config // read-only after Dial
	auth    *auth   // shared with every copy
	thread  string  // x-textile-thread of this copy; "" for none
}

// Dial makes a client for the hub at addr ("host:port"; port 443 if left
// out). It does not wait for a connection: the first call makes it. Traffic
// is TLS unless addr is a loopback address (hubd's default listener speaks
// plaintext) or WithInsecure is given.
func Dial(ctx context.Context, addr string, opts ...Option) (*Client, error) {
	cfg := &config{timeout: DefaultTimeout, now: time.Now, kaTime: DefaultKeepaliveTime, kaWait: DefaultKeepaliveTimeout}
	for _, o := range opts {
		o(cfg)
	}
	if cfg.timeout <= 0 {
		return nil, invalidf("timeout must be positive, got %v", cfg.timeout)
	}
	if cfg.kaTime <= 0 || cfg.kaWait <= 0 {
		return nil, invalidf("keepalive time and timeout must be positive, got %v and %v", cfg.kaTime, cfg.kaWait)
	}
	if cfg.userAuth != nil && cfg.key != "" {
		return nil, invalidf("WithKeyInfo and WithUserAuth are exclusive")
	}
	if cfg.insecure && cfg.tls != nil {
		// Plaintext would silently drop the TLS the caller set up.
		return nil, invalidf("WithInsecure and WithTLSConfig are exclusive")
	}
	if cfg.key == "" && cfg.secret != "" {
		return nil, invalidf("an API secret needs its API key")
	}
	target, loopback, err := parseAddr(addr)
	if err != nil {
		return nil, err
	}
	a := &auth{now: cfg.now, key: cfg.key, secret: cfg.secret, userAuth: cfg.userAuth, identity: cfg.identity, sigKey: cfg.key}
	if err := a.validate(); err != nil {
		return nil, err
	}

	var creds credentials.TransportCredentials
	switch {
	case cfg.insecure || (loopback && cfg.tls == nil):
		creds = insecure.NewCredentials()
	case cfg.tls != nil:
		creds = credentials.NewTLS(cfg.tls)
	default:
		creds = credentials.NewTLS(&tls.Config{MinVersion: tls.VersionTLS12})
	}
	conn, err := grpc.NewClient(target,
		grpc.WithTransportCredentials(creds),
		// Every message a hub of ours stores fits in a reply this big; a
		// page of many is halved by the pager until it fits.
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(wire.MaxReceiveSize)),
		// Pings even with no call open, so an idle mount learns that its
		// connection died before its next ls needs it.
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: cfg.kaTime, Timeout: cfg.kaWait, PermitWithoutStream: true}),
		// grpc-go backs reconnects off up to 2 minutes; a mount wants its
		// hub back within seconds of the hub's return.
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 200 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 5 * time.Second},
			MinConnectTimeout: 5 * time.Second,
		}),
		grpc.WithUserAgent("hubfs"),
	)
	if err != nil {
		return nil, invalidf("hub address %q: %v", addr, err)
	}
	return &Client{
		conn:    conn,
		users:   hubpb.NewAPIServiceClient(conn),
		threads: hubpb.NewAPIClient(conn),
		cfg:     cfg,
		auth:    a,
	}, nil
}

// parseAddr checks "host[:port]" and says whether host is a loopback address.
func parseAddr(addr string) (target string, loopback bool, err error) {
	if addr == "" {
		return "", false, invalidf("empty hub address")
	}
	if strings.Contains(addr, "://") {
		return "", false, invalidf("hub address %q: give host:port, not a URL", addr)
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		// No port (or a bare IPv6 address): the TLS default.
		host, port = strings.Trim(addr, "[]"), "443"
	}
	if host == "" || strings.ContainsAny(host, "/ ") {
		return "", false, invalidf("hub address %q: bad host", addr)
	}
	// gRPC would only fail on the first call, with a resolver error.
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "", false, invalidf("hub address %q: bad port", addr)
	}
	if ip := net.ParseIP(host); ip != nil {
		loopback = ip.IsLoopback()
	} else {
		loopback = host == "localhost"
	}
	return net.JoinHostPort(host, port), loopback, nil
}

// Close closes the connection that this client and all its copies share.
func (c *Client) Close() error { return c.conn.Close() }

// CopyAuth returns a client on the same connection with the same auth:
// a later SetToken or GetToken on either is seen by both, as with
// @textile/hub's copyAuth, which shares one Context.
func (c *Client) CopyAuth() *Client {
	cp := *c
	return &cp
}

// WithThread returns a copy of c whose calls carry x-textile-thread = id, as
// a hub wants for calls scoped to one thread. An empty id returns a copy
// without the header. The copy shares c's connection and auth.
func (c *Client) WithThread(id identity.ThreadID) *Client {
	cp := *c
	cp.thread = ""
	if !id.IsZero() {
		cp.thread = id.String()
	}
	return &cp
}

// call runs one unary RPC under the call deadline with auth headers.
// Idempotent calls retry with backoff on Unavailable; others never retry.
// With WithIdentity, a call the hub refuses for its token is made once more
// with a new one: the hub refused it before doing anything.
func (c *Client) call(ctx context.Context, op string, kind callKind, idempotent bool, extra []string, fn func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.timeout)
	defer cancel()
	if err := c.ensureToken(ctx, kind); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	for renewed := false; ; renewed = true {
		stale := c.Token()
		err := c.attempts(ctx, idempotent, extra, fn)
		if err == nil {
			return nil
		}
		cerr := classify(op, kind, err)
		if renewed || !c.mayRenew(kind, cerr) || c.renewToken(ctx, stale) != nil {
			// A failed renewal keeps the hub's refusal: it says what
			// is wrong.
			return cerr
		}
	}
}

// attempts runs fn with auth headers, repeating it on Unavailable when it
// is idempotent. It returns fn's last error as gRPC made it.
func (c *Client) attempts(ctx context.Context, idempotent bool, extra []string, fn func(context.Context) error) error {
	ctx, err := c.outgoing(ctx, extra...)
	if err != nil {
		return err
	}
	for attempt := 0; ; attempt++ {
		err = fn(ctx)
		if err == nil || !idempotent || !retryable(err) || attempt == retries {
			return err
		}
		if !sleep(ctx, backoffDelay(retryBase, attempt, time.Second)) {
			return err
		}
	}
}

// backoffDelay is base*2^attempt capped at max, with ±20% jitter so many
// clients of one restarted hub do not come back in step.
func backoffDelay(base time.Duration, attempt int, max time.Duration) time.Duration {
	d := base << min(attempt, 20)
	if d > max || d <= 0 {
		d = max
	}
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}

// sleep waits d or until ctx is done; it reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
