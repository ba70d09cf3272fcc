// Package faultnet is a loopback TCP proxy that injects network faults for
// tests: every connection accepted on the proxy's address is forwarded to a
// target, and Set switches all of them, current and future, between passing
// bytes and one of a few ways of failing (reset, blackhole, refuse, drop the
// replies, stall).
//
// The proxy models what a client sees from a broken network, not from a
// broken server: bytes it forwards arrive whole and in order, and a
// connection that lost bytes in a lossy mode (Blackhole, DropReplies) is
// reset when the mode changes, because the stream it carried cannot resume
// after a gap. A Stall loses nothing: held bytes flow again on Pass.
package faultnet

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Mode is how the proxy treats its connections.
type Mode int

const (
	// Pass forwards bytes both ways.
	Pass Mode = iota
	// Reset resets every connection now (a close with SO_LINGER 0, so the
	// peer reads ECONNRESET) and each new one as soon as it is accepted.
	Reset
	// Blackhole accepts and holds connections and forwards nothing: what
	// either side writes is read and discarded, nothing is closed, so
	// writers succeed and readers wait. A new connection is not dialed to
	// the target while it lasts.
	Blackhole
	// Refuse stops listening: a new connection is refused (ECONNREFUSED)
	// while the port stays bound to the proxy, so it is the same address
	// when listening resumes. Existing connections keep passing bytes.
	Refuse
	// DropReplies forwards client to server and discards server to client:
	// requests arrive, answers never do.
	DropReplies
	// Stall stops forwarding in both directions without reading further or
	// closing anything; new connections are accepted and held the same way.
	// Nothing is lost: held bytes are forwarded when the mode changes.
	Stall

	numModes
)

var modeNames = [numModes]string{"pass", "reset", "blackhole", "refuse", "drop-replies", "stall"}

func (m Mode) String() string {
	if m >= 0 && m < numModes {
		return modeNames[m]
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// Modes lists every mode, Pass first, for tables and reports.
func Modes() []Mode {
	out := make([]Mode, numModes)
	for i := range out {
		out[i] = Mode(i)
	}
	return out
}

// Stats are the proxy's counters since Listen.
type Stats struct {
	Connections int64 // accepted from clients
	ToServer    int64 // bytes forwarded client to server
	ToClient    int64 // bytes forwarded server to client
	Dropped     int64 // bytes discarded by Blackhole or DropReplies
	Resets      int64 // connections the proxy reset
	DialErrors  int64 // connections reset because the target could not be dialed
	// Held is how many directions (or dials) are waiting right now, in a
	// Stall or Blackhole, to move; a test waits for it instead of sleeping.
	Held int64
	// Faults counts how often each fault was applied: a Set that changed
	// the mode to it, and for Reset also every ResetAll.
	Faults map[Mode]int64
}

// dialTimeout bounds a dial to the target; the target is on loopback, so
// a dial that takes this long is a target that is not answering.
const dialTimeout = 5 * time.Second

// Proxy forwards connections from its address to a target.
type Proxy struct {
	target string
	ln     *net.TCPListener
	addr   string
	wg     sync.WaitGroup // every goroutine the proxy started

	toServer, toClient, dropped, resets, dialErrors, accepted, held atomic.Int64

	mu     sync.Mutex // guards the fields below
	cond   *sync.Cond // on mu: broadcast on every change of mode, link or close
	mode   Mode
	paused bool // the listener is shut for Refuse
	closed bool
	links  map[*link]struct{}
	faults [numModes]int64
}

// link is one client connection and, once dialed, its server connection.
type link struct {
	client *net.TCPConn
	server *net.TCPConn // guarded by Proxy.mu; nil until dialed
	lost   bool         // guarded by Proxy.mu: bytes of this stream were discarded
	dead   bool         // guarded by Proxy.mu: reset or closed; pumps stop
	open   int          // guarded by Proxy.mu: directions still running
}

// Listen starts a proxy on a free loopback port that forwards to target,
// which must be a loopback address: the proxy is for tests on one machine.
func Listen(target string) (*Proxy, error) {
	if err := checkLoopback(target); err != nil {
		return nil, err
	}
	ln, err := listenFixedPort()
	if err != nil {
		return nil, fmt.Errorf("faultnet: listen: %w", err)
	}
	p := &Proxy{target: target, ln: ln, addr: ln.Addr().String(), links: map[*link]struct{}{}}
	p.cond = sync.NewCond(&p.mu)
	p.wg.Add(1)
	go p.acceptLoop()
	return p, nil
}

// listenFixedPort listens on a free loopback port bound by number. Linux
// keeps a port through the shutdown that pauses a listener (Refuse) only
// when bind(2) named it; a port the kernel picked for port 0 is given back
// and listen(2) would pick another. So find a free port with port 0, then
// bind it by number, trying again in the rare case another socket took it
// in between.
func listenFixedPort() (*net.TCPListener, error) {
	var lastErr error
	for range 20 {
		probe, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			return nil, err
		}
		port := probe.Addr().(*net.TCPAddr).Port
		probe.Close()
		ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
		if err == nil {
			return ln, nil
		}
		lastErr = err
	}
	return nil, lastErr
}

func checkLoopback(target string) error {
	host, _, err := net.SplitHostPort(target)
	if err != nil {
		return fmt.Errorf("faultnet: target %q: %w", target, err)
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("faultnet: target %q is not a loopback address", target)
	}
	return nil
}

// Addr is the proxy's address, host:port on 127.0.0.1. It stays the same
// for the proxy's life, through Refuse.
func (p *Proxy) Addr() string { return p.addr }

// Mode is the current mode.
func (p *Proxy) Mode() Mode {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.mode
}

// Set switches every current and future connection to mode. Connections
// that lost bytes under a lossy mode are reset when the mode changes.
func (p *Proxy) Set(mode Mode) error {
	if mode < 0 || mode >= numModes {
		return fmt.Errorf("faultnet: unknown mode %d", int(mode))
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return errors.New("faultnet: proxy closed")
	}
	if mode == p.mode {
		if mode == Reset {
			p.resetAllLocked()
			p.faults[Reset]++
		}
		return nil
	}
	if mode != Pass {
		p.faults[mode]++
	}
	for l := range p.links {
		if l.lost {
			p.resetLocked(l)
		}
	}
	var err error
	switch {
	case mode == Refuse:
		err = p.pauseLocked()
	case p.mode == Refuse:
		err = p.resumeLocked()
	}
	p.mode = mode
	if mode == Reset {
		p.resetAllLocked()
	}
	p.cond.Broadcast()
	return err
}

// ResetAll resets every current connection without changing the mode.
func (p *Proxy) ResetAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.faults[Reset]++
	p.resetAllLocked()
}

