package mailmsg

import (
	"bytes"
	"encoding/base64"
	"io"
	"mime"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"strings"
	"testing"
	"time"
)

const (
	alice = "bbaareieoj3ozn3mepyavwkkwg7yj5cqm4ddwb4r5lhfq6wrkbeneqhmcem"
	bob   = "bbaareihzhgsfpzu2whmu3nixaok6jmjo4fddpw4fbarbnu2gf3xdhvsdlq"
	id    = "01jdzq8v7q3k9d5g0m6x2w4hnr"
)

var created = time.Date(2026, 12, 1, 9, 30, 0, 0, time.UTC)

func meta() Meta {
	return Meta{ID: id, From: alice, To: bob, FromName: "alice", CreatedAt: created}
}

// parse reads a rendered file as a mail client would, failing on anything
// net/mail does not take.
func parse(t *testing.T, file []byte) *mail.Message {
	t.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(file))
	if err != nil {
		t.Fatalf("net/mail does not read the file: %v\n%s", err, file)
	}
	return msg
}

// decodedBody is the body as a mail client shows it.
func decodedBody(t *testing.T, msg *mail.Message) []byte {
	t.Helper()
	var r io.Reader = msg.Body
	switch msg.Header.Get("Content-Transfer-Encoding") {
	case "base64":
		r = base64.NewDecoder(base64.StdEncoding, msg.Body)
	case "quoted-printable":
		r = quotedprintable.NewReader(msg.Body)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// checkLines fails on a line a mail file must not have: over the limit, or
// a header line that is neither a field nor a continuation.
func checkLines(t *testing.T, file []byte) {
	t.Helper()
	head, _, _ := bytes.Cut(file, []byte("\n\n"))
	for _, line := range bytes.Split(head, []byte("\n")) {
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(line) > maxLine {
			t.Errorf("header line of %d bytes", len(line))
		}
		if bytes.IndexByte(line, '\r') >= 0 {
			t.Errorf("bare CR in header line %q", line)
		}
		if len(line) > 0 && line[0] != ' ' && line[0] != '\t' {
			if _, ok := fieldName(line); !ok {
				t.Errorf("header line %q is no field", line)
			}
		}
	}
}

func TestPlainBodies(t *testing.T) {
	long := strings.Repeat("x", 2000) + "\n"
	for _, tc := range []struct {
		name, body, ctype, cte string
	}{
		{"ascii", "hello\nworld\n", "text/plain; charset=utf-8", "7bit"},
		{"utf-8", "grüße, 世界\n", "text/plain; charset=utf-8", "8bit"},
		{"empty", "", "text/plain; charset=utf-8", "7bit"},
		{"crlf text", "one\r\ntwo\r\n", "text/plain; charset=utf-8", "7bit"},
		{"no final newline", "hi", "text/plain; charset=utf-8", "7bit"},
		{"tabs and form feeds", "a\tb\fc\n", "text/plain; charset=utf-8", "7bit"},
		{"long line", long, "text/plain; charset=utf-8", "quoted-printable"},
		{"binary", "\x00\x01\x02\xff", "application/octet-stream", "base64"},
		{"invalid utf-8", "caf\xe9\n", "application/octet-stream", "base64"},
		{"escape sequences", "\x1b[31mred\x1b[0m\n", "application/octet-stream", "base64"},
		{"bare cr", "50%\r100%\n", "application/octet-stream", "base64"},
		// Looks like a header, but no field a message has: a plain body.
		{"not a header", "Note: buy milk\n\nthanks\n", "text/plain; charset=utf-8", "7bit"},
		{"header-like with no blank line end", "Subject: hi", "text/plain; charset=utf-8", "7bit"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := Render(meta(), []byte(tc.body))
			checkLines(t, file)
			msg := parse(t, file)
			h := msg.Header
			for field, want := range map[string]string{
				"From":                      `"alice" <` + alice + "@hubfs.invalid>",
				"To":                        "<" + bob + "@hubfs.invalid>",
				"Date":                      "Tue, 01 Dec 2026 09:30:00 +0000",
				"Message-ID":                "<" + id + "@hubfs.invalid>",
				"MIME-Version":              "1.0",
				"Content-Type":              tc.ctype,
				"Content-Transfer-Encoding": tc.cte,
				FieldSignature:              "valid",
				FieldID:                     id,
			} {
				if got := h.Get(field); got != want {
					t.Errorf("%s: %q, want %q", field, got, want)
				}
			}
			if got := decodedBody(t, msg); tc.cte != "quoted-printable" && string(got) != tc.body {
				t.Errorf("body %q, want %q", got, tc.body)
			} else if tc.cte == "quoted-printable" && strings.TrimRight(string(got), "\r\n") != strings.TrimRight(tc.body, "\n") {
				t.Errorf("quoted-printable body does not decode to the text (%d bytes)", len(got))
			}
			if d, err := h.Date(); err != nil || !d.Equal(created) {
				t.Errorf("Date parses to %v, %v", d, err)
			}
		})
	}
}

// TestHostileNames: whatever a contacts file or a hub puts in a name or a
// key, every field stays one field, and the name reads back as written.
func TestHostileNames(t *testing.T) {
	for _, tc := range []struct {
		name     string
		fromName string
		from     string
		wantName string // as a client decodes it
		wantAddr string
	}{
		{"plain", "alice", alice, "alice", alice + "@hubfs.invalid"},
		{"none", "", alice, "", alice + "@hubfs.invalid"},
		{"crlf injection", "eve\r\nBcc: victim@example.org", alice, "eve Bcc: victim@example.org", alice + "@hubfs.invalid"},
		{"lf injection", "eve\nX-Hubfs-Signature: valid", alice, "eve X-Hubfs-Signature: valid", alice + "@hubfs.invalid"},
		{"quotes", `say "hi" \ bye`, alice, `say "hi" \ bye`, alice + "@hubfs.invalid"},
		{"specials", "a.b@c <d>", alice, "a.b@c <d>", alice + "@hubfs.invalid"},
		{"non-ascii", "Zoë 日本", alice, "Zoë 日本", alice + "@hubfs.invalid"},
		{"invalid utf-8", "bad\xff", alice, "bad\uFFFD", alice + "@hubfs.invalid"},
		{"encoded-word lookalike", "=?utf-8?q?x?=", alice, "=?utf-8?q?x?=", alice + "@hubfs.invalid"},
		{"very long", strings.Repeat("ä", 500), alice, strings.Repeat("ä", maxNameRunes), alice + "@hubfs.invalid"},
		{"hostile key", "x", "k\r\nBcc: v@e", "x", "invalid@hubfs.invalid"},
		{"key with a quote", "", `k"@evil`, "", "invalid@hubfs.invalid"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := meta()
			m.FromName, m.From = tc.fromName, tc.from
			for _, body := range []string{"plain\n", "Subject: s\n\nbody\n"} {
				file := Render(m, []byte(body))
				checkLines(t, file)
				msg := parse(t, file)
				if bcc := msg.Header.Get("Bcc"); bcc != "" {
					t.Errorf("a name made a Bcc field: %q", bcc)
				}
				if n := len(msg.Header["X-Hubfs-Signature"]); n != 1 {
					t.Errorf("%d X-Hubfs-Signature fields", n)
				}
				addr, err := mail.ParseAddress(msg.Header.Get("From"))
				if err != nil {
					t.Fatalf("From %q does not parse: %v", msg.Header.Get("From"), err)
				}
				if addr.Name != tc.wantName || addr.Address != tc.wantAddr {
					t.Errorf("From reads back as %q <%s>, want %q <%s>", addr.Name, addr.Address, tc.wantName, tc.wantAddr)
				}
			}
		})
	}
}

