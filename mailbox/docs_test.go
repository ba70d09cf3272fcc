package mailbox_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/hubfs/hubfs/mailbox"
)

func TestParseDocument(t *testing.T) {
	for _, tc := range []struct {
		name, id, body string
		want           string // "" when refused
		why            string // in the refusal
	}{
		{"adds the file's _id", "ann", `{"name":"Ann"}`, `{"_id":"ann","name":"Ann"}`, ""},
		{"keeps a matching _id", "ann", `{"name":"Ann","_id":"ann"}`, `{"_id":"ann","name":"Ann"}`, ""},
		{"sorts keys at every level", "a", `{"z":{"b":1,"a":2},"m":[3,{"y":1,"x":2}]}`, `{"_id":"a","m":[3,{"x":2,"y":1}],"z":{"a":2,"b":1}}`, ""},
		{"keeps numbers exact", "a", `{"n":12345678901234567890.5,"e":1e400}`, `{"_id":"a","e":1e400,"n":12345678901234567890.5}`, ""},
		{"does not escape HTML", "a", `{"s":"<a&b>"}`, `{"_id":"a","s":"<a&b>"}`, ""},
		{"takes trailing space", "a", "{}\n\n  ", `{"_id":"a"}`, ""},
		{"refuses another _id", "ann", `{"_id":"bob"}`, "", `differs from the file name`},
		{"refuses a null _id", "ann", `{"_id":null}`, "", `null`},
		{"refuses a numeric _id", "ann", `{"_id":1}`, "", `not a string`},
		{"refuses invalid JSON", "a", `{"name":`, "", `not valid JSON`},
		{"refuses an array", "a", `[1,2]`, "", `not a JSON object`},
		{"refuses two values", "a", `{} {}`, "", `more than one`},
		{"refuses nothing", "a", ``, "", `not valid JSON`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := mailbox.ParseDocument(tc.id, []byte(tc.body))
			if tc.want == "" {
				if !errors.Is(err, mailbox.ErrInvalid) || !strings.Contains(err.Error(), tc.why) {
					t.Fatalf("ParseDocument(%q) = %q, %v; want ErrInvalid saying %q", tc.body, got, err, tc.why)
				}
				return
			}
			if err != nil || string(got) != tc.want {
				t.Fatalf("ParseDocument(%q) = %q, %v; want %q", tc.body, got, err, tc.want)
			}
			r, err := mailbox.RenderDocument(got)
			if err != nil || string(r) != tc.want+"\n" {
				t.Errorf("RenderDocument(%q) = %q, %v; want the same plus a newline", got, r, err)
			}
		})
	}
}

func TestValidDocumentID(t *testing.T) {
	for id, want := range map[string]bool{
		"01hqzx5d3kqv8y4x2j7m6n9p0r": true,
		"ann":                        true,
		"a.b@c d":                    true,
		"été":                        true,
		"":                           false,
		".hidden":                    false,
		"a/b":                        false,
		"a\x00b":                     false,
		"tab\there":                  false,
		"bad\xffutf8":                false,
		strings.Repeat("x", 250):     true,
		strings.Repeat("x", 251):     false,
	} {
		if got := mailbox.ValidDocumentID(id); got != want {
			t.Errorf("ValidDocumentID(%q) = %v, want %v", id, got, want)
		}
	}
}

func TestValidCollectionName(t *testing.T) {
	for name, want := range map[string]bool{
		"people": true, "People2": true, "a-b-c": true, "9lives": true,
		"": false, "-a": false, "a-": false, "a--b": false, "a_b": false, "a.b": false, "a b": false, ".schema.json": false,
	} {
		if got := mailbox.ValidCollectionName(name); got != want {
			t.Errorf("ValidCollectionName(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestParseSchema(t *testing.T) {
	if _, err := mailbox.ParseSchema([]byte(`"string"`)); !errors.Is(err, mailbox.ErrInvalid) {
		t.Errorf("a schema that is no object: %v, want ErrInvalid", err)
	}
	got, err := mailbox.ParseSchema([]byte(`{"type":"object","properties":{"_id":{"type":"string"}}}`))
	if err != nil || string(got) != `{"properties":{"_id":{"type":"string"}},"type":"object"}` {
		t.Errorf("ParseSchema = %q, %v", got, err)
	}
	if string(mailbox.RenderSchema(mailbox.PermissiveSchema)) != string(mailbox.PermissiveSchema)+"\n" {
		t.Errorf("the permissive schema is not in canonical form: %s", mailbox.PermissiveSchema)
	}
}
