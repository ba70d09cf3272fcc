package mailfs

import (
	"slices"
	"strings"
	"testing"
)

func TestHubfsMountsUnder(t *testing.T) {
	const table = `22 1 0:21 / /proc rw - proc proc rw
40 30 0:50 / /mnt/mail rw - fuse.hubfs hubfs rw
41 40 0:51 / /mnt/mail/inbox rw - fuse.hubfs hubfs rw
42 40 0:52 / /mnt/mail/sentbox rw - fuse.hubfs hubfs rw
43 40 0:53 / /mnt/mail/tmp rw - tmpfs tmpfs rw
44 30 0:54 / /mnt/mailx/inbox rw - fuse.hubfs hubfs rw
45 30 0:55 / /mnt/my\040mail rw - fuse.hubfs hubfs rw
46 45 0:56 / /mnt/my\040mail/unread rw - fuse.hubfs hubfs rw
47 41 0:57 / /mnt/mail/inbox/deeper rw - fuse.hubfs hubfs rw
`
	for _, tc := range []struct {
		dir  string
		want []string
	}{
		{"/mnt/mail", []string{"/mnt/mail/inbox/deeper", "/mnt/mail/inbox", "/mnt/mail/sentbox"}}, // not tmpfs, not mailx
		{"/mnt/mail/", []string{"/mnt/mail/inbox/deeper", "/mnt/mail/inbox", "/mnt/mail/sentbox"}},
		{"/mnt/my mail", []string{"/mnt/my mail/unread"}},
		{"/mnt/none", nil},
	} {
		if got := hubfsMountsUnder(strings.NewReader(table), tc.dir); !slices.Equal(got, tc.want) {
			t.Errorf("hubfsMountsUnder(%q) = %q, want %q", tc.dir, got, tc.want)
		}
	}
}

// TestTopLevel: a --no-open mount's box connections are not mounts of
// their own for the commands that look for a running mount.
func TestTopLevel(t *testing.T) {
	all := []string{"/m", "/m/inbox", "/m/unread", "/m/sentbox", "/mail box", "/mx"}
	if got, want := topLevel(all), []string{"/m", "/mail box", "/mx"}; !slices.Equal(got, want) {
		t.Errorf("topLevel = %q, want %q", got, want)
	}
}
