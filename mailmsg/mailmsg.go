// Package mailmsg renders one hubfs message as an RFC 5322 file, the form
// mail clients read out of a Maildir: header fields from the metadata the
// hub gave and the signature verified, the plaintext as the body. It is pure:
// no I/O, no keys; the caller decrypts, verifies and resolves names.
//
// Two kinds of body:
//   - a plain body (what `echo hi > outbox/KEY` sends) gets a header block
//     of our own and a MIME body: text/plain; charset=utf-8 when it is text,
//     else application/octet-stream in base64;
//   - a body that is itself a message (a header block, a blank line, a
//     body: what `hubfs sendmail` sends) keeps its own header fields, with
//     ours put first; only what hubfs verifies overrides it: From: is always
//     the verified sender, and the body's From:, Sender: and X-Hubfs-*
//     fields are kept renamed (X-Hubfs-Claimed-From: ...), so no sender can
//     pose as another or forge X-Hubfs-Signature.
//
// Every value we write into a header comes from the hub or the contacts
// file, so each is sanitized: keys that are not plain base32 tokens are
// replaced, display names are quoted or RFC 2047 encoded (a CR or LF in a
// name can never start a field of its own).
package mailmsg

import (
	"bytes"
	"encoding/base64"
	"mime/quotedprintable"
	"net/mail"
	"strings"
	"time"
	"unicode/utf8"
)

// Domain is the domain of every address we write: a key is a mailbox of
// its own, and .invalid (RFC 2606) can never be mistaken for a real one.
const Domain = "hubfs.invalid"

// The header fields of our own.
const (
	FieldID        = "X-Hubfs-Id"        // the hub's message id
	FieldSignature = "X-Hubfs-Signature" // valid | invalid
	FieldProblem   = "X-Hubfs-Problem"   // why an invalid message does not open
	claimedPrefix  = "X-Hubfs-Claimed-"  // a body's own From, Sender and X-Hubfs-* fields, renamed
)

// maxNameRunes bounds a display name, so that an encoded one stays well
// inside RFC 5322's 998-byte line limit.
const maxNameRunes = 64

// Meta is what a message's header says that hubfs knows and verified.
type Meta struct {
	ID               string // the hub's message id (a ULID)
	From, To         string // public-key strings
	FromName, ToName string // the contacts' names for them, "" where there is none
	CreatedAt        time.Time
	// Problem is why the message does not open (its signature does not
	// verify, it does not decrypt); "" for a good message. A message with
	// a problem renders without its body, its sender marked unverified.
	Problem string
}

// Render returns the file for a message: m's fields and body, the
// plaintext (ignored when m.Problem is set). The same input always renders
// the same bytes, so a size computed once holds.
func Render(m Meta, body []byte) []byte {
	if m.Problem != "" {
		return renderInvalid(m)
	}
	if h, ok := parseHeader(body); ok {
		return renderMessage(m, h)
	}
	return renderPlain(m, body)
}

// Address is the mailbox of a key, with name as its display name when
// there is one: `"alice" <KEY@hubfs.invalid>`.
func Address(key, name string) string {
	a := mail.Address{Name: displayName(name), Address: localPart(key) + "@" + Domain}
	return a.String()
}

// MessageID is the Message-ID hubfs gives a message whose body has none.
func MessageID(id string) string { return "<" + localPart(id) + "@" + Domain + ">" }

// Date is created_at as an RFC 5322 date, in UTC.
func Date(t time.Time) string { return t.UTC().Format(time.RFC1123Z) }

// localPart is s when it is a token a key or an id can be (letters and
// digits), else a placeholder: a listing's key is the hub's word, and a
// hostile hub must not get quotes, spaces or line breaks into an address.
func localPart(s string) string {
	if s == "" || len(s) > 64 {
		return "invalid"
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
			return "invalid"
		}
	}
	return s
}

// displayName makes a contact name safe for net/mail to quote or encode:
// valid UTF-8, no control characters (they would be encoded, but a tab or
// a line break in a name is never meant), and bounded.
func displayName(name string) string {
	name = strings.ToValidUTF8(name, "\uFFFD")
	name = strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return ' '
		}
		return r
	}, name)
	name = strings.Join(strings.Fields(name), " ")
	if utf8.RuneCountInString(name) > maxNameRunes {
		name = string([]rune(name)[:maxNameRunes])
	}
	return name
}

// headerWriter writes header fields with one line ending.
type headerWriter struct {
	b   bytes.Buffer
	eol string
}

func (w *headerWriter) field(name, value string) {
	w.b.WriteString(name)
	w.b.WriteString(": ")
	w.b.WriteString(value)
	w.b.WriteString(w.eol)
}

func renderPlain(m Meta, body []byte) []byte {
	w := &headerWriter{eol: "\n"}
	w.field("From", Address(m.From, m.FromName))
	w.field("To", Address(m.To, m.ToName))
	w.field("Date", Date(m.CreatedAt))
	w.field("Message-ID", MessageID(m.ID))
	w.field("MIME-Version", "1.0")
	enc := chooseEncoding(body)
	if enc == encBase64 {
		w.field("Content-Type", "application/octet-stream")
	} else {
		w.field("Content-Type", "text/plain; charset=utf-8")
	}
	w.field("Content-Transfer-Encoding", enc.String())
	w.field(FieldID, localPart(m.ID))
	w.field(FieldSignature, "valid")
	w.b.WriteString(w.eol)
	switch enc {
	case encBase64:
		writeBase64(&w.b, body)
	case encQuotedPrintable:
		writeQuotedPrintable(&w.b, body)
	default:
		w.b.Write(body)
	}
	return w.b.Bytes()
}

