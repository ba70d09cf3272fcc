package sizedlru

import "testing"

func TestSizedLRUKeepsWithinBytes(t *testing.T) {
	l := New(10, func(v string) int64 { return int64(len(v)) })
	steps := []struct {
		key, val string
		bytes    int64
		present  []string
		absent   []string
	}{
		{"a", "1234", 4, []string{"a"}, nil},
		{"b", "12345", 9, []string{"a", "b"}, nil},
		{"c", "12", 7, []string{"b", "c"}, []string{"a"}},          // a was oldest
		{"b", "1", 3, []string{"b", "c"}, nil},                     // replace shrinks
		{"d", "12345678901", 3, []string{"b", "c"}, []string{"d"}}, // larger than the budget: not kept
		{"c", "1234567890", 10, []string{"c"}, []string{"b"}},
	}
	for i, s := range steps {
		l.Add(s.key, s.val)
		if l.bytes != s.bytes {
			t.Errorf("step %d: bytes = %d, want %d", i, l.bytes, s.bytes)
		}
		for _, k := range s.present {
			if !l.Contains(k) {
				t.Errorf("step %d: %s missing", i, k)
			}
		}
		for _, k := range s.absent {
			if l.Contains(k) {
				t.Errorf("step %d: %s still there", i, k)
			}
		}
	}
	l.Remove("c")
	if l.bytes != 0 {
		t.Errorf("bytes after removing everything = %d", l.bytes)
	}
}

func TestSizedLRUZeroKeepsNothing(t *testing.T) {
	l := New(0, func(v string) int64 { return int64(len(v)) + 1 })
	l.Add("a", "")
	if l.Contains("a") || l.bytes != 0 {
		t.Errorf("a zero budget kept %d bytes", l.bytes)
	}
}
