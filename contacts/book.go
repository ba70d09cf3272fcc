package contacts

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/hubfs/hubfs/identity"
)

// MaxNameLen bounds a contact name, in bytes.
const MaxNameLen = 64

// maxFileSize bounds what is read of a contacts file: tens of thousands of
// contacts fit, and a larger file is a mistake, not an address book.
const maxFileSize = 4 << 20

var (
	// ErrNotFound: no contact has that name.
	ErrNotFound = errors.New("no such contact")
	// ErrExists: the name is taken by another key.
	ErrExists = errors.New("contact exists")
	// ErrInvalidName: the name is outside the safe set (see the package doc).
	ErrInvalidName = errors.New("invalid contact name")
	// ErrTooLarge: the file is larger than any address book should be.
	ErrTooLarge = errors.New("contacts file too large")
)

// Contact is one line of the file. Key is the canonical public-key string.
type Contact struct{ Name, Key string }

// Book is an immutable snapshot of a contacts file.
type Book struct {
	all    []Contact
	byName map[string]string // name -> key
	byKey  map[string]string // key -> first name in file order
}

// ParseError is a line of a contacts file that is not a contact or a
// comment. Err wraps ErrInvalidName, identity.ErrInvalidKey or ErrExists.
type ParseError struct {
	Line int
	Err  error
}

func (e *ParseError) Error() string { return fmt.Sprintf("line %d: %v", e.Line, e.Err) }
func (e *ParseError) Unwrap() error { return e.Err }

// CheckName says why name cannot be a contact name, or nil if it can.
func CheckName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: empty", ErrInvalidName)
	case len(name) > MaxNameLen:
		return fmt.Errorf("%w: %d bytes, at most %d", ErrInvalidName, len(name), MaxNameLen)
	case name[0] == '.' || name[0] == '-':
		return fmt.Errorf("%w: %q starts with %q", ErrInvalidName, name, name[0])
	}
	for i := 0; i < len(name); i++ {
		if !nameByte(name[i]) {
			return fmt.Errorf("%w: %q holds %q; use letters, digits and . _ - + @", ErrInvalidName, name, name[i])
		}
	}
	if _, err := identity.ParsePublicKey(name); err == nil {
		return fmt.Errorf("%w: %q is a public key itself", ErrInvalidName, name)
	}
	// <key>@anything is that key's address to `hubfs sendmail`: a name of
	// that form would send mail meant for the key to another.
	if local, _, ok := strings.Cut(name, "@"); ok {
		if _, err := identity.ParsePublicKey(local); err == nil {
			return fmt.Errorf("%w: %q is a public key's address", ErrInvalidName, name)
		}
	}
	return nil
}

func nameByte(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("._-+@", c) >= 0
}

// CanonicalKey parses a public-key string and returns its canonical form.
func CanonicalKey(key string) (string, error) {
	pk, err := identity.ParsePublicKey(key)
	if err != nil {
		return "", err
	}
	return pk.String(), nil
}

// Parse reads a contacts file. Errors name the line.
func Parse(r io.Reader) (*Book, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxFileSize {
		return nil, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, maxFileSize)
	}
	book, _, err := parse(b)
	return book, err
}

// line is one line of the file as parsed: the contact it holds, if any.
type line struct {
	text    []byte // without the newline
	contact *Contact
}

// parse returns the book and the lines it came from, which Add and Remove
// write back unchanged but for the one they edit.
func parse(b []byte) (*Book, []line, error) {
	book := &Book{byName: map[string]string{}, byKey: map[string]string{}}
	var lines []line
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, maxFileSize+1)
	n := 0
	for sc.Scan() {
		n++
		text := sc.Bytes()
		l := line{text: append([]byte(nil), text...)}
		c, err := parseLine(string(text))
		if err != nil {
			return nil, nil, &ParseError{Line: n, Err: err}
		}
		if c != nil {
			if _, dup := book.byName[c.Name]; dup {
				return nil, nil, &ParseError{Line: n, Err: fmt.Errorf("%w: %q is named on an earlier line", ErrExists, c.Name)}
			}
			book.add(*c)
			l.contact = c
		}
		lines = append(lines, l)
	}
	if err := sc.Err(); err != nil {
		return nil, nil, err
	}
	return book, lines, nil
}

