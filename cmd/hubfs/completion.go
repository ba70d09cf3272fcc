// Shell completion: `hubfs completion bash|zsh|fish` prints a script that
// asks `hubfs __complete SHELL WORDS... CURRENT` for the words that fit.
// The words come from the CLI's own definitions (commands, flags and their
// usage lines), so a new command or flag completes without a table; the
// dynamic ones are contact names after --to and message ids after cat and
// rm, from a running mount's listing when there is one (no hub call) or
// else the hub.
//
// urfave/cli's own --generate-bash-completion is not used: it reads
// os.Args, cannot complete a flag's value (the flag takes the request as
// its value) and runs the command's flag parsing, which fails on the half
// typed line being completed.

package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/hubfs/hubfs/contacts"
	"github.com/hubfs/hubfs/hub"
	"github.com/hubfs/hubfs/identity"
	"github.com/hubfs/hubfs/mailfs"
)

// completeCommandName is the hidden command the scripts call.
const completeCommandName = "__complete"

// How long completion waits for a mount's listing, then for the hub:
// a shell waiting on <TAB> is a person waiting.
const (
	completeMountWait = time.Second
	completeHubWait   = 3 * time.Second
)

func completionCommand() *cli.Command {
	return &cli.Command{
		Name:  "completion",
		Usage: "print the shell completion script for bash, zsh or fish",
		UsageText: "hubfs completion bash|zsh|fish\n\n" +
			"Completes commands, flags, contact names after --to and message ids after cat and rm\n" +
			"(from a running mount when there is one, else from the hub).\n\n" +
			"Example:\n" +
			"   source <(hubfs completion bash)                                # in ~/.bashrc\n" +
			"   hubfs completion zsh > \"${fpath[1]}/_hubfs\"                    # zsh\n" +
			"   hubfs completion fish > ~/.config/fish/completions/hubfs.fish  # fish",
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usagef("completion takes one argument, the shell: bash, zsh or fish")
			}
			script, ok := completionScripts[c.Args().First()]
			if !ok {
				return usagef("completion: unknown shell %q (bash, zsh or fish)", c.Args().First())
			}
			_, err := fmt.Fprint(c.App.Writer, script)
			return err
		},
	}
}

// completeCommand answers the scripts. Its argv is never reordered or
// parsed as flags (run skips flagsFirst for it): the words are the line
// being typed.
func completeCommand() *cli.Command {
	return &cli.Command{
		Name:            completeCommandName,
		Hidden:          true,
		SkipFlagParsing: true,
		Action: func(c *cli.Context) error {
			args := c.Args().Slice()
			if len(args) < 2 {
				return usagef("%s SHELL WORDS... CURRENT", completeCommandName)
			}
			shell, words, cur := args[0], args[1:len(args)-1], args[len(args)-1]
			w := bufio.NewWriter(c.App.Writer)
			for _, cand := range complete(c.App, words, cur, liveSources{ctx: c.Context}) {
				desc := strings.ReplaceAll(cand.desc, "\n", " ")
				switch shell {
				case "zsh":
					fmt.Fprintf(w, "%s:%s\n", strings.ReplaceAll(cand.word, ":", `\:`), desc)
				case "fish":
					fmt.Fprintf(w, "%s\t%s\n", cand.word, desc)
				default:
					fmt.Fprintln(w, cand.word)
				}
			}
			return w.Flush()
		},
	}
}

// candidate is one completion and what it is.
type candidate struct{ word, desc string }

// completionSources are the dynamic words: tests give fixed ones.
type completionSources interface {
	// contacts are the address book's entries; given are the flags
	// typed on the line (by primary name), which may name the book.
	contacts(given map[string]string) []contacts.Contact
	// messageIDs are the ids in box ("inbox" or "sentbox").
	messageIDs(box string, given map[string]string) []string
}

