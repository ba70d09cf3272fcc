package main

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hubfs/hubfs/contacts"
	"github.com/hubfs/hubfs/identity"
	"github.com/hubfs/hubfs/mailfs"
)

func TestReadMessageDots(t *testing.T) {
	long := strings.Repeat("x", 5000)
	for _, tc := range []struct {
		in, want   string
		ignoreDots bool
	}{
		{in: "a\n.\nb\n", want: "a\n"},
		{in: "a\r\n.\r\nb\r\n", want: "a\r\n"},
		{in: "a\n.\nb\n", want: "a\n.\nb\n", ignoreDots: true},
		{in: "a\n..\nb\n", want: "a\n..\nb\n"},
		{in: "a\n.", want: "a\n."},
		{in: long + ".\nb\n", want: long + ".\nb\n"}, // a dot ending a long line is no dot line
	} {
		got, err := readMessage(strings.NewReader(tc.in), 1<<20, tc.ignoreDots)
		if err != nil || string(got) != tc.want {
			t.Errorf("readMessage(%.20q, -i=%v) = %.20q, %v; want %.20q", tc.in, tc.ignoreDots, got, err, tc.want)
		}
	}
	for _, ign := range []bool{false, true} {
		if _, err := readMessage(strings.NewReader(strings.Repeat("y\n", 100)), 100, ign); !errors.Is(err, errTooLarge) {
			t.Errorf("over the bound (-i=%v): %v", ign, err)
		}
	}
}

