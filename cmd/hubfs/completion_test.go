package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hubfs/hubfs/contacts"
)

// fixedSources are completion's dynamic words, fixed.
type fixedSources struct{}

func (fixedSources) contacts(map[string]string) []contacts.Contact {
	return []contacts.Contact{{Name: "alice", Key: "bbaakeyalice"}, {Name: "albert", Key: "bbaakeyalbert"}, {Name: "bob", Key: "bbaakeybob"}}
}

func (fixedSources) messageIDs(box string, _ map[string]string) []string {
	if box == "sentbox" {
		return []string{"01SENT000000000000000000001"}
	}
	return []string{"01INBOX00000000000000000001", "01INBOX00000000000000000002"}
}

func words(cands []candidate) []string {
	var out []string
	for _, c := range cands {
		out = append(out, c.word)
	}
	return out
}

// TestComplete: commands, subcommands and flags come from the CLI's own
// definitions; --to completes contact names, in each spelling the shells
// pass it; cat and rm complete message ids of the right box.
func TestComplete(t *testing.T) {
	for _, tc := range []struct {
		words []string
		cur   string
		want  []string
	}{
		{nil, "mo", []string{"mount"}},
		{nil, "c", []string{"cat", "contacts", "completion"}},
		{[]string{"contacts"}, "", []string{"add", "list", "ls", "rm", "remove"}},
		{[]string{"mount"}, "--list", []string{"--list-ttl", "--listen"}},
		{[]string{"mount", "--daemon"}, "--watch", []string{"--watch", "--watch-ttl"}},
		{[]string{"umount"}, "-", []string{"--help", "-h", "--lazy", "-z"}},
		{[]string{"send", "--to"}, "al", []string{"alice", "albert"}},
		{[]string{"send", "--to"}, "", []string{"alice", "albert", "bob"}},
		{[]string{"send", "--to", "="}, "b", []string{"bob"}}, // bash: --to=b
		{[]string{"send", "--to"}, "=", []string{"alice", "albert", "bob"}},
		{[]string{"send"}, "--to=al", []string{"--to=alice", "--to=albert"}}, // zsh, fish
		{[]string{"send", "--hub", "h:1", "--to"}, "b", []string{"bob"}},
		{[]string{"contacts", "rm"}, "a", []string{"alice", "albert"}},
		{[]string{"cat"}, "", []string{"01INBOX00000000000000000001", "01INBOX00000000000000000002"}},
		{[]string{"cat", "--keep-unread"}, "01INBOX00000000000000000002", []string{"01INBOX00000000000000000002"}},
		{[]string{"rm"}, "", []string{"inbox", "sentbox"}},
		{[]string{"rm", "sentbox"}, "", []string{"01SENT000000000000000000001"}},
		{[]string{"rm", "--hub=h:1", "inbox", "01INBOX00000000000000000001"}, "", []string{"01INBOX00000000000000000001", "01INBOX00000000000000000002"}},
		{[]string{"ls"}, "s", []string{"sentbox"}},
		// Values and arguments without known words: the shell's files.
		{[]string{"mount", "--identity"}, "", nil},
		{[]string{"mount"}, "", nil},
		{[]string{"cat", "--"}, "-", []string{}},
		{[]string{"nosuchcommand"}, "", nil},
	} {
		got := words(complete(newApp(), tc.words, tc.cur, fixedSources{}))
		if !slices.Equal(got, tc.want) && !(len(got) == 0 && len(tc.want) == 0) {
			t.Errorf("hubfs %s %q<TAB>: %q, want %q", strings.Join(tc.words, " "), tc.cur, got, tc.want)
		}
	}
	// Hidden commands are not offered.
	if got := words(complete(newApp(), nil, "", fixedSources{})); slices.Contains(got, completeCommandName) || slices.Contains(got, "man") {
		t.Errorf("hubfs <TAB> offers hidden commands: %q", got)
	}
}

// shellHubfs puts a `hubfs` on a PATH that runs this test binary as the
// CLI, and returns the environment for a shell.
func shellHubfs(t *testing.T) []string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := t.TempDir()
	if err := os.Symlink(self, filepath.Join(bin, "hubfs")); err != nil {
		t.Fatal(err)
	}
	return append(os.Environ(), childEnv+"=1", "PATH="+bin+":"+os.Getenv("PATH"))
}

func requireShell(t *testing.T, shell string) string {
	t.Helper()
	p, err := exec.LookPath(shell)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true but %s is missing (Debian package %s): %v", shell, shell, err)
		}
		t.Skipf("no %s: %v", shell, err)
	}
	return p
}

