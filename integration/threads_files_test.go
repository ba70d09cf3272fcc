package integration

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hubfs/hubfs/hub"
	"github.com/hubfs/hubfs/hubd/hubdtest"
	"github.com/hubfs/hubfs/identity"
)

// Threads as files (docs/semantics.md, "Threads as files") through the
// built binary and a shell, as a user would: mkdir, echo >, cat, ls -l,
// cp, rm, rmdir, the refusals at close with their reason in
// .hubfs/errors, a writer killed mid-write, and documents made elsewhere
// showing without a TTL wait.

// threadDB reads the id of MNT/threads/<name>.
func threadDB(t *testing.T, m *mount, name string) identity.ThreadID {
	t.Helper()
	b, err := os.ReadFile(m.path("threads", name, "id"))
	if err != nil {
		t.Fatal(err)
	}
	id, err := identity.ParseThreadID(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("threads/%s/id: %v", name, err)
	}
	return id
}

// hubDoc is the document as the hub has it ("" when it has none).
func hubDoc(t *testing.T, cl *hub.Client, db identity.ThreadID, coll, id string) string {
	t.Helper()
	raw, err := cl.FindByID(context.Background(), db, coll, id)
	if err != nil {
		if errors.Is(err, hub.ErrNotFound) {
			return ""
		}
		t.Fatalf("FindByID %s: %v", id, err)
	}
	return string(raw)
}

// shCmd is sh's command, not started, with more environment.
func shCmd(m *mount, script string, env ...string) *exec.Cmd {
	cmd := exec.Command("bash", "-c", "set -euo pipefail\n"+script)
	cmd.Env = append(append(os.Environ(), "MNT="+m.dir), env...)
	return cmd
}

