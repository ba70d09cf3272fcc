package maildir

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

const id = "01jdzq8v7q3k9d5g0m6x2w4hnr"

func TestNames(t *testing.T) {
	created := time.Unix(1764581400, 999)
	base := Base(id, created)
	if base != "1764581400."+id+".hubfs" {
		t.Fatalf("Base = %q", base)
	}
	for _, tc := range []struct {
		name string
		want Name
		ok   bool
	}{
		{base, Name{Unix: 1764581400, ID: id}, true},
		{base + ":2,", Name{Unix: 1764581400, ID: id, HasInfo: true}, true},
		{base + ":2,FS", Name{Unix: 1764581400, ID: id, HasInfo: true, Flags: "FS"}, true},
		{base + ":2,SF", Name{Unix: 1764581400, ID: id, HasInfo: true, Flags: "SF"}, true}, // shape only: the caller canonicalizes
		{base + ":1,S", Name{}, false},
		{base + ":", Name{}, false},
		{base + ":2", Name{}, false},
		{"1764581400." + id + ".other", Name{}, false},
		{"01764581400." + id + ".hubfs", Name{}, false}, // one spelling per time
		{"-1." + id + ".hubfs", Name{}, false},
		{"x." + id + ".hubfs", Name{}, false},
		{"1764581400..hubfs", Name{}, false},
		{id, Name{}, false},
		{"", Name{}, false},
		{"1.2.3.hubfs", Name{}, false},
	} {
		got, ok := Parse(tc.name)
		if ok != tc.ok || got != tc.want {
			t.Errorf("Parse(%q) = %+v, %v; want %+v, %v", tc.name, got, ok, tc.want, tc.ok)
		}
		if ok && got.Base() != base {
			t.Errorf("Parse(%q).Base() = %q", tc.name, got.Base())
		}
	}
	if got := CurName(base, "FS"); got != base+":2,FS" {
		t.Errorf("CurName = %q", got)
	}
}

func TestCanonicalFlags(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"", "", true},
		{"S", "S", true},
		{"SF", "FS", true},
		{"FFSS", "FS", true},
		{"TSRFPD", "DFPRST", true},
		{"Sa", "Sa", true}, // a Dovecot keyword
		{"S,", "", false},
		{"S ", "", false},
		{"S/", "", false},
		{"S:", "", false},
		{"é", "", false},
	} {
		got, err := CanonicalFlags(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("CanonicalFlags(%q) = %q, %v", tc.in, got, err)
		}
		if err != nil && !errors.Is(err, ErrFlags) {
			t.Errorf("CanonicalFlags(%q): error %v is not ErrFlags", tc.in, err)
		}
	}
	if got := WithFlag("FT", Seen); got != "FST" {
		t.Errorf("WithFlag = %q", got)
	}
	if got := WithoutFlag("FST", Seen); got != "FT" {
		t.Errorf("WithoutFlag = %q", got)
	}
}

// TestStateSurvivesReopen: what is set is on disk, 0700/0600, read back by
// the next open; the zero state removes the file; Seen is never kept.
func TestStateSurvivesReopen(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "hubfs", "key", "maildir")
	s, err := OpenState(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Set("inbox", id, Local{Cur: true, Flags: "SF"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Set("sentbox", id, Local{Flags: "R"}); err != nil {
		t.Fatal(err)
	}
	other := "01jdzq8v7q3k9d5g0m6x2w4hns"
	if err := s.Set("inbox", other, Local{Flags: "T"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Forget("inbox", other); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(dir)
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("state dir: %v, %v; want 0700", fi.Mode(), err)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 2 {
		t.Errorf("state dir holds %d files, want 2", len(ents))
	}
	for _, e := range ents {
		fi, _ := e.Info()
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, want 0600", e.Name(), fi.Mode())
		}
	}
	// Leftovers of a crash and foreign files.
	os.WriteFile(filepath.Join(dir, tmpPrefix+"inbox.x"), []byte("{"), 0o600)
	os.WriteFile(filepath.Join(dir, "inbox.01jdzq8v7q3k9d5g0m6x2w4hnt"), []byte("garbage"), 0o600)
	os.WriteFile(filepath.Join(dir, "inbox.01jdzq8v7q3k9d5g0m6x2w4hnv"), []byte(`{"flags":"S!"}`), 0o600)

	s2, err := OpenState(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := s2.Get("inbox", id); got != (Local{Cur: true, Flags: "F"}) {
		t.Errorf("inbox state after reopen = %+v", got)
	}
	if got := s2.Get("sentbox", id); got != (Local{Flags: "R"}) {
		t.Errorf("sentbox state after reopen = %+v", got)
	}
	if got := s2.Get("inbox", other); got != (Local{}) {
		t.Errorf("forgotten state after reopen = %+v", got)
	}
	if s2.Len() != 2 {
		t.Errorf("%d states after reopen, want 2 (broken files dropped)", s2.Len())
	}
	ents, _ = os.ReadDir(dir)
	if len(ents) != 2 {
		t.Errorf("after reopen the dir holds %d files, want the 2 good ones", len(ents))
	}
}

func TestStateRefusesBadInput(t *testing.T) {
	s, err := OpenState(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ box, id, flags string }{
		{"inbox", "../../etc/passwd", ""},
		{"inbox", "A" + id[1:], "F"},
		{"outbox", id, "F"},
		{"inbox", "", "F"},
		{"inbox", id, "F,S"},
	} {
		if err := s.Set(tc.box, tc.id, Local{Flags: tc.flags}); err == nil {
			t.Errorf("Set(%q, %q, %q) = nil, want an error", tc.box, tc.id, tc.flags)
		}
	}
	if s.Len() != 0 {
		t.Errorf("a refused Set kept state")
	}
}

func TestStatePrune(t *testing.T) {
	s := Memory()
	ids := []string{"01jdzq8v7q3k9d5g0m6x2w4hn0", "01jdzq8v7q3k9d5g0m6x2w4hn1", "01jdzq8v7q3k9d5g0m6x2w4hn2"}
	for _, i := range ids {
		if err := s.Set("inbox", i, Local{Flags: "F"}); err != nil {
			t.Fatal(err)
		}
	}
	s.Set("sentbox", ids[0], Local{Flags: "F"})
	if err := s.Prune("inbox", func(i string) bool { return i == ids[1] }); err != nil {
		t.Fatal(err)
	}
	if s.Len() != 2 || s.Get("inbox", ids[1]).Flags != "F" || s.Get("sentbox", ids[0]).Flags != "F" {
		t.Errorf("after prune: %d states", s.Len())
	}
}