// bashComplete loads the bash script and completes the line words (the
// last one being completed) as bash's programmable completion would.
func bashComplete(t *testing.T, env []string, words ...string) []string {
	t.Helper()
	script := `source <(hubfs completion bash) || exit 1
COMP_WORDS=("$@"); COMP_CWORD=$(( $# - 1 )); COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}
_hubfs
printf '%s\n' "${COMPREPLY[@]}"`
	cmd := exec.Command(requireShell(t, "bash"), append([]string{"-c", script, "bash", "hubfs"}, words...)...)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("bash completion of %q: %v\n%s", words, err, out)
	}
	return strings.Fields(string(out))
}

// TestBashCompletion: the script loads, registers itself for hubfs, and
// completes commands, flags and contact names from the address book.
func TestBashCompletion(t *testing.T) {
	env := shellHubfs(t)
	cmd := exec.Command(requireShell(t, "bash"), "-c", "source <(hubfs completion bash) && complete -p hubfs")
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "-F _hubfs hubfs") {
		t.Fatalf("complete -p hubfs: %v: %s", err, out)
	}
	book := filepath.Join(t.TempDir(), "contacts")
	if err := os.WriteFile(book, []byte("# friends\nalice "+newCLIUser(t).pub()+"\nalbert "+newCLIUser(t).pub()+"\nbob "+newCLIUser(t).pub()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env = append(env, "HUBFS_CONTACTS="+book)
	for _, tc := range []struct {
		words []string
		want  []string
	}{
		{[]string{"um"}, []string{"umount"}},
		{[]string{"keys", "cr"}, []string{"create"}},
		{[]string{"mount", "--poll"}, []string{"--poll-interval"}},
		{[]string{"send", "--to", "al"}, []string{"alice", "albert"}},
		{[]string{"send", "--to", "=", "b"}, []string{"bob"}},
		{[]string{"ls", "i"}, []string{"inbox"}},
	} {
		if got := bashComplete(t, env, tc.words...); !slices.Equal(got, tc.want) {
			t.Errorf("hubfs %s<TAB>: %q, want %q", strings.Join(tc.words, " "), got, tc.want)
		}
	}
	// Another address book, named on the line.
	other := filepath.Join(t.TempDir(), "contacts")
	os.WriteFile(other, []byte("carol "+newCLIUser(t).pub()+"\n"), 0o600)
	if got := bashComplete(t, env, "send", "--contacts", other, "--to", ""); !slices.Equal(got, []string{"carol"}) {
		t.Errorf("with --contacts %s: %q, want [carol]", other, got)
	}
}

// TestCompletionFromTheHub: with no mount of the identity, cat completes
// the inbox's ids from the hub, with the connection flags on the line.
func TestCompletionFromTheHub(t *testing.T) {
	ch := startCLIHub(t)
	alice, bob := newCLIUser(t), newCLIUser(t)
	ch.must(t, bob, "", "ls", "inbox") // sets up bob's mailbox
	id := strings.TrimSpace(ch.must(t, alice, "hi", "send", "--to", bob.pub()))
	line := []string{"cat", "--hub", ch.h.Addr, "--key", ch.h.Key, "--secret-file", ch.secretFile, "--identity", bob.path, ""}
	if got := bashComplete(t, shellHubfs(t), line...); !slices.Equal(got, []string{id}) {
		t.Errorf("hubfs cat <TAB> with bob's connection flags: %q, want [%s]", got, id)
	}
}

// TestZshAndFishScripts: the scripts parse (zsh -n, fish -n), and fish's
// completes a command through the same callback.
func TestZshAndFishScripts(t *testing.T) {
	env := shellHubfs(t)
	for _, shell := range []string{"zsh", "fish"} {
		path := filepath.Join(t.TempDir(), "hubfs."+shell)
		out, _, err := runApp([]string{"hubfs", "completion", shell}, "")
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(path, []byte(out), 0o644)
		cmd := exec.Command(requireShell(t, shell), "-n", path)
		if msg, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("%s -n: %v\n%s", shell, err, msg)
		}
	}
	cmd := exec.Command(requireShell(t, "fish"), "--no-config", "-c", "source (hubfs completion fish | psub); complete -C 'hubfs mou'")
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "mount\t") {
		t.Errorf("fish: complete -C 'hubfs mou': %v: %q", err, out)
	}
	zsh := exec.Command(requireShell(t, "zsh"), "-f", "-c", `autoload -U compinit && compinit -u && source <(hubfs completion zsh) && print -r -- ${_comps[hubfs]}`)
	zsh.Env = env
	if out, err := zsh.CombinedOutput(); err != nil || strings.TrimSpace(string(out)) != "_hubfs" {
		t.Errorf("zsh: the script does not register _hubfs for hubfs: %v: %q", err, out)
	}
	for _, bad := range [][]string{{"completion"}, {"completion", "tcsh"}} {
		_, _, err := runApp(append([]string{"hubfs"}, bad...), "")
		wantUsage(t, err, "shell")
	}
}
