package integration

import (
	"bytes"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hubfs/hubfs/hubd/hubdtest"
	"github.com/hubfs/hubfs/identity"
)

// TestSendErrors: what close(2) (or open, or write) of an outbox file
// reports when a message cannot go.
func TestSendErrors(t *testing.T) {
	requireFUSE(t)
	const limit = 4096 // ciphertext bytes per copy, on the hub and the mount
	h := hubdtest.Start(t, hubdtest.WithMaxMessageSize(limit))
	alice, bob := newUser(t, h, "alice"), newUser(t, h, "bob")
	mountUser(t, alice)
	bm := mountUser(t, bob, "--max-size=4096")

	t.Run("BadRecipientName", func(t *testing.T) {
		err := os.WriteFile(bm.path("outbox", "not-a-key"), []byte("x"), 0o600)
		if errnoOf(err) != syscall.EINVAL {
			t.Errorf("create outbox/not-a-key: %v, want EINVAL", err)
		}
	})

	t.Run("OverTheLimit", func(t *testing.T) {
		f, err := os.OpenFile(bm.path("outbox", alice.pub), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		_, werr := f.Write(bytes.Repeat([]byte("x"), limit))
		cerr := f.Close()
		if errnoOf(werr) != syscall.EFBIG {
			t.Errorf("write past the limit: %v, want EFBIG", werr)
		}
		// Complete or nothing: a draft a write failed on sends nothing,
		// and its close says why.
		if errnoOf(cerr) != syscall.EFBIG {
			t.Errorf("close after a refused write: %v, want EFBIG (nothing sent)", cerr)
		}
		// Exactly the limit goes through.
		send(t, bm, alice.pub, bytes.Repeat([]byte("y"), limit-identity.Overhead))
	})

	t.Run("HubRefusesSize", func(t *testing.T) {
		// A mount that believes in a larger limit than the hub's: the hub
		// refuses at close, and close says EFBIG.
		big := mountUser(t, bob, "--max-size=1MiB")
		err := os.WriteFile(big.path("outbox", alice.pub), bytes.Repeat([]byte("z"), 8192), 0o600)
		if errnoOf(err) != syscall.EFBIG {
			t.Errorf("send over the hub's limit: %v, want EFBIG", err)
		}
	})

	t.Run("RecipientWithoutMailbox", func(t *testing.T) {
		k, err := identity.NewPrivateKey()
		if err != nil {
			t.Fatal(err)
		}
		err = os.WriteFile(bm.path("outbox", k.Public().String()), []byte("anyone there?"), 0o600)
		if errnoOf(err) != syscall.ENXIO {
			t.Errorf("send to a key without a mailbox: %v, want ENXIO", err)
		}
		if left := ids(t, bm, "outbox"); len(left) != 0 {
			t.Errorf("outbox after a failed send = %v (the file must not linger once closed)", left)
		}
		// The refusal is kept in queued/, marked failed, and recorded once.
		if q := ids(t, bm, "queued"); len(q) != 1 || readQueued(t, bm, q[0]).State != "failed" {
			t.Errorf("queued/ after a refused send = %v, want it kept, failed", q)
		}
		errs, err := os.ReadFile(bm.path(".hubfs", "errors"))
		if n := strings.Count(string(errs), `"op":"send"`); err != nil || n != 1 {
			t.Errorf(".hubfs/errors has %d send entries, want 1:\n%s", n, errs)
		}
	})
}

// TestTamperedMessage: a message whose body was changed on the server is
// listed, says signature=invalid, and fails to open with EBADMSG.
func TestTamperedMessage(t *testing.T) {
	requireFUSE(t)
	h := hubdtest.Start(t)
	alice, bob := newUser(t, h, "alice"), newUser(t, h, "bob")
	clientFor(t, h, alice.keyFile) // alice's mailbox, before her mount exists
	bm := mountUser(t, bob)
	send(t, bm, alice.pub, []byte("good one\n"))
	send(t, bm, alice.pub, []byte("tampered one\n"))
	sent := ids(t, bm, "sentbox")
	h.TamperMessage(t, "inbox", sent[1])
	// Alice mounts after the tampering: a mount that is up when a message
	// arrives keeps the body the watch delivered, as sent, and never sees
	// a later change on the server (bodies never change).
	am := mountUser(t, alice)

	got := waitIDs(t, am, "inbox", 2)
	if got[0] != sent[0] || got[1] != sent[1] {
		t.Fatalf("inbox %v, want %v: a tampered message still lists", got, sent)
	}
	if b, err := os.ReadFile(am.path("inbox", got[0])); err != nil || string(b) != "good one\n" {
		t.Errorf("the good message next to it: %q, %v", b, err)
	}
	_, err := os.ReadFile(am.path("inbox", got[1]))
	if errnoOf(err) != syscall.EBADMSG {
		t.Errorf("open of a tampered message: %v, want EBADMSG", err)
	}
	sig := mustSh(t, am, `getfattr --absolute-names --only-values -n user.hubfs.signature "$MNT/inbox/`+got[1]+`"`)
	if sig != "invalid" {
		t.Errorf("user.hubfs.signature = %q, want invalid", sig)
	}
	fi, err := os.Stat(am.path("inbox", got[1]))
	if err != nil || fi.Size() != int64(len("tampered one\n")) {
		t.Errorf("stat of the tampered message: %v, %v (size comes from the listing)", fi, err)
	}
}

// TestHubStopped: with the hub gone, syscalls that need it fail within the
// op timeout instead of hanging.
func TestHubStopped(t *testing.T) {
	requireFUSE(t)
	h := hubdtest.Start(t)
	alice, bob := newUser(t, h, "alice"), newUser(t, h, "bob")
	const opTimeout = 2 * time.Second
	am := mountUser(t, alice, "--op-timeout=2s", "--list-ttl=0")
	h.Stop(t)

	bound := opTimeout + 3*time.Second // process start-up and retries' last backoff step
	start := time.Now()
	_, err := os.ReadDir(am.path("inbox"))
	if took := time.Since(start); err == nil || took > bound {
		t.Errorf("ls inbox with the hub stopped: err %v after %v, want an error within %v", err, took, bound)
	} else if e := errnoOf(err); e != syscall.ETIMEDOUT && e != syscall.EHOSTDOWN {
		t.Errorf("ls inbox with the hub stopped: %v, want ETIMEDOUT or EHOSTDOWN", err)
	}

	// Accepted means stored: with the hub gone a send waits in the queue,
	// and close says so by succeeding (docs/semantics.md, the send contract).
	start = time.Now()
	err = os.WriteFile(am.path("outbox", bob.pub), []byte("hello?"), 0o600)
	if took := time.Since(start); err != nil || took > bound {
		t.Errorf("send with the hub stopped: err %v after %v, want it queued within %v", err, took, bound)
	}
	if q := ids(t, am, "queued"); len(q) != 1 {
		t.Errorf("queued/ with the hub stopped = %v, want the one message", q)
	}
	st := mustSh(t, am, `cat "$MNT/.hubfs/status"`)
	if !strings.Contains(st, `"online": false`) {
		t.Errorf(".hubfs/status with the hub stopped does not say offline:\n%s", st)
	}
}
