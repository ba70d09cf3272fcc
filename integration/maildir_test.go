package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hubfs/hubfs/hub"
	"github.com/hubfs/hubfs/hubd/hubdtest"
)

// The Maildir view through the built binary and real mail clients
// (docs/semantics.md, "The Maildir view"): Python's mailbox and email
// modules, notmuch and neomutt read MNT/Maildir unmodified; renames and
// unlinks reach the hub; flags survive a remount.

// maildirFixture is alice's mount with three messages from bob, whom her
// contacts file names: a plain text, a binary body, and an RFC 5322
// message such as `hubfs sendmail` sends; and one she sent him.
type maildirFixture struct {
	h        *hubdtest.Hub
	alice    *user
	bob      *user
	am       *mount
	contacts string
	args     []string // alice's mount flags
}

func newMaildirFixture(t *testing.T) *maildirFixture {
	t.Helper()
	requireFUSE(t)
	f := &maildirFixture{h: hubdtest.Start(t)}
	f.alice, f.bob = newUser(t, f.h, "alice"), newUser(t, f.h, "bob")
	f.contacts = filepath.Join(t.TempDir(), "contacts")
	if err := os.WriteFile(f.contacts, []byte("# alice's book\nbob "+f.bob.pub+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f.args = []string{"--contacts=" + f.contacts}
	bm := mountUser(t, f.bob)
	clientFor(t, f.h, f.alice.keyFile) // alice's mailbox, before bob writes to it
	send(t, bm, f.alice.pub, []byte("hello alice, plain text\n"))
	send(t, bm, f.alice.pub, []byte{0, 1, 2, 0xff, 'b', 'i', 'n'})
	send(t, bm, f.alice.pub, []byte("From: Bob Claimed <bob@example.org>\n"+
		"To: alice <"+f.alice.pub+"@hubfs.invalid>\n"+
		"Subject: lunch?\n"+
		"Message-ID: <lunch-1@bob.example>\n"+
		"Date: Mon, 30 Nov 2026 12:00:00 +0000\n"+
		"\n"+
		"noon at the usual place\n"))
	f.am = mountUser(t, f.alice, f.args...)
	waitIDs(t, f.am, "inbox", 3)
	send(t, f.am, f.bob.pub, []byte("Subject: re: lunch?\nIn-Reply-To: <lunch-1@bob.example>\n\nyes\n"))
	return f
}

// maildirFiles lists a Maildir subdirectory.
func maildirFiles(t *testing.T, m *mount, dir string) []string {
	t.Helper()
	return ids(t, m, filepath.Join("Maildir", dir))
}

// TestMaildirClients: Python, notmuch and neomutt read the view.
func TestMaildirClients(t *testing.T) {
	requireTool(t, "python3", "python3")
	requireTool(t, "notmuch", "notmuch")
	requireTool(t, "neomutt", "neomutt")
	requireTool(t, "tmux", "tmux")
	f := newMaildirFixture(t)
	am := f.am
	if got := maildirFiles(t, am, "new"); len(got) != 3 {
		t.Fatalf("Maildir/new = %v, want the 3 unread messages", got)
	}
	if got := maildirFiles(t, am, ".Sent/cur"); len(got) != 1 {
		t.Fatalf("Maildir/.Sent/cur = %v, want the sent message", got)
	}

	t.Run("python", func(t *testing.T) {
		// Every file parses, with the headers the docs promise, and stat's
		// size is what reading gives.
		script := `
import email, email.policy, json, mailbox, os, sys
md = mailbox.Maildir(sys.argv[1], factory=None, create=False)
out = []
for folder, box in ((md, "inbox"), (md.get_folder("Sent"), "sent")):
    for key in folder.keys():
        path = os.path.join(sys.argv[1] if box == "inbox" else os.path.join(sys.argv[1], ".Sent"), folder._toc[key])
        size = os.stat(path).st_size
        raw = open(path, "rb").read()
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        out.append({"box": box, "size_ok": size == len(raw), "defects": len(msg.defects),
            "from": str(msg["From"]), "to": str(msg["To"]), "date": str(msg["Date"]),
            "message_id": str(msg["Message-ID"]), "mime": str(msg["MIME-Version"]),
            "ctype": msg.get_content_type(), "sig": str(msg["X-Hubfs-Signature"]),
            "claimed": str(msg["X-Hubfs-Claimed-From"]), "subject": str(msg["Subject"]),
            "body": msg.get_payload(decode=True).decode("latin-1") if not msg.is_multipart() else "",
            "flags": folder.get_message(key).get_flags(), "subdir": folder.get_message(key).get_subdir()})
print(json.dumps(out))
`
		out, err := exec.Command("python3", "-c", script, am.path("Maildir")).CombinedOutput()
		if err != nil {
			t.Fatalf("python: %v\n%s", err, out)
		}
		var msgs []map[string]any
		if err := json.Unmarshal(out, &msgs); err != nil {
			t.Fatalf("python output: %v\n%s", err, out)
		}
		if len(msgs) != 4 {
			t.Fatalf("python read %d messages, want 4: %s", len(msgs), out)
		}
		var plain, binary, rfc, sent bool
		for _, m := range msgs {
			if m["size_ok"] != true || m["defects"].(float64) != 0 || m["sig"] != "valid" || m["date"] == "None" || m["message_id"] == "None" {
				t.Errorf("message %v", m)
			}
			switch {
			case m["box"] == "sent":
				sent = m["subdir"] == "cur" && m["flags"] == "S" && strings.Contains(m["from"].(string), f.alice.pub+"@hubfs.invalid") &&
					strings.Contains(m["to"].(string), `bob <`+f.bob.pub+"@hubfs.invalid>")
			case m["ctype"] == "application/octet-stream":
				binary = m["body"] == "\x00\x01\x02\u00ffbin" // decoded as latin-1
			case m["subject"] == "lunch?":
				rfc = m["message_id"] == "<lunch-1@bob.example>" && m["claimed"] == "Bob Claimed <bob@example.org>" &&
					m["from"] == "bob <"+f.bob.pub+"@hubfs.invalid>" && m["body"] == "noon at the usual place\n"
			default:
				plain = m["ctype"] == "text/plain" && m["mime"] == "1.0" && m["body"] == "hello alice, plain text\n" &&
					m["from"] == "bob <"+f.bob.pub+"@hubfs.invalid>" && m["subdir"] == "new"
			}
		}
		if !plain || !binary || !rfc || !sent {
			t.Errorf("plain %v, binary %v, rfc 5322 %v, sent %v:\n%s", plain, binary, rfc, sent, out)
		}
	})

	t.Run("notmuch", func(t *testing.T) {
		notmuch := notmuchOn(t, am, f.alice)
		if out := notmuch("new"); !strings.Contains(out, "Added 4 new messages") {
			t.Errorf("notmuch new: %s", out)
		}
		if n := strings.Count(notmuch("search", "--output=files", "from:bob"), "\n"); n != 3 {
			t.Errorf("notmuch search from:bob finds %d files, want 3", n)
		}
		if n := strings.Count(notmuch("search", "--output=messages", "tag:unread"), "\n"); n != 3 {
			t.Errorf("notmuch: %d unread, want 3 (the sent one is seen)", n)
		}
		// The reply threads with what it replies to.
		if n := strings.Count(notmuch("search", "--output=threads", "*"), "\n"); n != 3 {
			t.Errorf("notmuch: %d threads, want 3 (the reply joins lunch?)", n)
		}
	})

	t.Run("neomutt", func(t *testing.T) {
		rc := filepath.Join(t.TempDir(), "neomuttrc")
		if err := os.WriteFile(rc, []byte("set folder="+am.path("Maildir")+"\nset spoolfile="+am.path("Maildir")+
			"\nset mbox_type=Maildir\nset move=no\nset mark_old=no\nset header_cache=\nset message_cachedir=\n"+
			"set resolve=no\nset delete=yes\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		session := fmt.Sprintf("hubfs-maildir-%d", os.Getpid())
		tmux := func(args ...string) (string, error) {
			out, err := exec.Command("tmux", append([]string{"-L", session}, args...)...).CombinedOutput()
			return string(out), err
		}
		if out, err := tmux("new-session", "-d", "-s", session, "-x", "160", "-y", "40",
			"env TERM=xterm neomutt -n -F "+rc+" -f "+am.path("Maildir")); err != nil {
			t.Fatalf("tmux: %v\n%s", err, out)
		}
		t.Cleanup(func() { tmux("kill-server") })
		screen := func() string { s, _ := tmux("capture-pane", "-p", "-t", session); return s }
		waitFor(t, 20*time.Second, "neomutt's index", func() bool { return strings.Contains(screen(), "Msgs:") })
		if s := screen(); !strings.Contains(s, "Msgs:3 New:3") || !strings.Contains(s, "lunch?") || !strings.Contains(s, " bob ") {
			t.Errorf("neomutt's index does not show the 3 new messages from bob:\n%s", s)
		}
		// Read the first message, sync: neomutt renames it to cur/...:2,S,
		// which marks it read on the hub.
		tmux("send-keys", "-t", session, "Enter")
		waitFor(t, 10*time.Second, "neomutt's pager", func() bool {
			s := screen() // the first by date is lunch?, dated before the others
			return strings.Contains(s, "noon at the usual place")
		})
		tmux("send-keys", "-t", session, "q")
		tmux("send-keys", "-t", session, "$")
		waitFor(t, 10*time.Second, "neomutt's sync to reach the hub", func() bool {
			return len(maildirFiles(t, am, "new")) == 2
		})
		cur := maildirFiles(t, am, "cur")
		if len(cur) != 1 || !strings.HasSuffix(cur[0], ":2,S") {
			t.Errorf("cur/ after neomutt read one: %v", cur)
		}
		if n := len(unreadOnHub(t, f)); n != 2 {
			t.Errorf("the hub has %d unread after neomutt read one, want 2", n)
		}

		// Mark it unread again (N), sync: the rename that drops S is
		// refused, neomutt says it could not write the folder, and the
		// message stays read, here and on the hub.
		tmux("send-keys", "-t", session, "N")
		tmux("send-keys", "-t", session, "$")
		waitFor(t, 10*time.Second, "neomutt's failed sync", func() bool { return strings.Contains(screen(), "Unable to write") })
		if cur := maildirFiles(t, am, "cur"); len(cur) != 1 || !strings.HasSuffix(cur[0], ":2,S") {
			t.Errorf("cur/ after a refused unread: %v", cur)
		}
		if n := len(unreadOnHub(t, f)); n != 2 {
			t.Errorf("the hub has %d unread after a refused unread, want 2", n)
		}

		// Undo it, delete the message (d), sync: neomutt unlinks it,
		// which deletes it on the hub.
		tmux("send-keys", "-t", session, "N")
		tmux("send-keys", "-t", session, "d")
		tmux("send-keys", "-t", session, "$")
		waitFor(t, 10*time.Second, "neomutt's delete to reach the hub", func() bool { return inboxOnHub(t, f) == 2 })
		waitFor(t, 10*time.Second, "neomutt's index after the delete", func() bool { return strings.Contains(screen(), "Msgs:2 New:2") })
		if cur := maildirFiles(t, am, "cur"); len(cur) != 0 {
			t.Errorf("cur/ after neomutt deleted the read message: %v", cur)
		}
		tmux("send-keys", "-t", session, "q")
	})
}

// inboxOnHub is how many messages alice's inbox has on the hub.
func inboxOnHub(t *testing.T, f *maildirFixture) int {
	t.Helper()
	cl, _ := clientFor(t, f.h, f.alice.keyFile)
	n := 0
	for _, err := range cl.InboxMessages(context.Background(), hub.InboxListOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	return n
}

// notmuchOn runs notmuch with a fresh database (outside the mount) over
// m's Maildir, flags synchronized, and fails the test if it fails.
func notmuchOn(t *testing.T, m *mount, u *user) func(args ...string) string {
	t.Helper()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "notmuch-config")
	if err := os.Mkdir(filepath.Join(dir, "db"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(
		"[database]\npath=%s\nmail_root=%s\n[user]\nname=%s\nprimary_email=%s@hubfs.invalid\n[new]\ntags=unread;inbox;\n[maildir]\nsynchronize_flags=true\n",
		filepath.Join(dir, "db"), m.path("Maildir"), u.name, u.pub)), 0o600); err != nil {
		t.Fatal(err)
	}
	return func(args ...string) string {
		t.Helper()
		cmd := exec.Command("notmuch", args...)
		cmd.Env = append(os.Environ(), "NOTMUCH_CONFIG="+cfg)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("notmuch %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
}

// TestMaildirNotmuchAgain: a second `notmuch new` finds new mail and
// follows a rename made by another client (by file name and Message-ID),
// and a tag change in notmuch (its flag sync renames the file) reaches
// the hub.
func TestMaildirNotmuchAgain(t *testing.T) {
	requireTool(t, "notmuch", "notmuch")
	f := newMaildirFixture(t)
	notmuch := notmuchOn(t, f.am, f.alice)
	if out := notmuch("new"); !strings.Contains(out, "Added 4 new messages") {
		t.Fatalf("notmuch new: %s", out)
	}
	// Another client marks one read: new/X becomes cur/X:2,S.
	x := maildirFiles(t, f.am, "new")[0]
	mustSh(t, f.am, `cd "$MNT/Maildir" && mv new/`+x+` cur/`+x+`:2,S`)
	if out, err := sendmailAs(f.bob, nil, "Subject: later\n\nanother\n", "--no-mount", f.alice.pub); err != nil {
		t.Fatalf("sendmail: %v\n%s", err, out)
	}
	waitFor(t, 20*time.Second, "the new message in new/", func() bool { return len(maildirFiles(t, f.am, "new")) == 3 })
	out := notmuch("new")
	if !strings.Contains(out, "Added 1 new message") || !strings.Contains(out, "Detected 1 file rename") {
		t.Errorf("a second notmuch new: %s", out)
	}
	if n := strings.Count(notmuch("search", "--output=files", "from:bob"), "\n"); n != 4 {
		t.Errorf("notmuch search from:bob finds %d files, want 4", n)
	}
	if got := notmuch("search", "--output=files", "subject:later"); !strings.Contains(got, "/Maildir/new/") {
		t.Errorf("the new message: %q", got)
	}
	if got := notmuch("search", "--output=files", "tag:unread"); strings.Contains(got, x) || strings.Count(got, "\n") != 3 {
		t.Errorf("unread in notmuch: %q; want 3, not %s, read elsewhere", got, x)
	}
	// notmuch marks one read: its flag sync renames the file.
	notmuch("tag", "-unread", "--", "subject:later")
	if n := len(unreadOnHub(t, f)); n != 2 {
		t.Errorf("the hub has %d unread after notmuch tag -unread, want 2", n)
	}
	if out := notmuch("new"); !strings.Contains(out, "No new mail") {
		t.Errorf("a third notmuch new: %s", out)
	}
}

// unreadOnHub is alice's unread inbox as the hub has it.
func unreadOnHub(t *testing.T, f *maildirFixture) []string {
	t.Helper()
	cl, _ := clientFor(t, f.h, f.alice.keyFile)
	var out []string
	for m, err := range cl.InboxMessages(context.Background(), hub.InboxListOptions{Ascending: true}) {
		if err != nil {
			t.Fatal(err)
		}
		if m.Unread() {
			out = append(out, m.ID)
		}
	}
	return out
}

// TestMaildirOperations: mv and rm, as a mail client does them, reach the
// hub; local flags survive a remount; unread is refused.
func TestMaildirOperations(t *testing.T) {
	f := newMaildirFixture(t)
	newFiles := maildirFiles(t, f.am, "new")
	if len(newFiles) != 3 {
		t.Fatalf("new/ = %v", newFiles)
	}
	x, y := newFiles[0], newFiles[1]
	out := mustSh(t, f.am, `cd "$MNT/Maildir"
mv new/`+x+` cur/`+x+`:2,FS
mv new/`+y+` cur/`+y+`:2,
mv cur/`+y+`:2, cur/`+y+`:2,R
if mv cur/`+x+`:2,FS cur/`+x+`:2,F 2>&1; then echo unread-allowed; fi
if mv cur/`+x+`:2,FS .Sent/cur/`+x+`:2,FS 2>&1; then echo cross-folder-allowed; fi
if touch tmp/draft 2>&1; then echo tmp-allowed; fi
ls cur`)
	for _, bad := range []string{"unread-allowed", "cross-folder-allowed", "tmp-allowed"} {
		if strings.Contains(out, bad) {
			t.Errorf("%s:\n%s", bad, out)
		}
	}
	if !strings.Contains(out, "Operation not permitted") || !strings.Contains(out, "Permission denied") {
		t.Errorf("refusals do not say why:\n%s", out)
	}
	unread := unreadOnHub(t, f)
	if len(unread) != 2 {
		t.Errorf("after S on one message the hub has %d unread, want 2", len(unread))
	}
	// The state is on disk under the identity, 0700/0600, ids and flags only.
	stateDir := filepath.Join(f.alice.stateDir(), "hubfs", f.alice.pub, "maildir")
	ents, err := os.ReadDir(stateDir)
	if err != nil || len(ents) != 2 {
		t.Errorf("state dir %s: %v, %v; want 2 files", stateDir, ents, err)
	}
	for _, e := range ents {
		b, _ := os.ReadFile(filepath.Join(stateDir, e.Name()))
		if strings.Contains(string(b), "hello") || strings.Contains(string(b), "lunch") {
			t.Errorf("state file %s holds plaintext: %q", e.Name(), b)
		}
	}

	// Nothing alice's mount keeps on disk (state: the flags and the
	// queue; cache: ciphertext) holds a body in plaintext, and every
	// file and directory is hers alone.
	for _, root := range []string{f.alice.stateDir(), filepath.Join(filepath.Dir(f.alice.keyFile), "cache")} {
		filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				t.Errorf("walk %s: %v", p, err)
				return nil
			}
			fi, _ := d.Info()
			if d.IsDir() && fi.Mode().Perm() != 0o700 || !d.IsDir() && fi.Mode().Perm() != 0o600 {
				t.Errorf("%s: mode %v", p, fi.Mode().Perm())
			}
			if !d.IsDir() {
				b, _ := os.ReadFile(p)
				for _, body := range []string{"hello alice, plain text", "noon at the usual place", "lunch?"} {
					if bytes.Contains(b, []byte(body)) {
						t.Errorf("%s holds %q in plaintext", p, body)
					}
				}
			}
			return nil
		})
	}

	// Remount: F on x and "old, replied" on y are still there, and the
	// flags of a message deleted meanwhile (the third, flagged now) go.
	z := newFiles[2]
	mustSh(t, f.am, `cd "$MNT/Maildir" && mv new/`+z+` cur/`+z+`:2,F`)
	f.am.unmount(t)
	run(t, f.alice.env(), "rm", "inbox", strings.Split(z, ".")[1])
	am := mountAt(t, f.alice, f.am.dir, f.args...)
	// The first listing may be the disk cache's, from before the rm; the
	// first refresh brings the deletion.
	waitFor(t, 10*time.Second, "the deletion to show", func() bool {
		return !strings.Contains(strings.Join(maildirFiles(t, am, "cur"), " "), z)
	})
	cur := strings.Join(maildirFiles(t, am, "cur"), " ")
	if !strings.Contains(cur, x+":2,FS") || !strings.Contains(cur, y+":2,R") || strings.Contains(cur, z) {
		t.Errorf("after a remount cur/ = %s, want %s:2,FS and %s:2,R", cur, x, y)
	}
	if ents, _ := os.ReadDir(stateDir); len(ents) != 2 {
		t.Errorf("after a remount the state dir has %d files, want 2 (the deleted message's dropped)", len(ents))
	}

	// Expunge: rm deletes on the hub.
	if err := os.Remove(am.path("Maildir", "cur", x+":2,FS")); err != nil {
		t.Fatal(err)
	}
	cl, _ := clientFor(t, f.h, f.alice.keyFile)
	n := 0
	for _, err := range cl.InboxMessages(context.Background(), hub.InboxListOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n != 1 {
		t.Errorf("after rm the hub's inbox has %d messages, want 1", n)
	}
	if err := os.Rename(am.path("Maildir", "cur", x+":2,FS"), am.path("Maildir", "cur", x+":2,FRS")); errnoOf(err) != syscall.ENOENT {
		t.Errorf("rename of the deleted message: %v, want ENOENT", err)
	}
}

// TestMaildirAerc: aerc (a maildir source) lists the folder, opening a
// message marks it read on the hub, :delete deletes it there.
func TestMaildirAerc(t *testing.T) {
	requireTool(t, "aerc", "aerc")
	requireTool(t, "tmux", "tmux")
	f := newMaildirFixture(t)
	home := t.TempDir()
	if err := os.MkdirAll(filepath.Join(home, "aerc"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(home, "aerc", "accounts.conf"), []byte("[hubfs]\nsource = maildir://"+f.am.dir+
		"\nfolders = Maildir,Maildir/.Sent\ndefault = Maildir\noutgoing = "+hubfsBin+" sendmail -t\nfrom = alice <"+f.alice.pub+"@hubfs.invalid>\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	session := fmt.Sprintf("hubfs-aerc-%d", os.Getpid())
	tmux := func(args ...string) (string, error) {
		out, err := exec.Command("tmux", append([]string{"-L", session}, args...)...).CombinedOutput()
		return string(out), err
	}
	if out, err := tmux("new-session", "-d", "-s", session, "-x", "160", "-y", "40",
		"env HOME="+home+" XDG_CONFIG_HOME="+home+" XDG_CACHE_HOME="+home+" XDG_DATA_HOME="+home+" TERM=xterm-256color aerc"); err != nil {
		t.Fatalf("tmux: %v\n%s", err, out)
	}
	t.Cleanup(func() { tmux("kill-server") })
	screen := func() string { s, _ := tmux("capture-pane", "-p", "-t", session); return s }
	waitFor(t, 20*time.Second, "aerc's message list", func() bool {
		s := screen()
		return strings.Contains(s, "lunch?") && strings.Contains(s, "Maildir/.Sent")
	})
	if s := screen(); strings.Count(s, "bob") < 3 {
		t.Errorf("aerc does not list the 3 messages from bob:\n%s", s)
	}
	// The first (by date, lunch?) opens; aerc marks it seen: a rename.
	tmux("send-keys", "-t", session, "Enter")
	waitFor(t, 10*time.Second, "aerc's viewer", func() bool { return strings.Contains(screen(), "noon at the usual place") })
	waitFor(t, 10*time.Second, "the read to reach the hub", func() bool { return len(unreadOnHub(t, f)) == 2 })
	tmux("send-keys", "-t", session, "q")
	tmux("send-keys", "-t", session, ":delete", "Enter")
	waitFor(t, 10*time.Second, "aerc's delete to reach the hub", func() bool { return inboxOnHub(t, f) == 2 })
	waitFor(t, 10*time.Second, "aerc's list without the deleted message", func() bool { return !strings.Contains(screen(), "lunch?") })
}
