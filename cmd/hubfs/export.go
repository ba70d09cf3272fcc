package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"iter"
	"os"
	"path/filepath"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/hubfs/hubfs/hub"
)

func exportCommand() *cli.Command {
	return &cli.Command{
		Name:  "export",
		Usage: "write your mailbox as ciphertext JSON lines, oldest first",
		UsageText: "hubfs export [--box inbox|sentbox|both] [--since ID] [FILE|-]\n\n" +
			"Prints one JSON object per message, oldest first: {\"id\",\"box\",\"from\",\"to\",\n" +
			"\"created_at\",\"read_at\",\"body\",\"signature\"}, read_at only once read, body and\n" +
			"signature base64: the ciphertext exactly as the hub holds it, never decrypted, so the\n" +
			"file is safe to keep anywhere (only your identity opens it). With both boxes a\n" +
			"message you sent yourself appears twice, once per box. --since ID exports the\n" +
			"messages after ID only. When it is done, the last line on stderr is the id to pass\n" +
			"as --since next time. FILE is written under a temporary name and renamed (mode\n" +
			"0600), replacing an older one; without FILE, or with -, lines go to stdout. A\n" +
			"progress line shows on stderr when it is a terminal.\n\n" +
			"Example:\n" +
			"   hubfs export mail.jsonl 2> last-id\n" +
			"   hubfs export --since \"$(tail -n1 last-id)\" >> mail.jsonl 2> next-id && mv next-id last-id",
		Flags: append(connectionFlags(),
			&cli.StringFlag{Name: "since", Usage: "export the messages after message `ID` only"},
			&cli.StringFlag{Name: "box", Value: "both", Usage: "`BOX` to export: inbox, sentbox or both"},
		),
		Action: runExport,
	}
}

// exportLine is one line of `hubfs export`: part of the scripted contract.
type exportLine struct {
	ID        string     `json:"id"`
	Box       string     `json:"box"`
	From      string     `json:"from"`
	To        string     `json:"to"`
	CreatedAt time.Time  `json:"created_at"`
	ReadAt    *time.Time `json:"read_at,omitempty"`
	Body      []byte     `json:"body"`      // ciphertext, base64
	Signature []byte     `json:"signature"` // the sender's, over Body, base64
}

func exportLineOf(box hub.Box, m hub.UserMessage) exportLine {
	l := exportLine{ID: m.ID, Box: box.String(), From: m.From, To: m.To, CreatedAt: m.CreatedAt.UTC(), Body: m.Body, Signature: m.Signature}
	if !m.ReadAt.IsZero() {
		t := m.ReadAt.UTC()
		l.ReadAt = &t
	}
	return l
}

func runExport(c *cli.Context) error {
	if c.NArg() > 1 {
		return usagef("export takes at most one FILE, got %d arguments", c.NArg())
	}
	var boxes []hub.Box
	switch c.String("box") {
	case "inbox":
		boxes = []hub.Box{hub.Inbox}
	case "sentbox":
		boxes = []hub.Box{hub.Sentbox}
	case "both":
		boxes = []hub.Box{hub.Inbox, hub.Sentbox}
	default:
		return usagef("export: unknown --box %q: want inbox, sentbox or both", c.String("box"))
	}
	since := c.String("since")
	if since != "" {
		if err := hub.CheckMessageID(since); err != nil {
			return usagef("export: --since: %v", err)
		}
	}
	cl, _, err := connect(c)
	if err != nil {
		return err
	}
	defer cl.Close()

	file := c.Args().First()
	out, commit, abort := io.Writer(c.App.Writer), func() error { return nil }, func() {}
	if file != "" && file != "-" {
		out, commit, abort, err = atomicFile(file)
		if err != nil {
			return err
		}
		defer abort()
	}
	bar := newProgress(c.App.ErrWriter)
	w := bufio.NewWriter(out)
	enc := json.NewEncoder(w)
	last := since
	for m, err := range exportMessages(c.Context, cl, boxes, since) {
		if err != nil {
			bar.done()
			return hubError(c, err)
		}
		if err := enc.Encode(exportLineOf(m.box, m.UserMessage)); err != nil {
			bar.done()
			return err
		}
		last = m.ID
		bar.add(len(m.Body))
	}
	bar.done()
	if err := w.Flush(); err != nil {
		return err
	}
	if err := commit(); err != nil {
		return err
	}
	if last != "" {
		fmt.Fprintln(c.App.ErrWriter, last)
	}
	return nil
}

