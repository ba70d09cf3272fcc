package hubd

import (
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	hubpb "github.com/hubfs/hubfs/wire/pb"
)

func TestPageQuery(t *testing.T) {
	cases := []struct {
		seek      string
		limit     int64
		wantLimit int
		wantSeek  string
		wantErr   bool
	}{
		{"", 0, 100, "", false},
		{"", 1, 1, "", false},
		{"", 10000, 10000, "", false},
		{"", 10001, 10000, "", false},
		{"", 1 << 40, 10000, "", false},
		{"", -1, 0, "", true},
		{"01ARZ3NDEKTSV4RRFFQ69G5FAV", 5, 5, "01arz3ndektsv4rrffq69g5fav", false},
		{"01ar", 5, 5, "01ar", false},                   // a prefix seeks to the start of its range
		{"01arz3ndektsv4rrffq69g5favx", 5, 0, "", true}, // 27 characters
		{"01arz3ndektsv4rrffq69g5fai", 5, 0, "", true},  // 'i' is not Crockford base32
		{"' OR 1=1 --", 5, 0, "", true},
	}
	for _, tc := range cases {
		q, err := pageQuery(Inbox, "owner", tc.seek, tc.limit, false)
		if tc.wantErr {
			if status.Code(err) != codes.InvalidArgument {
				t.Errorf("pageQuery(%q, %d): err %v, want InvalidArgument", tc.seek, tc.limit, err)
			}
			continue
		}
		if err != nil || q.Limit != tc.wantLimit || q.Seek != tc.wantSeek {
			t.Errorf("pageQuery(%q, %d) = %+v, %v", tc.seek, tc.limit, q, err)
		}
	}
}

// TestPageQueryLongSeek: a seek of megabytes is refused without being
// echoed into the status, which travels as a trailer.
func TestPageQueryLongSeek(t *testing.T) {
	_, err := pageQuery(Inbox, "owner", strings.Repeat("0", 1<<20), 5, false)
	if st := status.Convert(err); st.Code() != codes.InvalidArgument || len(st.Message()) > 100 {
		t.Fatalf("pageQuery(1 MiB seek) = %v %d-byte message", st.Code(), len(st.Message()))
	}
}

func TestMatches(t *testing.T) {
	in := event{coll: "inbox", id: "a", action: hubpb.ListenReply_CREATE}
	save := event{coll: "inbox", id: "a", action: hubpb.ListenReply_SAVE}
	del := event{coll: "sentbox", id: "b", action: hubpb.ListenReply_DELETE}
	f := func(coll, id string, a hubpb.ListenRequest_Filter_Action) *hubpb.ListenRequest_Filter {
		return &hubpb.ListenRequest_Filter{CollectionName: coll, InstanceID: id, Action: a}
	}
	cases := []struct {
		name    string
		filters []*hubpb.ListenRequest_Filter
		e       event
		want    bool
	}{
		{"no filters", nil, del, true},
		{"collection", []*hubpb.ListenRequest_Filter{f("inbox", "", 0)}, in, true},
		{"other collection", []*hubpb.ListenRequest_Filter{f("inbox", "", 0)}, del, false},
		{"instance", []*hubpb.ListenRequest_Filter{f("", "a", 0)}, in, true},
		{"other instance", []*hubpb.ListenRequest_Filter{f("", "b", 0)}, in, false},
		// The two enums number actions differently: filter SAVE=2 is reply SAVE=1.
		{"save filter, save event", []*hubpb.ListenRequest_Filter{f("", "", hubpb.ListenRequest_Filter_SAVE)}, save, true},
		{"save filter, create event", []*hubpb.ListenRequest_Filter{f("", "", hubpb.ListenRequest_Filter_SAVE)}, in, false},
		{"create filter", []*hubpb.ListenRequest_Filter{f("", "", hubpb.ListenRequest_Filter_CREATE)}, in, true},
		{"delete filter", []*hubpb.ListenRequest_Filter{f("sentbox", "", hubpb.ListenRequest_Filter_DELETE)}, del, true},
		{"any of several", []*hubpb.ListenRequest_Filter{f("inbox", "", 0), f("sentbox", "", 0)}, del, true},
	}
	for _, tc := range cases {
		if got := matches(tc.filters, tc.e); got != tc.want {
			t.Errorf("%s: matches = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestIsLoopback(t *testing.T) {
	cases := map[string]bool{
		"127.0.0.1:3006": true,
		"localhost:3006": true,
		"[::1]:3006":     true,
		"127.8.9.1:1":    true,
		":3006":          false,
		"0.0.0.0:3006":   false,
		"10.0.0.1:3006":  false,
		"example.com:1":  false,
	}
	for addr, want := range cases {
		got, err := isLoopback(addr)
		if err != nil || got != want {
			t.Errorf("isLoopback(%q) = %v, %v; want %v", addr, got, err, want)
		}
	}
	if _, err := isLoopback("no-port"); err == nil {
		t.Error("isLoopback accepted an address without a port")
	}
}

func TestMessageJSON(t *testing.T) {
	m := Message{Box: Inbox, ID: "x", From: "f", To: "t", Body: []byte{0xff, 0}, Signature: []byte{1}, CreatedAt: 5}
	if got, want := string(messageJSON(m)), `{"_id":"x","from":"f","to":"t","body":"/wA=","signature":"AQ==","created_at":5,"read_at":0}`; got != want {
		t.Errorf("inbox JSON = %s, want %s", got, want)
	}
	m.Box = Sentbox
	if got := string(messageJSON(m)); strings.Contains(got, "read_at") {
		t.Errorf("sentbox JSON has read_at: %s", got)
	}
}
