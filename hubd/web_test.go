package hubd_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"net/http"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"
	"nhooyr.io/websocket"

	"github.com/hubfs/hubfs/hubd/hubdtest"
	"github.com/hubfs/hubfs/identity"
	hubpb "github.com/hubfs/hubfs/wire/pb"
)

// wsCall is a grpc-web call over a websocket, framed as the improbable-eng
// JS transport frames it (protocol.md §6): no Origin header, a text header
// block first, 0x00-prefixed gRPC frames, 0x01 for end of send.
type wsCall struct {
	t      testing.TB
	c      *websocket.Conn
	ctx    context.Context
	buf    []byte
	header http.Header // first 0x80 frame
	closed error       // how the socket ended, once it has
}

func openWS(t testing.TB, addr, method string, md metadata.MD) *wsCall {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	c, _, err := websocket.Dial(ctx, "ws://"+addr+method, &websocket.DialOptions{Subprotocols: []string{"grpc-websockets"}})
	if err != nil {
		t.Fatalf("websocket dial %s: %v", method, err)
	}
	c.SetReadLimit(64 << 20)
	t.Cleanup(func() { c.Close(websocket.StatusNormalClosure, "") })
	var hdr strings.Builder
	hdr.WriteString("content-type: application/grpc-web+proto\r\nx-grpc-web: 1\r\n")
	// JS also sends its configured host as metadata; the server must ignore it.
	hdr.WriteString("host: http://" + addr + "\r\n")
	for k, vs := range md {
		hdr.WriteString(k + ": " + strings.Join(vs, ", ") + "\r\n")
	}
	if err := c.Write(ctx, websocket.MessageBinary, []byte(hdr.String())); err != nil {
		t.Fatal(err)
	}
	return &wsCall{t: t, c: c, ctx: ctx}
}

func (w *wsCall) send(m proto.Message) {
	w.t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		w.t.Fatal(err)
	}
	frame := make([]byte, 6, 6+len(b))
	binary.BigEndian.PutUint32(frame[2:], uint32(len(b)))
	if err := w.c.Write(w.ctx, websocket.MessageBinary, append(frame, b...)); err != nil {
		w.t.Fatalf("websocket send: %v", err)
	}
}

func (w *wsCall) closeSend() {
	w.t.Helper()
	if err := w.c.Write(w.ctx, websocket.MessageBinary, []byte{1}); err != nil {
		w.t.Fatalf("websocket end of send: %v", err)
	}
}

// next returns the next data frame, or the final status from the trailers
// once the server has sent them and closed the socket.
func (w *wsCall) next() (data []byte, st *wsStatus) {
	w.t.Helper()
	for {
		if len(w.buf) >= 5 {
			n := int(binary.BigEndian.Uint32(w.buf[1:5]))
			if len(w.buf) >= 5+n {
				flag, payload := w.buf[0], w.buf[5:5+n]
				w.buf = w.buf[5+n:]
				if flag&0x80 == 0 {
					return payload, nil
				}
				h, err := textproto.NewReader(bufioReader(payload)).ReadMIMEHeader()
				if err != nil && len(h) == 0 {
					w.t.Fatalf("bad header frame %q: %v", payload, err)
				}
				if w.header == nil {
					w.header = http.Header(h)
				}
				if code := h.Get("grpc-status"); code != "" {
					c, _ := strconv.Atoi(code)
					msg, _ := url.PathUnescape(h.Get("grpc-message"))
					s := &wsStatus{code: codes.Code(c), msg: msg}
					s.closedNormally = w.waitClose()
					return nil, s
				}
				continue
			}
		}
		typ, b, err := w.c.Read(w.ctx)
		if err != nil {
			w.t.Fatalf("websocket closed before the trailers: %v", err)
		}
		if typ != websocket.MessageBinary {
			w.t.Fatalf("server sent a %v message", typ)
		}
		w.buf = append(w.buf, b...)
	}
}

// waitClose reports whether the server closed the socket normally after the
// trailers: the JS client sees the end of a call only then.
func (w *wsCall) waitClose() bool {
	_, _, err := w.c.Read(w.ctx)
	return websocket.CloseStatus(err) == websocket.StatusNormalClosure
}

type wsStatus struct {
	code           codes.Code
	msg            string
	closedNormally bool
}

