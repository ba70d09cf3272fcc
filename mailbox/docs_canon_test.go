package mailbox_test

import (
	"testing"

	"github.com/hubfs/hubfs/hubd/threaddb"
	"github.com/hubfs/hubfs/mailbox"
)

// TestRenderingIsTheHubsCanonicalForm: a document reads as the hub stores
// it plus a newline, so that ls -l sizes are those of what the hub holds
// and a file read and written back is unchanged. The client may not import
// the server, so each renders on its own: this test holds them together.
func TestRenderingIsTheHubsCanonicalForm(t *testing.T) {
	for _, in := range []string{
		`{"_id":"a"}`,
		`{"z":1,"_id":"a","m":{"y":[1,2,{"b":true,"a":null}],"x":"<&>"}}`,
		`{"_id":"a","n":12345678901234567890.125,"e":-1.5e-300,"i":0}`,
		`{"_id":"a","s":"é\u2028\u0000\"\\/ tab\t"}`,
		`{"_id":"a","":"empty key","k":{}, "l":[]}`,
	} {
		doc, err := threaddb.ParseInstance([]byte(in))
		if err != nil {
			t.Fatalf("ParseInstance(%s): %v", in, err)
		}
		hub, err := threaddb.Canonical(doc)
		if err != nil {
			t.Fatal(err)
		}
		ours, err := mailbox.RenderDocument([]byte(in))
		if err != nil {
			t.Fatal(err)
		}
		if string(ours) != string(hub)+"\n" {
			t.Errorf("%s:\n the mount renders %q\n the hub stores   %q", in, ours, hub)
		}
		id, err := mailbox.ParseDocument("a", []byte(in))
		if err != nil || string(id) != string(hub) {
			t.Errorf("%s: ParseDocument sends %q, %v; the hub stores %q", in, id, err, hub)
		}
	}
}
