package mailbox

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"
)

// A thread DB holds collections of JSON documents (ThreadDB instances).
// The model speaks of them in these types; hubmail turns the hub's into
// them. A DB is named by its thread id string (Thread.ID).

// Collection is one collection of a thread DB.
type Collection struct {
	Name    string
	Schema  []byte // the JSON Schema as the hub keeps it
	Indexes []Index
}

// Index is one index of a collection, on a field path ("a.b").
type Index struct {
	Path   string
	Unique bool
}

// Document is one instance of a collection: its _id and its JSON as the
// model renders it (RenderDocument: stable key order, a trailing newline).
type Document struct {
	ID   string
	JSON []byte
}

// DocEvent is one change seen by a DB's watch. Kind is EventCreate, EventSave
// or EventDelete for an instance, or the watch's own Disconnected,
// Reconnected, Stopped.
type DocEvent struct {
	Kind       EventKind
	Collection string
	ID         string
	JSON       []byte // for Create and Save: the instance as the hub sent it (nil if none)
	Err        error  // why the stream broke (Disconnected, Stopped)
}

// Documents is the part of a Backend that keeps thread DBs' collections
// and documents (the hub's ThreadDB API). db is a thread id string.
type Documents interface {
	// Collections lists db's collections.
	Collections(ctx context.Context, db string) ([]Collection, error)
	// NewCollection creates one (ErrExists if the name is taken).
	NewCollection(ctx context.Context, db string, c Collection) error
	// UpdateCollection replaces a collection's schema and indexes; the hub
	// refuses (ErrInvalid) a schema that does not compile or that data it
	// holds violates.
	UpdateCollection(ctx context.Context, db string, c Collection) error
	DeleteCollection(ctx context.Context, db, name string) error
	// FindDocuments returns every instance of a collection, JSON as the
	// hub sent it.
	FindDocuments(ctx context.Context, db, coll string) ([]Document, error)
	// FindDocument returns one instance, or ErrNotFound.
	FindDocument(ctx context.Context, db, coll, id string) (Document, error)
	// CreateDocument creates an instance (ErrExists if its _id is taken);
	// SaveDocument replaces one (ErrNotFound if there is none). json is one
	// object with its _id.
	CreateDocument(ctx context.Context, db, coll string, json []byte) error
	SaveDocument(ctx context.Context, db, coll string, json []byte) error
	DeleteDocument(ctx context.Context, db, coll, id string) error
	// WatchDocuments delivers the instance changes of every collection of
	// db to fn, one at a time, until Close or an EventStopped.
	WatchDocuments(ctx context.Context, db string, fn func(DocEvent)) (Watch, error)
}

// ErrNotEmpty: a collection that still holds documents is not deleted by
// rmdir.
var ErrNotEmpty = errors.New("collection not empty")

// MaxDocumentIDLen bounds an _id that can be a file name: <_id>.json fits
// in NAME_MAX (255).
const MaxDocumentIDLen = 255 - len(".json")

// ValidDocumentID reports whether id can name a document as a file
// (<id>.json): non-empty, at most MaxDocumentIDLen bytes of valid UTF-8,
// no '/', no control characters, and not starting with '.' (names starting
// with a dot are the directory's own, like .schema.json, and editors'
// temporary files). Documents whose _id is not valid are not listed.
func ValidDocumentID(id string) bool {
	if id == "" || len(id) > MaxDocumentIDLen || id[0] == '.' || !utf8.ValidString(id) {
		return false
	}
	for _, r := range id {
		if r == '/' || unicode.IsControl(r) {
			return false
		}
	}
	return true
}

// ValidCollectionName reports whether name can be a collection made by
// mkdir: go-threads' rule (letters and digits, with single hyphens between
// them: "^[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*$"), at most 255 bytes.
func ValidCollectionName(name string) bool {
	if name == "" || len(name) > 255 || name[0] == '-' || name[len(name)-1] == '-' || strings.Contains(name, "--") {
		return false
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
			return false
		}
	}
	return true
}

// PermissiveSchema is the schema of a collection made by mkdir: any object
// whose _id is a string.
var PermissiveSchema = []byte(`{"$schema":"http://json-schema.org/draft-07/schema#","properties":{"_id":{"type":"string"}},"required":["_id"],"type":"object"}`)

// decodeObject decodes exactly one JSON object, numbers kept exact.
func decodeObject(what string, b []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("%s is not valid JSON: %v: %w", what, err, ErrInvalid)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s holds more than one JSON value: %w", what, ErrInvalid)
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%s is not a JSON object: %w", what, ErrInvalid)
	}
	return obj, nil
}

// render is the canonical form: encoding/json over map[string]any sorts keys
// at every level, json.Number keeps numbers as written, and <, >, & stay
// as they are (no HTML escaping). It is the form hubd/threaddb.Canonical
// stores (a test compares the two), with its trailing newline.
func render(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("render: %v: %w", err, ErrInvalid)
	}
	return b.Bytes(), nil
}

// RenderDocument is how a document reads as a file: one JSON object, keys
// in a stable order, a trailing newline. It fails on anything but one
// object.
func RenderDocument(b []byte) ([]byte, error) {
	obj, err := decodeObject("the document", b)
	if err != nil {
		return nil, err
	}
	return render(obj)
}

// ParseDocument checks what was written to <id>.json and returns it as it
// goes to the hub (canonical, without the newline): one JSON object whose
// _id, when present, is the string id; an object without one gets it.
func ParseDocument(id string, b []byte) ([]byte, error) {
	obj, err := decodeObject(id+".json", b)
	if err != nil {
		return nil, err
	}
	switch v := obj["_id"].(type) {
	case nil:
		if _, present := obj["_id"]; present {
			return nil, fmt.Errorf("%s.json: _id is null, not the file's name: %w", id, ErrInvalid)
		}
		obj["_id"] = id
	case string:
		if v != id {
			return nil, fmt.Errorf("%s.json: _id %q in the body differs from the file name: %w", id, v, ErrInvalid)
		}
	default:
		return nil, fmt.Errorf("%s.json: _id is not a string: %w", id, ErrInvalid)
	}
	out, err := render(obj)
	if err != nil {
		return nil, err
	}
	return out[:len(out)-1], nil
}

// ParseSchema checks what was written to .schema.json: one JSON object
// (whether it compiles is the hub's to say). It returns the canonical form.
func ParseSchema(b []byte) ([]byte, error) {
	obj, err := decodeObject(".schema.json", b)
	if err != nil {
		return nil, err
	}
	out, err := render(obj)
	if err != nil {
		return nil, err
	}
	return out[:len(out)-1], nil
}

// RenderSchema is how a schema reads as .schema.json; a schema that is not
// an object (the hub's to keep) is shown as the hub sent it.
func RenderSchema(b []byte) []byte {
	if out, err := RenderDocument(b); err == nil {
		return out
	}
	s := strings.TrimRight(string(b), "\n")
	return []byte(s + "\n")
}
