package hubd_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"net/http"
	"net/textproto"
	"net/url"
	"strconv"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"

	"github.com/hubfs/hubfs/hubd/hubdtest"
	hubpb "github.com/hubfs/hubfs/wire/pb"
)

// TestUnknownMethodUnimplemented: a method the hub does not serve is
// answered with Unimplemented over every transport, with or without an API
// key, so that the JS client reports what happened instead of "Response
// closed without headers" (a websocket refused with HTTP 403 at the
// upgrade).
func TestUnknownMethodUnimplemented(t *testing.T) {
	h := hubdtest.Start(t)
	conn := dial(t, h)
	alice := newUser(t, h, conn)
	methods := []string{"/threads.pb.API/NoSuchCall", "/no.such.Service/Call"}
	creds := []struct {
		name string
		md   metadata.MD
	}{{"no key", nil}, {"with key and token", alice.md}}
	for _, m := range methods {
		for _, c := range creds {
			t.Run("websocket "+m+" "+c.name, func(t *testing.T) {
				st := unaryWS(t, h.Addr, m, c.md, &hubpb.ListDBsRequest{}, &hubpb.ListDBsReply{})
				if st.code != codes.Unimplemented {
					t.Fatalf("%s over websocket: %v %q, want Unimplemented", m, st.code, st.msg)
				}
			})
			t.Run("grpc-web POST "+m+" "+c.name, func(t *testing.T) {
				code, msg := postGRPCWeb(t, h.Addr, m, c.md)
				if code != codes.Unimplemented {
					t.Fatalf("%s over grpc-web POST: %v %q, want Unimplemented", m, code, msg)
				}
			})
			t.Run("native "+m+" "+c.name, func(t *testing.T) {
				ctx := metadata.NewOutgoingContext(context.Background(), c.md)
				err := conn.Invoke(ctx, m, &hubpb.ListDBsRequest{}, &hubpb.ListDBsReply{})
				wantCode(t, err, codes.Unimplemented, "")
			})
		}
	}
	// A method the proto declares but the hub leaves unimplemented answers
	// the same way, past authentication.
	_, err := alice.threads.NewDBFromAddr(alice.ctx(), &hubpb.NewDBFromAddrRequest{})
	wantCode(t, err, codes.Unimplemented, "")
}

// postGRPCWeb makes an empty-bodied grpc-web call over a plain POST and
// returns the status from its trailers (or headers, for a trailers-only
// answer).
func postGRPCWeb(t *testing.T, addr, method string, md metadata.MD) (codes.Code, string) {
	t.Helper()
	frame := make([]byte, 5) // one empty message
	req, err := http.NewRequest(http.MethodPost, "http://"+addr+method, bytes.NewReader(frame))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("content-type", "application/grpc-web+proto")
	req.Header.Set("x-grpc-web", "1")
	for k, vs := range md {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s: HTTP %d", method, resp.StatusCode)
	}
	if s := resp.Header.Get("grpc-status"); s != "" {
		c, _ := strconv.Atoi(s)
		msg, _ := url.PathUnescape(resp.Header.Get("grpc-message"))
		return codes.Code(c), msg
	}
	var body bytes.Buffer
	if _, err := body.ReadFrom(resp.Body); err != nil {
		t.Fatal(err)
	}
	b := body.Bytes()
	for len(b) >= 5 {
		n := int(binary.BigEndian.Uint32(b[1:5]))
		if len(b) < 5+n {
			break
		}
		if b[0]&0x80 != 0 {
			h, _ := textproto.NewReader(bufioReader(b[5 : 5+n])).ReadMIMEHeader()
			c, _ := strconv.Atoi(h.Get("grpc-status"))
			msg, _ := url.PathUnescape(h.Get("grpc-message"))
			return codes.Code(c), msg
		}
		b = b[5+n:]
	}
	t.Fatalf("%s: no status in the grpc-web answer", method)
	return 0, ""
}
