package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/hubfs/hubfs/contacts"
	"github.com/hubfs/hubfs/hub"
	"github.com/hubfs/hubfs/identity"
	"github.com/hubfs/hubfs/mailfs"
	"github.com/hubfs/hubfs/queue"
	"github.com/hubfs/hubfs/wire"
)

// sendmail's exit statuses (sysexits.h), which mail clients read: a
// temporary failure (75) keeps the message for a retry, the others report
// it as refused.
const (
	exUsage       = 64 // the command line is wrong
	exDataErr     = 65 // the message is not one, or too large
	exNoUser      = 67 // a recipient names no key
	exUnavailable = 69 // the hub refused it for good
	exSoftware    = 70 // hubfs itself failed
	exTempFail    = 75 // the hub cannot be reached now, and no mount queued it
	exNoPerm      = 77 // the hub refused the API key or the identity
	exConfig      = 78 // no identity, no API key, a broken address book
)

// sysexit is an error with sendmail's exit status.
type sysexit struct {
	code int
	err  error
}

func (e sysexit) Error() string { return e.err.Error() }
func (e sysexit) Unwrap() error { return e.err }
func (e sysexit) ExitCode() int { return e.code }
func exitWith(code int, err error) error {
	if err == nil {
		return nil
	}
	var se sysexit
	if errors.As(err, &se) {
		return err // the first classification is the one that knew why
	}
	return sysexit{code, err}
}

func sendmailCommand() *cli.Command {
	return &cli.Command{
		Name:  "sendmail",
		Usage: "send an RFC 5322 message from stdin, as sendmail does for mail clients",
		UsageText: "hubfs sendmail [-t] [-i] [-f ADDR] [-F NAME] [--queue] [--mount MNT] [--] [RCPT...]\n\n" +
			"A drop-in sendmail for mutt, neomutt, aerc and git send-email: reads one message on\n" +
			"stdin and sends it whole, as the body, to each recipient. A RCPT is a public key,\n" +
			"<key>@anything, a contact's name, or <name>@hubfs.invalid, alone or as \"Name <addr>\";\n" +
			"-t adds the To, Cc and Bcc addresses of the header. Bcc fields are removed from what\n" +
			"is sent, From is set to your own <key>@hubfs.invalid (its display name kept, else -F),\n" +
			"and Date and Message-ID are added if missing.\n\n" +
			"With a mount of this identity running it writes to MNT/outbox/<key>: the mount's\n" +
			"queue keeps it while the hub is down. Otherwise it connects as `hubfs send` does;\n" +
			"--queue then keeps what the hub cannot take now in the queue a mount delivers.\n\n" +
			"Without -i (or -oi) a line holding a single \".\" ends the message. -v, -m, -n, -G, -U,\n" +
			"-oX, -OX=Y, -B, -N, -R, -V, -X, -L, -h, -p, -bm are accepted and ignored; -f ADDR too\n" +
			"(the sender is always this identity). Exit status as sysexits.h: 0 sent or queued,\n" +
			"64 usage, 65 bad message, 67 unknown recipient, 69 refused, 70 internal, 75 hub\n" +
			"unreachable (try again), 77 API key or identity refused, 78 configuration.\n\n" +
			"Example:\n   set sendmail=\"hubfs sendmail -oi\"            # ~/.muttrc\n" +
			"   git send-email --sendmail-cmd='hubfs sendmail' --to alice 0001.patch",
		SkipFlagParsing: true, // sendmail's own syntax: -fADDR, -oi, -t
		Flags:           sendmailFlags(),
		Action:          sendmailAction,
	}
}

// sendmailFlags are the long flags sendmail takes besides sendmail's own.
func sendmailFlags() []cli.Flag {
	return append(connectionFlags(),
		contactsFlag(),
		&cli.BoolFlag{Name: "queue", Usage: "without a mount: keep what the hub cannot take now in the outbox queue (a mount delivers it)"},
		&cli.StringFlag{Name: "mount", EnvVars: []string{"HUBFS_MOUNT"}, Usage: "send through the mount at `MNT` (default: a mount of this identity, if one is running)"},
		&cli.BoolFlag{Name: "no-mount", Usage: "send directly even if a mount is running"},
	)
}

// sendmailArgs is what sendmail's own options say.
type sendmailArgs struct {
	fromHeaders bool   // -t
	ignoreDots  bool   // -i, -oi
	fullName    string // -F
	rcpts       []string
	long        []string // hubfs's long flags, for the flag set
}

