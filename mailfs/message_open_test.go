package mailfs

import (
	"bytes"
	"context"
	"log"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hubfs/hubfs/hub"
	"github.com/hubfs/hubfs/hubd/hubdtest"
	"github.com/hubfs/hubfs/mailbox/hubmail"
)

// requestLog is go-fuse's --debug request log, kept for a test to count.
type requestLog struct {
	mu  sync.Mutex // guards buf: go-fuse logs from every serving goroutine
	buf bytes.Buffer
}

func (l *requestLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// count is how many requests of opcode op the kernel sent ("rx N: OP").
func (l *requestLog) count(op string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, line := range strings.Split(l.buf.String(), "\n") {
		if i := strings.Index(line, "rx "); i >= 0 {
			if f := strings.Fields(line[i:]); len(f) >= 3 && f[2] == op {
				n++
			}
		}
	}
	return n
}

// TestMessageCloseSendsNoFlush: a message file is opened with
// FOPEN_NOFLUSH, so close(2) sends the mount no FLUSH (there is nothing to
// write back), and with FOPEN_KEEP_CACHE a second read of the body needs no
// READ. Before, every cat cost an OPEN, a FLUSH and a RELEASE.
func TestMessageCloseSendsNoFlush(t *testing.T) {
	const n = 5
	h := hubdtest.Start(t)
	rl := &requestLog{}
	m := mountWith(t, h, withCache(time.Hour, 1<<20, 1<<20), func(cl *hub.Client) hubmail.Client { return cl },
		MountOptions{Debug: true, Logger: log.New(rl, "", 0)})
	bob, bobKey := dialUser(t, h)
	var ids []string
	for range n {
		msg, err := bob.SendMessage(context.Background(), bobKey, m.key.Public(), []byte("body"))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, msg.ID)
	}
	// go-fuse's own probe at mount (".go-fuse-epoll-hack") opens and
	// closes a file: count from here.
	open0, flush0, read0 := rl.count("OPEN"), rl.count("FLUSH"), rl.count("READ")
	for range 2 {
		for _, id := range ids {
			if b, err := os.ReadFile(m.path("inbox", id)); err != nil || string(b) != "body" {
				t.Fatalf("read %s = %q, %v", id, b, err)
			}
		}
	}
	if got := rl.count("OPEN") - open0; got != 2*n {
		t.Fatalf("%d OPEN requests for %d reads: the request log is not what this test reads", got, 2*n)
	}
	if got := rl.count("FLUSH") - flush0; got != 0 {
		t.Errorf("%d FLUSH requests for %d closes of message files, want 0", got, 2*n)
	}
	if got := rl.count("READ") - read0; got > n {
		t.Errorf("%d READ requests for 2 reads of %d bodies, want at most %d (FOPEN_KEEP_CACHE)", got, n, n)
	}
}
