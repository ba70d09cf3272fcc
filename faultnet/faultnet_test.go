package faultnet

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// echo is a loopback target that writes back what it reads and counts
// what it sees.
type echo struct {
	ln       net.Listener
	accepted atomic.Int64
	received atomic.Int64
	wg       sync.WaitGroup
	mu       sync.Mutex // guards conns
	conns    []net.Conn
}

func newEcho(t *testing.T) *echo {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e := &echo{ln: ln}
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			e.accepted.Add(1)
			e.mu.Lock()
			e.conns = append(e.conns, c)
			e.mu.Unlock()
			e.wg.Add(1)
			go func() {
				defer e.wg.Done()
				defer c.Close()
				buf := make([]byte, 4096)
				for {
					n, err := c.Read(buf)
					e.received.Add(int64(n))
					if n > 0 {
						if _, werr := c.Write(buf[:n]); werr != nil {
							return
						}
					}
					if err != nil {
						return
					}
				}
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		e.mu.Lock()
		for _, c := range e.conns {
			c.Close()
		}
		e.mu.Unlock()
		e.wg.Wait()
	})
	return e
}

func newProxy(t *testing.T, target string) *Proxy {
	t.Helper()
	p, err := Listen(target)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closeBounded(t, p) })
	return p
}

// closeBounded closes the proxy and fails the test if its goroutines do not
// all end: Close waits for them.
func closeBounded(t *testing.T, p *Proxy) {
	t.Helper()
	done := make(chan struct{})
	go func() { p.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return: a proxy goroutine is stuck")
	}
}

// waitFor polls a condition the proxy makes true soon; the deadline only
// turns a hang into a failure.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func dial(t *testing.T, p *Proxy) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// roundTrip writes n random bytes and reads them back through the echo.
func roundTrip(t *testing.T, c net.Conn, n int) {
	t.Helper()
	want := make([]byte, n)
	rand.Read(want)
	errc := make(chan error, 1)
	go func() { _, err := c.Write(want); errc <- err }()
	got := make([]byte, n)
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatalf("read back: %v", err)
	}
	c.SetReadDeadline(time.Time{})
	if err := <-errc; err != nil {
		t.Fatalf("write: %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("echo differs from what was sent")
	}
}

// readErr reads until an error; the deadline only bounds a hang.
func readErr(t *testing.T, c net.Conn) error {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err := io.Copy(io.Discard, c)
	if err == nil {
		return io.EOF
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatal("connection neither closed nor reset")
	}
	return err
}

// dialReset dials a proxy that resets new connections and checks the reset:
// it can come before connect(2) reports the connection, or after.
func dialReset(t *testing.T, p *Proxy) {
	t.Helper()
	c, err := net.Dial("tcp", p.Addr())
	if errors.Is(err, syscall.ECONNRESET) {
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	wantReset(t, c)
}

func wantReset(t *testing.T, c net.Conn) {
	t.Helper()
	if err := readErr(t, c); !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("read: %v, want ECONNRESET", err)
	}
}

