package integration

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImportArrows keeps the house's arrows pointing one way
// (docs/architecture.md): the server (hubd and its stores) imports no client
// package, the client side imports no server package, test helpers
// included, and the node tree speaks no gRPC.
func TestImportArrows(t *testing.T) {
	const mod = "github.com/hubfs/hubfs/"
	deps := func(pkgs ...string) []string {
		t.Helper()
		out, err := exec.Command("go", append([]string{"list", "-deps"}, pkgs...)...).Output()
		if err != nil {
			t.Fatalf("go list -deps %v: %v", pkgs, err)
		}
		return strings.Fields(string(out))
	}
	client := []string{"hub", "cache", "mailfs", "mailbox", "queue", "events", "internal", "contacts", "maildir", "mailmsg"}
	server := []string{"hubd"}
	forbid := func(from []string, banned []string) {
		t.Helper()
		var pkgs []string
		for _, p := range from {
			pkgs = append(pkgs, "../"+p+"/...")
		}
		for _, d := range deps(pkgs...) {
			for _, b := range banned {
				if d == mod+b || strings.HasPrefix(d, mod+b+"/") {
					t.Errorf("%v imports %s: an arrow runs across", from, d)
				}
			}
		}
	}
	forbid(server, client)
	forbid(client, server)

	// The node tree, the model and the cache know the hub only through the
	// model's interfaces (mailbox/hubmail adapts the client).
	for _, d := range deps("../mailfs", "../mailbox", "../cache") {
		if strings.HasPrefix(d, "google.golang.org/grpc") || d == mod+"hub" || d == mod+"wire/pb" {
			t.Errorf("mailfs, mailbox or cache depends on %s", d)
		}
	}

	// The thread DB logic is pure: no gRPC, and of hubd only the store's
	// model types.
	for _, d := range deps("../hubd/threaddb") {
		if strings.HasPrefix(d, "google.golang.org/grpc") || d == mod+"wire/pb" ||
			strings.HasPrefix(d, mod+"hubd") && d != mod+"hubd/threaddb" && d != mod+"hubd/store" {
			t.Errorf("hubd/threaddb depends on %s", d)
		}
	}
	// The Maildir names, flags state and message format are pure: nothing
	// of ours.
	for _, d := range deps("../maildir", "../mailmsg") {
		if strings.HasPrefix(d, mod) && d != mod+"maildir" && d != mod+"mailmsg" {
			t.Errorf("maildir or mailmsg depends on %s", d)
		}
	}

	// The address book is a file and its parser: of ours, only identity.
	for _, d := range deps("../contacts") {
		if strings.HasPrefix(d, mod) && d != mod+"contacts" && d != mod+"identity" {
			t.Errorf("contacts depends on %s", d)
		}
	}
}
