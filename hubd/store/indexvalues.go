package store

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// IDField is the field of an instance that holds its id.
const IDField = "_id"

// DecodeJSON decodes JSON as the thread DB code reads it everywhere:
// numbers kept as written (json.Number), one value and nothing after it.
func DecodeJSON(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	// Only the end may follow: a second value or a stray bracket is not
	// one document.
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("data after the JSON value")
	}
	return v, nil
}

// Field returns the value at a dotted field path ("a.b"; a segment that is
// a number indexes an array, as go-threads' gjson paths do) and whether
// the document has it.
func Field(doc any, path string) (any, bool) {
	v := doc
	for seg := range strings.SplitSeq(path, ".") {
		switch x := v.(type) {
		case map[string]any:
			next, ok := x[seg]
			if !ok {
				return nil, false
			}
			v = next
		case []any:
			i, err := strconv.Atoi(seg)
			if err != nil || i < 0 || i >= len(x) {
				return nil, false
			}
			v = x[i]
		default:
			return nil, false
		}
	}
	return v, true
}

// IndexValues returns doc's values of the unique indexes among indexes,
// in index order; a field the document lacks, or holds null, has none.
// doc is a decoded instance (DecodeJSON).
func IndexValues(doc any, indexes []Index) []IndexValue {
	var out []IndexValue
	for _, ix := range indexes {
		if !ix.Unique || ix.Path == IDField {
			continue // _id is unique by the key itself
		}
		v, ok := Field(doc, ix.Path)
		if !ok || v == nil {
			continue
		}
		b, err := json.Marshal(v)
		if err != nil {
			continue // cannot happen for decoded JSON
		}
		out = append(out, IndexValue{Path: ix.Path, Value: string(b)})
	}
	return out
}

// instanceValues decodes an op's JSON, checks that it is an object whose
// _id is id, and returns its unique index values: what a store does
// inside its write.
func instanceValues(id string, data []byte, indexes []Index) ([]IndexValue, error) {
	doc, err := DecodeJSON(data)
	if err != nil {
		return nil, fmt.Errorf("instance %s: %w: %v", id, ErrInvalid, err)
	}
	obj, ok := doc.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("instance %s: %w: not a JSON object", id, ErrInvalid)
	}
	if got, _ := obj[IDField].(string); got != id {
		return nil, fmt.Errorf("instance %s: %w: its _id is not %q", id, ErrInvalid, id)
	}
	return IndexValues(doc, indexes), nil
}

// CheckOp checks one op of a WriteInstances batch as every store does
// before writing, and returns the unique index values of its instance
// (none for a delete).
func CheckOp(op InstanceOp, indexes []Index) ([]IndexValue, error) {
	if op.ID == "" || len(op.ID) > MaxNameLen {
		return nil, fmt.Errorf("instance id of %d bytes: %w", len(op.ID), ErrInvalid)
	}
	switch op.Kind {
	case OpCreate, OpSave:
		return instanceValues(op.ID, op.JSON, indexes)
	case OpDelete:
		return nil, nil
	}
	return nil, fmt.Errorf("instance %s: %w: op kind %d", op.ID, ErrInvalid, op.Kind)
}

// CheckCollectionName checks a collection name as every store does.
func CheckCollectionName(name string) error {
	if name == "" || len(name) > MaxNameLen {
		return fmt.Errorf("collection name of %d bytes: %w", len(name), ErrInvalid)
	}
	return nil
}

// Key is what a store keeps of the value to enforce uniqueness: a
// fixed-size digest, so that a long string field fits any database's
// index (PostgreSQL's btree refuses entries past a third of a page).
func (v IndexValue) Key() []byte {
	sum := sha256.Sum256([]byte(v.Value))
	return sum[:]
}
