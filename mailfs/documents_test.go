package mailfs

import (
	"context"
	"errors"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hubfs/hubfs/hub"
	"github.com/hubfs/hubfs/hubd/hubdtest"
	"github.com/hubfs/hubfs/identity"
	"github.com/hubfs/hubfs/mailbox"
)

// newDB makes a thread DB through the mount and returns its id.
func newDB(t *testing.T, m *testMount, name string) identity.ThreadID {
	t.Helper()
	if err := os.Mkdir(m.path("threads", name), 0o700); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(m.path("threads", name, "id"))
	if err != nil {
		t.Fatal(err)
	}
	id, err := identity.ParseThreadID(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func names(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

func wantErrno(t *testing.T, what string, err error, want syscall.Errno) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Errorf("%s: %v, want %v", what, err, want)
	}
}

// recorded reports whether .hubfs/errors holds a line with every one of parts.
func recorded(t *testing.T, m *testMount, parts ...string) bool {
	t.Helper()
	b, err := os.ReadFile(m.path(".hubfs", "errors"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		all := true
		for _, p := range parts {
			all = all && strings.Contains(line, p)
		}
		if all && line != "" {
			return true
		}
	}
	t.Logf(".hubfs/errors:\n%s", b)
	return false
}

// TestCollectionsAsDirectories: mkdir makes a collection with the
// permissive schema, rmdir deletes an empty one and refuses a full one.
func TestCollectionsAsDirectories(t *testing.T) {
	m := mountTest(t, hubdtest.Start(t), withCache(0, 0, 0))
	db := newDB(t, m, "app")
	people := m.path("threads", "app", "people")
	if err := os.Mkdir(people, 0o700); err != nil {
		t.Fatal(err)
	}
	if got := names(t, m.path("threads", "app")); !slices.Equal(got, []string{"id", "info.json", "people"}) {
		t.Errorf("threads/app lists %q", got)
	}
	infos, err := m.cl.ListCollections(context.Background(), db)
	if err != nil || len(infos) != 1 || infos[0].Name != "people" {
		t.Fatalf("the hub's collections: %+v, %v", infos, err)
	}
	schema, err := os.ReadFile(people + "/.schema.json")
	if err != nil || string(schema) != string(mailbox.PermissiveSchema)+"\n" {
		t.Errorf(".schema.json = %q, %v", schema, err)
	}
	wantErrno(t, "mkdir of a taken name", os.Mkdir(people, 0o700), syscall.EEXIST)
	wantErrno(t, "mkdir of a name no collection can have", os.Mkdir(m.path("threads", "app", "a_b"), 0o700), syscall.EINVAL)
	wantErrno(t, "mkdir inside a collection", os.Mkdir(people+"/sub", 0o700), syscall.EPERM)

	if err := os.WriteFile(people+"/ann.json", []byte(`{"name":"Ann"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	wantErrno(t, "rmdir of a collection with a document", os.Remove(people), syscall.ENOTEMPTY)
	if err := os.Remove(people + "/ann.json"); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(people); err != nil {
		t.Fatalf("rmdir of an empty collection: %v", err)
	}
	if infos, err := m.cl.ListCollections(context.Background(), db); err != nil || len(infos) != 0 {
		t.Errorf("after rmdir the hub has %+v, %v", infos, err)
	}
	if _, err := os.Stat(people); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stat after rmdir: %v", err)
	}
}

// TestDocumentsAsFiles: a file written is a document the hub has, read
// back in canonical form with exact sizes; rewriting saves; rm deletes.
func TestDocumentsAsFiles(t *testing.T) {
	m := mountTest(t, hubdtest.Start(t), withCache(0, 0, 0))
	db := newDB(t, m, "app")
	dir := m.path("threads", "app", "people")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	if err := os.WriteFile(dir+"/ann.json", []byte("{\"name\": \"Ann\", \"age\": 41}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	const want = `{"_id":"ann","age":41,"name":"Ann"}` + "\n"
	got, err := os.ReadFile(dir + "/ann.json")
	if err != nil || string(got) != want {
		t.Fatalf("read back %q, %v; want %q", got, err, want)
	}
	st, err := os.Stat(dir + "/ann.json")
	if err != nil || st.Size() != int64(len(want)) {
		t.Errorf("stat: %v, %v; want size %d", st, err, len(want))
	}
	raw, err := m.cl.FindByID(ctx, db, "people", "ann")
	if err != nil || !strings.Contains(string(raw), `"age":41`) {
		t.Errorf("the hub has %s, %v", raw, err)
	}

	// Saving again (O_TRUNC) replaces it; the size follows.
	if err := os.WriteFile(dir+"/ann.json", []byte(`{"_id":"ann","name":"Ann","age":42}`), 0o600); err != nil {
		t.Fatal(err)
	}
	const want2 = `{"_id":"ann","age":42,"name":"Ann"}` + "\n"
	if got, err := os.ReadFile(dir + "/ann.json"); err != nil || string(got) != want2 {
		t.Errorf("after a save: %q, %v", got, err)
	}

	// A document made through the API shows as a file.
	if _, err := m.cl.Create(ctx, db, "people", []byte(`{"_id":"bob","name":"Bob"}`)); err != nil {
		t.Fatal(err)
	}
	if got := names(t, dir); !slices.Equal(got, []string{".schema.json", "ann.json", "bob.json"}) {
		t.Errorf("ls: %q", got)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		info, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(dir + "/" + e.Name())
		if err != nil || info.Size() != int64(len(data)) {
			t.Errorf("%s: ls -l says %d bytes, reading gives %d (%v)", e.Name(), info.Size(), len(data), err)
		}
	}

	if err := os.Remove(dir + "/bob.json"); err != nil {
		t.Fatal(err)
	}
	if _, err := m.cl.FindByID(ctx, db, "people", "bob"); !errors.Is(err, hub.ErrNotFound) {
		t.Errorf("after rm the hub says %v, want ErrNotFound", err)
	}
	wantErrno(t, "rm .schema.json", os.Remove(dir+"/.schema.json"), syscall.EPERM)
	wantErrno(t, "rename", os.Rename(dir+"/ann.json", dir+"/anne.json"), syscall.EPERM)
}

// TestDocumentRefusals: what cannot be a document fails its close with
// EINVAL and the reason in .hubfs/errors, and leaves the hub unchanged.
func TestDocumentRefusals(t *testing.T) {
	m := mountTest(t, hubdtest.Start(t), withCache(0, 0, 0))
	db := newDB(t, m, "app")
	dir := m.path("threads", "app", "people")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ file, body, why string }{
		{"ann.json", `{"_id":"bob"}`, "differs from the file name"},
		{"ann.json", `{"name":`, "not valid JSON"},
		{"ann.json", `[1]`, "not a JSON object"},
	} {
		err := os.WriteFile(dir+"/"+tc.file, []byte(tc.body), 0o600)
		wantErrno(t, "writing "+tc.body, err, syscall.EINVAL)
		if !recorded(t, m, "people/"+tc.file, "EINVAL", tc.why) {
			t.Errorf(".hubfs/errors does not say %q", tc.why)
		}
	}
	if _, err := os.Stat(dir + "/ann.json"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a refused new document is still there: %v", err)
	}
	for _, name := range []string{"notes.txt", ".ann.json.swp", "ann.json~", ".json"} {
		wantErrno(t, "create "+name, os.WriteFile(dir+"/"+name, []byte("{}"), 0o600), syscall.EINVAL)
	}
	if _, err := os.Stat(dir + "/notes.txt"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stat of a name no document has: %v", err)
	}

	// A schema violation, then a schema that existing data violates.
	schema := `{"type":"object","properties":{"_id":{"type":"string"},"age":{"type":"integer"}},"required":["_id","age"]}`
	if err := os.WriteFile(dir+"/.schema.json", []byte(schema), 0o600); err != nil {
		t.Fatalf("writing a schema: %v", err)
	}
	info, err := m.cl.GetCollectionInfo(context.Background(), db, "people")
	if err != nil || !strings.Contains(string(info.Schema), `"required"`) {
		t.Errorf("the hub's schema: %s, %v", info.Schema, err)
	}
	wantErrno(t, "a document the schema refuses", os.WriteFile(dir+"/ann.json", []byte(`{"age":"old"}`), 0o600), syscall.EINVAL)
	if !recorded(t, m, "people/ann.json", "EINVAL") {
		t.Error(".hubfs/errors does not record the schema violation")
	}
	if err := os.WriteFile(dir+"/ann.json", []byte(`{"age":41}`), 0o600); err != nil {
		t.Fatal(err)
	}
	stricter := `{"type":"object","properties":{"age":{"type":"integer","minimum":50}}}`
	wantErrno(t, "a schema a document violates", os.WriteFile(dir+"/.schema.json", []byte(stricter), 0o600), syscall.EINVAL)
	wantErrno(t, "a schema that is no JSON", os.WriteFile(dir+"/.schema.json", []byte(`{`), 0o600), syscall.EINVAL)
	if got, err := os.ReadFile(dir + "/.schema.json"); err != nil || !strings.Contains(string(got), `"required"`) {
		t.Errorf("a refused schema changed .schema.json: %s, %v", got, err)
	}
}

// TestDocumentsFollowTheHub: with the DB watched, a document created,
// saved or deleted elsewhere shows at once, though the listing TTL is an
// hour: the watch's events invalidate what the mount and the kernel hold.
func TestDocumentsFollowTheHub(t *testing.T) {
	cfg := withCache(time.Hour, 0, 0)
	cfg.WatchTTL = time.Hour
	m := mountTest(t, hubdtest.Start(t), cfg)
	lv := m.model.Follow(context.Background())
	t.Cleanup(lv.Close)
	db := newDB(t, m, "app")
	dir := m.path("threads", "app", "people")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if got := names(t, dir); !slices.Equal(got, []string{".schema.json"}) {
		t.Fatalf("ls of a new collection: %q", got)
	}
	if _, err := os.Stat(dir + "/bob.json"); !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err) // cached as missing, for an hour
	}
	waitWatched(t, m, db)

	if _, err := m.cl.Create(ctx, db, "people", []byte(`{"_id":"bob","name":"Bob"}`)); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a document created elsewhere shows in ls", func() bool {
		return slices.Contains(names(t, dir), "bob.json")
	})
	eventually(t, "and stat finds it", func() bool {
		_, err := os.Stat(dir + "/bob.json")
		return err == nil
	})
	if err := m.cl.Save(ctx, db, "people", []byte(`{"_id":"bob","name":"Bobby"}`)); err != nil {
		t.Fatal(err)
	}
	const want = `{"_id":"bob","name":"Bobby"}` + "\n"
	eventually(t, "a save elsewhere changes the size and content", func() bool {
		st, err := os.Stat(dir + "/bob.json")
		data, rerr := os.ReadFile(dir + "/bob.json")
		return err == nil && rerr == nil && st.Size() == int64(len(want)) && string(data) == want
	})
	if err := m.cl.Delete(ctx, db, "people", "bob"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a delete elsewhere removes the file", func() bool {
		_, err := os.Stat(dir + "/bob.json")
		return errors.Is(err, os.ErrNotExist) && !slices.Contains(names(t, dir), "bob.json")
	})
}

// waitWatched waits until the model's watch of db is confirmed, so that
// changes made from now on reach it.
func waitWatched(t *testing.T, m *testMount, db identity.ThreadID) {
	t.Helper()
	eventually(t, "the DB's watch is up", func() bool { return m.model.DocumentsWatched(db.String()) })
}

// eventually polls cond until it holds, failing after a generous bound:
// the condition is waited for, never a fixed time.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestDocumentWriteContract: the outbox's contract for document files. A
// reader holding the file open does not hold a save back (jq f.json >
// f.json), a write past the bound is EFBIG and saves nothing, a write
// that does not truncate starts from the document (so an append makes
// invalid JSON), and an empty write deletes nothing.
func TestDocumentWriteContract(t *testing.T) {
	cfg := withCache(0, 0, 0)
	cfg.MaxMessageSize = 4096
	m := mountTest(t, hubdtest.Start(t), cfg)
	db := newDB(t, m, "app")
	dir := m.path("threads", "app", "people")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	f := dir + "/ann.json"
	if err := os.WriteFile(f, []byte(`{"v":1}`), 0o600); err != nil {
		t.Fatal(err)
	}
	hubHas := func(want string) {
		t.Helper()
		raw, err := m.cl.FindByID(context.Background(), db, "people", "ann")
		if err != nil || !strings.Contains(string(raw), want) {
			t.Errorf("the hub has %s, %v; want it to hold %s", raw, err, want)
		}
	}

	r, err := os.Open(f)
	if err != nil {
		t.Fatal(err)
	}
	w, err := os.OpenFile(f, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.WriteString(`{"v":2}`); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("close of the only writer, a reader open: %v", err)
	}
	hubHas(`"v":2`)
	if got, err := os.ReadFile(f); err != nil || string(got) != `{"_id":"ann","v":2}`+"\n" {
		t.Errorf("after the save: %q, %v", got, err)
	}
	r.Close()

	big := `{"v":"` + strings.Repeat("x", 5000) + `"}`
	wantErrno(t, "a document past the bound", os.WriteFile(f, []byte(big), 0o600), syscall.EFBIG)
	hubHas(`"v":2`)

	a, err := os.OpenFile(f, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.WriteString(`{"v":3}`); err != nil {
		t.Fatal(err)
	}
	wantErrno(t, "appending a second object", a.Close(), syscall.EINVAL)
	hubHas(`"v":2`)

	if err := os.WriteFile(f, nil, 0o600); err != nil {
		t.Errorf("truncating to nothing: %v", err)
	}
	hubHas(`"v":2`)
}

// TestUniqueIndexRefusal: a value a unique index already holds fails the
// close with EEXIST (the hub's AlreadyExists), the reason in .hubfs/errors,
// and the document is not made.
func TestUniqueIndexRefusal(t *testing.T) {
	m := mountTest(t, hubdtest.Start(t), withCache(0, 0, 0))
	db := newDB(t, m, "app")
	dir := m.path("threads", "app", "people")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := m.cl.UpdateCollection(ctx, db, hub.CollectionInfo{Name: "people", Schema: mailbox.PermissiveSchema,
		Indexes: []hub.Index{{Path: "email", Unique: true}}}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dir+"/ann.json", []byte(`{"email":"a@x"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	wantErrno(t, "a second document with the same email", os.WriteFile(dir+"/bob.json", []byte(`{"email":"a@x"}`), 0o600), syscall.EEXIST)
	if !recorded(t, m, "people/bob.json", "EEXIST", "unique") {
		t.Error(".hubfs/errors does not name the unique index")
	}
	if ok, err := m.cl.Has(ctx, db, "people", "bob"); err != nil || ok {
		t.Errorf("the refused document exists: %v, %v", ok, err)
	}
	if err := os.WriteFile(dir+"/ann.json", []byte(`{"email":"a@x","name":"Ann"}`), 0o600); err != nil {
		t.Errorf("saving a document with its own unique value: %v", err)
	}
}