// complete returns the words that may replace cur after words.
func complete(app *cli.App, words []string, cur string, src completionSources) []candidate {
	var (
		path    []string // the command names, "contacts rm"
		flags   = append([]cli.Flag{cli.HelpFlag}, app.Flags...)
		cmds    = app.Commands
		pos     []string
		given   = map[string]string{}
		pending cli.Flag // a flag waiting for its value
		dashes  bool
	)
	for _, w := range words {
		switch {
		case pending != nil:
			if w == "=" { // bash splits --to=bob at the =
				continue
			}
			given[pending.Names()[0]], pending = w, nil
		case dashes:
			pos = append(pos, w)
		case w == "--":
			dashes = true
		case isFlagArg(w):
			name, value, hasValue := strings.Cut(strings.TrimLeft(w, "-"), "=")
			f := lookupFlag(flags, name)
			switch {
			case f == nil:
			case hasValue:
				given[f.Names()[0]] = value
			case flagTakesValue(f):
				pending = f
			default:
				given[f.Names()[0]] = "true"
			}
		default:
			if cmd := findCommand(cmds, w); cmd != nil && len(pos) == 0 {
				path = append(path, cmd.Name)
				flags = append([]cli.Flag{cli.HelpFlag}, cmd.Flags...)
				cmds = cmd.Subcommands
				continue
			}
			pos = append(pos, w)
		}
	}
	if cur == "=" && pending != nil {
		cur = ""
	}
	prefix := ""
	if pending == nil && !dashes && strings.HasPrefix(cur, "-") {
		name, value, hasValue := strings.Cut(strings.TrimLeft(cur, "-"), "=")
		if !hasValue {
			return flagCandidates(flags, cur)
		}
		if pending = lookupFlag(flags, name); pending == nil {
			return nil
		}
		prefix, cur = cur[:len(cur)-len(value)], value
	}
	var out []candidate
	switch {
	case pending != nil:
		if pending.Names()[0] == "to" {
			for _, ct := range src.contacts(given) {
				out = append(out, candidate{prefix + ct.Name, ct.Key})
			}
		}
	case len(cmds) > 0 && len(pos) == 0:
		for _, cmd := range cmds {
			if !cmd.Hidden {
				for _, n := range cmd.Names() {
					out = append(out, candidate{n, cmd.Usage})
				}
			}
		}
	default:
		out = argumentCandidates(strings.Join(path, " "), pos, given, src)
	}
	return withPrefix(out, prefix+cur)
}

// argumentCandidates completes the commands' arguments that have known
// values: boxes, message ids, contact names.
func argumentCandidates(cmd string, pos []string, given map[string]string, src completionSources) []candidate {
	boxes := []candidate{{"inbox", "received messages"}, {"sentbox", "sent messages"}}
	ids := func(box string) []candidate {
		var out []candidate
		for _, id := range src.messageIDs(box, given) {
			out = append(out, candidate{id, box})
		}
		return out
	}
	switch {
	case cmd == "ls" && len(pos) == 0:
		return boxes
	case cmd == "cat":
		return ids("inbox")
	case cmd == "rm" && len(pos) == 0:
		return boxes
	case cmd == "rm" && (pos[0] == "inbox" || pos[0] == "sentbox"):
		return ids(pos[0])
	case cmd == "contacts rm":
		var out []candidate
		for _, ct := range src.contacts(given) {
			out = append(out, candidate{ct.Name, ct.Key})
		}
		return out
	}
	return nil // the shell completes file names
}

func flagCandidates(flags []cli.Flag, cur string) []candidate {
	var out []candidate
	for _, f := range flags {
		if h, ok := f.(interface{ IsVisible() bool }); ok && !h.IsVisible() {
			continue
		}
		usage := ""
		if df, ok := f.(cli.DocGenerationFlag); ok {
			usage = strings.ReplaceAll(df.GetUsage(), "`", "")
		}
		for _, n := range f.Names() {
			dash := "--"
			if len(n) == 1 {
				dash = "-"
			}
			out = append(out, candidate{dash + n, usage})
		}
	}
	return withPrefix(out, cur)
}

func withPrefix(cands []candidate, prefix string) []candidate {
	var out []candidate
	for _, c := range cands {
		if strings.HasPrefix(c.word, prefix) && !slices.ContainsFunc(out, func(o candidate) bool { return o.word == c.word }) {
			out = append(out, c)
		}
	}
	return out
}

func lookupFlag(flags []cli.Flag, name string) cli.Flag {
	for _, f := range flags {
		if f != nil && slices.Contains(f.Names(), name) {
			return f
		}
	}
	return nil
}

func flagTakesValue(f cli.Flag) bool {
	df, ok := f.(cli.DocGenerationFlag)
	return !ok || df.TakesValue()
}

// liveSources read the address book, a running mount or the hub.
type liveSources struct{ ctx context.Context }

// setting is a flag's value from the line, else its environment variable.
func setting(given map[string]string, name, env string) string {
	if v, ok := given[name]; ok {
		return v
	}
	return os.Getenv(env)
}

func (s liveSources) contacts(given map[string]string) []contacts.Contact {
	path := setting(given, "contacts", "HUBFS_CONTACTS")
	if path == "" {
		var err error
		if path, err = contacts.DefaultPath(); err != nil {
			return nil
		}
	}
	book, err := contacts.Load(path)
	if err != nil {
		return nil
	}
	return book.All()
}

func (s liveSources) messageIDs(box string, given map[string]string) []string {
	self := ""
	path := setting(given, "identity", "HUBFS_IDENTITY")
	if path == "" {
		path, _ = identity.DefaultKeyFile()
	}
	if key, err := identity.LoadKeyFile(path); err == nil {
		self = key.Public().String()
	}
	if ids, ok := mountIDs(self, box); ok {
		return ids
	}
	return s.hubIDs(box, given)
}

