package threaddb

import (
	"errors"
	"net"
	"strings"
	"sync/atomic"
	"testing"
)

const personSchema = `{
	"$schema": "http://json-schema.org/draft-07/schema#",
	"type": "object",
	"required": ["_id", "name"],
	"properties": {
		"_id": {"type": "string"},
		"name": {"type": "string"},
		"age": {"type": "integer", "minimum": 0},
		"tags": {"type": "array", "items": {"type": "string"}},
		"a/b": {"type": "string"},
		"address": {"$ref": "#/definitions/address"}
	},
	"definitions": {"address": {"type": "object", "properties": {"city": {"type": "string"}}}}
}`

func TestValidate(t *testing.T) {
	s, err := Compile([]byte(personSchema))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ doc, path, reason string }{
		{`{"_id":"x","name":"Ann","age":3,"tags":["a"],"address":{"city":"Oslo"}}`, "", ""},
		{`{"_id":"x"}`, "", "missing property 'name'"},
		{`{"_id":"x","name":"Ann","age":-1}`, "/age", "minimum"},
		{`{"_id":"x","name":"Ann","age":1.5}`, "/age", "want integer"},
		{`{"_id":"x","name":"Ann","tags":["a",2]}`, "/tags/1", "want string"},
		{`{"_id":"x","name":"Ann","a/b":1}`, "/a~1b", "want string"},
		{`{"_id":"x","name":"Ann","address":{"city":7}}`, "/address/city", "want string"},
		{`{"_id":7,"name":"Ann"}`, "/_id", "want string"},
	} {
		doc, err := ParseInstance([]byte(c.doc))
		if err != nil {
			t.Fatal(err)
		}
		err = s.Validate(doc)
		if c.reason == "" {
			if err != nil {
				t.Errorf("Validate(%s) = %v, want nil", c.doc, err)
			}
			continue
		}
		var ve *ValidationError
		if !errors.As(err, &ve) || ve.Path != c.path || !strings.Contains(ve.Reason, c.reason) {
			t.Errorf("Validate(%s) = %#v, want a violation at %q saying %q", c.doc, err, c.path, c.reason)
			continue
		}
		if want := "schema violation at "; !strings.HasPrefix(err.Error(), want) {
			t.Errorf("message %q", err)
		}
	}
}

func TestPermissiveSchema(t *testing.T) {
	s, err := Compile(PermissiveSchema)
	if err != nil {
		t.Fatal(err)
	}
	for doc, ok := range map[string]bool{`{"_id":"x","any":[1,{"b":null}]}`: true, `{}`: true, `{"_id":1}`: false} {
		d, _ := ParseInstance([]byte(doc))
		if err := s.Validate(d); (err == nil) != ok {
			t.Errorf("permissive Validate(%s) = %v", doc, err)
		}
	}
}

func TestCompileDrafts(t *testing.T) {
	for _, draft := range []string{
		"http://json-schema.org/draft-04/schema#", "http://json-schema.org/draft-06/schema#",
		"http://json-schema.org/draft-07/schema#", "https://json-schema.org/draft/2019-09/schema",
		"https://json-schema.org/draft/2020-12/schema",
	} {
		if _, err := Compile([]byte(`{"$schema":"` + draft + `","type":"object"}`)); err != nil {
			t.Errorf("draft %s: %v", draft, err)
		}
	}
	// Without $schema, draft-07: its "definitions" and its dependencies keyword.
	s, err := Compile([]byte(`{"dependencies":{"a":["b"]}}`))
	if err != nil {
		t.Fatal(err)
	}
	d, _ := ParseInstance([]byte(`{"a":1}`))
	if s.Validate(d) == nil {
		t.Fatal("draft-07's dependencies keyword not applied by default")
	}
}

// TestCompileFetchesNothing: a $ref outside the schema is refused, and
// nothing is fetched or read for it.
func TestCompileFetchesNothing(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var dialed atomic.Int32
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			dialed.Add(1)
			c.Close()
		}
	}()
	for _, ref := range []string{"http://" + ln.Addr().String() + "/s.json", "file:///etc/passwd", "other.json"} {
		_, err := Compile([]byte(`{"$ref":"` + ref + `"}`))
		if !errors.Is(err, ErrBadSchema) || !strings.Contains(err.Error(), "may not refer") {
			t.Errorf("Compile with $ref %s = %v, want a refusal", ref, err)
		}
	}
	if n := dialed.Load(); n != 0 {
		t.Fatalf("compiling dialed out %d times", n)
	}
}

func TestCompileRefuses(t *testing.T) {
	for _, c := range []struct{ name, schema, says string }{
		{"not JSON", `{"type":`, "not JSON"},
		{"not a schema", `{"type":"nope"}`, "metaschema"},
		{"too large", `{"description":"` + strings.Repeat("x", MaxSchemaBytes) + `"}`, "bytes"},
		{"bad pattern", `{"pattern":"("}`, "metaschema"},
	} {
		if _, err := Compile([]byte(c.schema)); !errors.Is(err, ErrBadSchema) || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%s: Compile = %v, want ErrBadSchema saying %q", c.name, err, c.says)
		}
	}
}