// Stats returns a copy of the counters.
func (p *Proxy) Stats() Stats {
	s := Stats{
		Connections: p.accepted.Load(),
		ToServer:    p.toServer.Load(),
		ToClient:    p.toClient.Load(),
		Dropped:     p.dropped.Load(),
		Resets:      p.resets.Load(),
		DialErrors:  p.dialErrors.Load(),
		Held:        p.held.Load(),
		Faults:      map[Mode]int64{},
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for m, n := range p.faults {
		if n > 0 {
			s.Faults[Mode(m)] = n
		}
	}
	return s
}

// Close stops listening, closes every connection and waits for every
// goroutine of the proxy to end.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	err := p.ln.Close()
	for l := range p.links {
		l.dead = true
		l.client.Close()
		if l.server != nil {
			l.server.Close()
		}
	}
	p.cond.Broadcast()
	p.mu.Unlock()
	p.wg.Wait()
	return err
}

// pauseLocked makes the kernel refuse new connections while the port stays
// ours: on Linux, shutdown(SHUT_RD) of a listening socket stops it
// listening (pending connections are reset, new ones refused) and a later
// listen(2) on the same descriptor resumes it. Closing and re-binding
// instead would let any outgoing connection take the ephemeral port.
func (p *Proxy) pauseLocked() error {
	p.paused = true
	return p.control(func(fd int) error { return syscall.Shutdown(fd, syscall.SHUT_RD) })
}

func (p *Proxy) resumeLocked() error {
	p.paused = false
	return p.control(func(fd int) error { return syscall.Listen(fd, syscall.SOMAXCONN) })
}

func (p *Proxy) control(f func(fd int) error) error {
	rc, err := p.ln.SyscallConn()
	if err != nil {
		return fmt.Errorf("faultnet: listener: %w", err)
	}
	var opErr error
	if err := rc.Control(func(fd uintptr) { opErr = f(int(fd)) }); err != nil {
		return fmt.Errorf("faultnet: listener: %w", err)
	}
	if opErr != nil {
		return fmt.Errorf("faultnet: listener: %w", opErr)
	}
	return nil
}

