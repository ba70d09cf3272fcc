package hub_test

import (
	"crypto/tls"
	"errors"
	"testing"
	"time"

	"github.com/hubfs/hubfs/hub"
	"github.com/hubfs/hubfs/hubd"
	"github.com/hubfs/hubfs/hubd/hubdtest"
	"github.com/hubfs/hubfs/identity"
)

func TestTLS(t *testing.T) {
	certFile, keyFile, pool := hubdtest.SelfSigned(t)
	h := hubdtest.Start(t, func(c *hubd.Config) { c.TLSCertFile, c.TLSKeyFile = certFile, keyFile })
	ctx := testCtx(t)
	key, _ := identity.NewPrivateKey()

	c := dial(t, h, hub.WithTLSConfig(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}))
	if _, err := c.GetToken(ctx, key); err != nil {
		t.Fatalf("TLS with the hub's CA: %v", err)
	}
	if _, err := c.SetupMailbox(ctx); err != nil {
		t.Fatal(err)
	}

	// An untrusted certificate, and plaintext to a TLS hub, both fail.
	for name, opt := range map[string]hub.Option{
		"untrusted": hub.WithTLSConfig(&tls.Config{MinVersion: tls.VersionTLS12}),
		"plaintext": hub.WithInsecure(),
	} {
		c := dial(t, h, opt, hub.WithTimeout(2*time.Second))
		if _, err := c.GetToken(ctx, key); !errors.Is(err, hub.ErrUnavailable) {
			t.Errorf("%s: got %v, want ErrUnavailable", name, err)
		}
	}
}
