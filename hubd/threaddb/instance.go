// Package threaddb is the thread database logic the hub and the mount
// share and no store needs: queries as @textile/threads-client sends them
// (ParseQuery, Run), collection schemas (Compile, PermissiveSchema) and
// instances (ParseInstance, Canonical, EnsureID, IndexValues). It is pure:
// no gRPC, no hubd, no I/O; its only arrow is to hubd/store, for the
// model types.
package threaddb

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/oklog/ulid/v2"

	"github.com/hubfs/hubfs/hubd/store"
)

// IDField is the field of an instance that holds its id.
const IDField = store.IDField

// ErrInvalidInstance: the bytes are not an instance (not a JSON object, a
// bad _id). Schema violations are *ValidationError instead.
var ErrInvalidInstance = errors.New("invalid instance")

// ParseInstance decodes an instance: one JSON object, numbers kept as
// written (json.Number), nothing after it.
func ParseInstance(data []byte) (map[string]any, error) {
	v, err := store.DecodeJSON(data)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidInstance, err)
	}
	doc, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%w: not a JSON object", ErrInvalidInstance)
	}
	return doc, nil
}

// Canonical renders a decoded document as the hub stores it and the mount
// shows it: encoding/json's (object keys sorted, numbers as decoded), no
// HTML escaping (so "<" stays "<"), no indentation, no trailing newline.
// Equal documents render to equal bytes.
func Canonical(doc any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(doc); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidInstance, err)
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// NewID mints an instance id as go-threads does (core.NewInstanceID): a
// ULID in lower case, so ids minted later sort later.
func NewID() string { return strings.ToLower(ulid.Make().String()) }

// EnsureID gives doc its id: the _id it has, or a new one (NewID) set in
// doc if it has none or "" (as go-threads' Create mints one then). An
// _id that is not a string, is longer than store.MaxNameLen or is not
// UTF-8 is an error wrapping ErrInvalidInstance.
func EnsureID(doc map[string]any) (id string, minted bool, err error) {
	v, ok := doc[IDField]
	if !ok || v == "" {
		id = NewID()
		doc[IDField] = id
		return id, true, nil
	}
	id, ok = v.(string)
	if !ok {
		return "", false, fmt.Errorf("%w: _id must be a string", ErrInvalidInstance)
	}
	if len(id) > store.MaxNameLen || !utf8.ValidString(id) {
		return "", false, fmt.Errorf("%w: _id must be UTF-8 of at most %d bytes", ErrInvalidInstance, store.MaxNameLen)
	}
	return id, false, nil
}

// IndexValues returns doc's values of the unique indexes among indexes,
// as the store enforces them (store.IndexValues): canonical JSON of the
// field, none for a field the document lacks or holds null.
func IndexValues(doc any, indexes []store.Index) []store.IndexValue {
	return store.IndexValues(doc, indexes)
}