func TestModes(t *testing.T) {
	tests := []struct {
		mode Mode
		// existing runs on a connection that was passing bytes when mode
		// was set; fresh on one dialed after; after runs once Pass is back.
		existing, fresh func(t *testing.T, p *Proxy, e *echo, c net.Conn)
		after           func(t *testing.T, p *Proxy, e *echo, existing, fresh net.Conn)
	}{{
		mode: Pass,
		existing: func(t *testing.T, p *Proxy, e *echo, c net.Conn) {
			roundTrip(t, c, 200<<10)
		},
		fresh: func(t *testing.T, p *Proxy, e *echo, c net.Conn) {
			roundTrip(t, c, 1)
		},
		after: func(t *testing.T, p *Proxy, e *echo, existing, fresh net.Conn) {
			roundTrip(t, existing, 10)
			roundTrip(t, fresh, 10)
		},
	}, {
		mode: Reset,
		existing: func(t *testing.T, p *Proxy, e *echo, c net.Conn) {
			wantReset(t, c)
		},
		fresh: nil, // checked below: the reset can beat connect(2)
		after: func(t *testing.T, p *Proxy, e *echo, existing, fresh net.Conn) {
			roundTrip(t, dial(t, p), 10)
		},
	}, {
		mode: Blackhole,
		existing: func(t *testing.T, p *Proxy, e *echo, c net.Conn) {
			before, dropped := e.received.Load(), p.Stats().Dropped
			if _, err := c.Write([]byte("into the void")); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "the bytes to be discarded", func() bool { return p.Stats().Dropped == dropped+13 })
			if got := e.received.Load(); got != before {
				t.Fatalf("target received %d bytes in a blackhole", got-before)
			}
		},
		fresh: func(t *testing.T, p *Proxy, e *echo, c net.Conn) {
			// Held before the dial: the target never sees it.
			accepted := e.accepted.Load()
			waitFor(t, "the new connection to be held", func() bool { return p.Stats().Held >= 1 })
			if e.accepted.Load() != accepted {
				t.Fatal("a connection in a blackhole reached the target")
			}
		},
		after: func(t *testing.T, p *Proxy, e *echo, existing, fresh net.Conn) {
			// The existing stream lost bytes, so it cannot resume; the
			// fresh one lost none and is dialed now.
			wantReset(t, existing)
			roundTrip(t, fresh, 10)
		},
	}, {
		mode: Refuse,
		existing: func(t *testing.T, p *Proxy, e *echo, c net.Conn) {
			roundTrip(t, c, 10)
		},
		fresh: nil, // a refused dial has no connection: checked below
		after: func(t *testing.T, p *Proxy, e *echo, existing, fresh net.Conn) {
			roundTrip(t, existing, 10)
			roundTrip(t, dial(t, p), 10)
		},
	}, {
		mode: DropReplies,
		existing: func(t *testing.T, p *Proxy, e *echo, c net.Conn) {
			before, toClient := e.received.Load(), p.Stats().ToClient
			if _, err := c.Write([]byte("request")); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "the request to arrive", func() bool { return e.received.Load() == before+7 })
			waitFor(t, "the reply to be discarded", func() bool { return p.Stats().Dropped >= 7 })
			if p.Stats().ToClient != toClient {
				t.Fatal("a reply was forwarded")
			}
		},
		fresh: func(t *testing.T, p *Proxy, e *echo, c net.Conn) {
			before := e.received.Load()
			if _, err := c.Write([]byte("hello")); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "the request to arrive", func() bool { return e.received.Load() == before+5 })
		},
		after: func(t *testing.T, p *Proxy, e *echo, existing, fresh net.Conn) {
			wantReset(t, existing)
			wantReset(t, fresh)
		},
	}, {
		mode: Stall,
		existing: func(t *testing.T, p *Proxy, e *echo, c net.Conn) {
			before := e.received.Load()
			if _, err := c.Write([]byte("held")); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "the bytes to be held", func() bool { return p.Stats().Held >= 1 })
			if e.received.Load() != before {
				t.Fatal("bytes passed a stall")
			}
		},
		fresh: func(t *testing.T, p *Proxy, e *echo, c net.Conn) {
			waitFor(t, "the new connection to be held", func() bool { return p.Stats().Held >= 2 })
		},
		after: func(t *testing.T, p *Proxy, e *echo, existing, fresh net.Conn) {
			// Nothing was lost: the held bytes arrive, then the stream
			// carries on.
			got := make([]byte, 4)
			existing.SetReadDeadline(time.Now().Add(10 * time.Second))
			if _, err := io.ReadFull(existing, got); err != nil || string(got) != "held" {
				t.Fatalf("held bytes: %q, %v", got, err)
			}
			roundTrip(t, existing, 100<<10)
			roundTrip(t, fresh, 10)
		},
	}}
	for _, tt := range tests {
		t.Run(tt.mode.String(), func(t *testing.T) {
			e := newEcho(t)
			p := newProxy(t, e.ln.Addr().String())
			existing := dial(t, p)
			roundTrip(t, existing, 10)

			if err := p.Set(tt.mode); err != nil {
				t.Fatal(err)
			}
			if p.Mode() != tt.mode {
				t.Fatalf("Mode() = %v", p.Mode())
			}
			tt.existing(t, p, e, existing)
			var fresh net.Conn
			switch {
			case tt.fresh != nil:
				fresh = dial(t, p)
				tt.fresh(t, p, e, fresh)
			case tt.mode == Reset:
				dialReset(t, p)
			default:
				c, err := net.Dial("tcp", p.Addr())
				if !errors.Is(err, syscall.ECONNREFUSED) {
					if c != nil {
						c.Close()
					}
					t.Fatalf("dial in %v: %v, want ECONNREFUSED", tt.mode, err)
				}
			}
			if err := p.Set(Pass); err != nil {
				t.Fatal(err)
			}
			tt.after(t, p, e, existing, fresh)
			if tt.mode != Pass {
				if n := p.Stats().Faults[tt.mode]; n != 1 {
					t.Errorf("Faults[%v] = %d, want 1", tt.mode, n)
				}
			}
		})
	}
}

