package mailmsg

import (
	"bytes"
	"strings"
	"unicode/utf8"
)

// header is the header block of a body that is itself a message.
type header struct {
	fields []field
	rest   []byte // from the blank line that ends the block (included) to the end
	eol    string // the block's line ending: "\n" or "\r\n"
}

// field is one header field as it was written: its name and its whole
// text, folded lines and line endings included.
type field struct {
	name string
	raw  []byte
}

func (h header) has(name string) bool {
	for _, f := range h.fields {
		if strings.EqualFold(f.name, name) {
			return true
		}
	}
	return false
}

// messageFields are the fields of which a body must have one to be taken
// for a message: "Note: buy milk" on a first line is text, not a header.
var messageFields = []string{"From", "To", "Cc", "Subject", "Date", "Message-ID", "MIME-Version", "In-Reply-To", "References"}

// parseHeader reports whether body starts with an RFC 5322 header block
// that can be carried as it is: every line a field ("Name: value") or the
// continuation of one, one line ending throughout, valid UTF-8 (RFC 6532)
// without control characters, no line over the limit, ended by a blank
// line or the end of the body, with at least one field a message has.
// Anything else is a plain body, so what we copy into the header is
// always well formed.
func parseHeader(body []byte) (header, bool) {
	var h header
	first := bytes.IndexByte(body, '\n')
	if first < 0 {
		return h, false
	}
	h.eol = "\n"
	if first > 0 && body[first-1] == '\r' {
		h.eol = "\r\n"
	}
	known := false
	rest := body
	for len(rest) > 0 {
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			return h, false // the block's last line must end
		}
		line := rest[:i+1]
		content, ok := bytes.CutSuffix(line, []byte(h.eol))
		if !ok || bytes.IndexByte(content, '\r') >= 0 {
			return h, false // mixed line endings, or a bare CR
		}
		if len(content) == 0 {
			h.rest = rest
			break
		}
		if len(content) > maxLine || !utf8.Valid(content) || hasControl(content) {
			return h, false
		}
		if content[0] == ' ' || content[0] == '\t' {
			if len(h.fields) == 0 {
				return h, false // a continuation of nothing
			}
			f := &h.fields[len(h.fields)-1]
			f.raw = append(f.raw, line...)
		} else {
			name, ok := fieldName(content)
			if !ok {
				return h, false
			}
			for _, k := range messageFields {
				known = known || strings.EqualFold(name, k)
			}
			h.fields = append(h.fields, field{name: name, raw: append([]byte(nil), line...)})
		}
		rest = rest[i+1:]
	}
	return h, known
}

// fieldName is the name before the colon: printable ASCII but the colon
// (RFC 5322 ftext), no space before the colon.
func fieldName(line []byte) (string, bool) {
	colon := bytes.IndexByte(line, ':')
	if colon <= 0 {
		return "", false
	}
	for _, c := range line[:colon] {
		if c < 33 || c > 126 {
			return "", false
		}
	}
	return string(line[:colon]), true
}

// hasControl reports a control character other than tab.
func hasControl(b []byte) bool {
	for _, c := range b {
		if (c < ' ' && c != '\t') || c == 0x7f {
			return true
		}
	}
	return false
}
