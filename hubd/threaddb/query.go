package threaddb

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"

	"github.com/hubfs/hubfs/hubd/store"
)

// A query is JSON that @textile/threads-client builds with Where/Query and
// sends in FindRequest.queryJSON (JSON.stringify of its Query object):
//
//	{"ands":[{"fieldPath":"age","operation":2,"value":{"float":30}}],
//	 "ors":[{...a query...}], "sort":{"fieldPath":"name","desc":false},
//	 "seek":"01f...", "limit":10, "skip":0, "index":"name"}
//
// go-threads decodes it into db.Query (field names matched without regard
// to case) and evaluates it in db/query.go; this package does the same,
// with these differences, each where go-threads' behaviour is an accident
// a client cannot want:
//   - a criterion on a field a document lacks, or holds a value of another
//     kind than the criterion's, is false (go-threads stops the whole
//     find there, returning what it had so far);
//   - a query with ors and no ands matches what its ors match (go-threads
//     matches everything, since no ands hold vacuously);
//   - the sort orders the whole result before skip and limit (go-threads
//     sorts only the page it cut in _id order); documents without the
//     sort field come last, whatever the direction (go-threads fails);
//   - index (useIndex) is accepted and changes nothing: every query scans.

// Operation is a comparison, numbered as on the wire (go-threads'
// db.Operation, the JS client's ComparisonJSON). The JS client's
// Where(f).gt(v) sends Ne, not Gt (a bug of @textile/threads-client
// 2.3.4): what is sent is what is evaluated.
type Operation int

const (
	Eq Operation = iota
	Ne
	Gt
	Lt
	Ge
	Le
)

func (o Operation) String() string {
	if o >= Eq && o <= Le {
		return [...]string{"eq", "ne", "gt", "lt", "ge", "le"}[o]
	}
	return fmt.Sprintf("operation(%d)", int(o))
}

// Value is a criterion's value: exactly one of the three is set.
type Value struct {
	String *string  `json:"string,omitempty"`
	Bool   *bool    `json:"bool,omitempty"`
	Float  *float64 `json:"float,omitempty"`
}

// Criterion holds when the document's field at FieldPath compares to Value
// as Operation says.
type Criterion struct {
	FieldPath string    `json:"fieldPath"`
	Operation Operation `json:"operation"`
	Value     Value     `json:"value"`
}

// Sort orders the result by a field.
type Sort struct {
	FieldPath string `json:"fieldPath"`
	Desc      bool   `json:"desc"`
}

// Query is a parsed query. A document matches if every criterion of Ands
// holds (and there is one), or any query of Ors matches it; a query with
// neither matches every document.
type Query struct {
	Ands  []*Criterion `json:"ands"`
	Ors   []*Query     `json:"ors"`
	Sort  Sort         `json:"sort"`
	Seek  string       `json:"seek"`
	Limit int          `json:"limit"`
	Skip  int          `json:"skip"`
	Index string       `json:"index"`
}

// Bounds of a query: it is attacker input, and evaluating it costs its
// size times the collection's.
const (
	MaxQueryBytes    = 64 << 10
	MaxQueryDepth    = 16   // ors within ors
	MaxQueryCriteria = 1024 // criteria and queries, in all
	MaxFieldPathLen  = 512
)

// ErrBadQuery marks every error of ParseQuery.
var ErrBadQuery = errors.New("bad query")

// ParseQuery parses and checks query JSON. Empty input, null and {} are
// the query that matches everything.
func ParseQuery(data []byte) (*Query, error) {
	if len(data) > MaxQueryBytes {
		return nil, fmt.Errorf("%w: %d bytes, more than %d", ErrBadQuery, len(data), MaxQueryBytes)
	}
	q := &Query{}
	if len(bytes.TrimSpace(data)) == 0 {
		return q, nil
	}
	// Depth first, before decoding builds anything: encoding/json would
	// nest 10,000 levels deep.
	if err := checkDepth(data); err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&q); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadQuery, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: data after the query", ErrBadQuery)
	}
	if q == nil { // null
		return &Query{}, nil
	}
	n := 0
	if err := q.check(0, &n, "query"); err != nil {
		return nil, err
	}
	return q, nil
}