// Close must end every goroutine whatever the mode leaves them doing:
// holding a stall, waiting on a blackhole, mid-copy.
func TestCloseInEveryMode(t *testing.T) {
	for _, mode := range Modes() {
		t.Run(mode.String(), func(t *testing.T) {
			e := newEcho(t)
			p, err := Listen(e.ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			c1 := dial(t, p)
			roundTrip(t, c1, 10)
			if err := p.Set(mode); err != nil {
				t.Fatal(err)
			}
			// A second connection in the mode's own state, where it has one.
			if c2, err := net.Dial("tcp", p.Addr()); err == nil {
				defer c2.Close()
				c2.Write([]byte("x"))
			}
			c1.Write([]byte("y"))
			closeBounded(t, p)
			if err := readErr(t, c1); err == nil {
				t.Fatal("connection still open after Close")
			}
			if _, err := net.Dial("tcp", p.Addr()); err == nil {
				t.Fatal("proxy still accepting after Close")
			}
		})
	}
}

func TestResetAllKeepsMode(t *testing.T) {
	e := newEcho(t)
	p := newProxy(t, e.ln.Addr().String())
	a, b := dial(t, p), dial(t, p)
	roundTrip(t, a, 10)
	roundTrip(t, b, 10)
	p.ResetAll()
	wantReset(t, a)
	wantReset(t, b)
	if p.Mode() != Pass {
		t.Fatalf("mode %v after ResetAll", p.Mode())
	}
	roundTrip(t, dial(t, p), 10)
	s := p.Stats()
	if s.Faults[Reset] != 1 || s.Resets != 2 || s.Connections != 3 {
		t.Fatalf("stats %+v", s)
	}
}

func TestCounters(t *testing.T) {
	e := newEcho(t)
	p := newProxy(t, e.ln.Addr().String())
	c := dial(t, p)
	roundTrip(t, c, 1000)
	waitFor(t, "the byte counts", func() bool { s := p.Stats(); return s.ToServer == 1000 && s.ToClient == 1000 })
	s := p.Stats()
	if s.Connections != 1 || s.ToServer != 1000 || s.Dropped != 0 || s.Resets != 0 || len(s.Faults) != 0 {
		t.Fatalf("stats %+v", s)
	}
}

// An orderly close travels through: the target sees end of stream after
// every byte, and the client then reads the echo and end of stream.
func TestHalfClose(t *testing.T) {
	e := newEcho(t)
	p := newProxy(t, e.ln.Addr().String())
	c := dial(t, p)
	want := make([]byte, 300<<10)
	rand.Read(want)
	go func() {
		c.Write(want)
		c.(*net.TCPConn).CloseWrite()
	}()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	got, err := io.ReadAll(c)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("read %d bytes, err %v; want %d bytes and EOF", len(got), err, len(want))
	}
}

func TestUnreachableTargetResetsClient(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	target := ln.Addr().String()
	ln.Close()
	p := newProxy(t, target)
	dialReset(t, p)
	waitFor(t, "the dial error count", func() bool { return p.Stats().DialErrors == 1 })
}

func TestLoopbackOnly(t *testing.T) {
	for _, target := range []string{"192.0.2.1:80", "example.com:80", "nonsense"} {
		if p, err := Listen(target); err == nil {
			p.Close()
			t.Errorf("Listen(%q) accepted a non-loopback target", target)
		}
	}
}

// Faults flipped quickly under traffic must neither deadlock nor race.
func TestRapidSwitching(t *testing.T) {
	e := newEcho(t)
	p := newProxy(t, e.ln.Addr().String())
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 8<<10)
			for {
				select {
				case <-stop:
					return
				default:
				}
				c, err := net.Dial("tcp", p.Addr())
				if err != nil {
					continue
				}
				c.SetDeadline(time.Now().Add(50 * time.Millisecond))
				c.Write(buf)
				c.Read(buf)
				c.Close()
			}
		}()
	}
	for i := 0; i < 300; i++ {
		p.Set(Mode(i % int(numModes)))
		if i%7 == 0 {
			p.ResetAll()
		}
	}
	p.Set(Pass)
	close(stop)
	wg.Wait()
	roundTrip(t, dial(t, p), 10)
}
