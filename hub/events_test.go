package hub

import (
	"errors"
	"testing"

	hubpb "github.com/hubfs/hubfs/wire/pb"
)

// TestEventFromPB decodes Listen replies, including ones a broken hub
// could send: they become events that make the caller refetch, never a
// panic or a lost notice.
func TestEventFromPB(t *testing.T) {
	rec := []byte(`{"_id":"01j9zq3k8m5v7w2x4y6z8a0b1c","from":"bf","to":"bt","body":"AAE=","signature":"Ag==","created_at":1700000000123456789,"read_at":0,"_mod":5}`)
	for _, tc := range []struct {
		name    string
		in      *hubpb.ListenReply
		typ     MailboxEventType
		message bool
		err     bool
	}{
		{"create", &hubpb.ListenReply{InstanceID: "01j9zq3k8m5v7w2x4y6z8a0b1c", Action: hubpb.ListenReply_CREATE, Instance: rec}, MailboxEventCreate, true, false},
		{"save", &hubpb.ListenReply{InstanceID: "01j9zq3k8m5v7w2x4y6z8a0b1c", Action: hubpb.ListenReply_SAVE, Instance: rec}, MailboxEventSave, true, false},
		{"delete", &hubpb.ListenReply{InstanceID: "01j9zq3k8m5v7w2x4y6z8a0b1c", Action: hubpb.ListenReply_DELETE}, MailboxEventDelete, false, false},
		{"bad json", &hubpb.ListenReply{InstanceID: "x", Action: hubpb.ListenReply_CREATE, Instance: []byte("{")}, MailboxEventCreate, false, true},
		{"bad base64", &hubpb.ListenReply{InstanceID: "x", Action: hubpb.ListenReply_SAVE, Instance: []byte(`{"body":"!!"}`)}, MailboxEventSave, false, true},
		{"unknown action", &hubpb.ListenReply{InstanceID: "x", Action: 9}, MailboxEventSave, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev := eventFromPB(tc.in)
			if ev.Type != tc.typ || (ev.Message != nil) != tc.message || (ev.Err != nil) != tc.err || ev.MessageID != tc.in.InstanceID {
				t.Fatalf("%+v", ev)
			}
			if tc.err && !errors.Is(ev.Err, ErrInvalid) {
				t.Errorf("err %v, want ErrInvalid", ev.Err)
			}
			if m := ev.Message; m != nil {
				if m.ID != "01j9zq3k8m5v7w2x4y6z8a0b1c" || m.From != "bf" || m.To != "bt" || string(m.Body) != "\x00\x01" ||
					string(m.Signature) != "\x02" || m.CreatedAt.UnixNano() != 1700000000123456789 || !m.ReadAt.IsZero() {
					t.Errorf("message %+v", m)
				}
			}
		})
	}
	for typ := MailboxEventCreate; typ <= MailboxEventStopped+1; typ++ {
		if typ.String() == "" {
			t.Errorf("%d has no name", typ)
		}
	}
}
