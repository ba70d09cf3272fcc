package identity

import (
	"errors"
	"testing"
)

// TestAPISigProtocolVector is protocol.md §3.2.
func TestAPISigProtocolVector(t *testing.T) {
	const (
		secret = "bsecretbase32aaaa"
		msg    = "2030-01-01T00:00:00.000Z"
		want   = "bqlxbac27afe6t3majxl3ymaj2rbmdcow2eynyqd6pfmhe44nu3qq"
	)
	got, err := APISig(secret, msg)
	if err != nil || got != want {
		t.Fatalf("APISig = %q, %v, want %q", got, err, want)
	}
	if len(got) != 53 {
		t.Errorf("sig is %d chars, protocol says 53", len(got))
	}
	if err := VerifyAPISig(secret, msg, want); err != nil {
		t.Fatal(err)
	}
}

func TestVerifyAPISigBad(t *testing.T) {
	const secret, msg = "bsecretbase32aaaa", "2030-01-01T00:00:00.000Z"
	good, _ := APISig(secret, msg)
	cases := []struct {
		name, secret, msg, sig string
		want                   error
	}{
		{"other msg", secret, "2030-01-01T00:00:00Z", good, ErrBadAPISig},
		{"other secret", "bsecretbase32aaab", msg, good, ErrBadAPISig},
		{"empty sig", secret, msg, "", ErrBadAPISig},
		{"sig not multibase", secret, msg, "?" + good[1:], ErrBadAPISig},
		{"sig truncated", secret, msg, good[:len(good)-2], ErrBadAPISig},
		{"sig too long", secret, msg, good + good, ErrBadAPISig},
		{"sig in hex of other bytes", secret, msg, "f00", ErrBadAPISig},
		{"empty secret", "", msg, good, ErrInvalidKey},
		{"secret decodes to nothing", "b", msg, good, ErrInvalidKey},
		{"secret not multibase", "secret", msg, good, ErrInvalidKey},
	}
	for _, c := range cases {
		if err := VerifyAPISig(c.secret, c.msg, c.sig); !errors.Is(err, c.want) {
			t.Errorf("%s: VerifyAPISig = %v, want %v", c.name, err, c.want)
		}
	}
	if _, err := APISig("", msg); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("APISig with empty secret = %v", err)
	}
}
