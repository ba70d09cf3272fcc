package hubd_test

import (
	"testing"

	"google.golang.org/grpc/codes"

	"github.com/hubfs/hubfs/hubd/hubdtest"
	hubpb "github.com/hubfs/hubfs/wire/pb"
)

// TestProtocolErrors covers protocol.md §5's error table and the other bad
// inputs, each with its code and message.
func TestProtocolErrors(t *testing.T) {
	h := hubdtest.Start(t, hubdtest.WithMaxMessageSize(1024))
	conn := dial(t, h)
	alice, bob := mailboxUser(t, h, conn), mailboxUser(t, h, conn)
	nomail := newUser(t, h, conn) // never ran SetupMailbox

	good := func() *hubpb.SendMessageRequest { return sendReq(t, alice, bob.id, []byte("hi")) }

	t.Run("bad to signature", func(t *testing.T) {
		r := good()
		r.ToSignature[0] ^= 1
		_, err := alice.users.SendMessage(alice.ctx(), r)
		wantCode(t, err, codes.Unauthenticated, "Bad message signature")
	})
	t.Run("bad from signature", func(t *testing.T) {
		r := good()
		r.FromSignature[0] ^= 1
		_, err := alice.users.SendMessage(alice.ctx(), r)
		wantCode(t, err, codes.Unauthenticated, "Bad message signature")
	})
	t.Run("signature by someone else", func(t *testing.T) {
		r := sendReq(t, bob, bob.id, []byte("hi")) // bob's signatures
		_, err := alice.users.SendMessage(alice.ctx(), r)
		wantCode(t, err, codes.Unauthenticated, "Bad message signature")
	})
	t.Run("short signature", func(t *testing.T) {
		r := good()
		r.ToSignature = r.ToSignature[:10]
		_, err := alice.users.SendMessage(alice.ctx(), r)
		wantCode(t, err, codes.Unauthenticated, "Bad message signature")
	})
	t.Run("invalid to", func(t *testing.T) {
		r := good()
		r.To = "bnotakey"
		_, err := alice.users.SendMessage(alice.ctx(), r)
		wantCode(t, err, codes.FailedPrecondition, "Invalid public key")
	})
	t.Run("recipient without mailbox", func(t *testing.T) {
		_, err := alice.users.SendMessage(alice.ctx(), sendReq(t, alice, nomail.id, []byte("hi")))
		wantCode(t, err, codes.FailedPrecondition, "mail not found")
	})
	t.Run("sender without mailbox", func(t *testing.T) {
		_, err := nomail.users.SendMessage(nomail.ctx(), sendReq(t, nomail, bob.id, []byte("hi")))
		wantCode(t, err, codes.FailedPrecondition, "mail not found")
	})
	t.Run("list without mailbox", func(t *testing.T) {
		_, err := nomail.users.ListInboxMessages(nomail.ctx(), &hubpb.ListInboxMessagesRequest{})
		wantCode(t, err, codes.FailedPrecondition, "mail not found")
		_, err = nomail.users.ListSentboxMessages(nomail.ctx(), &hubpb.ListSentboxMessagesRequest{})
		wantCode(t, err, codes.FailedPrecondition, "mail not found")
	})
	t.Run("unknown thread", func(t *testing.T) {
		_, err := nomail.users.GetThread(nomail.ctx(), &hubpb.GetThreadRequest{Name: "hubmail"})
		wantCode(t, err, codes.NotFound, "Thread not found")
	})
	t.Run("bad status", func(t *testing.T) {
		_, err := bob.users.ListInboxMessages(bob.ctx(), &hubpb.ListInboxMessagesRequest{Status: 7})
		wantCode(t, err, codes.Unknown, "unknown message status: 7")
	})
	t.Run("negative limit", func(t *testing.T) {
		_, err := bob.users.ListInboxMessages(bob.ctx(), &hubpb.ListInboxMessagesRequest{Limit: -1})
		wantCode(t, err, codes.InvalidArgument, "")
	})
	t.Run("bad seek", func(t *testing.T) {
		_, err := bob.users.ListSentboxMessages(bob.ctx(), &hubpb.ListSentboxMessagesRequest{Seek: "not a ulid!"})
		wantCode(t, err, codes.InvalidArgument, "")
	})
	t.Run("read unknown id", func(t *testing.T) {
		_, err := bob.users.ReadInboxMessage(bob.ctx(), &hubpb.ReadInboxMessageRequest{Id: "01arz3ndektsv4rrffq69g5fav"})
		wantCode(t, err, codes.NotFound, "instance not found")
	})
	t.Run("read empty id", func(t *testing.T) {
		_, err := bob.users.ReadInboxMessage(bob.ctx(), &hubpb.ReadInboxMessageRequest{})
		wantCode(t, err, codes.InvalidArgument, "message id is required")
	})
	t.Run("delete unknown ids succeeds", func(t *testing.T) {
		if _, err := bob.users.DeleteInboxMessage(bob.ctx(), &hubpb.DeleteInboxMessageRequest{Id: "01arz3ndektsv4rrffq69g5fav"}); err != nil {
			t.Fatal(err)
		}
		if _, err := bob.users.DeleteSentboxMessage(bob.ctx(), &hubpb.DeleteSentboxMessageRequest{Id: "01arz3ndektsv4rrffq69g5fav"}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("unencrypted body", func(t *testing.T) {
		r := good()
		r.ToBody = []byte("plain text")
		r.ToSignature, _ = alice.key.Sign(r.ToBody)
		_, err := alice.users.SendMessage(alice.ctx(), r)
		wantCode(t, err, codes.InvalidArgument, "")
	})
	t.Run("size limit", func(t *testing.T) {
		_, err := alice.users.SendMessage(alice.ctx(), sendReq(t, alice, bob.id, make([]byte, 1024)))
		wantCode(t, err, codes.ResourceExhausted,
			"message body is 1096 bytes, over this hub's limit of 1024 bytes of ciphertext per copy")
		// Exactly at the limit passes.
		send(t, alice, bob.id, make([]byte, 1024-72))
	})
	t.Run("usage key invalid", func(t *testing.T) {
		_, err := alice.users.GetUsage(alice.ctx(), &hubpb.GetUsageRequest{Key: "bnotakey"})
		wantCode(t, err, codes.FailedPrecondition, "Invalid public key")
	})
	t.Run("archives unimplemented", func(t *testing.T) {
		_, err := alice.users.ArchivesLs(alice.ctx(), &hubpb.ArchivesLsRequest{})
		wantCode(t, err, codes.Unimplemented, "")
	})
}
