package mailfs

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/hubfs/hubfs/contacts"
	"github.com/hubfs/hubfs/hub"
	"github.com/hubfs/hubfs/hubd/hubdtest"
	"github.com/hubfs/hubfs/identity"
	"github.com/hubfs/hubfs/mailbox/hubmail"
)

func mountWithContacts(t *testing.T, h *hubdtest.Hub, book string) *testMount {
	t.Helper()
	return mountOpts(t, h, withCache(time.Second, 0, 0), func(cl *hub.Client) hubmail.Client { return cl }, MountOptions{},
		Options{Contacts: contacts.Open(book)})
}

// waitContacts polls cond until it holds: the book is re-read at most once a
// second and the kernel keeps contacts/ entries for a second.
func waitContacts(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestContactsDir: contacts/NAME holds the key, the listing is the book,
// an edit of the file shows, and the view cannot be written.
func TestContactsDir(t *testing.T) {
	h := hubdtest.Start(t)
	book := filepath.Join(t.TempDir(), "contacts")
	bob, bobKey := dialUser(t, h)
	defer bob.Close()
	carolKey := newPub(t)
	if err := contacts.Add(book, "bob", bobKey.Public().String()); err != nil {
		t.Fatal(err)
	}
	m := mountWithContacts(t, h, book)

	if b, err := os.ReadFile(m.path("contacts", "bob")); err != nil || string(b) != bobKey.Public().String()+"\n" {
		t.Fatalf("contacts/bob = %q, %v", b, err)
	}
	fi, err := os.Stat(m.path("contacts", "bob"))
	if err != nil || fi.Size() != int64(len(bobKey.Public().String())+1) || fi.Mode().Perm() != 0o400 {
		t.Fatalf("stat contacts/bob: %v, %v", fi, err)
	}
	if _, err := os.Stat(m.path("contacts", "carol")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("contacts/carol before it is added: %v", err)
	}

	if err := contacts.Add(book, "carol", carolKey); err != nil {
		t.Fatal(err)
	}
	waitContacts(t, "carol in contacts/", func() bool {
		names, _ := readNames(m.path("contacts"))
		_, err := os.Stat(m.path("contacts", "carol"))
		return slices.Equal(names, []string{"bob", "carol"}) && err == nil
	})
	if err := contacts.Set(book, "carol", bobKey.Public().String()); err != nil {
		t.Fatal(err)
	}
	waitContacts(t, "carol's new key", func() bool {
		b, _ := os.ReadFile(m.path("contacts", "carol"))
		return string(b) == bobKey.Public().String()+"\n"
	})
	if err := contacts.Remove(book, "carol"); err != nil {
		t.Fatal(err)
	}
	waitContacts(t, "carol gone", func() bool {
		_, err := os.Stat(m.path("contacts", "carol"))
		return errors.Is(err, os.ErrNotExist)
	})

	for _, tc := range []struct {
		what string
		err  error
		want syscall.Errno
	}{
		{"write a contact", os.WriteFile(m.path("contacts", "bob"), []byte("x"), 0o600), syscall.EACCES},
		{"create a contact", os.WriteFile(m.path("contacts", "dave"), []byte("x"), 0o600), syscall.EACCES},
		{"rm a contact", os.Remove(m.path("contacts", "bob")), syscall.EACCES},
		{"rename a contact", os.Rename(m.path("contacts", "bob"), m.path("contacts", "b")), syscall.EACCES},
	} {
		if !errors.Is(tc.err, tc.want) && !errors.Is(tc.err, syscall.EPERM) {
			t.Errorf("%s: %v, want %v or EPERM", tc.what, tc.err, tc.want)
		}
	}
	if b, _ := contacts.Load(book); b.Len() != 1 {
		t.Error("the book changed through the mount")
	}
}

// TestOutboxByName: outbox/NAME sends to the contact's key; a key still
// works; a name that is neither is EINVAL, as a bad key always was.
func TestOutboxByName(t *testing.T) {
	h := hubdtest.Start(t)
	book := filepath.Join(t.TempDir(), "contacts")
	bob, bobKey := dialUser(t, h)
	defer bob.Close()
	if err := contacts.Add(book, "bob", bobKey.Public().String()); err != nil {
		t.Fatal(err)
	}
	m := mountWithContacts(t, h, book)
	if err := os.WriteFile(m.path("outbox", "bob"), []byte("by name"), 0o600); err != nil {
		t.Fatalf("write outbox/bob: %v", err)
	}
	if err := os.WriteFile(m.path("outbox", bobKey.Public().String()), []byte("by key"), 0o600); err != nil {
		t.Fatalf("write outbox/KEY: %v", err)
	}
	got := sentBodies(t, m)
	if !slices.Equal(got, []string{"by name", "by key"}) {
		t.Fatalf("sentbox: %q", got)
	}
	for msg, err := range m.cl.SentboxMessages(t.Context(), hub.SentboxListOptions{}) {
		if err != nil || msg.To != bobKey.Public().String() {
			t.Fatalf("sent to %s (%v), want bob's key", msg.To, err)
		}
	}
	for _, name := range []string{"carol", "not a name", "bbaareiamistypedkeymistypedkeymistypedkeymistypedkeyxxxx"} {
		if err := os.WriteFile(m.path("outbox", name), []byte("x"), 0o600); !errors.Is(err, syscall.EINVAL) {
			t.Errorf("write outbox/%s: %v, want EINVAL", name, err)
		}
	}
}

func readNames(dir string) ([]string, error) {
	es, err := os.ReadDir(dir)
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names, err
}

func newPub(t *testing.T) string {
	t.Helper()
	k, err := identity.NewPrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k.Public().String()
}
