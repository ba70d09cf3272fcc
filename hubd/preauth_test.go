package hubd_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"strconv"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"

	"github.com/hubfs/hubfs/hubd/hubdtest"
	hubpb "github.com/hubfs/hubfs/wire/pb"
)

// rawCall opens an HTTP/2 connection and starts a unary call of method
// with the given metadata, then sends the first sent bytes of a request
// that announces declared bytes, and holds the rest back. It returns the
// framer to read the answer with.
func rawCall(t *testing.T, addr, method string, md map[string]string, declared, sent int) *http2.Framer {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := c.Write([]byte(http2.ClientPreface)); err != nil {
		t.Fatal(err)
	}
	fr := http2.NewFramer(c, c)
	if err := fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	var hb bytes.Buffer
	enc := hpack.NewEncoder(&hb)
	for _, f := range [][2]string{{":method", "POST"}, {":scheme", "http"}, {":path", method}, {":authority", addr}, {"content-type", "application/grpc"}, {"te", "trailers"}} {
		enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	for k, v := range md {
		enc.WriteField(hpack.HeaderField{Name: k, Value: v})
	}
	if err := fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: hb.Bytes(), EndHeaders: true}); err != nil {
		t.Fatal(err)
	}
	prefix := make([]byte, 5, 5+sent)
	binary.BigEndian.PutUint32(prefix[1:], uint32(declared))
	if err := fr.WriteData(1, false, append(prefix, make([]byte, sent)...)); err != nil {
		t.Fatal(err)
	}
	return fr
}

// grpcStatus reads frames until stream 1 carries a grpc-status.
func grpcStatus(t *testing.T, fr *http2.Framer) (codes.Code, error) {
	t.Helper()
	dec := hpack.NewDecoder(4096, nil)
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			return 0, err
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				fr.WriteSettingsAck()
			}
		case *http2.HeadersFrame:
			fields, err := dec.DecodeFull(f.HeaderBlockFragment())
			if err != nil {
				return 0, err
			}
			for _, hf := range fields {
				if hf.Name == "grpc-status" {
					n, _ := strconv.Atoi(hf.Value)
					return codes.Code(n), nil
				}
			}
		case *http2.GoAwayFrame:
			return 0, errors.New("GOAWAY")
		}
	}
}

// TestRefusedBeforeBody: a call without an API key, or with an unknown
// one, is answered while its 8 MB body has barely started: the hub does
// not wait for (and buffer) the request before checking the key.
func TestRefusedBeforeBody(t *testing.T) {
	h := hubdtest.Start(t, hubdtest.WithMaxMessageSize(4<<20))
	for _, tc := range []struct {
		name string
		md   map[string]string
		want codes.Code
	}{
		{"no key", nil, codes.Unauthenticated},
		{"unknown key", map[string]string{"x-textile-api-key": "bnotakeyatallnotakeyatall00"}, codes.NotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fr := rawCall(t, h.Addr, "/api.usersd.pb.APIService/SendMessage", tc.md, 8<<20, 1<<10)
			code, err := grpcStatus(t, fr)
			if err != nil {
				t.Fatalf("no status while the body was held back: %v", err)
			}
			if code != tc.want {
				t.Errorf("status %v, want %v", code, tc.want)
			}
		})
	}
}

// TestKeepaliveDropsSilentClient: a client that stops answering pings is
// disconnected after the keepalive time and timeout, so its streams do not
// stay open forever.
func TestKeepaliveDropsSilentClient(t *testing.T) {
	h := hubdtest.Start(t, hubdtest.WithKeepalive(0, time.Second, time.Second))
	c, err := net.Dial("tcp", h.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte(http2.ClientPreface))
	http2.NewFramer(c, c).WriteSettings()
	// Read (and so never block the server's writes) but answer nothing,
	// not even the pings.
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	_, err = io.Copy(io.Discard, c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatal("a client that answers no pings is still connected after 30 s")
	}
}

// TestKeepaliveClientNotGoneAway: a client that pings as ours does (every
// 15 s against a server minimum of 10 s; here the 10 s grpc lets a client
// go down to, against 6 s), with no call open, is never sent away for
// too many pings.
func TestKeepaliveClientNotGoneAway(t *testing.T) {
	if testing.Short() {
		t.Skip("takes 35 s of pings")
	}
	t.Parallel()
	h := hubdtest.Start(t, hubdtest.WithKeepalive(6*time.Second, 0, 0))
	conn, err := grpc.NewClient(h.Addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: 10 * time.Second, Timeout: 5 * time.Second, PermitWithoutStream: true}))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	u := mailboxUser(t, h, conn) // connects
	if s := conn.GetState(); s != connectivity.Ready {
		t.Fatalf("connection %v after a call", s)
	}
	// Three pings' worth: grpc sends a client away at the third strike.
	ctx, cancel := context.WithTimeout(context.Background(), 35*time.Second)
	defer cancel()
	if conn.WaitForStateChange(ctx, connectivity.Ready) {
		t.Fatalf("an idle client pinging every 10 s lost its connection (%v): sent away for too many pings", conn.GetState())
	}
	if _, err := u.users.ListThreads(u.ctx(), &hubpb.ListThreadsRequest{}); err != nil {
		t.Fatal(err)
	}
}