// bufioReader reads a header frame as a MIME header block, which needs the
// blank line grpc-web leaves out.
func bufioReader(b []byte) *bufio.Reader {
	return bufio.NewReader(bytes.NewReader(append(append([]byte{}, b...), "\r\n"...)))
}

// unaryWS makes one unary call over a websocket and decodes its reply.
func unaryWS(t testing.TB, addr, method string, md metadata.MD, req, resp proto.Message) wsStatus {
	t.Helper()
	w := openWS(t, addr, method, md)
	w.send(req)
	w.closeSend()
	data, st := w.next()
	if st == nil {
		if err := proto.Unmarshal(data, resp); err != nil {
			t.Fatalf("%s: decode reply: %v", method, err)
		}
		_, st = w.next()
		if st == nil {
			t.Fatalf("%s: a second reply to a unary call", method)
		}
	}
	if !st.closedNormally {
		t.Errorf("%s: the server did not close the websocket normally after the trailers", method)
	}
	return *st
}

func TestWebsocketUnaryAuthAndClose(t *testing.T) {
	h := hubdtest.Start(t)
	st := unaryWS(t, h.Addr, "/api.usersd.pb.APIService/ListThreads", nil, &hubpb.ListThreadsRequest{}, &hubpb.ListThreadsResponse{})
	if st.code != codes.Unauthenticated || st.msg != "Session or API key required" {
		t.Fatalf("no key over websocket: %v %q", st.code, st.msg)
	}
}

// TestWebsocketFullFlow is what @textile/hub does: a token over the bidi
// GetToken stream, a mailbox, a 100 KiB message (over the 32 KiB default
// websocket read limit), a Listen event, a listing.
func TestWebsocketFullFlow(t *testing.T) {
	h := hubdtest.Start(t)
	conn := dial(t, h)
	bob := mailboxUser(t, h, conn)

	// Alice only ever speaks websockets.
	alice := newKeyOnlyUser(t)
	md := keyMD(t, h.Key, h.Secret)
	w := openWS(t, h.Addr, "/threads.pb.API/GetToken", md)
	w.send(&hubpb.GetTokenRequest{Payload: &hubpb.GetTokenRequest_Key{Key: alice.id}})
	data, st := w.next()
	if st != nil {
		t.Fatalf("GetToken: %v %q", st.code, st.msg)
	}
	var rep hubpb.GetTokenReply
	if err := proto.Unmarshal(data, &rep); err != nil || len(rep.GetChallenge()) != 32 {
		t.Fatalf("challenge = %x, %v", rep.GetChallenge(), err)
	}
	sig, _ := alice.key.Sign(rep.GetChallenge())
	w.send(&hubpb.GetTokenRequest{Payload: &hubpb.GetTokenRequest_Signature{Signature: sig}})
	w.closeSend()
	data, st = w.next()
	if st != nil {
		t.Fatalf("GetToken: %v %q", st.code, st.msg)
	}
	if err := proto.Unmarshal(data, &rep); err != nil || rep.GetToken() == "" {
		t.Fatalf("token reply: %v", err)
	}
	if _, st = w.next(); st == nil || st.code != codes.OK || !st.closedNormally {
		t.Fatalf("GetToken end: %+v", st)
	}
	md = metadata.Join(md, metadata.Pairs("authorization", "bearer "+rep.GetToken()))

	var mb hubpb.SetupMailboxResponse
	if st := unaryWS(t, h.Addr, "/api.usersd.pb.APIService/SetupMailbox", md, &hubpb.SetupMailboxRequest{}, &mb); st.code != codes.OK {
		t.Fatalf("SetupMailbox: %v %q", st.code, st.msg)
	}

	listen := openWS(t, h.Addr, "/threads.pb.API/Listen", md)
	listen.send(&hubpb.ListenRequest{DbID: mb.MailboxId, Filters: []*hubpb.ListenRequest_Filter{{CollectionName: "sentbox"}}})
	listen.closeSend()
	waitListening(t, listen)

	body := bytes.Repeat([]byte("x"), 100<<10)
	req := sendReq(t, alice, bob.id, body)
	var sent hubpb.SendMessageResponse
	if st := unaryWS(t, h.Addr, "/api.usersd.pb.APIService/SendMessage", md, req, &sent); st.code != codes.OK {
		t.Fatalf("SendMessage of 100 KiB over websocket: %v %q", st.code, st.msg)
	}

	data, st = listen.next()
	if st != nil {
		t.Fatalf("Listen ended: %v %q", st.code, st.msg)
	}
	var ev hubpb.ListenReply
	if err := proto.Unmarshal(data, &ev); err != nil {
		t.Fatal(err)
	}
	if ev.CollectionName != "sentbox" || ev.InstanceID != sent.Id || ev.Action != hubpb.ListenReply_CREATE {
		t.Fatalf("event = %v %v %v", ev.CollectionName, ev.InstanceID, ev.Action)
	}

	in, err := bob.users.ListInboxMessages(bob.ctx(), &hubpb.ListInboxMessagesRequest{})
	if err != nil || len(in.Messages) != 1 {
		t.Fatalf("bob's inbox: %v, %v", in, err)
	}
	if plain, err := bob.key.Decrypt(in.Messages[0].Body); err != nil || !bytes.Equal(plain, body) {
		t.Fatalf("bob cannot read the 100 KiB message: %v", err)
	}
}