func TestThreadsFilesShell(t *testing.T) {
	requireFUSE(t)
	h := hubdtest.Start(t)
	alice := newUser(t, h, "alice")
	cl, _ := clientFor(t, h, alice.keyFile)
	// Listings kept for an hour: whatever changes, changes by the DB's
	// listen stream or by this mount's own writes.
	m := mountUser(t, alice, "--list-ttl=1h", "--watch-ttl=1h", "--max-size=4KiB")
	mustSh(t, m, `mkdir "$MNT/threads/app" && mkdir "$MNT/threads/app/people"`)
	db := threadDB(t, m, "app")
	dir := m.path("threads", "app", "people")

	t.Run("echo, cat, canonical rendering", func(t *testing.T) {
		out := mustSh(t, m, `cd "$MNT/threads/app/people"
echo '{"name": "Ann", "age": 41}' > ann.json
printf '%s' '{"b": {"z": 1, "a": [3, {"y": 2, "x": 1}]}, "a": "<&> é", "n": 1.50}' > nest.json
cat ann.json nest.json`)
		want := `{"_id":"ann","age":41,"name":"Ann"}` + "\n" +
			`{"_id":"nest","a":"<&> é","b":{"a":[3,{"x":1,"y":2}],"z":1},"n":1.50}` + "\n"
		if out != want {
			t.Errorf("cat:\n%s\nwant:\n%s", out, want)
		}
		if got := hubDoc(t, cl, db, "people", "ann"); !strings.Contains(got, `"age":41`) {
			t.Errorf("the hub has %s", got)
		}
	})

	t.Run("ls -l gives exact sizes", func(t *testing.T) {
		out := mustSh(t, m, `cd "$MNT/threads/app/people" && ls -ln --time-style=+ -A`)
		seen := 0
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			f := strings.Fields(line)
			if len(f) < 6 || f[0] == "total" {
				continue
			}
			name := f[len(f)-1]
			size, err := strconv.Atoi(f[4])
			if err != nil {
				t.Fatalf("ls -l line %q: %v", line, err)
			}
			data, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil {
				t.Fatal(err)
			}
			if size != len(data) {
				t.Errorf("%s: ls -l says %d bytes, cat gives %d", name, size, len(data))
			}
			seen++
		}
		if seen != 3 { // .schema.json, ann.json, nest.json
			t.Errorf("ls -l listed %d files:\n%s", seen, out)
		}
	})

	t.Run("cp into a collection creates, cp over a document saves", func(t *testing.T) {
		src := filepath.Join(t.TempDir(), "cy.json")
		if err := os.WriteFile(src, []byte(`{"name":"Cy"}`), 0o600); err != nil {
			t.Fatal(err)
		}
		mustSh(t, m, `cp "`+src+`" "$MNT/threads/app/people/cy.json"`)
		if got := hubDoc(t, cl, db, "people", "cy"); got != `{"_id":"cy","name":"Cy"}` {
			t.Errorf("after cp the hub has %q", got)
		}
		if err := os.WriteFile(src, []byte(`{"name":"Cyd","age":7}`), 0o600); err != nil {
			t.Fatal(err)
		}
		// cp -p over it: an O_TRUNC open and then times and mode set on the
		// descriptor, all before the one close that saves.
		mustSh(t, m, `cp -p "`+src+`" "$MNT/threads/app/people/cy.json"`)
		if got := mustSh(t, m, `cat "$MNT/threads/app/people/cy.json"`); got != `{"_id":"cy","age":7,"name":"Cyd"}`+"\n" {
			t.Errorf("after cp -p: %q", got)
		}
	})

	t.Run("a shell writing in parts through a held descriptor saves once, whole", func(t *testing.T) {
		// exec 3> over an existing document truncates it (a SETATTR); a
		// child writing through the inherited descriptor exits first, and
		// only the shell's close saves (mailfs's TestSetattrKeepsInodeNumber
		// covers the fdinfo "ino: 0" a SETATTR once left).
		for _, name := range []string{"parts", "parts"} { // created, then saved over
			mustSh(t, m, `cd "$MNT/threads/app/people"
exec 3> `+name+`.json
printf '{"name": ' >&3
sh -c 'printf "\"in parts\", " >&3'
printf '"n": 2}' >&3
exec 3>&-`)
			if got := hubDoc(t, cl, db, "people", name); got != `{"_id":"parts","n":2,"name":"in parts"}` {
				t.Errorf("after writing in parts: the hub has %q", got)
			}
		}
		mustSh(t, m, `rm "$MNT/threads/app/people/parts.json"`)
	})

	t.Run("refusals fail the close with EINVAL, the reason in .hubfs/errors", func(t *testing.T) {
		for _, tc := range []struct{ name, body, why string }{
			{"ann.json", `{"_id":"bob"}`, "differs from the file name"},
			{"bad.json", `{"name":`, "not valid JSON"},
		} {
			// dd reports a failed close (a shell's redirect does not).
			out, err := sh(t, m, `printf '%s' '`+tc.body+`' | dd of="$MNT/threads/app/people/`+tc.name+`" status=none`)
			if err == nil || !strings.Contains(out, "Invalid argument") {
				t.Errorf("dd of %s into %s: %v %q, want Invalid argument", tc.body, tc.name, err, out)
			}
			errs := mustSh(t, m, `cat "$MNT/.hubfs/errors"`)
			if !slices.ContainsFunc(strings.Split(errs, "\n"), func(l string) bool {
				return strings.Contains(l, "people/"+tc.name) && strings.Contains(l, "EINVAL") && strings.Contains(l, tc.why)
			}) {
				t.Errorf(".hubfs/errors does not say %q for %s:\n%s", tc.why, tc.name, errs)
			}
		}
		if got := hubDoc(t, cl, db, "people", "ann"); !strings.Contains(got, `"name":"Ann"`) {
			t.Errorf("a refused save changed ann: %s", got)
		}
		if out, err := sh(t, m, `ls "$MNT/threads/app/people/bad.json"`); err == nil {
			t.Errorf("a refused new document is listed: %s", out)
		}
	})

	t.Run("a writer killed by SIGKILL mid-write saves nothing", func(t *testing.T) {
		ready := filepath.Join(t.TempDir(), "ready")
		// The writer opens the file itself (killed: its own close drops the
		// write), then the shell that opened the redirect for a killed child
		// closes last. Each writes half an object, says so, and waits to be
		// killed; the test waits for the word, not for a time.
		for i, script := range []string{
			`sh -c 'printf "%s" "{\"name\": \"Ha"; echo $$ > "$1"; exec sleep 60' sh "$READY" > "$F" & wait $! || true`,
			`{ sh -c 'printf "%s" "{\"name\": \"Ha"; echo $$ > "$1"; exec sleep 60' sh "$READY"; } > "$F" || true`,
		} {
			for _, name := range []string{"new", "ann"} {
				os.Remove(ready)
				before := hubDoc(t, cl, db, "people", name)
				cmd := shCmd(m, script, "READY="+ready, "F="+filepath.Join(dir, name+".json"))
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				var pid int
				waitFor(t, 20*time.Second, "the writer to write its half", func() bool {
					b, _ := os.ReadFile(ready)
					pid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
					return pid > 0
				})
				if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
					t.Fatal(err)
				}
				if err := cmd.Wait(); err != nil {
					t.Errorf("writer %d on %s: %v", i, name, err)
				}
				if got := hubDoc(t, cl, db, "people", name); got != before {
					t.Errorf("writer %d killed mid-write on %s.json: the hub has %q, had %q", i, name, got, before)
				}
			}
		}
	})

	t.Run("a document made through the Go client shows without a TTL wait", func(t *testing.T) {
		ctx := context.Background()
		names := func() []string {
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
		// The DB's watch started when this mount first touched it; a save
		// shows once it is up.
		waitFor(t, 20*time.Second, "a document saved elsewhere to show in ls", func() bool {
			if err := cl.Save(ctx, db, "people", []byte(`{"_id":"probe","name":"P"}`)); err != nil {
				t.Fatal(err)
			}
			return slices.Contains(names(), "probe.json")
		})
		if _, err := cl.Create(ctx, db, "people", []byte(`{"_id":"go","name":"Go"}`)); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 20*time.Second, "go.json in ls", func() bool { return slices.Contains(names(), "go.json") })
		if got := mustSh(t, m, `cat "$MNT/threads/app/people/go.json"`); got != `{"_id":"go","name":"Go"}`+"\n" {
			t.Errorf("go.json: %q", got)
		}
		if err := cl.Delete(ctx, db, "people", "go", "probe"); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 20*time.Second, "go.json to leave ls", func() bool {
			_, err := os.Stat(filepath.Join(dir, "go.json"))
			return !slices.Contains(names(), "go.json") && os.IsNotExist(err)
		})
	})

	t.Run("rm deletes; rmdir of a full collection is ENOTEMPTY, of an empty one deletes it", func(t *testing.T) {
		out, err := sh(t, m, `rmdir "$MNT/threads/app/people"`)
		if err == nil || !strings.Contains(out, "Directory not empty") {
			t.Errorf("rmdir of a collection with documents: %v %q, want Directory not empty", err, out)
		}
		mustSh(t, m, `cd "$MNT/threads/app/people" && rm ann.json nest.json cy.json`)
		for _, id := range []string{"ann", "nest", "cy"} {
			if got := hubDoc(t, cl, db, "people", id); got != "" {
				t.Errorf("after rm %s.json the hub has %s", id, got)
			}
		}
		if out, err := sh(t, m, `rm "$MNT/threads/app/people/.schema.json"`); err == nil {
			t.Errorf("rm .schema.json succeeded: %s", out)
		}
		mustSh(t, m, `rmdir "$MNT/threads/app/people"`)
		if _, err := cl.GetCollectionInfo(context.Background(), db, "people"); err == nil {
			t.Error("the collection is still on the hub after rmdir")
		}
	})
}
