package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/hubfs/hubfs/hub"
)

// exportFixture is a hub where alice and bob wrote to each other; plain
// maps each message id to its plaintext.
type exportFixture struct {
	ch         *cliHub
	alice, bob cliUser
	plain      map[string]string
	ids        []string // sorted
}

func newExportFixture(t *testing.T) exportFixture {
	t.Helper()
	f := exportFixture{ch: startCLIHub(t), alice: newCLIUser(t), bob: newCLIUser(t), plain: map[string]string{}}
	f.ch.must(t, f.bob, "", "ls", "inbox")
	for i := range 6 {
		from, to := f.alice, f.bob
		if i%3 == 2 {
			from, to = f.bob, f.alice
		}
		body := fmt.Sprintf("plaintext-marker-%d", i)
		id := strings.TrimSpace(f.ch.must(t, from, body, "send", "--to", to.pub()))
		f.plain[id] = body
		f.ids = append(f.ids, id)
	}
	// One read, so read_at shows.
	f.ch.must(t, f.bob, "", "cat", f.ids[0])
	slices.Sort(f.ids)
	return f
}

func parseExport(t *testing.T, data string) []exportLine {
	t.Helper()
	var lines []exportLine
	sc := bufio.NewScanner(strings.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var l exportLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("export line %q: %v", sc.Text(), err)
		}
		lines = append(lines, l)
	}
	return lines
}

// lastLine is the last line of stderr: the id to continue from.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return lines[len(lines)-1]
}

func TestExport(t *testing.T) {
	f := newExportFixture(t)
	file := filepath.Join(t.TempDir(), "mail.jsonl")
	out, errOut, err := f.ch.run(t, f.bob, "", "export", file)
	if err != nil {
		t.Fatalf("export: %v (%s)", err, errOut)
	}
	if out != "" {
		t.Errorf("export FILE printed %q on stdout", out)
	}
	// Not a terminal: no progress line, only the id to continue from.
	if errOut != f.ids[len(f.ids)-1]+"\n" {
		t.Errorf("export stderr %q, want the last id alone", errOut)
	}
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(file); fi.Mode().Perm() != 0o600 {
		t.Errorf("export file mode %v, want 0600", fi.Mode().Perm())
	}
	for _, p := range f.plain {
		if bytes.Contains(raw, []byte(p)) {
			t.Errorf("the export holds the plaintext %q", p)
		}
	}
	lines := parseExport(t, string(raw))
	// Each message bob received is in his inbox, each he sent in his
	// sentbox: one line each, oldest first.
	if len(lines) != len(f.ids) {
		t.Fatalf("export has %d lines, want %d", len(lines), len(f.ids))
	}
	for i, l := range lines {
		if l.ID != f.ids[i] {
			t.Errorf("line %d is %s, want %s (oldest first)", i, l.ID, f.ids[i])
		}
		wantBox := "inbox"
		if l.From == f.bob.pub() {
			wantBox = "sentbox"
		}
		if l.Box != wantBox {
			t.Errorf("%s: box %q, want %q", l.ID, l.Box, wantBox)
		}
		// The ciphertext is the hub's, byte for byte: it verifies and
		// opens with bob's key.
		m := hub.UserMessage{ID: l.ID, From: l.From, To: l.To, Body: l.Body, Signature: l.Signature}
		plain, err := m.Open(f.bob.key)
		if err != nil || string(plain) != f.plain[l.ID] {
			t.Errorf("%s opens to %q, %v; want %q", l.ID, plain, err, f.plain[l.ID])
		}
		if (l.ReadAt != nil) != (l.ID == f.ids[0] && l.Box == "inbox") {
			t.Errorf("%s: read_at %v", l.ID, l.ReadAt)
		}
	}

	// --since the middle id: the rest, to stdout.
	mid := f.ids[len(f.ids)/2]
	out, errOut, err = f.ch.run(t, f.bob, "", "export", "--since", mid, "-")
	if err != nil {
		t.Fatalf("export --since: %v (%s)", err, errOut)
	}
	var got []string
	for _, l := range parseExport(t, out) {
		got = append(got, l.ID)
	}
	if want := f.ids[len(f.ids)/2+1:]; !slices.Equal(got, want) {
		t.Errorf("export --since %s = %v, want %v", mid, got, want)
	}
	if lastLine(errOut) != f.ids[len(f.ids)-1] {
		t.Errorf("export --since stderr %q, want the last id", errOut)
	}
	// Nothing newer: nothing exported, and the id to continue from stays.
	out, errOut, err = f.ch.run(t, f.bob, "", "export", "--since", f.ids[len(f.ids)-1])
	if err != nil || out != "" || errOut != f.ids[len(f.ids)-1]+"\n" {
		t.Errorf("export --since the newest: %q, %q, %v; want nothing and the same id", out, errOut, err)
	}

	// One box.
	out, _, err = f.ch.run(t, f.bob, "", "export", "--box", "sentbox")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range parseExport(t, out) {
		if l.Box != "sentbox" || l.From != f.bob.pub() {
			t.Errorf("export --box sentbox has %+v", l)
		}
	}

	_, _, err = f.ch.run(t, f.bob, "", "export", "--box", "outbox")
	wantUsage(t, err, "an unknown box")
	_, _, err = f.ch.run(t, f.bob, "", "export", "--since", "not-an-id")
	wantUsage(t, err, "a bad --since")
	_, _, err = f.ch.run(t, f.bob, "", "export", "a", "b")
	wantUsage(t, err, "two files")
}

// TestExportProgressOnATerminal: with stderr a terminal the export draws
// its progress line there (TestExport shows there is none on a pipe).
func TestExportProgressOnATerminal(t *testing.T) {
	f := newExportFixture(t)
	ptm, pts := openPTY(t)
	got := make(chan string, 1)
	go func() {
		b, _ := io.ReadAll(ptm) // EIO once the terminal side is closed
		got <- string(b)
	}()
	var out bytes.Buffer
	app := newApp()
	app.Writer, app.ErrWriter = &out, pts
	err := run(context.Background(), app, []string{"hubfs", "export",
		"--hub", f.ch.h.Addr, "--key", f.ch.h.Key, "--secret-file", f.ch.secretFile, "--identity", f.bob.path})
	pts.Close()
	if err != nil {
		t.Fatal(err)
	}
	screen := <-got
	if want := fmt.Sprintf("exporting: %d messages", len(f.ids)); !strings.Contains(screen, want) {
		t.Errorf("the terminal shows %q, want a progress line %q", screen, want)
	}
	if n := len(parseExport(t, out.String())); n != len(f.ids) {
		t.Errorf("export on a terminal wrote %d lines, want %d", n, len(f.ids))
	}
}

// openPTY opens a pseudo-terminal pair: the controlling side to read what
// is drawn, and the terminal side to draw on.
func openPTY(t *testing.T) (ptm, pts *os.File) {
	t.Helper()
	ptm, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		t.Fatalf("no pseudo-terminals: %v", err)
	}
	t.Cleanup(func() { ptm.Close() })
	if err := unix.IoctlSetPointerInt(int(ptm.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(ptm.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	pts, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	return ptm, pts
}
