package threaddb

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/hubfs/hubfs/hubd/store"
)

// people is a collection in _id order, as the store gives it.
var people = []store.Instance{
	{ID: "a", JSON: []byte(`{"_id":"a","name":"Ann","age":30,"admin":true,"address":{"city":"Oslo"}}`)},
	{ID: "b", JSON: []byte(`{"_id":"b","name":"Bob","age":25,"admin":false,"address":{"city":"Rome"}}`)},
	{ID: "c", JSON: []byte(`{"_id":"c","name":"Cid","age":35.5}`)},
	{ID: "d", JSON: []byte(`{"_id":"d","name":"Dee","age":"old","admin":true}`)},
	{ID: "e", JSON: []byte(`{"_id":"e","age":25,"address":{"city":"Oslo"}}`)},
}

func ids(ins []store.Instance) string {
	var s []string
	for _, in := range ins {
		s = append(s, in.ID)
	}
	return strings.Join(s, ",")
}

func TestRun(t *testing.T) {
	for _, c := range []struct {
		name, query, want string
	}{
		{"empty input matches all", ``, "a,b,c,d,e"},
		{"null matches all", `null`, "a,b,c,d,e"},
		{"the JS client's new Query()", `{"ands":[],"ors":[]}`, "a,b,c,d,e"},
		{"eq string", `{"ands":[{"fieldPath":"name","operation":0,"value":{"string":"Bob"}}]}`, "b"},
		{"operation omitted is eq", `{"ands":[{"fieldPath":"name","value":{"string":"Bob"}}]}`, "b"},
		{"eq number", `{"ands":[{"fieldPath":"age","operation":0,"value":{"float":25}}]}`, "b,e"},
		{"eq bool", `{"ands":[{"fieldPath":"admin","operation":0,"value":{"bool":true}}]}`, "a,d"},
		// Ne holds only for documents whose field is of the value's kind:
		// d's age is a string, c has no admin.
		{"ne number", `{"ands":[{"fieldPath":"age","operation":1,"value":{"float":25}}]}`, "a,c"},
		{"ne bool skips lacking", `{"ands":[{"fieldPath":"admin","operation":1,"value":{"bool":true}}]}`, "b"},
		{"gt", `{"ands":[{"fieldPath":"age","operation":2,"value":{"float":30}}]}`, "c"},
		{"lt", `{"ands":[{"fieldPath":"age","operation":3,"value":{"float":30}}]}`, "b,e"},
		{"ge", `{"ands":[{"fieldPath":"age","operation":4,"value":{"float":30}}]}`, "a,c"},
		{"le", `{"ands":[{"fieldPath":"age","operation":5,"value":{"float":30}}]}`, "a,b,e"},
		{"string order is bytewise", `{"ands":[{"fieldPath":"name","operation":2,"value":{"string":"B"}}]}`, "b,c,d"},
		{"nested path", `{"ands":[{"fieldPath":"address.city","operation":0,"value":{"string":"Oslo"}}]}`, "a,e"},
		{"nested path through a non-object", `{"ands":[{"fieldPath":"name.first","operation":1,"value":{"string":"x"}}]}`, ""},
		{"by _id", `{"ands":[{"fieldPath":"_id","operation":4,"value":{"string":"d"}}]}`, "d,e"},
		{"ands all hold", `{"ands":[{"fieldPath":"age","operation":0,"value":{"float":25}},{"fieldPath":"address.city","operation":0,"value":{"string":"Oslo"}}]}`, "e"},
		// Where("age").eq(35.5).or(new Where("name").eq("Ann")): (ands) or (ors).
		{"or", `{"ands":[{"fieldPath":"age","operation":0,"value":{"float":35.5}}],"ors":[{"ands":[{"fieldPath":"name","operation":0,"value":{"string":"Ann"}}],"ors":[]}]}`, "a,c"},
		{"ors alone", `{"ands":[],"ors":[{"ands":[{"fieldPath":"name","operation":0,"value":{"string":"Ann"}}]},{"ands":[{"fieldPath":"name","operation":0,"value":{"string":"Dee"}}]}]}`, "a,d"},
		{"nested ors", `{"ors":[{"ors":[{"ands":[{"fieldPath":"_id","value":{"string":"e"}}]}]}]}`, "e"},
		{"sort asc, missing last", `{"sort":{"fieldPath":"name","desc":false}}`, "a,b,c,d,e"},
		{"sort desc, missing last", `{"sort":{"fieldPath":"name","desc":true}}`, "d,c,b,a,e"},
		// Numbers before strings; equal keys keep _id order.
		{"sort mixed kinds, stable", `{"sort":{"fieldPath":"age","desc":false}}`, "b,e,a,c,d"},
		{"sort by nested field", `{"sort":{"fieldPath":"address.city","desc":true}}`, "b,a,e,c,d"},
		{"sort by _id desc", `{"sort":{"fieldPath":"_id","desc":true}}`, "e,d,c,b,a"},
		{"sort before skip and limit", `{"sort":{"fieldPath":"age","desc":true},"skip":1,"limit":2}`, "c,a"},
		{"limit", `{"limit":2}`, "a,b"},
		{"skip", `{"skip":3}`, "d,e"},
		{"skip past the end", `{"skip":9}`, ""},
		{"limit 0 is none", `{"limit":0}`, "a,b,c,d,e"},
		{"seek is inclusive", `{"seek":"c"}`, "c,d,e"},
		{"seek to an id not there", `{"seek":"bb"}`, "c,d,e"},
		{"seek with _id desc", `{"seek":"c","sort":{"fieldPath":"_id","desc":true}}`, "c,b,a"},
		{"seek then filter then limit", `{"seek":"b","limit":1,"ands":[{"fieldPath":"age","operation":0,"value":{"float":25}}]}`, "b"},
		{"useIndex changes nothing", `{"index":"name","ands":[{"fieldPath":"name","value":{"string":"Cid"}}]}`, "c"},
		{"field names in any case (go-threads' decoding)", `{"Ands":[{"FieldPath":"name","Value":{"String":"Ann"}}]}`, "a"},
	} {
		t.Run(c.name, func(t *testing.T) {
			q, err := ParseQuery([]byte(c.query))
			if err != nil {
				t.Fatal(err)
			}
			got, err := Run(q, people)
			if err != nil {
				t.Fatal(err)
			}
			if ids(got) != c.want {
				t.Fatalf("Run(%s) = %q, want %q", c.query, ids(got), c.want)
			}
		})
	}
}