// mountIDs lists box on a running mount of self's mailbox, if there is one.
func mountIDs(self, box string) ([]string, bool) {
	type result struct {
		ids []string
		ok  bool
	}
	// A hung mount must not hang the shell: give up after a while (the
	// goroutine ends with the process).
	ch := make(chan result, 1)
	go func() {
		for _, dir := range mailfs.TopMounts() {
			b, err := os.ReadFile(filepath.Join(dir, ".hubfs", "status"))
			var st struct {
				Identity string `json:"identity"`
			}
			if err != nil || json.Unmarshal(b, &st) != nil || (self != "" && st.Identity != self) {
				continue
			}
			ents, err := os.ReadDir(filepath.Join(dir, box))
			if err != nil {
				continue
			}
			var ids []string
			for _, e := range ents {
				if hub.CheckMessageID(e.Name()) == nil {
					ids = append(ids, e.Name())
				}
			}
			ch <- result{ids, true}
			return
		}
		ch <- result{}
	}()
	select {
	case r := <-ch:
		return r.ids, r.ok
	case <-time.After(completeMountWait):
		return nil, false
	}
}

// hubIDs lists box on the hub, through `hubfs ls BOX --json` in this
// process with the connection flags from the line.
func (s liveSources) hubIDs(box string, given map[string]string) []string {
	argv := []string{"hubfs", "ls", box, "--json"}
	for _, f := range connectionFlags() {
		if v, ok := given[f.Names()[0]]; ok {
			argv = append(argv, "--"+f.Names()[0]+"="+v)
		}
	}
	var out bytes.Buffer
	app := newApp()
	app.Writer, app.ErrWriter = &out, &bytes.Buffer{}
	ctx, cancel := context.WithTimeout(s.ctx, completeHubWait)
	defer cancel()
	if run(ctx, app, argv) != nil {
		return nil
	}
	var ids []string
	dec := json.NewDecoder(&out)
	for {
		var e lsEntry
		if dec.Decode(&e) != nil {
			return ids
		}
		ids = append(ids, e.ID)
	}
}

var completionScripts = map[string]string{
	"bash": `# bash completion for hubfs: source <(hubfs completion bash)
_hubfs() {
    local IFS=$'\n'
    # bash splits the line at COMP_WORDBREAKS, = and @ among them, so
    # --to=bob and a contact named bob@work come in pieces: glue back the
    # pieces that the line has no blank between.
    local line=${COMP_LINE:0:COMP_POINT} words=() i w n=0
    line=${line#"${line%%[![:space:]]*}"}
    line=${line#"${COMP_WORDS[0]}"}
    for ((i = 1; i <= COMP_CWORD; i++)); do
        w=${COMP_WORDS[i]}
        if [[ $n -eq 0 || -z $w || $line == [[:space:]]* || $line != "$w"* ]]; then
            line=${line#"${line%%[![:space:]]*}"}
            words[n++]=$w
        else
            words[n-1]+=$w
        fi
        line=${line#"$w"}
    done
    [[ $n -eq 0 ]] && words[n++]=
    local cur=${words[n-1]}
    # Readline replaces only what follows the last break in the word, an
    # @ included (bash has it in rl_special_prefixes, for hostnames).
    local keep=${cur%"${cur##*[=@:]}"}
    keep=${keep%@}
    COMPREPLY=($(hubfs __complete bash "${words[@]:0:n-1}" "$cur" 2>/dev/null))
    COMPREPLY=("${COMPREPLY[@]#"$keep"}")
    if [[ ${#COMPREPLY[@]} -eq 0 ]]; then
        compopt -o default 2>/dev/null
    fi
}
complete -F _hubfs hubfs
`,
	"zsh": `#compdef hubfs
# zsh completion for hubfs: hubfs completion zsh > "${fpath[1]}/_hubfs"
_hubfs() {
    local -a opts
    opts=("${(@f)$(hubfs __complete zsh "${(@)words[2,CURRENT-1]}" "${words[CURRENT]}" 2>/dev/null)}")
    if [[ -n ${opts[1]} ]]; then
        _describe -t hubfs 'hubfs' opts
    else
        _files
    fi
}
if [[ ${funcstack[1]} == _hubfs ]]; then
    _hubfs "$@"
else
    compdef _hubfs hubfs
fi
`,
	"fish": `# fish completion for hubfs: hubfs completion fish > ~/.config/fish/completions/hubfs.fish
function __hubfs_complete
    set -l words (commandline -opc)
    set -e words[1]
    set -l cur (commandline -ct)
    set -l out (hubfs __complete fish $words "$cur" 2>/dev/null)
    if test (count $out) -eq 0
        __fish_complete_path "$cur"
        return
    end
    printf '%s\n' $out
end
complete -c hubfs -f -a '(__hubfs_complete)'
`,
}
