package identity

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestNewThreadID(t *testing.T) {
	id := NewThreadID()
	b := id.Bytes()
	if len(b) != 34 || b[0] != 1 || b[1] != VariantRaw || id.Variant() != VariantRaw {
		t.Fatalf("NewThreadID bytes %x", b)
	}
	s := id.String()
	if len(s) != 56 || !strings.HasPrefix(s, "bafk") {
		t.Errorf("string %q: want 56 chars starting bafk", s)
	}
	back, err := ParseThreadID(s)
	if err != nil || back != id {
		t.Fatalf("ParseThreadID = %v, %v", back, err)
	}
	if NewThreadID() == id {
		t.Fatal("two new thread ids are equal")
	}
	b[0] = 9
	if id.Bytes()[0] != 1 {
		t.Fatal("Bytes aliases the id")
	}
}

func TestThreadIDBad(t *testing.T) {
	random := bytes.Repeat([]byte{0x11}, 16)
	cases := []struct {
		name string
		b    []byte
	}{
		{"nil", nil},
		{"version only", []byte{1}},
		{"version 0", append([]byte{0, 0x55}, random...)},
		{"version 2", append([]byte{2, 0x55}, random...)},
		{"truncated varint version", []byte{0x81}},
		{"variant 0", append([]byte{1, 0}, random...)},
		{"variant 0x56", append([]byte{1, 0x56}, random...)},
		{"truncated variant varint", []byte{1, 0xd5}},
		{"random 15 bytes", append([]byte{1, 0x70}, random[:15]...)},
		{"no random", []byte{1, 0x55}},
	}
	for _, c := range cases {
		if id, err := ThreadIDFromBytes(c.b); !errors.Is(err, ErrInvalidThreadID) {
			t.Errorf("%s: ThreadIDFromBytes = %v, %v", c.name, id, err)
		}
	}
	for _, s := range []string{"", "b", "bafk!", "q" + NewThreadID().String()[1:], "b" + strings.Repeat("a", maxKeyString)} {
		if id, err := ParseThreadID(s); !errors.Is(err, ErrInvalidThreadID) {
			t.Errorf("ParseThreadID(%.20q) = %v, %v", s, id, err)
		}
	}
	ok, err := ThreadIDFromBytes(append([]byte{1, 0x70}, random...))
	if err != nil || ok.Variant() != VariantAccessControlled {
		t.Errorf("16 random bytes, AccessControlled: %v, %v", ok, err)
	}
	var zero ThreadID
	if !zero.IsZero() || zero.String() != "" || zero.Bytes() != nil || zero.Variant() != 0 {
		t.Error("zero ThreadID is not empty")
	}
}