// TestJSGtIsNe: what @textile/threads-client 2.3.4's Where("age").gt(30)
// puts on the wire (operation 1, Ne) is served as Ne.
func TestJSGtIsNe(t *testing.T) {
	q, err := ParseQuery([]byte(`{"ands":[{"fieldPath":"age","operation":1,"value":{"float":30}}],"ors":[]}`))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := Run(q, people)
	if ids(got) != "b,c,e" {
		t.Fatalf("the JS gt() = %q, want Ne's b,c,e", ids(got))
	}
}

func TestParseQueryRefuses(t *testing.T) {
	deep := strings.Repeat(`{"ors":[`, MaxQueryDepth+2) + `{}` + strings.Repeat(`]}`, MaxQueryDepth+2)
	var many strings.Builder
	many.WriteString(`{"ands":[`)
	for i := range MaxQueryCriteria + 1 {
		if i > 0 {
			many.WriteString(",")
		}
		fmt.Fprintf(&many, `{"fieldPath":"a","value":{"float":%d}}`, i)
	}
	many.WriteString(`]}`)
	for _, c := range []struct{ name, query, says string }{
		{"not JSON", `{"ands":`, "unexpected EOF"},
		{"not an object", `[1]`, "cannot unmarshal"},
		{"trailing data", `{} {}`, "data after"},
		{"trailing bracket", `{}]`, "data after"},
		{"no value", `{"ands":[{"fieldPath":"a","operation":0}]}`, "exactly one type"},
		{"two values", `{"ands":[{"fieldPath":"a","value":{"string":"x","float":1}}]}`, "exactly one type"},
		{"no field path", `{"ands":[{"value":{"float":1}}]}`, "field path"},
		{"unknown operation", `{"ands":[{"fieldPath":"a","operation":6,"value":{"float":1}}]}`, "unknown operation 6"},
		{"negative operation", `{"ands":[{"fieldPath":"a","operation":-1,"value":{"float":1}}]}`, "unknown operation"},
		{"null criterion", `{"ands":[null]}`, "null criterion"},
		{"null or", `{"ors":[null]}`, "null query"},
		{"negative limit", `{"limit":-1}`, "negative"},
		{"negative skip", `{"skip":-1}`, "negative"},
		{"fractional limit", `{"limit":1.5}`, "cannot unmarshal"},
		{"value of a wrong type", `{"ands":[{"fieldPath":"a","value":{"float":"1"}}]}`, "cannot unmarshal"},
		{"too deep", deep, "nested"},
		{"too many criteria", many.String(), "criteria"},
		{"too large", `{"seek":"` + strings.Repeat("x", MaxQueryBytes) + `"}`, "bytes"},
		{"error names where", `{"ors":[{},{"ands":[{"fieldPath":"a"}]}]}`, "query.ors[1].ands[0]"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseQuery([]byte(c.query))
			if !errors.Is(err, ErrBadQuery) || !strings.Contains(err.Error(), c.says) {
				t.Fatalf("ParseQuery = %v, want ErrBadQuery saying %q", err, c.says)
			}
		})
	}
}