// checkDepth refuses JSON nested deeper than a query of MaxQueryDepth
// levels of ors can be (each level is an object in an array in an object,
// and a criterion adds two).
func checkDepth(data []byte) error {
	limit := 3*MaxQueryDepth + 4
	depth := 0
	inString, escaped := false, false
	for _, c := range data {
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '{' || c == '[':
			if depth++; depth > limit {
				return fmt.Errorf("%w: nested more than %d levels of ors deep", ErrBadQuery, MaxQueryDepth)
			}
		case c == '}' || c == ']':
			depth--
		}
	}
	return nil
}

// check checks q at depth, counting its parts in n; where names it in
// errors ("query", "query.ors[2]").
func (q *Query) check(depth int, n *int, where string) error {
	if depth > MaxQueryDepth {
		return fmt.Errorf("%w: %s: ors nested more than %d deep", ErrBadQuery, where, MaxQueryDepth)
	}
	if q.Limit < 0 || q.Skip < 0 {
		return fmt.Errorf("%w: %s: limit and skip must not be negative", ErrBadQuery, where)
	}
	if len(q.Sort.FieldPath) > MaxFieldPathLen {
		return fmt.Errorf("%w: %s: sort field path longer than %d bytes", ErrBadQuery, where, MaxFieldPathLen)
	}
	for i, c := range q.Ands {
		*n++
		at := fmt.Sprintf("%s.ands[%d]", where, i)
		if c == nil {
			return fmt.Errorf("%w: %s: null criterion", ErrBadQuery, at)
		}
		if err := c.check(at); err != nil {
			return err
		}
	}
	for i, o := range q.Ors {
		*n++
		at := fmt.Sprintf("%s.ors[%d]", where, i)
		if o == nil {
			return fmt.Errorf("%w: %s: null query", ErrBadQuery, at)
		}
		if err := o.check(depth+1, n, at); err != nil {
			return err
		}
	}
	if *n > MaxQueryCriteria {
		return fmt.Errorf("%w: more than %d criteria", ErrBadQuery, MaxQueryCriteria)
	}
	return nil
}

func (c *Criterion) check(where string) error {
	if c.FieldPath == "" || len(c.FieldPath) > MaxFieldPathLen {
		return fmt.Errorf("%w: %s: field path must be 1 to %d bytes", ErrBadQuery, where, MaxFieldPathLen)
	}
	if c.Operation < Eq || c.Operation > Le {
		return fmt.Errorf("%w: %s: unknown operation %d", ErrBadQuery, where, int(c.Operation))
	}
	set := 0
	for _, isSet := range []bool{c.Value.String != nil, c.Value.Bool != nil, c.Value.Float != nil} {
		if isSet {
			set++
		}
	}
	if set != 1 {
		// go-threads' words.
		return fmt.Errorf("%w: %s: value type should describe exactly one type", ErrBadQuery, where)
	}
	return nil
}

// Match reports whether doc (decoded with ParseInstance, or any
// encoding/json decoding) matches q.
func (q *Query) Match(doc map[string]any) bool {
	if len(q.Ands) > 0 {
		all := true
		for _, c := range q.Ands {
			if !c.match(doc) {
				all = false
				break
			}
		}
		if all {
			return true
		}
	} else if len(q.Ors) == 0 {
		return true
	}
	for _, o := range q.Ors {
		if o.Match(doc) {
			return true
		}
	}
	return false
}

func (c *Criterion) match(doc map[string]any) bool {
	v, ok := store.Field(doc, c.FieldPath)
	if !ok {
		return false
	}
	r, ok := compareValue(v, c.Value)
	if !ok {
		return false
	}
	switch c.Operation {
	case Eq:
		return r == 0
	case Ne:
		return r != 0
	case Gt:
		return r > 0
	case Lt:
		return r < 0
	case Ge:
		return r >= 0
	case Le:
		return r <= 0
	}
	return false
}

