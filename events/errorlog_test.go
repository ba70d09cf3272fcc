package events

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"
)

func TestErrorLogKeepsTheLastN(t *testing.T) {
	l := NewErrorLog(3)
	for i := range 5 {
		l.Add(ErrorEntry{Op: "open", Message: fmt.Sprint(i)})
	}
	got := l.Entries()
	if len(got) != 3 || got[0].Message != "2" || got[2].Message != "4" {
		t.Fatalf("entries = %+v, want messages 2,3,4 oldest first", got)
	}
	if l.Total() != 5 {
		t.Fatalf("total = %d, want 5", l.Total())
	}
	lines := bytes.Split(bytes.TrimSpace(l.JSONLines()), []byte("\n"))
	if len(lines) != 3 {
		t.Fatalf("%d lines, want 3", len(lines))
	}
	var e ErrorEntry
	if err := json.Unmarshal(lines[0], &e); err != nil || e.Message != "2" {
		t.Fatalf("first line %s: %v", lines[0], err)
	}
}

func TestErrorLogEmpty(t *testing.T) {
	if out := NewErrorLog(2).JSONLines(); len(out) != 0 {
		t.Fatalf("empty log renders %q", out)
	}
}