// sendmailValueOpts take a value, attached (-fADDR) or as the next argument.
const sendmailValueOpts = "fFrBNRVXobhLOpq"

// parseSendmailArgs reads sendmail's command line: getopt-style clusters
// (-ti), values attached or apart, -- ending options, and hubfs's long
// flags anywhere before it.
func parseSendmailArgs(args []string, flags []cli.Flag) (sendmailArgs, error) {
	var a sendmailArgs
	for i := 0; i < len(args); i++ {
		arg := args[i]
		switch {
		case arg == "--":
			a.rcpts = append(a.rcpts, args[i+1:]...)
			return a, nil
		case strings.HasPrefix(arg, "--"):
			if !knownFlag(flags, arg) {
				return a, fmt.Errorf("unknown flag %s", arg)
			}
			a.long = append(a.long, arg)
			if takesValue(flags, arg) {
				if i+1 == len(args) {
					return a, fmt.Errorf("flag %s needs a value", arg)
				}
				i++
				a.long = append(a.long, args[i])
			}
		case len(arg) > 1 && arg[0] == '-':
		cluster:
			for j := 1; j < len(arg); j++ {
				opt := arg[j]
				if strings.IndexByte(sendmailValueOpts, opt) < 0 {
					if strings.IndexByte("tivmnGUA", opt) < 0 {
						return a, fmt.Errorf("unknown option -%c", opt)
					}
					switch opt {
					case 't':
						a.fromHeaders = true
					case 'i':
						a.ignoreDots = true
					}
					continue
				}
				val := arg[j+1:]
				if val == "" {
					if i+1 == len(args) {
						return a, fmt.Errorf("option -%c needs a value", opt)
					}
					i++
					val = args[i]
				}
				switch opt {
				case 'o':
					if val == "i" {
						a.ignoreDots = true
					}
				case 'F':
					a.fullName = val
				case 'b':
					if val != "m" {
						return a, fmt.Errorf("-b%s: only -bm (deliver a message) is supported", val)
					}
				case 'q':
					return a, fmt.Errorf("-q%s: hubfs has no mail queue to run; a mount delivers its queue", val)
				}
				break cluster // the value took the rest of the cluster
			}
		default:
			a.rcpts = append(a.rcpts, arg)
		}
	}
	return a, nil
}

func knownFlag(flags []cli.Flag, arg string) bool {
	name, _, _ := strings.Cut(strings.TrimLeft(arg, "-"), "=")
	return slices.ContainsFunc(flags, func(f cli.Flag) bool { return slices.Contains(f.Names(), name) }) ||
		slices.Contains(cli.HelpFlag.Names(), name)
}

// flagContext parses the long flags into a context of their own, so that
// connect and the rest read them as any command's (environment included).
func flagContext(c *cli.Context, flags []cli.Flag, long []string) (*cli.Context, error) {
	set := flag.NewFlagSet("sendmail", flag.ContinueOnError)
	set.SetOutput(io.Discard)
	for _, f := range flags {
		if err := f.Apply(set); err != nil {
			return nil, err
		}
	}
	if err := set.Parse(long); err != nil {
		return nil, err
	}
	nc := cli.NewContext(c.App, set, c)
	nc.Command = c.Command
	nc.Context = c.Context
	return nc, nil
}