func TestOutgoingBody(t *testing.T) {
	self := selfAddress("bbaareiself")
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name, in, full string
		want           []string // lines that must be there
		not            []string // substrings that must not
	}{
		{name: "bcc and from",
			in:   "From: Alice <alice@example.org>\nTo: bob\nBcc: carol,\n dave\nSubject: hi\nDate: Mon, 30 Nov 2026 10:00:00 +0000\nMessage-ID: <x@y>\n\nbody\nBcc: stays in the body\n",
			want: []string{"From: \"Alice\" <" + self + ">", "To: bob", "Subject: hi", "Date: Mon, 30 Nov 2026 10:00:00 +0000", "Message-ID: <x@y>", "", "body", "Bcc: stays in the body"},
			not:  []string{"carol", "dave", "alice@example.org"}},
		{name: "no from, -F", in: "To: bob\n\nbody\n", full: "Alice Smith",
			want: []string{"From: \"Alice Smith\" <" + self + ">", "Date: Tue, 01 Dec 2026 10:00:00 +0000"}},
		{name: "crlf kept", in: "To: bob\r\nbcc: x\r\n\r\nbody\r\n",
			want: []string{"To: bob\r", "From: <" + self + ">\r", "\r", "body\r"}, not: []string{"bcc"}},
		{name: "headers only", in: "To: bob\nSubject: s\n", want: []string{"Subject: s", ""}},
		{name: "non-ASCII name", in: "From: José <j@x>\nTo: bob\n\n", want: []string{"From: =?utf-8?q?Jos=C3=A9?= <" + self + ">"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, err := parseOutgoing([]byte(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			got := string(o.body(self, tc.full, now))
			lines := strings.Split(got, "\n")
			for _, w := range tc.want {
				if !contains(lines, w) {
					t.Errorf("no line %q in\n%s", w, got)
				}
			}
			for _, n := range tc.not {
				if strings.Contains(got, n) {
					t.Errorf("%q left in\n%s", n, got)
				}
			}
			if strings.Count(got, "Message-ID:") != 1 || strings.Count(got, "From:") != 1 {
				t.Errorf("want one From and one Message-ID:\n%s", got)
			}
		})
	}
	for _, bad := range []string{"not a header\n\nbody", " continuation first\n\n", "Bad Name: x\n\n"} {
		if _, err := parseOutgoing([]byte(bad)); err == nil {
			t.Errorf("parseOutgoing(%q) accepted it", bad)
		}
	}
}

// TestParseOutgoingErrorIsOneLine: a message that is not one is reported
// in a short line, not echoed whole (3 MB of NULs once went to stderr).
func TestParseOutgoingErrorIsOneLine(t *testing.T) {
	for _, bad := range []string{
		strings.Repeat("\x00", 3<<20),
		"Subject: x\n" + strings.Repeat("\x1b[2J\xff", 1<<20) + "\n\nbody\n",
	} {
		_, err := parseOutgoing([]byte(bad))
		if err == nil {
			t.Fatalf("parseOutgoing(%.20q) accepted it", bad)
		}
		msg := err.Error()
		if len(msg) > 200 || strings.ContainsFunc(msg, func(r rune) bool { return r < ' ' || r == 0x7f }) {
			t.Errorf("error for %.20q is %d bytes, with control characters: %.100q", bad, len(msg), msg)
		}
	}
	if got := printable("a\x00b\xffc\u00e9\u00e9", 6); got != "a?b?c..." {
		t.Errorf("printable = %q", got)
	}
}

func contains(lines []string, s string) bool {
	for _, l := range lines {
		if l == s {
			return true
		}
	}
	return false
}

func TestSplitAddresses(t *testing.T) {
	got := splitAddresses(`"Smith, Bob" <b@x>, alice , (a, comment) c@x,, <d,e@x>`)
	want := []string{`"Smith, Bob" <b@x>`, "alice", "(a, comment) c@x", "<d,e@x>"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("splitAddresses = %q, want %q", got, want)
	}
}

func TestResolveAddress(t *testing.T) {
	k, _ := identity.NewPrivateKey()
	key := k.Public().String()
	book, err := contacts.Parse(strings.NewReader("alice " + key + "\nbob@example.org " + key + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{key, true},
		{key + "@hubfs.invalid", true},
		{key + "@anything.example", true},
		{"<" + key + "@hubfs.invalid>", true},
		{"Alice <" + key + "@hubfs.invalid>", true},
		{"alice", true},
		{"Alice <alice>", true},
		{"alice@hubfs.invalid", true},
		{"Alice <alice@HUBFS.invalid>", true},
		{"bob@example.org", true}, // a contact named with an @
		{"alice@example.org", false},
		{"carol", false},
		{"", false},
		{"<>", false},
	} {
		got, err := resolveAddress(book, tc.in)
		if tc.ok && (err != nil || got != key) {
			t.Errorf("resolveAddress(%q) = %q, %v", tc.in, got, err)
		}
		if !tc.ok && !errors.Is(err, errNoUser) {
			t.Errorf("resolveAddress(%q) = %q, %v; want errNoUser", tc.in, got, err)
		}
	}
}

func TestParseSendmailArgs(t *testing.T) {
	flags := sendmailFlags()
	for _, tc := range []struct {
		args  []string
		want  sendmailArgs
		error string
	}{
		{args: []string{"-t"}, want: sendmailArgs{fromHeaders: true}},
		{args: []string{"-oi", "-oem", "a", "b"}, want: sendmailArgs{ignoreDots: true, rcpts: []string{"a", "b"}}}, // mutt
		{args: []string{"-i", "a@x"}, want: sendmailArgs{ignoreDots: true, rcpts: []string{"a@x"}}},                // git send-email
		{args: []string{"-ti", "-f", "me@x", "-Fme too", "-v"}, want: sendmailArgs{fromHeaders: true, ignoreDots: true, fullName: "me too"}},
		{args: []string{"-fme@x", "-F", "Me", "-bm", "-odb", "-N", "never", "-B8BITMIME", "--", "-weird"}, want: sendmailArgs{fullName: "Me", rcpts: []string{"-weird"}}},
		{args: []string{"--hub", "h:1", "--queue", "a", "--timeout=2s"}, want: sendmailArgs{rcpts: []string{"a"}, long: []string{"--hub", "h:1", "--queue", "--timeout=2s"}}},
		{args: []string{"-x"}, error: "unknown option -x"},
		{args: []string{"-bp"}, error: "-bp"},
		{args: []string{"-q"}, error: "needs a value"},
		{args: []string{"-q1h"}, error: "no mail queue"},
		{args: []string{"-f"}, error: "needs a value"},
		{args: []string{"--bogus"}, error: "unknown flag --bogus"},
		{args: []string{"--hub"}, error: "needs a value"},
	} {
		got, err := parseSendmailArgs(tc.args, flags)
		if tc.error != "" {
			if err == nil || !strings.Contains(err.Error(), tc.error) {
				t.Errorf("%q: %v, want an error about %s", tc.args, err, tc.error)
			}
			continue
		}
		if err != nil || !argsEqual(got, tc.want) {
			t.Errorf("%q = %+v, %v; want %+v", tc.args, got, err, tc.want)
		}
	}
}

func argsEqual(a, b sendmailArgs) bool {
	return a.fromHeaders == b.fromHeaders && a.ignoreDots == b.ignoreDots && a.fullName == b.fullName &&
		strings.Join(a.rcpts, "\x00") == strings.Join(b.rcpts, "\x00") && strings.Join(a.long, "\x00") == strings.Join(b.long, "\x00")
}

func TestHubfsMounts(t *testing.T) {
	info := "36 35 98:0 / /mnt1 rw,noatime master:1 - ext3 /dev/root rw\n" +
		"40 35 0:50 / /home/u/my\\040mail rw,nosuid - fuse.hubfs hubfs rw,user_id=0\n" +
		"41 35 0:51 / /other rw - fuse.sshfs x rw\n" +
		"42 35 0:52 / /m2 rw shared:3 - fuse.hubfs hubfs rw\n"
	got := mailfs.Mounts(strings.NewReader(info))
	if strings.Join(got, "|") != "/home/u/my mail|/m2" {
		t.Errorf("mailfs.Mounts = %q", got)
	}
}