// compareValue compares a document's value with a criterion's, if they are
// of one kind: strings bytewise, numbers as float64 (as go-threads, whose
// values are JSON numbers), false before true.
func compareValue(v any, cv Value) (int, bool) {
	switch {
	case cv.String != nil:
		s, ok := v.(string)
		if !ok {
			return 0, false
		}
		return strings.Compare(s, *cv.String), true
	case cv.Bool != nil:
		b, ok := v.(bool)
		if !ok {
			return 0, false
		}
		return cmpBool(b, *cv.Bool), true
	case cv.Float != nil:
		f, ok := number(v)
		if !ok {
			return 0, false
		}
		return cmp.Compare(f, *cv.Float), true
	}
	return 0, false
}

func cmpBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case !a:
		return -1
	}
	return 1
}

func number(v any) (float64, bool) {
	switch n := v.(type) {
	case json.Number:
		f, err := n.Float64()
		// A literal past float64's range parses as ±Inf with an error:
		// it still orders.
		return f, err == nil || math.IsInf(f, 0)
	case float64:
		return n, true
	}
	return 0, false
}

// Run applies q to a collection's instances, given in _id order (as
// store.Instances returns them): filter, seek (an instance id: only ids
// from it on, in the direction of an _id sort, ascending otherwise),
// sort, skip and limit (0: no limit). It fails on an instance it must
// parse (to filter or sort) that does not parse.
func Run(q *Query, instances []store.Instance) ([]store.Instance, error) {
	desc := q.Sort.FieldPath == IDField && q.Sort.Desc
	type row struct {
		in  store.Instance
		key any // the sort field's value; missing if !has
		has bool
	}
	var rows []row
	bySort := q.Sort.FieldPath != "" && q.Sort.FieldPath != IDField
	// Without criteria or a field sort nothing needs parsing: a plain
	// page costs no decoding.
	filters := len(q.Ands) > 0 || len(q.Ors) > 0
	for _, in := range instances {
		if q.Seek != "" && (!desc && in.ID < q.Seek || desc && in.ID > q.Seek) {
			continue
		}
		r := row{in: in}
		if filters || bySort {
			doc, err := ParseInstance(in.JSON)
			if err != nil {
				return nil, fmt.Errorf("instance %s: %w", in.ID, err)
			}
			if !q.Match(doc) {
				continue
			}
			if bySort {
				r.key, r.has = store.Field(doc, q.Sort.FieldPath)
			}
		}
		rows = append(rows, r)
	}
	switch {
	case desc:
		slices.Reverse(rows)
	case bySort:
		slices.SortStableFunc(rows, func(a, b row) int {
			switch {
			case !a.has || !b.has:
				return cmpBool(!a.has, !b.has) // missing last, either way
			case q.Sort.Desc:
				return -compareAny(a.key, b.key)
			}
			return compareAny(a.key, b.key)
		})
	}
	if q.Skip >= len(rows) {
		return []store.Instance{}, nil
	}
	rows = rows[q.Skip:]
	if q.Limit > 0 && q.Limit < len(rows) {
		rows = rows[:q.Limit]
	}
	out := make([]store.Instance, len(rows))
	for i, r := range rows {
		out[i] = r.in
	}
	return out, nil
}

// kindRank orders values of different kinds for sorting: null, booleans,
// numbers, strings, then arrays and objects.
func kindRank(v any) int {
	switch v.(type) {
	case nil:
		return 0
	case bool:
		return 1
	case json.Number, float64:
		return 2
	case string:
		return 3
	case []any:
		return 4
	}
	return 5
}

// compareAny orders two field values for a sort: by kind, then within
// one: false before true, numbers by value, strings bytewise, arrays and
// objects by their canonical JSON.
func compareAny(a, b any) int {
	if ra, rb := kindRank(a), kindRank(b); ra != rb {
		return cmp.Compare(ra, rb)
	}
	switch x := a.(type) {
	case nil:
		return 0
	case bool:
		return cmpBool(x, b.(bool))
	case string:
		return strings.Compare(x, b.(string))
	case json.Number, float64:
		fa, _ := number(a)
		fb, _ := number(b)
		return cmp.Compare(fa, fb)
	}
	ja, _ := Canonical(a)
	jb, _ := Canonical(b)
	return bytes.Compare(ja, jb)
}