// boxMessage is a message with the box it was listed from.
type boxMessage struct {
	hub.UserMessage
	box hub.Box
}

// exportMessages walks the boxes oldest first, after since, through the
// client's one pager, merged into one walk by id (and by box, inbox first,
// for the two copies of a message to oneself).
func exportMessages(ctx context.Context, cl *hub.Client, boxes []hub.Box, since string) iter.Seq2[boxMessage, error] {
	return func(yield func(boxMessage, error) bool) {
		type source struct {
			next func() (hub.UserMessage, error, bool)
			stop func()
			box  hub.Box
			head hub.UserMessage
			ok   bool
		}
		var srcs []*source
		defer func() {
			for _, s := range srcs {
				s.stop()
			}
		}()
		// advance moves s to its next message after since; false on error,
		// which it has yielded.
		advance := func(s *source) bool {
			for {
				m, err, ok := s.next()
				if !ok {
					s.ok = false
					return true
				}
				if err != nil {
					yield(boxMessage{}, err)
					return false
				}
				if m.ID > since { // seek is inclusive: since itself is done
					s.head, s.ok = m, true
					return true
				}
			}
		}
		for _, box := range boxes {
			next, stop := iter.Pull2(cl.Messages(ctx, box, hub.ListOptions{Seek: since, Ascending: true}))
			s := &source{next: next, stop: stop, box: box}
			srcs = append(srcs, s)
			if !advance(s) {
				return
			}
		}
		for {
			var min *source
			for _, s := range srcs {
				if s.ok && (min == nil || s.head.ID < min.head.ID) {
					min = s
				}
			}
			if min == nil {
				return
			}
			if !yield(boxMessage{min.head, min.box}, nil) {
				return
			}
			if !advance(min) {
				return
			}
		}
	}
}

// atomicFile is a new file that takes path's name only once commit is
// called (written to a temporary name beside it, mode 0600, fsynced,
// renamed, the directory synced); abort, a no-op after commit, removes it.
func atomicFile(path string) (w io.Writer, commit func() error, abort func(), err error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return nil, nil, nil, err
	}
	done := false
	abort = func() {
		if !done {
			f.Close()
			os.Remove(f.Name())
		}
	}
	commit = func() error {
		if err := f.Sync(); err != nil {
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
		if err := os.Rename(f.Name(), path); err != nil {
			return err
		}
		done = true
		dir, err := os.Open(filepath.Dir(path))
		if err != nil {
			return err
		}
		defer dir.Close()
		return dir.Sync()
	}
	return f, commit, abort, nil
}

// progress is a one-line count of what is exported, redrawn in place on
// a terminal at most every redrawEvery, and nothing at all on a pipe or
// a file, where it would only be noise in a log.
type progress struct {
	w        io.Writer // nil: not a terminal
	n, bytes int
	drawn    time.Time
}

const redrawEvery = 100 * time.Millisecond

func newProgress(w io.Writer) *progress {
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		return &progress{w: w}
	}
	return &progress{}
}

func (p *progress) add(bytes int) {
	if p.w == nil {
		return
	}
	p.n++
	p.bytes += bytes
	if now := time.Now(); now.Sub(p.drawn) >= redrawEvery {
		p.drawn = now
		p.draw()
	}
}

func (p *progress) draw() {
	fmt.Fprintf(p.w, "\r\x1b[Kexporting: %d messages, %s", p.n, humanize.IBytes(uint64(p.bytes)))
}

// done draws the final count and ends the line; it is idempotent.
func (p *progress) done() {
	if p.w == nil {
		return
	}
	p.draw()
	fmt.Fprintln(p.w)
	p.w = nil
}