func sendmailAction(c *cli.Context) error {
	flags := sendmailFlags()
	a, err := parseSendmailArgs(c.Args().Slice(), flags)
	if err != nil {
		return exitWith(exUsage, fmt.Errorf("sendmail: %w (see hubfs sendmail --help)", err))
	}
	if slices.ContainsFunc(a.long, isHelpFlag) {
		return cli.ShowCommandHelp(c.Lineage()[1], "sendmail")
	}
	if c, err = flagContext(c, flags, a.long); err != nil {
		return exitWith(exUsage, fmt.Errorf("sendmail: %w", err))
	}
	if !a.fromHeaders && len(a.rcpts) == 0 {
		return exitWith(exUsage, errors.New("sendmail: no recipients: give RCPT... or -t"))
	}
	if c.Bool("no-mount") && c.String("mount") != "" {
		return exitWith(exUsage, errors.New("sendmail: --mount and --no-mount together"))
	}
	key, err := loadIdentity(c)
	if err != nil {
		return exitWith(exConfig, err)
	}
	self := key.Public().String()

	raw, err := readMessage(c.App.Reader, wire.MaxMessageSize-identity.Overhead, a.ignoreDots)
	if err != nil {
		return exitWith(exDataErr, fmt.Errorf("sendmail: read stdin: %w", err))
	}
	msg, err := parseOutgoing(raw)
	if err != nil {
		return exitWith(exDataErr, fmt.Errorf("sendmail: %w", err))
	}
	addrs := a.rcpts
	if a.fromHeaders {
		addrs = append(msg.headerRecipients(), addrs...)
	}
	// Every recipient is resolved before anything is sent: a mistyped
	// one fails the whole message, and a retry sends no one a second copy.
	to, err := resolveAll(c, addrs)
	if err != nil {
		return err
	}
	body := msg.body(selfAddress(self), a.fullName, time.Now())
	if len(body) > wire.MaxMessageSize-identity.Overhead {
		return exitWith(exDataErr, fmt.Errorf("sendmail: %w", errTooLarge))
	}

	if mnt, err := sendmailMount(c, self); err != nil {
		return err
	} else if mnt != "" {
		return sendThroughMount(mnt, to, body)
	}
	return sendDirect(c, key, to, body)
}

// resolveAll resolves the recipients, each key once, in order.
func resolveAll(c *cli.Context, addrs []string) ([]*identity.PublicKey, error) {
	if len(addrs) == 0 {
		return nil, exitWith(exUsage, errors.New("sendmail: -t found no To, Cc or Bcc recipients"))
	}
	book, err := loadContacts(c)
	if err != nil {
		// A broken book only matters if a name needs it.
		book = nil
	}
	var to []*identity.PublicKey
	seen := map[string]bool{}
	for _, s := range addrs {
		k, rerr := resolveAddress(book, s)
		if rerr != nil {
			if err != nil {
				rerr = fmt.Errorf("%w (and the address book could not be read: %v)", rerr, err)
			}
			return nil, exitWith(exNoUser, fmt.Errorf("sendmail: %w", rerr))
		}
		if seen[k] {
			continue
		}
		seen[k] = true
		pk, perr := identity.ParsePublicKey(k)
		if perr != nil {
			return nil, exitWith(exSoftware, perr)
		}
		to = append(to, pk)
	}
	return to, nil
}

// sendmailMount is the mount to send through: --mount's, checked to be
// this identity's, or the first hubfs mount of this identity found in
// /proc/self/mountinfo; "" for none (or --no-mount).
func sendmailMount(c *cli.Context, self string) (string, error) {
	if c.Bool("no-mount") {
		return "", nil
	}
	if mnt := c.String("mount"); mnt != "" {
		if err := mountIsIdentity(mnt, self); err != nil {
			return "", exitWith(exConfig, fmt.Errorf("sendmail: --mount %s: %w", mnt, err))
		}
		return mnt, nil
	}
	for _, mnt := range mailfs.TopMounts() { // none without /proc: send directly
		if mountIsIdentity(mnt, self) == nil {
			return mnt, nil
		}
	}
	return "", nil
}

// mountProbeTimeout bounds the look at a mount's .hubfs/identity.
const mountProbeTimeout = 5 * time.Second

// mountIsIdentity checks that mnt is a live hubfs mount of self: its
// .hubfs/identity names the key.
func mountIsIdentity(mnt, self string) error {
	type result struct {
		b   []byte
		err error
	}
	// A hung mount (its process stopped) would block the read for good:
	// give up on it, and leave the reader behind, since this process ends
	// soon. .hubfs/identity is answered from memory by a live mount.
	ch := make(chan result, 1)
	go func() {
		b, err := os.ReadFile(filepath.Join(mnt, ".hubfs", "identity"))
		ch <- result{b, err}
	}()
	var r result
	select {
	case r = <-ch:
	case <-time.After(mountProbeTimeout):
		r.err = fmt.Errorf("no answer in %v", mountProbeTimeout)
	}
	b, err := r.b, r.err
	if err != nil {
		return fmt.Errorf("not a live hubfs mount: %w", err)
	}
	if got := strings.TrimSpace(string(b)); got != self {
		return fmt.Errorf("a mount of %s, not of this identity %s", got, self)
	}
	return nil
}

