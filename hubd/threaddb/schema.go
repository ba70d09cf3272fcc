package threaddb

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// MaxSchemaBytes bounds a collection's JSON Schema: it is attacker input,
// compiled on every create and update and kept for the collection's life.
const MaxSchemaBytes = 256 << 10

// ErrBadSchema marks every error of Compile.
var ErrBadSchema = errors.New("bad schema")

// PermissiveSchema is the schema of a collection made without one (the
// mount's mkdir): any object whose _id, if there, is a string.
var PermissiveSchema = []byte(`{"$schema":"http://json-schema.org/draft-07/schema#","type":"object","properties":{"_id":{"type":"string"}}}`)

// Schema is a compiled collection schema.
type Schema struct {
	s *jsonschema.Schema
}

// schemaURL is where a compiled schema says it comes from: a name of our
// own, never fetched.
const schemaURL = "hubfs:///collection-schema.json"

// noLoader refuses every $ref outside the schema: an attacker must not
// make the hub fetch URLs or read its own files. The metaschemas of the
// drafts are built into the library and need no loader.
type noLoader struct{}

func (noLoader) Load(url string) (any, error) {
	return nil, fmt.Errorf("schemas may not refer to %s: only references within the schema are followed", url)
}

// Compile compiles a JSON Schema as go-threads' collections and the JS
// client's schemas use it: draft-07 unless the schema names another draft
// in $schema (4, 6, 7, 2019-09, 2020-12). A $ref to anything outside the
// schema is refused, and so is a schema over MaxSchemaBytes.
func Compile(schema []byte) (*Schema, error) {
	if len(schema) > MaxSchemaBytes {
		return nil, fmt.Errorf("%w: %d bytes, more than %d", ErrBadSchema, len(schema), MaxSchemaBytes)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(schema))
	if err != nil {
		return nil, fmt.Errorf("%w: not JSON: %v", ErrBadSchema, err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft7)
	c.UseLoader(noLoader{})
	if err := c.AddResource(schemaURL, doc); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadSchema, err)
	}
	s, err := c.Compile(schemaURL)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadSchema, err)
	}
	return &Schema{s: s}, nil
}

// ValidationError is a document the schema refuses: Path is the JSON
// pointer of the failing value ("" for the document itself, "/email",
// "/tags/2"), Reason what is wrong with it.
type ValidationError struct {
	Path   string
	Reason string
}

func (e *ValidationError) Error() string {
	path := e.Path
	if path == "" {
		path = "/"
	}
	return fmt.Sprintf("schema violation at %s: %s", path, e.Reason)
}

// Validate checks a decoded document (ParseInstance) against the schema;
// a refusal is a *ValidationError naming the first failing value.
func (s *Schema) Validate(doc any) error {
	err := s.s.Validate(doc)
	if err == nil {
		return nil
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return &ValidationError{Reason: err.Error()}
	}
	leaf := ve
	for len(leaf.Causes) > 0 {
		leaf = leaf.Causes[0]
	}
	path := ""
	if len(leaf.InstanceLocation) > 0 {
		path = "/" + strings.Join(escapePointer(leaf.InstanceLocation), "/")
	}
	return &ValidationError{Path: path, Reason: leafReason(leaf)}
}

// printer renders the library's messages (in English, as its own
// Error does).
var printer = message.NewPrinter(language.English)

// leafReason is the library's message for one failure, without the
// location Error prefixes it with.
func leafReason(e *jsonschema.ValidationError) string {
	return e.ErrorKind.LocalizedString(printer)
}

func escapePointer(segs []string) []string {
	out := make([]string, len(segs))
	r := strings.NewReplacer("~", "~0", "/", "~1")
	for i, s := range segs {
		out[i] = r.Replace(s)
	}
	return out
}