// parseLine returns the contact on a line, or nil for a comment or a blank.
func parseLine(s string) (*Contact, error) {
	if i := strings.IndexByte(s, '#'); i >= 0 {
		s = s[:i]
	}
	f := strings.Fields(s)
	switch len(f) {
	case 0:
		return nil, nil
	case 1:
		return nil, fmt.Errorf("%w: %q has no key; write \"name key\"", ErrInvalidName, f[0])
	case 2:
	default:
		return nil, fmt.Errorf("%w: %d fields, want \"name key\"", ErrInvalidName, len(f))
	}
	if err := CheckName(f[0]); err != nil {
		return nil, err
	}
	key, err := CanonicalKey(f[1])
	if err != nil {
		return nil, fmt.Errorf("key of %q: %w", f[0], err)
	}
	return &Contact{Name: f[0], Key: key}, nil
}

func (b *Book) add(c Contact) {
	b.all = append(b.all, c)
	b.byName[c.Name] = c.Key
	if _, ok := b.byKey[c.Key]; !ok {
		b.byKey[c.Key] = c.Name
	}
}

// Name is the display name of key (canonical form), the first of its names.
func (b *Book) Name(key string) (string, bool) {
	if b == nil {
		return "", false
	}
	n, ok := b.byKey[key]
	return n, ok
}

// Key is the key named name.
func (b *Book) Key(name string) (string, bool) {
	if b == nil {
		return "", false
	}
	k, ok := b.byName[name]
	return k, ok
}

// All lists the contacts in file order. The slice is the caller's.
func (b *Book) All() []Contact {
	if b == nil {
		return nil
	}
	return append([]Contact(nil), b.all...)
}

// Len is the number of contacts.
func (b *Book) Len() int {
	if b == nil {
		return 0
	}
	return len(b.all)
}

// looksLikeKey is the length from which a string that is neither is taken
// for a mistyped key (keys are 59 characters) rather than a name.
const looksLikeKey = 48

// Resolve turns "a name or a key" into a canonical key: a string that
// parses as a key is that key (a name can never be one), else it must be a
// contact's name. The error wraps ErrNotFound for a well-formed name that is
// not in the book, ErrInvalidName when s is neither a key nor a name, and
// identity.ErrInvalidKey when s is as long as a key: a mistyped key.
func (b *Book) Resolve(s string) (string, error) {
	key, kerr := CanonicalKey(s)
	if kerr == nil {
		return key, nil
	}
	if len(s) >= looksLikeKey {
		// Meant as a key: why it is not one is what helps.
		return "", fmt.Errorf("%q is not a public key (%w) nor a contact name", s, kerr)
	}
	if err := CheckName(s); err != nil {
		return "", fmt.Errorf("%q is neither a public key nor a contact name: %w", s, err)
	}
	if key, ok := b.Key(s); ok {
		return key, nil
	}
	return "", fmt.Errorf("%q is not a public key, and %w of that name", s, ErrNotFound)
}

// DefaultPath is $XDG_CONFIG_HOME/hubfs/contacts, else
// ~/.config/hubfs/contacts, beside the identity file. A relative
// XDG_CONFIG_HOME is ignored, as the XDG spec requires.
func DefaultPath() (string, error) {
	if dir := os.Getenv("XDG_CONFIG_HOME"); dir != "" && filepath.IsAbs(dir) {
		return filepath.Join(dir, "hubfs", "contacts"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("find the contacts file: %w", err)
	}
	return filepath.Join(home, ".config", "hubfs", "contacts"), nil
}

// Load reads the contacts file at path. A missing file is an empty book;
// errors name the file and the line.
func Load(path string) (*Book, error) {
	b, err := readFile(path)
	if err != nil {
		return nil, err
	}
	book, _, err := parse(b)
	if err != nil {
		return nil, fmt.Errorf("contacts file %s: %w", path, err)
	}
	return book, nil
}

// readFile reads a contacts file, nil for a missing one. Anything but a
// regular file is refused before it is read (a FIFO would block forever).
func readFile(path string) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read contacts: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("read contacts: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("contacts file %s: not a regular file", path)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read contacts: %w", err)
	}
	if len(b) > maxFileSize {
		return nil, fmt.Errorf("contacts file %s: %w: more than %d bytes", path, ErrTooLarge, maxFileSize)
	}
	return b, nil
}
