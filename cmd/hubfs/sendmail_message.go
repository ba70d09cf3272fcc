package main

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/mail"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hubfs/hubfs/contacts"
	"github.com/hubfs/hubfs/identity"
)

// mailDomain is the domain of every hubfs address, <key>@hubfs.invalid:
// .invalid never resolves (RFC 2606), so a reply that leaks to a real MTA
// bounces instead of going somewhere.
const mailDomain = "hubfs.invalid"

// selfAddress is the address mail from key carries.
func selfAddress(key string) string { return key + "@" + mailDomain }

var errTooLarge = errors.New("message too large")

// readMessage reads the message from r, at most max bytes. Without
// ignoreDots a line holding a single "." ends it, as sendmail has always
// done without -i (and aerc calls sendmail without -i).
func readMessage(r io.Reader, max int, ignoreDots bool) ([]byte, error) {
	if ignoreDots {
		b, err := io.ReadAll(io.LimitReader(r, int64(max)+1))
		if err == nil && len(b) > max {
			err = fmt.Errorf("%w: over %d bytes", errTooLarge, max)
		}
		return b, err
	}
	var out bytes.Buffer
	br := bufio.NewReader(r)
	midLine := false // the last read ended inside a long line
	for {
		line, err := br.ReadSlice('\n')
		if !midLine && len(line) > 1 && strings.TrimRight(string(line), "\r\n") == "." {
			return out.Bytes(), nil
		}
		midLine = errors.Is(err, bufio.ErrBufferFull)
		out.Write(line)
		if out.Len() > max {
			return nil, fmt.Errorf("%w: over %d bytes", errTooLarge, max)
		}
		if err == io.EOF {
			return out.Bytes(), nil
		}
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			return nil, err
		}
	}
}

// headerField is one field of the header block as it was written,
// continuation lines included.
type headerField struct {
	name string // as written
	raw  []byte // the whole field, line endings included
}

// splitHeader cuts msg into its header fields and the rest (the blank line
// and the body). It is strict where net/mail is: a line that is neither a
// field nor a continuation is an error.
func splitHeader(msg []byte) ([]headerField, []byte, error) {
	var fields []headerField
	rest := msg
	for len(rest) > 0 {
		end := bytes.IndexByte(rest, '\n') + 1
		if end == 0 {
			end = len(rest)
		}
		line := rest[:end]
		if len(bytes.TrimRight(line, "\r\n")) == 0 {
			return fields, rest, nil // the blank line that ends the header
		}
		if line[0] == ' ' || line[0] == '\t' {
			if len(fields) == 0 {
				return nil, nil, errors.New("the header starts with a continuation line")
			}
			f := &fields[len(fields)-1]
			f.raw = append(f.raw, line...)
		} else {
			name, _, ok := bytes.Cut(line, []byte(":"))
			if !ok || len(name) == 0 || bytes.ContainsAny(name, " \t") {
				return nil, nil, fmt.Errorf("header line %q is not a field", printable(string(bytes.TrimRight(line, "\r\n")), 40))
			}
			fields = append(fields, headerField{name: string(name), raw: append([]byte(nil), line...)})
		}
		rest = rest[end:]
	}
	return fields, rest, nil
}

// printable is s for a terminal: control characters and invalid UTF-8
// as "?", at most n bytes.
func printable(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f || r == utf8.RuneError {
			return '?'
		}
		return r
	}, strings.ToValidUTF8(s, "?"))
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "..."
}

// outgoing is a parsed message and what sendmail must know of it.
type outgoing struct {
	header mail.Header
	fields []headerField
	rest   []byte
	crlf   bool // the header's lines end in CRLF: new fields do too
}

// parseOutgoing checks that msg is an RFC 5322 message and splits it.
func parseOutgoing(msg []byte) (*outgoing, error) {
	m, err := mail.ReadMessage(bytes.NewReader(msg))
	if err != nil {
		// net/mail quotes the whole offending line, which may be all of
		// stdin (megabytes, control characters): say it in one line.
		if _, _, serr := splitHeader(msg); serr != nil {
			return nil, fmt.Errorf("not an RFC 5322 message: %w", serr)
		}
		return nil, fmt.Errorf("not an RFC 5322 message: %s", printable(err.Error(), 80))
	}
	fields, rest, err := splitHeader(msg)
	if err != nil {
		return nil, fmt.Errorf("not an RFC 5322 message: %w", err)
	}
	crlf := len(fields) > 0 && bytes.HasSuffix(fields[0].raw, []byte("\r\n"))
	return &outgoing{header: m.Header, fields: fields, rest: rest, crlf: crlf}, nil
}

