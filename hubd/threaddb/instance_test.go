package threaddb

import (
	"errors"
	"strings"
	"testing"

	"github.com/hubfs/hubfs/hubd/store"
)

func TestCanonical(t *testing.T) {
	for in, want := range map[string]string{
		`{"b":1,"a":{"d":[1,2.50,1e3],"c":null}}`: `{"a":{"c":null,"d":[1,2.50,1e3]},"b":1}`,
		`{ "x" : "<a&b>" }`:                       `{"x":"<a&b>"}`,
		`{"big":123456789012345678901234567890}`:  `{"big":123456789012345678901234567890}`,
		`{"u":"\u00e9\u2028"}`:                    "{\"u\":\"é\\u2028\"}",
	} {
		doc, err := ParseInstance([]byte(in))
		if err != nil {
			t.Fatal(err)
		}
		got, err := Canonical(doc)
		if err != nil || string(got) != want {
			t.Errorf("Canonical(%s) = %s, %v; want %s", in, got, err, want)
		}
		again, _ := ParseInstance(got)
		if twice, _ := Canonical(again); string(twice) != string(got) {
			t.Errorf("Canonical is not stable: %s then %s", got, twice)
		}
	}
}

func TestParseInstanceRefuses(t *testing.T) {
	for _, in := range []string{``, `[]`, `"x"`, `null`, `{"a":1}x`, `{"a":1}}`, `{"a":}`, `{"a":1}{"b":2}`} {
		if _, err := ParseInstance([]byte(in)); !errors.Is(err, ErrInvalidInstance) {
			t.Errorf("ParseInstance(%q) = %v, want ErrInvalidInstance", in, err)
		}
	}
}

func TestEnsureID(t *testing.T) {
	doc := map[string]any{"a": 1}
	id, minted, err := EnsureID(doc)
	if err != nil || !minted || len(id) != 26 || id != strings.ToLower(id) || doc["_id"] != id {
		t.Fatalf("EnsureID without _id = %q, %v, %v; doc %v", id, minted, err, doc)
	}
	next, _, _ := EnsureID(map[string]any{"_id": ""})
	if next <= id {
		t.Fatalf("ids minted later sort earlier: %s then %s", id, next)
	}
	if id, minted, err := EnsureID(map[string]any{"_id": "mine"}); id != "mine" || minted || err != nil {
		t.Fatalf("EnsureID with _id = %q, %v, %v", id, minted, err)
	}
	for _, bad := range []any{1, nil, true, strings.Repeat("x", store.MaxNameLen+1), "\xff"} {
		if _, _, err := EnsureID(map[string]any{"_id": bad}); !errors.Is(err, ErrInvalidInstance) {
			t.Errorf("EnsureID(_id %v) = %v, want ErrInvalidInstance", bad, err)
		}
	}
}

func TestIndexValues(t *testing.T) {
	doc, _ := ParseInstance([]byte(`{"_id":"x","email":"a@x","n":1.50,"name":{"last":"Ng"},"tags":["p","q"],"gone":null,"o":{"b":1,"a":2}}`))
	got := IndexValues(doc, []store.Index{
		{Path: "_id", Unique: true}, // the key itself: not a value
		{Path: "email", Unique: true},
		{Path: "age", Unique: true}, // absent
		{Path: "gone", Unique: true},
		{Path: "n", Unique: true},
		{Path: "name.last", Unique: true},
		{Path: "tags.1", Unique: true},
		{Path: "o", Unique: true},
		{Path: "name", Unique: false},
	})
	want := []store.IndexValue{
		{Path: "email", Value: `"a@x"`},
		{Path: "n", Value: `1.50`},
		{Path: "name.last", Value: `"Ng"`},
		{Path: "tags.1", Value: `"q"`},
		{Path: "o", Value: `{"a":2,"b":1}`},
	}
	if len(got) != len(want) {
		t.Fatalf("IndexValues = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("IndexValues[%d] = %v, want %v", i, got[i], want[i])
		}
	}
}
