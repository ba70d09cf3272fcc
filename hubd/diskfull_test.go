package hubd_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/hubfs/hubfs/hubd/hubdtest"
	"github.com/hubfs/hubfs/identity"
	"github.com/hubfs/hubfs/wire"
	hubpb "github.com/hubfs/hubfs/wire/pb"
)

// smallDisk mounts a tmpfs of size bytes and unmounts it when the test
// ends. Only root can; under CI=true not being able to is a failure.
func smallDisk(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true but cannot mount a tmpfs: %v: %s", err, out)
		}
		t.Skipf("cannot mount a tmpfs (not root?): %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// reason is the ErrorInfo reason of our domain in err, if any.
func reason(err error) string {
	for _, d := range status.Convert(err).Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok && info.GetDomain() == wire.ErrorDomain {
			return info.GetReason()
		}
	}
	return ""
}

// TestDiskFull: on a full disk a send fails with ResourceExhausted and
// NO_SPACE, every send acknowledged before is still there after a restart,
// and once space is freed sends succeed again.
func TestDiskFull(t *testing.T) {
	disk := smallDisk(t, "4m")
	data := filepath.Join(disk, "hub")
	if err := os.Mkdir(data, 0o700); err != nil {
		t.Fatal(err)
	}
	// Ballast to free later: deleting messages needs space in the WAL too.
	ballast := filepath.Join(disk, "ballast")
	if err := os.WriteFile(ballast, make([]byte, 1<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	h := hubdtest.Start(t, hubdtest.WithDataDir(data), hubdtest.WithMaxMessageSize(64<<10))
	conn := dial(t, h)
	alice, bob := mailboxUser(t, h, conn), mailboxUser(t, h, conn)
	req := sendReq(t, alice, bob.id, make([]byte, 32<<10-identity.Overhead))

	var acked []string
	var refusal error
	for range 200 {
		res, err := alice.users.SendMessage(alice.ctx(), req)
		if err != nil {
			refusal = err
			break
		}
		acked = append(acked, res.Id)
	}
	if refusal == nil {
		t.Fatalf("%d sends of two 32 KiB copies fit on a 4 MiB disk", len(acked))
	}
	if status.Code(refusal) != codes.ResourceExhausted || reason(refusal) != wire.ReasonNoSpace {
		t.Fatalf("send on a full disk: %v (reason %q), want ResourceExhausted %s", refusal, reason(refusal), wire.ReasonNoSpace)
	}
	t.Logf("disk full after %d sends", len(acked))

	h.Restart(t)
	conn = dial(t, h)
	alice.users, bob.users = hubpb.NewAPIServiceClient(conn), hubpb.NewAPIServiceClient(conn)
	in, err := bob.users.ListInboxMessages(bob.ctx(), &hubpb.ListInboxMessagesRequest{Limit: 1000, Ascending: true})
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, m := range in.Messages {
		have[m.Id] = true
	}
	for _, id := range acked {
		if !have[id] {
			t.Errorf("acknowledged message %s is gone after the restart", id)
		}
	}

	if err := os.Remove(ballast); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.users.SendMessage(alice.ctx(), req); err != nil {
		t.Fatalf("send after space was freed: %v", err)
	}
}