func renderInvalid(m Meta) []byte {
	w := &headerWriter{eol: "\n"}
	name := "unverified"
	if n := displayName(m.FromName); n != "" {
		name = n + " (unverified)"
	}
	w.field("From", Address(m.From, name))
	w.field("To", Address(m.To, m.ToName))
	w.field("Date", Date(m.CreatedAt))
	w.field("Message-ID", MessageID(m.ID))
	w.field("Subject", "[hubfs] a message that does not verify")
	w.field("MIME-Version", "1.0")
	w.field("Content-Type", "text/plain; charset=utf-8")
	w.field("Content-Transfer-Encoding", "7bit")
	w.field(FieldID, localPart(m.ID))
	w.field(FieldSignature, "invalid")
	w.field(FieldProblem, problemText(m.Problem))
	w.b.WriteString(w.eol)
	w.b.WriteString("hubfs did not show this message: " + problemText(m.Problem) + ".\n" +
		"Its sender is the hub's claim only, and its contents may have been changed\n" +
		"on the way. Deleting this file deletes the message on the hub.\n")
	return w.b.Bytes()
}

// problemText keeps a problem printable ASCII on one line: it is ours, but
// it goes into a header.
func problemText(p string) string {
	p = strings.Map(func(r rune) rune {
		if r < ' ' || r > '~' {
			return ' '
		}
		return r
	}, p)
	if len(p) > 200 {
		p = p[:200]
	}
	return strings.Join(strings.Fields(p), " ")
}

// renderMessage puts our fields before a body's own header block.
func renderMessage(m Meta, h header) []byte {
	w := &headerWriter{eol: h.eol}
	w.field("From", Address(m.From, m.FromName))
	if !h.has("To") {
		w.field("To", Address(m.To, m.ToName))
	}
	if !h.has("Date") {
		w.field("Date", Date(m.CreatedAt))
	}
	if !h.has("Message-ID") {
		w.field("Message-ID", MessageID(m.ID))
	}
	w.field(FieldID, localPart(m.ID))
	w.field(FieldSignature, "valid")
	for _, f := range h.fields {
		if n := claimedName(f.name); n != "" {
			w.b.WriteString(n)
			w.b.Write(f.raw[len(f.name):]) // from the colon on, folding kept
			continue
		}
		w.b.Write(f.raw)
	}
	w.b.Write(h.rest) // the blank line and the body
	return w.b.Bytes()
}

// claimedName is the name a body's own field is kept under when hubfs
// overrides it, "" when it is kept as it is.
func claimedName(name string) string {
	switch {
	case strings.EqualFold(name, "From"):
		return claimedPrefix + "From"
	case strings.EqualFold(name, "Sender"):
		return claimedPrefix + "Sender"
	case len(name) >= len("X-Hubfs-") && strings.EqualFold(name[:len("X-Hubfs-")], "X-Hubfs-"):
		return claimedPrefix + name[len("X-Hubfs-"):]
	}
	return ""
}

type encoding int

const (
	enc7bit encoding = iota
	enc8bit
	encQuotedPrintable
	encBase64
)

func (e encoding) String() string {
	switch e {
	case enc8bit:
		return "8bit"
	case encQuotedPrintable:
		return "quoted-printable"
	case encBase64:
		return "base64"
	}
	return "7bit"
}

// maxLine is RFC 5322's limit on a line, without its CRLF.
const maxLine = 998

// chooseEncoding says how a plain body goes into the file: as it is when
// it is text mail can carry (UTF-8, no control characters but tab, form
// feed and line ends, no bare CR, lines within the limit), quoted-printable
// when it is such text with a longer line, base64 when it is not text.
func chooseEncoding(body []byte) encoding {
	if !utf8.Valid(body) {
		return encBase64
	}
	ascii, lineRules := true, true
	line := 0
	for i := 0; i < len(body); i++ {
		c := body[i]
		switch {
		case c == '\n':
			line = 0
			continue
		case c == '\r':
			if i+1 >= len(body) || body[i+1] != '\n' {
				return encBase64 // a bare CR: no text encoding keeps it
			}
			continue
		case c == '\t' || c == '\f':
		case c < ' ' || c == 0x7f:
			return encBase64
		case c >= 0x80:
			ascii = false
		}
		line++
		if line > maxLine {
			lineRules = false
		}
	}
	switch {
	case !lineRules:
		return encQuotedPrintable
	case ascii:
		return enc7bit
	}
	return enc8bit
}

func writeBase64(b *bytes.Buffer, body []byte) {
	enc := base64.StdEncoding.EncodeToString(body)
	for len(enc) > 76 {
		b.WriteString(enc[:76])
		b.WriteByte('\n')
		enc = enc[76:]
	}
	if enc != "" {
		b.WriteString(enc)
		b.WriteByte('\n')
	}
}

// writeQuotedPrintable encodes text with a line too long for mail. The
// encoder writes CRLF line breaks; the file's are LF (a reader decodes
// either to the same lines of text).
func writeQuotedPrintable(b *bytes.Buffer, body []byte) {
	var qp bytes.Buffer
	w := quotedprintable.NewWriter(&qp)
	w.Write(body) // a bytes.Buffer does not fail
	w.Close()
	b.Write(bytes.ReplaceAll(qp.Bytes(), []byte("\r\n"), []byte("\n")))
}