// sendThroughMount writes the message to MNT/outbox/<key> for each
// recipient: close 0 means the mount sent it or has it on disk in its queue.
func sendThroughMount(mnt string, to []*identity.PublicKey, body []byte) error {
	for i, pk := range to {
		path := filepath.Join(mnt, "outbox", pk.String())
		err := writeDraft(path, body)
		if err != nil {
			err = fmt.Errorf("sendmail: through %s: %w%s", mnt, err, sentSoFar(to[:i]))
			return exitWith(mountExit(err), err)
		}
	}
	return nil
}

func writeDraft(path string, body []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// mountExit classifies an outbox errno (docs/semantics.md's table).
func mountExit(err error) int {
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		return exTempFail
	}
	switch errno {
	case syscall.ENXIO:
		return exNoUser // the recipient has no mailbox
	case syscall.EFBIG:
		return exDataErr
	case syscall.EACCES, syscall.EPERM:
		return exNoPerm
	case syscall.EINVAL, syscall.EBADF:
		return exSoftware
	}
	return exTempFail
}

// sentSoFar names the recipients already sent to, since a retry by the
// mail client sends to them again.
func sentSoFar(done []*identity.PublicKey) string {
	if len(done) == 0 {
		return ""
	}
	keys := make([]string, len(done))
	for i, pk := range done {
		keys[i] = pk.String()
	}
	return " (already sent to " + strings.Join(keys, ", ") + ")"
}

// sendDirect sends to each recipient over one connection, as `hubfs send`
// does; with --queue, what the hub cannot take now goes to the queue.
func sendDirect(c *cli.Context, key *identity.PrivateKey, to []*identity.PublicKey, body []byte) error {
	sess, err := connectForSend(c)
	if err != nil && !(c.Bool("queue") && !queue.Permanent(err) && c.Context.Err() == nil) {
		return exitWith(hubExit(err), fmt.Errorf("sendmail: %w", err))
	}
	if sess != nil {
		defer sess.Close()
	}
	var queued []queue.Item
	for i, pk := range to {
		it, serr := queue.NewItem(key, pk, body, c.String("hub"), time.Now())
		if serr != nil {
			return exitWith(exSoftware, serr)
		}
		if sess != nil {
			_, serr = sess.send(c, func() (hub.UserMessage, error) {
				return sess.cl.SendSealed(c.Context, it.Sealed, it.Key)
			})
			if serr == nil {
				continue
			}
			it.Attempts = 1
		} else {
			serr = err
		}
		if !c.Bool("queue") || queue.Permanent(serr) || c.Context.Err() != nil {
			return exitWith(hubExit(serr), fmt.Errorf("sendmail: to %s: %w%s", pk, hubError(c, serr), sentSoFar(to[:i])))
		}
		it.LastError = serr.Error()
		queued = append(queued, it)
	}
	if len(queued) == 0 {
		return nil
	}
	path, err := queue.DefaultPath(key.Public().String())
	if err != nil {
		return exitWith(exConfig, err)
	}
	dir, err := queue.OpenDir(path)
	for _, it := range queued {
		if err == nil {
			err = dir.Put(it)
		}
	}
	if err != nil {
		return exitWith(exTempFail, fmt.Errorf("sendmail: the hub cannot take it now and it could not be queued: %w", err))
	}
	fmt.Fprintf(c.App.ErrWriter, "hubfs: %d of %d not sent now: queued in %s; a mount of this identity delivers them\n", len(queued), len(to), path)
	return nil
}

// hubExit classifies a hub or connection error.
func hubExit(err error) int {
	var ue usageError
	switch {
	case errors.As(err, &ue):
		return exConfig // no API key, a bad --hub: the configuration
	case errors.Is(err, os.ErrNotExist), errors.Is(err, identity.ErrInsecureKeyFile):
		return exConfig
	case errors.Is(err, hub.ErrNoMailbox):
		return exNoUser
	case errors.Is(err, hub.ErrTooLarge):
		return exDataErr
	case errors.Is(err, hub.ErrUnavailable), errors.Is(err, hub.ErrNoSpace), errors.Is(err, hub.ErrUnknownOutcome),
		errors.Is(err, context.DeadlineExceeded):
		return exTempFail
	case errors.Is(err, hub.ErrPermission), errors.Is(err, hub.ErrUnauthenticated), errors.Is(err, hub.ErrNotFound):
		return exNoPerm // a key the hub does not know is NotFound on the wire
	case errors.Is(err, contacts.ErrInvalidName):
		return exUsage
	}
	return exUnavailable
}
