package hubd

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"syscall"
	"time"
)

// http2Preface is what every HTTP/2 connection, and so every native gRPC
// client, sends first. Anything else is HTTP/1.1: a grpc-web websocket
// upgrade or a stray browser.
var http2Preface = []byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")

// sniffTimeout bounds how long a new connection may take to say which
// protocol it speaks (and, with TLS, to finish the handshake). Without it an
// idle connection would hold a goroutine forever.
const sniffTimeout = 10 * time.Second

// connMux splits one listener into two by the first bytes of each
// connection: HTTP/2 goes to grpc-go's own server transport, the rest to an
// http.Server that serves the grpc-web websockets. This is the 60-line
// version of cmux, without its dependency and with TLS done here, before
// the sniff, so both protocols share one TLS listener.
type connMux struct {
	root      net.Listener
	tlsConfig *tls.Config
	log       *slog.Logger
	grpc      *chanListener
	http      *chanListener
	closeOnce sync.Once
}

func newConnMux(root net.Listener, tlsConfig *tls.Config, log *slog.Logger) *connMux {
	done := make(chan struct{})
	return &connMux{
		root:      root,
		tlsConfig: tlsConfig,
		log:       log,
		grpc:      &chanListener{addr: root.Addr(), conns: make(chan net.Conn), done: done},
		http:      &chanListener{addr: root.Addr(), conns: make(chan net.Conn), done: done},
	}
}

// serve accepts until close; it returns nil once closed.
func (m *connMux) serve() error {
	var delay time.Duration
	for {
		c, err := m.root.Accept()
		if err != nil {
			select {
			case <-m.grpc.done:
				return nil
			default:
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, syscall.EMFILE) {
				// Out of file descriptors or similar: back off as
				// net/http does rather than spin or give up.
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				m.log.Warn("accept failed, retrying", "err", err, "delay", delay)
				time.Sleep(delay)
				continue
			}
			return fmt.Errorf("accept: %w", err)
		}
		delay = 0
		go m.route(c)
	}
}

func (m *connMux) route(c net.Conn) {
	if m.tlsConfig != nil {
		c = tls.Server(c, m.tlsConfig)
	}
	_ = c.SetReadDeadline(time.Now().Add(sniffTimeout))
	var buf []byte
	isH2 := false
	chunk := make([]byte, len(http2Preface))
	for {
		n, err := c.Read(chunk[:len(http2Preface)-len(buf)])
		buf = append(buf, chunk[:n]...)
		if !bytes.HasPrefix(http2Preface, buf) {
			break // HTTP/1.x: it differs from the preface already
		}
		if len(buf) == len(http2Preface) {
			isH2 = true
			break
		}
		if err != nil {
			m.log.Debug("connection closed before its protocol was known", "remote", c.RemoteAddr(), "err", err)
			c.Close()
			return
		}
	}
	_ = c.SetReadDeadline(time.Time{})
	pc := &peekedConn{Conn: c, head: buf}
	target := m.http
	if isH2 {
		target = m.grpc
	}
	select {
	case target.conns <- pc:
	case <-target.done:
		c.Close()
	}
}

func (m *connMux) close() {
	m.closeOnce.Do(func() {
		close(m.grpc.done)
		m.root.Close()
	})
}

// peekedConn replays the sniffed bytes before reading on.
type peekedConn struct {
	net.Conn
	head []byte
}

func (c *peekedConn) Read(p []byte) (int, error) {
	if len(c.head) > 0 {
		n := copy(p, c.head)
		c.head = c.head[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// chanListener is one side of the mux, fed by route.
type chanListener struct {
	addr  net.Addr
	conns chan net.Conn
	done  chan struct{} // shared by both sides: closing the mux closes both
}

func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// Close is a no-op: the servers close their listeners when they stop, but
// the mux owns the shared done channel and closes both sides at once.
func (l *chanListener) Close() error { return nil }

func (l *chanListener) Addr() net.Addr { return l.addr }