func TestRunBadInstance(t *testing.T) {
	q, _ := ParseQuery([]byte(`{"sort":{"fieldPath":"a"}}`))
	_, err := Run(q, []store.Instance{{ID: "x", JSON: []byte(`{"_id":`)}})
	if !errors.Is(err, ErrInvalidInstance) || !strings.Contains(err.Error(), "instance x") {
		t.Fatalf("Run over a bad instance = %v", err)
	}
}

func TestMatchDecodedEitherWay(t *testing.T) {
	q, _ := ParseQuery([]byte(`{"ands":[{"fieldPath":"n","operation":2,"value":{"float":1}}]}`))
	if !q.Match(map[string]any{"n": 2.0}) || q.Match(map[string]any{"n": 1.0}) {
		t.Fatal("float64 numbers do not compare")
	}
	doc, _ := ParseInstance([]byte(`{"n":1e400}`)) // past float64: +Inf, still a number
	if !q.Match(doc) {
		t.Fatal("a huge number is not greater than 1")
	}
}

// BenchmarkRun: a filtered, sorted, limited query over 10,000 instances,
// the cost of one find on a large collection (parsing every instance
// dominates).
func BenchmarkRun(b *testing.B) {
	insts := make([]store.Instance, 10000)
	for i := range insts {
		id := fmt.Sprintf("%06d", i)
		insts[i] = store.Instance{ID: id, JSON: fmt.Appendf(nil, `{"_id":%q,"age":%d,"name":"n%d","tags":["a","b"],"address":{"city":"c%d"}}`, id, i%90, i, i%7)}
	}
	for _, c := range []struct{ name, query string }{
		{"all", `{}`},
		{"filter", `{"ands":[{"fieldPath":"address.city","value":{"string":"c3"}},{"fieldPath":"age","operation":4,"value":{"float":40}}]}`},
		{"filter+sort+limit", `{"ands":[{"fieldPath":"age","operation":4,"value":{"float":40}}],"sort":{"fieldPath":"name","desc":true},"limit":50}`},
	} {
		q, err := ParseQuery([]byte(c.query))
		if err != nil {
			b.Fatal(err)
		}
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := Run(q, insts); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