func (p *Proxy) acceptLoop() {
	defer p.wg.Done()
	for {
		c, err := p.ln.AcceptTCP()
		if err != nil {
			p.mu.Lock()
			for p.paused && !p.closed {
				p.cond.Wait()
			}
			closed := p.closed
			p.mu.Unlock()
			if closed {
				return
			}
			// Accept fails after a pause that has already been lifted (the
			// shutdown woke it), or for want of descriptors: try again
			// shortly rather than spin.
			time.Sleep(5 * time.Millisecond)
			continue
		}
		p.accepted.Add(1)
		l := &link{client: c, open: 2}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			resetConn(c)
			return
		}
		p.links[l] = struct{}{}
		if p.mode == Reset || p.mode == Refuse {
			// Refuse: accepted in the instant before the pause took hold.
			p.resetLocked(l)
		}
		p.mu.Unlock()
		p.wg.Add(2)
		go p.dialAndPump(l)
		go p.pump(l, true)
	}
}

// dialAndPump dials the target once the mode lets a connection reach it,
// then carries server to client bytes.
func (p *Proxy) dialAndPump(l *link) {
	defer p.wg.Done()
	defer p.done(l)
	p.mu.Lock()
	for !l.dead && !p.closed && (p.mode == Blackhole || p.mode == Stall) {
		p.held.Add(1)
		p.cond.Wait()
		p.held.Add(-1)
	}
	dead := l.dead || p.closed
	p.mu.Unlock()
	if dead {
		return
	}
	c, err := net.DialTimeout("tcp", p.target, dialTimeout)
	if err != nil {
		p.dialErrors.Add(1)
		p.mu.Lock()
		p.resetLocked(l)
		p.mu.Unlock()
		return
	}
	s := c.(*net.TCPConn)
	p.mu.Lock()
	if l.dead || p.closed {
		p.mu.Unlock()
		resetConn(s)
		return
	}
	l.server = s
	p.cond.Broadcast()
	p.mu.Unlock()
	p.pump(l, false)
}

// pump copies one direction of a link: client to server when up, else
// server to client.
func (p *Proxy) pump(l *link, up bool) {
	if up {
		defer p.wg.Done()
		defer p.done(l)
	}
	src := l.client
	if !up {
		src = l.server
	}
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			dst, ok := p.await(l, up, int64(n))
			if !ok {
				return
			}
			if dst != nil {
				if _, werr := dst.Write(buf[:n]); werr != nil {
					p.reset(l)
					return
				}
				if up {
					p.toServer.Add(int64(n))
				} else {
					p.toClient.Add(int64(n))
				}
			}
		}
		if errors.Is(err, io.EOF) {
			// Pass the half-close on once the mode would pass bytes.
			dst, ok := p.await(l, up, 0)
			if ok && dst != nil {
				dst.CloseWrite()
			}
			return
		}
		if err != nil {
			p.reset(l)
			return
		}
	}
}

// await waits until the mode lets n bytes (0 for an end of stream) go the
// given way, and says where to write them: nil when they are to be
// discarded, ok false when the link is gone.
func (p *Proxy) await(l *link, up bool, n int64) (dst *net.TCPConn, ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for {
		if l.dead || p.closed {
			return nil, false
		}
		switch m := p.mode; {
		case m == Blackhole || (m == DropReplies && !up):
			l.lost = true
			p.dropped.Add(n)
			return nil, true
		case m == Stall || (up && l.server == nil):
			p.held.Add(1)
			p.cond.Wait()
			p.held.Add(-1)
		case up:
			return l.server, true
		default:
			return l.client, true
		}
	}
}

// done ends one direction of a link; the last one closes both sockets.
func (p *Proxy) done(l *link) {
	p.mu.Lock()
	defer p.mu.Unlock()
	l.open--
	if l.open > 0 {
		return
	}
	delete(p.links, l)
	if !l.dead {
		l.dead = true
		l.client.Close()
		if l.server != nil {
			l.server.Close()
		}
	}
}

func (p *Proxy) reset(l *link) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.resetLocked(l)
}

func (p *Proxy) resetAllLocked() {
	for l := range p.links {
		p.resetLocked(l)
	}
}

// resetLocked resets both sockets of a link, so each peer reads
// ECONNRESET rather than an orderly end of stream.
func (p *Proxy) resetLocked(l *link) {
	if l.dead {
		return
	}
	l.dead = true
	p.resets.Add(1)
	resetConn(l.client)
	if l.server != nil {
		resetConn(l.server)
	}
	p.cond.Broadcast()
}

func resetConn(c *net.TCPConn) {
	c.SetLinger(0)
	c.Close()
}