// body is the message as sent: the Bcc fields gone (no recipient learns of
// another's blind copy), From the verified sender (with the display name it
// had, else fullName), and Date and Message-ID added if missing, as an MTA
// adds them. Every other byte is the caller's.
func (o *outgoing) body(self, fullName string, now time.Time) []byte {
	nl := "\n"
	if o.crlf {
		nl = "\r\n"
	}
	name := fullName
	if from, err := mail.ParseAddress(o.header.Get("From")); err == nil && from.Name != "" {
		name = from.Name
	}
	from := "From: " + (&mail.Address{Name: name, Address: self}).String() + nl
	var out bytes.Buffer
	seen := map[string]bool{}
	for _, f := range o.fields {
		switch k := strings.ToLower(f.name); k {
		case "bcc", "resent-bcc":
			continue
		case "from":
			if !seen[k] {
				out.WriteString(from)
			}
			seen[k] = true
			continue
		default:
			seen[k] = true
		}
		out.Write(f.raw)
	}
	if !seen["from"] {
		out.WriteString(from)
	}
	if !seen["date"] {
		out.WriteString("Date: " + now.Format(time.RFC1123Z) + nl)
	}
	if !seen["message-id"] {
		var b [16]byte
		rand.Read(b[:])
		out.WriteString("Message-ID: <" + hex.EncodeToString(b[:]) + "@" + mailDomain + ">" + nl)
	}
	if len(o.rest) == 0 {
		out.WriteString(nl) // a message of headers only still ends its header
	}
	out.Write(o.rest)
	return out.Bytes()
}

// headerRecipients are the addresses of To, Cc and Bcc (for -t), each field
// split at its commas.
func (o *outgoing) headerRecipients() []string {
	var out []string
	for _, k := range []string{"To", "Cc", "Bcc"} {
		for _, v := range o.header[k] {
			out = append(out, splitAddresses(v)...)
		}
	}
	return out
}

// splitAddresses splits an address list at the commas outside quotes,
// angle brackets and comments, dropping empty items.
func splitAddresses(s string) []string {
	var out []string
	depth, angle, quoted := 0, false, false
	start := 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case quoted && c == '\\':
			i++
		case c == '"':
			quoted = !quoted
		case quoted:
		case c == '(':
			depth++
		case c == ')' && depth > 0:
			depth--
		case c == '<':
			angle = true
		case c == '>':
			angle = false
		case c == ',' && depth == 0 && !angle:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	out = append(out, s[start:])
	kept := out[:0]
	for _, a := range out {
		if a = strings.TrimSpace(a); a != "" {
			kept = append(kept, a)
		}
	}
	return kept
}

// errNoUser marks a recipient that names no key.
var errNoUser = errors.New("unknown recipient")

// resolveAddress turns one recipient, as mail clients write them, into a
// key: "Name <addr>", or addr alone, where addr is <key>@anything, a key,
// a contact's name, or <name>@hubfs.invalid. A name at another domain is
// not looked up: alice@example.org is not the contact alice.
func resolveAddress(book *contacts.Book, s string) (string, error) {
	addr := strings.TrimSpace(s)
	if a, err := mail.ParseAddress(addr); err == nil {
		addr = a.Address
	} else if i := strings.LastIndexByte(addr, '<'); i >= 0 && strings.HasSuffix(addr, ">") {
		addr = strings.TrimSpace(addr[i+1 : len(addr)-1]) // Name <bare-name>, which net/mail refuses
	}
	if pk, err := identity.ParsePublicKey(addr); err == nil {
		return pk.String(), nil
	}
	if key, ok := book.Key(addr); ok {
		return key, nil
	}
	if local, domain, ok := strings.Cut(addr, "@"); ok {
		if pk, err := identity.ParsePublicKey(local); err == nil {
			return pk.String(), nil
		}
		if strings.EqualFold(domain, mailDomain) {
			if key, ok := book.Key(local); ok {
				return key, nil
			}
		}
	}
	return "", fmt.Errorf("%w %q: not a public key, <key>@..., or a contact's name", errNoUser, s)
}
