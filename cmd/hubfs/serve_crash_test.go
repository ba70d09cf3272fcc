package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/hubfs/hubfs/hub"
	"github.com/hubfs/hubfs/identity"
)

// childEnv makes the test binary act as the hubfs binary, so tests can run
// `hubfs serve` as a process of its own and kill it.
const childEnv = "HUBFS_TEST_AS_HUBFS"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		if err := Main(append([]string{"hubfs"}, os.Args[1:]...)); err != nil {
			fmt.Fprintln(os.Stderr, "hubfs: "+err.Error())
			os.Exit(exitCode(err))
		}
		os.Exit(0)
	}
	// Commands keep state (the send token cache, the outbox queue) under
	// $XDG_STATE_HOME: never the real one of whoever runs the tests.
	state, err := os.MkdirTemp("", "hubfs-test-state-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Setenv("XDG_STATE_HOME", state)
	code := m.Run()
	os.RemoveAll(state)
	os.Exit(code)
}

// hubfsProcess runs the hubfs CLI as a child process.
func hubfsProcess(args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), childEnv+"=1")
	return cmd
}

// serveProcess starts `hubfs serve` on dir in a child process and returns
// it with the address it printed; the test kills it at the end.
func serveProcess(t *testing.T, dir, listen string) (*exec.Cmd, string) {
	t.Helper()
	cmd := hubfsProcess("serve", "--listen", listen, "--data", dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("serve printed no address: %v", err)
	}
	go io.Copy(io.Discard, out)
	return cmd, strings.TrimSpace(line)
}

// TestServeKeepsAcknowledgedAcrossCrash: a hub whose store another
// process reads (the sqlite3 CLI, as an admin would) loses nothing it
// acknowledged when it is killed, and sees keys that `hubfs keys create`
// makes while it runs. A second open of the store inside the server
// process once dropped the process's SQLite locks, after which the
// reader's close deleted the WAL the hub still wrote to.
func TestServeKeepsAcknowledgedAcrossCrash(t *testing.T) {
	sqlite3, err := exec.LookPath("sqlite3")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true but the sqlite3 CLI is missing: %v", err)
		}
		t.Skipf("no sqlite3 CLI: %v", err)
	}
	dir := t.TempDir()
	key := createKeyJSON(t, dir)
	srv, addr := serveProcess(t, dir, "127.0.0.1:0")

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	me, err := identity.NewPrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	client := func() *hub.Client {
		cl, err := hub.Dial(ctx, addr, hub.WithKeyInfo(key.Key, key.Secret))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cl.Close() })
		if _, err := cl.GetToken(ctx, me); err != nil {
			t.Fatal(err)
		}
		if _, err := cl.SetupMailbox(ctx); err != nil {
			t.Fatal(err)
		}
		return cl
	}
	cl := client()
	var acked []string
	send := func(n int) {
		for i := range n {
			m, err := cl.SendMessage(ctx, me, me.Public(), []byte(fmt.Sprintf("message %d", len(acked)+i)))
			if err != nil {
				t.Fatalf("send: %v", err)
			}
			acked = append(acked, m.ID)
		}
	}

	send(5)
	out, err := exec.Command(sqlite3, filepath.Join(dir, "hub.db"), "select count(*) from messages").CombinedOutput()
	if err != nil {
		t.Fatalf("sqlite3: %v: %s", err, out)
	}
	send(5)

	// A key made by another process while the hub runs is accepted.
	kout, err := hubfsProcess("keys", "create", "--data", dir, "--json").Output()
	if err != nil {
		t.Fatalf("hubfs keys create: %v", err)
	}
	var fresh createdKey
	if err := json.Unmarshal(kout, &fresh); err != nil {
		t.Fatalf("keys create printed %q: %v", kout, err)
	}
	if st, _ := status.FromError(apiCall(t, addr, fresh.Key, fresh.Secret)); st.Code() != codes.Unauthenticated || st.Message() != "Token required" {
		t.Errorf("a key made by `hubfs keys create` next to the running hub: %v, want it accepted (Token required)", st)
	}
	send(5)

	if err := srv.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	srv.Wait()
	_, addr = serveProcess(t, dir, addr)
	cl = client()
	msgs, err := cl.ListInboxMessages(ctx, hub.InboxListOptions{Limit: 100, Ascending: true})
	if err != nil {
		t.Fatal(err)
	}
	have := make(map[string]bool, len(msgs))
	for _, m := range msgs {
		have[m.ID] = true
	}
	var lost []string
	for _, id := range acked {
		if !have[id] {
			lost = append(lost, id)
		}
	}
	if len(lost) > 0 {
		t.Errorf("after SIGKILL and restart %d of %d acknowledged messages are gone: %v", len(lost), len(acked), lost)
	}
}
