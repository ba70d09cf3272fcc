package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// node is one `hubfs serve` of the built binary, a subprocess listening on
// a loopback port it picked itself.
type node struct {
	name string
	addr string
	cmd  *exec.Cmd
	done chan error
	logs bytes.Buffer // stderr; read only after done
}

// running holds the nodes to stop when the run ends, however it ends.
var running struct {
	sync.Mutex
	nodes []*node
}

// storeEnv is the environment of a hubfs subprocess on store: the URL in
// HUBFS_STORE, not argv, since a URL may hold a password; no other HUBFS_
// variable of the caller's.
func storeEnv(store string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "HUBFS_") {
			env = append(env, kv)
		}
	}
	return append(env, "HUBFS_STORE="+store)
}

// createKey makes an API key in store with `hubfs keys create --json`.
func createKey(bin, store string) (key, secret string, err error) {
	cmd := exec.Command(bin, "keys", "create", "--json")
	cmd.Env = storeEnv(store)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", "", fmt.Errorf("hubfs keys create: %v\n%s", err, stderr.String())
	}
	var k struct{ Key, Secret string }
	if err := json.Unmarshal(out, &k); err != nil || k.Key == "" || k.Secret == "" {
		return "", "", fmt.Errorf("hubfs keys create printed %q: %v", out, err)
	}
	return k.Key, k.Secret, nil
}

// startNode runs `hubfs serve` on store (dataDir for its SQLite file and
// host key; unused with PostgreSQL) and waits for the address it prints
// once listening.
func startNode(bin, name, store, dataDir string) (*node, error) {
	n := &node{name: name, done: make(chan error, 1)}
	n.cmd = exec.Command(bin, "serve", "--listen", "127.0.0.1:0", "--data", dataDir)
	n.cmd.Env = storeEnv(store)
	n.cmd.Stderr = &n.logs
	// If this program dies without stopping it, the kernel does.
	n.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := n.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := n.cmd.Start(); err != nil {
		return nil, fmt.Errorf("hubfs serve: %w", err)
	}
	running.Lock()
	running.nodes = append(running.nodes, n)
	running.Unlock()
	line, _ := bufio.NewReader(out).ReadString('\n')
	go func() { n.done <- n.cmd.Wait() }()
	n.addr = strings.TrimSpace(line)
	if !strings.HasPrefix(n.addr, "127.0.0.1:") {
		n.stop()
		return nil, fmt.Errorf("%s: hubfs serve printed %q, not its address\n%s", name, line, n.logs.String())
	}
	return n, nil
}

// stop ends the node with SIGTERM (a graceful drain), SIGKILL if that
// takes over 40 s. Stopping a stopped node does nothing.
func (n *node) stop() error {
	running.Lock()
	for i, r := range running.nodes {
		if r == n {
			running.nodes = append(running.nodes[:i], running.nodes[i+1:]...)
			break
		}
	}
	running.Unlock()
	if n.done == nil {
		return nil
	}
	n.cmd.Process.Signal(syscall.SIGTERM)
	var err error
	select {
	case err = <-n.done:
	case <-time.After(40 * time.Second):
		n.cmd.Process.Kill()
		<-n.done
		err = fmt.Errorf("did not stop on SIGTERM")
	}
	n.done = nil
	if err != nil {
		return fmt.Errorf("%s: hubfs serve: %v\n%s", n.name, err, n.logs.String())
	}
	return nil
}

// stopAll stops every node still running.
func stopAll() {
	running.Lock()
	nodes := append([]*node(nil), running.nodes...)
	running.Unlock()
	for _, n := range nodes {
		if err := n.stop(); err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
	}
}
