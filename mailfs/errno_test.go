package mailfs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/hubfs/hubfs/events"
	"github.com/hubfs/hubfs/hub/hubtest"
	"github.com/hubfs/hubfs/hubd/hubdtest"
	"github.com/hubfs/hubfs/identity"
	"github.com/hubfs/hubfs/mailbox"
	"github.com/hubfs/hubfs/mailbox/hubmail"
)

func TestToErrno(t *testing.T) {
	wrap := func(err error) error { return fmt.Errorf("op: %w", err) }
	cases := []struct {
		err  error
		want syscall.Errno
	}{
		{nil, 0},
		{context.Canceled, syscall.EINTR},
		{wrap(context.DeadlineExceeded), syscall.ETIMEDOUT},
		{wrap(mailbox.ErrBadSignature), syscall.EBADMSG},
		{wrap(mailbox.ErrDecrypt), syscall.EBADMSG},
		{wrap(identity.ErrDecrypt), syscall.EBADMSG},
		{wrap(mailbox.ErrNoMailbox), syscall.ENXIO},
		// GetMailboxID's "no mailbox" is also NotFound: the mailbox wins.
		{fmt.Errorf("%w: %w", mailbox.ErrNoMailbox, mailbox.ErrNotFound), syscall.ENXIO},
		{wrap(mailbox.ErrTooLarge), syscall.EFBIG},
		{wrap(mailbox.ErrNotFound), syscall.ENOENT},
		{wrap(mailbox.ErrBadAPIKey), syscall.EACCES},
		{wrap(mailbox.ErrNoSpace), syscall.ENOSPC},
		// An ambiguous send keeps the errno of its code.
		{fmt.Errorf("send: %w: %w", mailbox.ErrUnknownOutcome, mailbox.ErrUnavailable), syscall.EHOSTDOWN},
		{wrap(mailbox.ErrExists), syscall.EEXIST},
		{wrap(mailbox.ErrNotEmpty), syscall.ENOTEMPTY},
		{wrap(mailbox.ErrInvalid), syscall.EINVAL},
		{wrap(identity.ErrInvalidKey), syscall.EINVAL},
		{wrap(mailbox.ErrPermission), syscall.EACCES},
		{wrap(mailbox.ErrUnauthenticated), syscall.EACCES},
		{wrap(mailbox.ErrUnavailable), syscall.EHOSTDOWN},
		{wrap(errors.ErrUnsupported), syscall.ENOTSUP},
		{wrap(syscall.EBUSY), syscall.EBUSY},
		{errors.New("something else"), syscall.EIO},
	}
	for _, c := range cases {
		if got := toErrno(c.err); got != c.want {
			t.Errorf("toErrno(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}

func TestValidMessageID(t *testing.T) {
	cases := map[string]bool{
		"01m8gsek97jc8933hh83cpg559":  true,
		"01M8GSEK97JC8933HH83CPG559":  false, // hubs send lower case; one name per message
		"01m8gsek97jc8933hh83cpg55":   false,
		"01m8gsek97jc8933hh83cpg559x": false,
		"01m8gsek97jc8933hh83cpg55u":  false, // u is not Crockford base32
		"README":                      false,
		"":                            false,
	}
	for name, want := range cases {
		if got := validMessageID(name); got != want {
			t.Errorf("validMessageID(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestInoIsStableAndDistinct(t *testing.T) {
	id := "01m8gsek97jc8933hh83cpg559"
	if ino("inbox", id) != ino("inbox", id) {
		t.Error("ino is not stable")
	}
	seen := map[uint64]string{}
	for _, parts := range [][]string{{"inbox", id}, {"sentbox", id}, {"thread", id}, {"thread", id, "id"}, {"inbox" + id}, {"inbo", "x" + id}} {
		n := ino(parts...)
		if n>>63 != 0 || n < 16 {
			t.Errorf("ino(%v) = %d: outside the dynamic range", parts, n)
		}
		if prev, dup := seen[n]; dup {
			t.Errorf("ino(%v) collides with %s", parts, prev)
		}
		seen[n] = fmt.Sprint(parts)
	}
}

func TestThreadDirName(t *testing.T) {
	cases := []struct {
		name, id, want string
	}{
		{"notes", "bafkid", "notes"},
		{"", "bafkid", "bafkid"},
		{"a/b", "bafkid", "bafkid"}, // not a usable name: fall back to the id
		{"..", "bafkid", "bafkid"},
	}
	for _, c := range cases {
		if got := threadDirName(threadOf(c.name, c.id)); got != c.want {
			t.Errorf("threadDirName(%q, %q) = %q, want %q", c.name, c.id, got, c.want)
		}
	}
}

func threadOf(name, id string) mailbox.Thread { return mailbox.Thread{Name: name, ID: id} }

func TestRedactorHidesPayloads(t *testing.T) {
	cases := map[string]string{
		`rx 34: WRITE n11 {Fh 1 [0 +16)}"SECRETPL"... 16b p5018`: `rx 34: WRITE n11 {Fh 1 [0 +16)}<16 bytes> p5018`,
		`rx 9: WRITE n2 {Fh 1}"a\"b" 3b p1`:                      `rx 9: WRITE n2 {Fh 1}<3 bytes> p1`,
		`rx 14: LOOKUP n1  ".hubfs"  p5035`:                      `rx 14: LOOKUP n1  ".hubfs"  p5035`, // names are not contents
		`tx 3: OK, {n2 g1 tE=1h0m0s}`:                            `tx 3: OK, {n2 g1 tE=1h0m0s}`,
	}
	for in, want := range cases {
		var b strings.Builder
		if _, err := (redactor{&b}).Write([]byte(in)); err != nil {
			t.Fatal(err)
		}
		if b.String() != want {
			t.Errorf("redact(%q) = %q, want %q", in, b.String(), want)
		}
	}
}

// TestErrorRecordCodes: .hubfs/errors names the status code the hub
// answered with, and none for failures found here before or without a call,
// even when they map to the same errno.
func TestErrorRecordCodes(t *testing.T) {
	h := hubdtest.Start(t)
	u := hubtest.NewUser(t, h)
	ctx := context.Background()
	stranger, err := identity.NewPrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	// The errors come as the tree gets them: through the hub backend,
	// which gives them the model's kinds and the hub's code.
	b := hubmail.NewBackend(u.Client, identity.ThreadID{}, mailbox.Config{})
	sealed, err := hubmail.NewSealer(u.Key).Seal(stranger.Public(), []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	_, noMailbox := b.Send(ctx, sealed, "")
	if _, err := b.NewThread(ctx, "twice"); err != nil {
		t.Fatal(err)
	}
	_, exists := b.NewThread(ctx, "twice")
	_, emptyName := b.NewThread(ctx, "") // refused by the client itself
	cases := []struct {
		err   error
		code  string
		errno string
	}{
		{noMailbox, "FailedPrecondition", "ENXIO"},
		{exists, "AlreadyExists", "EEXIST"},
		{emptyName, "", "EINVAL"},
		{fmt.Errorf("open: %w", mailbox.ErrBadSignature), "", "EBADMSG"},
		{syscall.EPERM, "", "EPERM"},
	}
	for _, c := range cases {
		r := &Root{errors: events.NewErrorLog(10)}
		r.recordError("op", "inbox/x", c.err)
		got := r.errors.Entries()
		if len(got) != 1 || got[0].Code != c.code || got[0].Errno != c.errno || got[0].Message != c.err.Error() {
			t.Errorf("%v: recorded %+v, want code %q errno %s", c.err, got, c.code, c.errno)
		}
	}
}

// TestBadAPIKeyIsRecorded: a revoked or unknown API key was ENOENT, which
// fail does not record, so .hubfs/errors stayed silent about why every
// call failed. It is EACCES now, and recorded.
func TestBadAPIKeyIsRecorded(t *testing.T) {
	r := &Root{errors: events.NewErrorLog(10), log: slog.New(slog.DiscardHandler)}
	err := fmt.Errorf("list inbox: %w: API key not found or is invalid", mailbox.ErrBadAPIKey)
	if got := r.fail("readdir", "inbox", err); got != syscall.EACCES {
		t.Errorf("errno %v, want EACCES", got)
	}
	if got := r.errors.Entries(); len(got) != 1 || got[0].Errno != "EACCES" {
		t.Errorf("recorded %+v, want one EACCES entry", got)
	}
}

// TestRevokedAPIKeyIsEACCES: after `hubfs keys revoke`, ls in the mount
// said ENOENT and .hubfs/errors said nothing; the docs promise EACCES. Our
// hub marks the NotFound as a bad API key, which is EACCES, and recorded.
func TestRevokedAPIKeyIsEACCES(t *testing.T) {
	h := hubdtest.Start(t)
	m := mountTest(t, h, withCache(0, 0, 0))
	if _, err := os.ReadDir(m.path("inbox")); err != nil {
		t.Fatal(err)
	}
	if err := h.Server.RevokeKey(context.Background(), h.Key); err != nil {
		t.Fatal(err)
	}
	if _, err := os.ReadDir(m.path("inbox")); !errors.Is(err, syscall.EACCES) {
		t.Errorf("ls inbox with a revoked API key: %v, want EACCES", err)
	}
	b, err := os.ReadFile(m.path(".hubfs", "errors"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "EACCES") || !strings.Contains(string(b), "NotFound") {
		t.Errorf(".hubfs/errors does not record the refusal:\n%s", b)
	}
}