// TestBodyThatIsAMessage: a body with its own header block keeps it, with
// the verified sender as From and ours first; what it claims about its
// sender and our own fields is kept under X-Hubfs-Claimed-.
func TestBodyThatIsAMessage(t *testing.T) {
	body := "From: Mallory <ceo@bank.example>\n" +
		"Sender: someone@else.example\n" +
		"To: Bob <" + bob + "@hubfs.invalid>,\n Carol <carol@hubfs.invalid>\n" +
		"Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\n" +
		"Date: Mon, 30 Nov 2026 08:00:00 +0100\n" +
		"Message-ID: <abc@host.example>\n" +
		"In-Reply-To: <" + id + "@hubfs.invalid>\n" +
		"X-Hubfs-Signature: valid\n" +
		"x-hubfs-id: 01aaaaaaaaaaaaaaaaaaaaaaaa\n" +
		"MIME-Version: 1.0\n" +
		"Content-Type: text/plain; charset=utf-8\n" +
		"\n" +
		"From: not a header, the body\n"
	m := meta()
	m.Problem = ""
	file := Render(m, []byte(body))
	checkLines(t, file)
	msg := parse(t, file)
	h := msg.Header
	for field, want := range map[string][]string{
		"From":                      {`"alice" <` + alice + "@hubfs.invalid>"},
		"X-Hubfs-Claimed-From":      {"Mallory <ceo@bank.example>"},
		"X-Hubfs-Claimed-Sender":    {"someone@else.example"},
		"Sender":                    nil,
		"To":                        {"Bob <" + bob + "@hubfs.invalid>, Carol <carol@hubfs.invalid>"},
		"Date":                      {"Mon, 30 Nov 2026 08:00:00 +0100"},
		"Message-ID":                {"<abc@host.example>"},
		"In-Reply-To":               {"<" + id + "@hubfs.invalid>"},
		FieldSignature:              {"valid"},
		FieldID:                     {id},
		"X-Hubfs-Claimed-Signature": {"valid"},
		"X-Hubfs-Claimed-id":        {"01aaaaaaaaaaaaaaaaaaaaaaaa"},
		"Subject":                   {"=?utf-8?q?Gr=C3=BC=C3=9Fe?="},
	} {
		got := h[textproto.CanonicalMIMEHeaderKey(field)]
		if strings.Join(got, "|") != strings.Join(want, "|") {
			t.Errorf("%s: %q, want %q", field, got, want)
		}
	}
	if s, err := new(mime.WordDecoder).DecodeHeader(h.Get("Subject")); err != nil || s != "Grüße" {
		t.Errorf("Subject decodes to %q, %v", s, err)
	}
	if b := decodedBody(t, msg); string(b) != "From: not a header, the body\n" {
		t.Errorf("body %q", b)
	}
	if !bytes.HasPrefix(file, []byte("From: ")) {
		t.Errorf("the file does not start with our From")
	}
}

