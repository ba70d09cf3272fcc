package contacts

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/hubfs/hubfs/identity"
)

func newKey(t testing.TB) string {
	t.Helper()
	k, err := identity.NewPrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k.Public().String()
}

func TestCheckName(t *testing.T) {
	key := newKey(t)
	tests := []struct {
		name string
		ok   bool
	}{
		{"alice", true},
		{"Alice.Smith", true},
		{"bob+work@example.org", true},
		{"x_y-z", true},
		{"0day", true},
		{strings.Repeat("a", MaxNameLen), true},
		{strings.Repeat("a", MaxNameLen+1), false},
		{"", false},
		{".hidden", false},
		{"..", false},
		{"-rf", false},
		{"a b", false},
		{"a/b", false},
		{"a#b", false},
		{"jos\u00e9", false},
		{"a\x00b", false},
		{"a\nb", false},
		{key, false},                      // a key never is a name
		{strings.ToUpper(key), false},     // nor another multibase form of one
		{key[:59] + "@x.y", false},        // nor a key's address (sendmail's <key>@...)
		{key[:59] + "@" + key[:3], false}, // whatever the domain
		{"x@" + key[:59], true},           // a key as the domain is no address of it
	}
	for _, tt := range tests {
		err := CheckName(tt.name)
		if (err == nil) != tt.ok {
			t.Errorf("CheckName(%q) = %v, want ok=%v", tt.name, err, tt.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalidName) {
			t.Errorf("CheckName(%q) = %v, not ErrInvalidName", tt.name, err)
		}
	}
}

func TestParse(t *testing.T) {
	a, b := newKey(t), newKey(t)
	tests := []struct {
		name    string
		file    string
		want    []Contact
		errLine int   // 0: no error
		errIs   error // wrapped by the error
	}{
		{name: "empty", file: ""},
		{name: "comments and blanks", file: "# mine\n\n   \n\t# indented\n"},
		{name: "two", file: "alice " + a + "\nbob\t" + b + "\n",
			want: []Contact{{"alice", a}, {"bob", b}}},
		{name: "no final newline", file: "alice " + a,
			want: []Contact{{"alice", a}}},
		{name: "crlf", file: "alice " + a + "\r\n",
			want: []Contact{{"alice", a}}},
		{name: "trailing comment", file: "alice " + a + " # from her card\n",
			want: []Contact{{"alice", a}}},
		{name: "same key twice", file: "alice " + a + "\nali " + a + "\n",
			want: []Contact{{"alice", a}, {"ali", a}}},
		{name: "duplicate name", file: "# x\nalice " + a + "\nalice " + b + "\n",
			errLine: 3, errIs: ErrExists},
		{name: "no key", file: "alice\n", errLine: 1, errIs: ErrInvalidName},
		{name: "three fields", file: "alice " + a + " extra\n", errLine: 1, errIs: ErrInvalidName},
		{name: "bad key", file: "\nalice bbaareinotakey\n", errLine: 2, errIs: identity.ErrInvalidKey},
		{name: "bad name", file: "-alice " + a + "\n", errLine: 1, errIs: ErrInvalidName},
		{name: "key as name", file: a + " " + b + "\n", errLine: 1, errIs: ErrInvalidName},
		{name: "swapped", file: a + " alice\n", errLine: 1, errIs: ErrInvalidName},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			book, err := Parse(strings.NewReader(tt.file))
			if tt.errLine != 0 {
				var pe *ParseError
				if !errors.As(err, &pe) || pe.Line != tt.errLine || !errors.Is(err, tt.errIs) {
					t.Fatalf("Parse = %v, want an error on line %d wrapping %v", err, tt.errLine, tt.errIs)
				}
				if !strings.Contains(err.Error(), fmt.Sprintf("line %d", tt.errLine)) {
					t.Errorf("error %q does not name the line", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := book.All()
			if fmt.Sprint(got) != fmt.Sprint(tt.want) && !(len(got) == 0 && len(tt.want) == 0) {
				t.Fatalf("All = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestLookups(t *testing.T) {
	a, b := newKey(t), newKey(t)
	book, err := Parse(strings.NewReader("alice " + a + "\nali " + a + "\nbob " + b + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := book.Name(a); n != "alice" {
		t.Errorf("Name(a) = %q, want the first name, alice", n)
	}
	if k, _ := book.Key("ali"); k != a {
		t.Errorf("Key(ali) = %q", k)
	}
	if _, ok := book.Key("carol"); ok {
		t.Error("Key(carol) found")
	}
	if _, ok := book.Key("Alice"); ok {
		t.Error("names are case-sensitive, Key(Alice) found")
	}
	for _, tt := range []struct {
		in, want string
		errIs    error
	}{
		{in: "bob", want: b},
		{in: a, want: a},
		{in: "carol", errIs: ErrNotFound},
		{in: "not a name", errIs: ErrInvalidName},
	} {
		got, err := book.Resolve(tt.in)
		if got != tt.want || (tt.errIs == nil) != (err == nil) || (err != nil && !errors.Is(err, tt.errIs)) {
			t.Errorf("Resolve(%q) = %q, %v; want %q, %v", tt.in, got, err, tt.want, tt.errIs)
		}
	}
	var empty *Book
	if _, err := empty.Resolve(a); err != nil {
		t.Errorf("a nil book resolves keys: %v", err)
	}
}

// A key in another multibase form is kept canonical, so Name finds it by
// the string the hub uses.
func TestParseCanonicalKey(t *testing.T) {
	k, err := identity.NewPrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	canon := k.Public().String()
	upper := "B" + strings.ToUpper(canon[1:]) // multibase 'B': base32 upper
	book, err := Parse(strings.NewReader("alice " + upper + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	if n, ok := book.Name(canon); !ok || n != "alice" {
		t.Fatalf("Name(canonical) = %q, %v", n, ok)
	}
}

func TestDefaultPath(t *testing.T) {
	t.Setenv("XDG_CONFIG_HOME", "/x/config")
	if p, _ := DefaultPath(); p != "/x/config/hubfs/contacts" {
		t.Errorf("DefaultPath = %q", p)
	}
	t.Setenv("XDG_CONFIG_HOME", "relative")
	t.Setenv("HOME", "/home/u")
	if p, _ := DefaultPath(); p != "/home/u/.config/hubfs/contacts" {
		t.Errorf("DefaultPath with a relative XDG_CONFIG_HOME = %q", p)
	}
}