// waitListening waits for Listen's response headers, which the server
// sends once the subscription is in place.
func waitListening(t testing.TB, w *wsCall) {
	t.Helper()
	for w.header == nil {
		typ, b, err := w.c.Read(w.ctx)
		if err != nil || typ != websocket.MessageBinary {
			t.Fatalf("Listen: no headers: %v", err)
		}
		w.buf = append(w.buf, b...)
		if len(w.buf) >= 5 && w.buf[0]&0x80 != 0 {
			n := int(binary.BigEndian.Uint32(w.buf[1:5]))
			if len(w.buf) >= 5+n {
				h, _ := textproto.NewReader(bufioReader(w.buf[5 : 5+n])).ReadMIMEHeader()
				if h.Get("grpc-status") != "" {
					t.Fatalf("Listen failed: %s %s", h.Get("grpc-status"), h.Get("grpc-message"))
				}
				w.header = http.Header(h)
				w.buf = w.buf[5+n:]
			}
		}
	}
}

// TestWebsocketOversizeRefused: requests over the limit, even far over it,
// get ResourceExhausted in the trailers, not a dropped socket.
func TestWebsocketOversizeRefused(t *testing.T) {
	const limit = 4 << 10
	h := hubdtest.Start(t, hubdtest.WithMaxMessageSize(limit))
	conn := dial(t, h)
	alice, bob := mailboxUser(t, h, conn), mailboxUser(t, h, conn)
	for _, tc := range []struct {
		size    int
		wantMsg string
	}{
		{limit + 1, "4096"},             // SendMessage's own check, naming the limit
		{3 * limit, "4096"},             // still SendMessage's
		{10 * limit, "larger than max"}, // grpc's receive limit (4x + 64 KiB)
	} {
		var sent hubpb.SendMessageResponse
		st := unaryWS(t, h.Addr, "/api.usersd.pb.APIService/SendMessage", alice.md, sendReq(t, alice, bob.id, make([]byte, tc.size)), &sent)
		if st.code != codes.ResourceExhausted || !strings.Contains(st.msg, tc.wantMsg) {
			t.Errorf("%d bytes over websocket: %v %q", tc.size, st.code, st.msg)
		}
	}
}

func TestPlainHTTPIsNotFound(t *testing.T) {
	h := hubdtest.Start(t)
	resp, err := http.Get("http://" + h.Addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("GET / = %d", resp.StatusCode)
	}
}

// newKeyOnlyUser is a user without a token yet.
func newKeyOnlyUser(t testing.TB) *user {
	t.Helper()
	k, err := identity.NewPrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	return &user{key: k, id: k.Public().String()}
}

// TestWebsocketBadHeaderBlockCloses: a call the grpc-web wrapper gives up on
// must still end, not leave the client waiting on an open socket.
func TestWebsocketBadHeaderBlockCloses(t *testing.T) {
	h := hubdtest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws://"+h.Addr+"/api.usersd.pb.APIService/ListThreads", &websocket.DialOptions{Subprotocols: []string{"grpc-websockets"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(websocket.StatusNormalClosure, "")
	if err := c.Write(ctx, websocket.MessageBinary, []byte("not a header block\x00\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Read(ctx); err == nil || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("read after a bad header block: %v (want the socket closed)", err)
	}
}