// TestBodyMessageDefaults: a message body without To, Date or Message-ID
// gets ours; CRLF line endings are kept throughout the header.
func TestBodyMessageDefaults(t *testing.T) {
	body := "Subject: hi\r\nMIME-Version: 1.0\r\n\r\nbody\r\n"
	file := Render(meta(), []byte(body))
	if bytes.Contains(bytes.ReplaceAll(file, []byte("\r\n"), nil), []byte("\n")) {
		t.Errorf("mixed line endings:\n%q", file)
	}
	msg := parse(t, file)
	for field, want := range map[string]string{
		"To":         "<" + bob + "@hubfs.invalid>",
		"Date":       Date(created),
		"Message-ID": MessageID(id),
		"Subject":    "hi",
	} {
		if got := msg.Header.Get(field); got != want {
			t.Errorf("%s: %q, want %q", field, got, want)
		}
	}
}

// TestNotAMessage: header blocks hubfs cannot copy safely make the body a
// plain one, carried encoded, never spliced into our header.
func TestNotAMessage(t *testing.T) {
	for name, body := range map[string]string{
		"bare cr in a field":      "Subject: a\rBcc: x\n\nb\n",
		"nul in a field":          "Subject: a\x00b\n\nb\n",
		"mixed endings":           "Subject: a\r\nTo: b\n\nc\n",
		"continuation first":      " folded\nSubject: a\n\nb\n",
		"space before colon":      "Subject : a\n\nb\n",
		"no colon":                "Subject a\n\nb\n",
		"invalid utf-8 field":     "Subject: caf\xe9\n\nb\n",
		"overlong field":          "Subject: " + strings.Repeat("a", 1000) + "\n\nb\n",
		"unterminated last field": "Subject: a\nTo: b",
	} {
		t.Run(name, func(t *testing.T) {
			if _, ok := parseHeader([]byte(body)); ok {
				t.Fatalf("taken for a message")
			}
			file := Render(meta(), []byte(body))
			checkLines(t, file)
			msg := parse(t, file)
			if msg.Header.Get("Subject") != "" || msg.Header.Get("Bcc") != "" {
				t.Errorf("a field of the body reached the header: %q", msg.Header)
			}
			if got := decodedBody(t, msg); msg.Header.Get("Content-Transfer-Encoding") != "quoted-printable" && string(got) != body {
				t.Errorf("body %q, want %q", got, body)
			}
		})
	}
}

// TestInvalidMessage: a message that does not verify renders without its
// body, says why, and does not show its sender as verified.
func TestInvalidMessage(t *testing.T) {
	m := meta()
	m.Problem = "bad message signature\r\nBcc: x"
	file := Render(m, []byte("Subject: forged\n\nsecret\n"))
	checkLines(t, file)
	msg := parse(t, file)
	if got := msg.Header.Get(FieldSignature); got != "invalid" {
		t.Errorf("signature %q", got)
	}
	if got := msg.Header.Get(FieldProblem); got != "bad message signature Bcc: x" {
		t.Errorf("problem %q", got)
	}
	addr, err := mail.ParseAddress(msg.Header.Get("From"))
	if err != nil || addr.Name != "alice (unverified)" {
		t.Errorf("From %q (%v): want the name marked unverified", msg.Header.Get("From"), err)
	}
	if bytes.Contains(file, []byte("secret")) || bytes.Contains(file, []byte("forged")) {
		t.Errorf("the unverified body is shown")
	}
}

// TestDeterministic: one input, one rendering, so a size computed at stat
// holds at read.
func TestDeterministic(t *testing.T) {
	for _, body := range []string{"a\n", "\x00", "Subject: x\n\ny\n", strings.Repeat("y", 3000)} {
		if a, b := Render(meta(), []byte(body)), Render(meta(), []byte(body)); !bytes.Equal(a, b) {
			t.Errorf("two renderings of %q differ", body)
		}
	}
}
