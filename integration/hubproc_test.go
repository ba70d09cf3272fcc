package integration

import (
	"bufio"
	"bytes"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hubfs/hubfs/hubd"
)

// hubProc is `hubfs serve` of the built binary as a subprocess, so a test
// can SIGKILL it and start it again on the same data and address: what a
// crash of the hub looks like to its clients.
type hubProc struct {
	dataDir, addr string
	store         string // --store URL; "" = the data directory's
	key, secret   string
	logs          lockedBuffer

	cmd  *exec.Cmd
	done chan error // the process's exit; nil while stopped
}

// startHubProc creates a data directory with one API key and serves it on a
// fixed loopback port, and stops the hub when the test ends.
func startHubProc(t testing.TB) *hubProc {
	t.Helper()
	h := &hubProc{dataDir: t.TempDir(), addr: quietLoopbackAddr(t)}
	k, err := hubd.CreateKey(h.dataDir)
	if err != nil {
		t.Fatalf("hub: create API key: %v", err)
	}
	h.key, h.secret = k.Key, k.Secret
	h.start(t)
	t.Cleanup(func() { h.stop(t) })
	return h
}

// startHubProcOn serves the store at url (one that several hubs may share)
// with an API key it already holds, and stops the hub when the test ends.
func startHubProcOn(t testing.TB, url, key, secret string) *hubProc {
	t.Helper()
	h := &hubProc{dataDir: t.TempDir(), addr: quietLoopbackAddr(t), store: url, key: key, secret: secret}
	h.start(t)
	t.Cleanup(func() { h.stop(t) })
	return h
}

// start runs the hub and waits for the address line it prints once
// listening.
func (h *hubProc) start(t testing.TB) {
	t.Helper()
	cmd := exec.Command(hubfsBin, "serve", "--listen", h.addr, "--data", h.dataDir)
	cmd.Env = slicesWithout(os.Environ(), "HUBFS_")
	if h.store != "" {
		// In the environment, not argv: a store URL may hold a password.
		cmd.Env = append(cmd.Env, "HUBFS_STORE="+h.store)
	}
	cmd.Stderr = &h.logs
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("hubfs serve: %v", err)
	}
	line, _ := bufio.NewReader(out).ReadString('\n')
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	if strings.TrimSpace(line) != h.addr {
		cmd.Process.Kill()
		<-done
		t.Fatalf("hubfs serve printed %q, want %s\n%s", line, h.addr, h.logs.String())
	}
	h.cmd, h.done = cmd, done
}

// kill SIGKILLs the hub and waits for it to be gone: no shutdown, no
// flush, the store as the kernel left it.
func (h *hubProc) kill(t testing.TB) {
	t.Helper()
	if h.done == nil {
		return
	}
	h.cmd.Process.Signal(syscall.SIGKILL)
	<-h.done
	h.done = nil
}

// stop ends the hub gracefully (SIGTERM), as at the end of a test.
func (h *hubProc) stop(t testing.TB) {
	t.Helper()
	if h.done == nil {
		return
	}
	h.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-h.done:
		if err != nil {
			t.Errorf("hubfs serve: %v\n%s", err, h.logs.String())
		}
	case <-time.After(40 * time.Second):
		h.cmd.Process.Kill()
		<-h.done
		t.Errorf("hubfs serve did not stop on SIGTERM\n%s", h.logs.String())
	}
	h.done = nil
}

// quietLoopbackAddr is a free loopback address whose port is below the
// kernel's ephemeral range, so that while the hub is down no outgoing
// connection (the fault proxy dials the hub's address all the time) can be
// given its port and keep the hub from listening there again.
func quietLoopbackAddr(t testing.TB) string {
	t.Helper()
	low := 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		fmt.Sscan(string(b), &low)
	}
	if low > 11000 {
		for range 100 {
			port := 10000 + rand.IntN(low-10000)
			ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
			if err == nil {
				addr := ln.Addr().String()
				ln.Close()
				return addr
			}
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// lockedBuffer is a bytes.Buffer a subprocess can write while the test
// reads it.
type lockedBuffer struct {
	mu sync.Mutex // guards b
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
