package mailbox_test

import (
	"testing"

	"github.com/hubfs/hubfs/hubd/hubdtest"
	"github.com/hubfs/hubfs/mailbox"
	"github.com/hubfs/hubfs/mailbox/mailboxtest"
)

// fixture is the shared model fixture over a hub this test started, so
// that tests can stop, restart and tamper with it.
type fixture struct {
	*mailboxtest.Fixture
	hub *hubdtest.Hub
}

func newFixture(t *testing.T, cfg mailbox.Config) *fixture {
	t.Helper()
	h := hubdtest.Start(t)
	return &fixture{Fixture: mailboxtest.NewFixture(t, h, cfg), hub: h}
}
