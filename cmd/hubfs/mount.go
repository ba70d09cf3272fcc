package main

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/urfave/cli/v2"

	"github.com/hubfs/hubfs/cache/disk"
	"github.com/hubfs/hubfs/contacts"
	"github.com/hubfs/hubfs/hub"
	"github.com/hubfs/hubfs/hubd"
	"github.com/hubfs/hubfs/identity"
	"github.com/hubfs/hubfs/mailbox"
	"github.com/hubfs/hubfs/mailbox/hubmail"
	"github.com/hubfs/hubfs/maildir"
	"github.com/hubfs/hubfs/mailfs"
	"github.com/hubfs/hubfs/queue"
)

func mountCommand() *cli.Command {
	def := mailbox.DefaultConfig() // the flags' defaults are the config's
	return &cli.Command{
		Name:  "mount",
		Usage: "mount a mailbox as a filesystem (inbox, unread, sentbox, outbox, threads)",
		UsageText: "hubfs mount [--daemon] [--hub ADDR --key KEY] [options] MNT\n\n" +
			"Without --hub (or HUBFS_HUB), hubfs runs a hub inside the mount process: data in\n" +
			"--data, listening on --listen so other local mounts and clients can use it, and an\n" +
			"identity and API key created on first use. With --hub it uses that hub, with the\n" +
			"API key from HUBFS_KEY and the secret from HUBFS_SECRET or --secret-file.\n\n" +
			"The mount serves until `hubfs umount MNT`, `fusermount3 -u MNT`, SIGINT or SIGTERM.\n" +
			"--daemon returns once the mount is ready and serves in the background.\n\n" +
			"The mount follows the hub's watch, so mail sent or changed elsewhere shows at once;\n" +
			"while the watch is down it lists every --poll-interval. Scripts wait for mail by\n" +
			"reading MNT/.hubfs/events, one JSON line per event.\n\n" +
			"Example:\n" +
			"   hubfs mount --daemon ~/mail && echo hello > ~/mail/outbox/$(hubfs whoami)\n" +
			"   while read -r ev; do echo \"$ev\"; done < ~/mail/.hubfs/events\n" +
			"   HUBFS_HUB=hub.example.org:443 HUBFS_KEY=... HUBFS_SECRET_FILE=~/.hubsecret hubfs mount ~/mail",
		Flags: append(connectionFlags(),
			&cli.BoolFlag{Name: "daemon", Aliases: []string{"d"}, Usage: "return once mounted; serve in the background"},
			&cli.StringFlag{Name: "log-file", EnvVars: []string{"HUBFS_LOG_FILE"}, Usage: "with --daemon, append the mount's log to `FILE` (default: discard)"},
			&cli.DurationFlag{Name: "op-timeout", Value: def.OpTimeout, Usage: "longest any syscall waits on the hub before it fails (ETIMEDOUT)"},
			&cli.DurationFlag{Name: "list-ttl", Value: def.ListTTL, Usage: "how long a listing is reused before the hub is asked again (0: always ask)"},
			&cli.DurationFlag{Name: "message-ttl", Value: def.MessageTTL, Usage: "how long the kernel keeps a message's name and attributes"},
			&cli.BoolFlag{Name: "watch", Value: def.Watch, Usage: "follow the hub's watch for live updates (--watch=false: listings expire after --list-ttl)"},
			&cli.DurationFlag{Name: "watch-ttl", Value: def.WatchTTL, Usage: "while the watch is up: how long listings are kept, here and in the kernel (events keep them current; 0: as --list-ttl)"},
			&cli.DurationFlag{Name: "poll-interval", Value: def.PollInterval, Usage: "while the watch is down: how often both boxes are listed again"},
			&cli.IntFlag{Name: "event-queue", Value: def.EventQueue, Usage: "events a .hubfs/events reader may fall behind before it loses some (it then reads an overflow line)"},
			&cli.StringFlag{Name: "ciphertext-cache", Value: sizeValue(def.CiphertextBytes), Usage: "`SIZE` of message bodies kept in RAM (0: none)"},
			&cli.StringFlag{Name: "disk-cache", Value: sizeValue(def.DiskCacheBytes), Usage: "`SIZE` of listings and message bodies kept on disk as the hub sent them (ciphertext), under $XDG_CACHE_HOME/hubfs/<identity> (0: none)"},
			&cli.StringFlag{Name: "plaintext-cache", Value: sizeValue(def.PlaintextBytes), Usage: "`SIZE` of decrypted bodies kept in RAM, never on disk (0: none)"},
			&cli.IntFlag{Name: "decrypt-ahead", Value: def.DecryptAhead, Usage: "workers that decrypt listed messages before they are read, within --plaintext-cache (0: off; default: the CPUs)"},
			&cli.StringFlag{Name: "max-size", Value: sizeValue(int64(def.MaxMessageSize + identity.Overhead)), Usage: "the hub's message size limit (ciphertext `SIZE`); a larger outbox write fails with EFBIG"},
			&cli.DurationFlag{Name: "send-timeout", Value: def.SendTimeout, Usage: "how long close of an outbox file waits for the hub before the message waits in the queue (queued/) instead"},
			&cli.StringFlag{Name: "queue-dir", EnvVars: []string{"HUBFS_QUEUE_DIR"}, Usage: "the outbox queue `DIR` (default $XDG_STATE_HOME/hubfs/<identity>/queue)"},
			&cli.StringFlag{Name: "maildir-state", EnvVars: []string{"HUBFS_MAILDIR_STATE"}, Usage: "`DIR` of the flags mail clients set in MNT/Maildir that the hub does not keep (default $XDG_STATE_HOME/hubfs/<identity>/maildir)"},
			&cli.BoolFlag{Name: "allow-other", Usage: "let other users enter the mount (the kernel then enforces the file modes)"},
			&cli.BoolFlag{Name: "debug", Usage: "log every FUSE request and hub call (never contents or secrets)"},
			&cli.BoolFlag{Name: "no-open", Usage: "serve inbox/, unread/ and sentbox/ over FUSE connections of their own that the kernel opens files on without asking: a cached message reads with no request (unmount with `hubfs umount` or `umount -R`)"},
			&cli.StringFlag{Name: "data", EnvVars: []string{"HUBFS_DATA"}, Usage: "embedded hub: data `DIR` (default $XDG_DATA_HOME/hubfs/hub)"},
			&cli.StringFlag{Name: "listen", Value: hubd.DefaultListen, Usage: "embedded hub: `ADDR` to listen on"},
			contactsFlag(),
		),
		Action: mountAction,
	}
}

// sizeValue writes a byte count as the size flags take it ("64MiB").
func sizeValue(n int64) string {
	for _, u := range []struct {
		unit  string
		shift uint
	}{{"GiB", 30}, {"MiB", 20}, {"KiB", 10}} {
		if n >= 1<<u.shift && n%(1<<u.shift) == 0 {
			return strconv.FormatInt(n>>u.shift, 10) + u.unit
		}
	}
	return strconv.FormatInt(n, 10)
}

// parseMountConfig reads the mount point and the flags into the one config
// every layer of the mount is built from.
func parseMountConfig(c *cli.Context) (dir string, cfg mailbox.Config, err error) {
	cfg = mailbox.DefaultConfig()
	if c.NArg() != 1 {
		return "", cfg, usagef("mount takes one argument, the mount point MNT (got %d)", c.NArg())
	}
	if dir, err = filepath.Abs(c.Args().First()); err != nil {
		return "", cfg, err
	}
	size := func(flag string) (int64, error) {
		n, err := humanize.ParseBytes(c.String(flag))
		if err != nil || n > 1<<40 {
			return 0, usagef("--%s: %q is not a size like 64MiB", flag, c.String(flag))
		}
		return int64(n), nil
	}
	if cfg.CiphertextBytes, err = size("ciphertext-cache"); err != nil {
		return "", cfg, err
	}
	if cfg.PlaintextBytes, err = size("plaintext-cache"); err != nil {
		return "", cfg, err
	}
	if cfg.DecryptAhead = c.Int("decrypt-ahead"); cfg.DecryptAhead < 0 {
		return "", cfg, usagef("--decrypt-ahead cannot be negative")
	}
	if cfg.DiskCacheBytes, err = size("disk-cache"); err != nil {
		return "", cfg, err
	}
	max, err := size("max-size")
	if err != nil {
		return "", cfg, err
	}
	if max <= identity.Overhead {
		return "", cfg, usagef("--max-size must be over %d bytes (the encryption overhead)", identity.Overhead)
	}
	cfg.MaxMessageSize = int(max) - identity.Overhead
	cfg.OpTimeout, cfg.ListTTL, cfg.MessageTTL = c.Duration("op-timeout"), c.Duration("list-ttl"), c.Duration("message-ttl")
	if cfg.OpTimeout <= 0 {
		return "", cfg, usagef("--op-timeout must be positive")
	}
	if cfg.ListTTL < 0 || cfg.MessageTTL < 0 {
		return "", cfg, usagef("TTLs cannot be negative")
	}
	cfg.Watch, cfg.WatchTTL, cfg.PollInterval = c.Bool("watch"), c.Duration("watch-ttl"), c.Duration("poll-interval")
	if cfg.WatchTTL < 0 {
		return "", cfg, usagef("--watch-ttl cannot be negative")
	}
	if cfg.EventQueue = c.Int("event-queue"); cfg.EventQueue < 1 {
		return "", cfg, usagef("--event-queue must be at least 1")
	}
	if cfg.SendTimeout = c.Duration("send-timeout"); cfg.SendTimeout <= 0 {
		return "", cfg, usagef("--send-timeout must be positive")
	}
	if cfg.PollInterval < time.Second {
		return "", cfg, usagef("--poll-interval must be at least 1s (got %s)", cfg.PollInterval)
	}
	return dir, cfg, nil
}

func mountAction(c *cli.Context) error {
	dir, cfg, err := parseMountConfig(c)
	if err != nil {
		return err
	}
	// Someone waits on HUBFS_READY_FD (a --daemon parent, a test): serve
	// here and report, never start another background mount.
	if c.Bool("daemon") && os.Getenv(readyFDEnv) == "" {
		return daemonize(c, dir)
	}
	ready := readyReporter()
	err = serveMount(c, dir, cfg, ready)
	if err != nil {
		ready.fail(err)
	}
	return err
}

// serveMount connects, mounts and serves until unmounted or signalled.
func serveMount(c *cli.Context, dir string, cfg mailbox.Config, ready *readiness) error {
	level := slog.LevelInfo
	if c.Bool("debug") {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(c.App.ErrWriter, &slog.HandlerOptions{Level: level}))
	notify := newSDNotifier(logger) // READY=1 and STOPPING=1 under systemd

	// Check the mount point before starting anything that listens.
	if err := mailfs.CheckMountpoint(dir); err != nil {
		return err
	}
	book, err := openContacts(c, dir, logger)
	if err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()
	c.Context = ctx // a signal while connecting cancels the connection too

	var (
		cl       *hub.Client
		key      *identity.PrivateKey
		hubAddr  = c.String("hub")
		embedded = !c.IsSet("hub")
	)
	if embedded {
		srv, addr, err := startEmbeddedHub(c, logger, cfg.MaxMessageSize+identity.Overhead)
		if err != nil {
			return err
		}
		defer func() {
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := srv.Shutdown(sctx); err != nil {
				logger.Warn("embedded hub shutdown", "err", err)
			}
		}()
		hubAddr = addr
		if cl, key, err = connectEmbedded(c, srv, addr); err != nil {
			return err
		}
	}
	var mailboxID identity.ThreadID
	if embedded {
		if mailboxID, err = cl.GetMailboxID(ctx); err != nil {
			cl.Close()
			return hubError(c, err)
		}
	} else if cl, key, mailboxID, _, err = connectMount(c, cfg, logger); err != nil {
		return err
	}
	defer cl.Close()

	cfg.Logger = logger
	if cfg.DiskCacheBytes > 0 {
		if cfg.DiskCacheDir, err = disk.DefaultDir(key.Public().String()); err != nil {
			return err
		}
	}
	model := hubmail.New(cl, key, mailboxID, cfg)
	defer model.Close()   // ends decrypt-ahead before the client closes
	var root *mailfs.Root // set before anything can send, so before any event
	outbox, err := openOutbox(c, key, hubAddr, model, cfg, func(ev queue.Event) { root.QueueChanged(ev) })
	if err != nil {
		return err
	}
	flags, err := openMaildirState(c, key)
	if err != nil {
		return err
	}
	root = mailfs.New(model, key.Public(), cfg, mailfs.Options{
		UID: uint32(os.Getuid()), GID: uint32(os.Getgid()),
		HubAddr: hubAddr, MailboxID: mailboxID.String(),
		Outbox:       outbox,
		Contacts:     book,
		MaildirState: flags,
		Logger:       logger,
	})
	defer root.Close()

	var fuseLog *log.Logger
	if c.Bool("debug") {
		fuseLog = log.New(c.App.ErrWriter, "fuse: ", log.LstdFlags)
	}
	srv, err := mailfs.Mount(dir, root, mailfs.MountOptions{AllowOther: c.Bool("allow-other"), Debug: c.Bool("debug"), Logger: fuseLog, NoOpen: c.Bool("no-open")})
	if err != nil {
		return err
	}
	// Follow the hub only once the tree is in the kernel: the first
	// changes already find the nodes they invalidate.
	if cfg.Watch {
		live := model.Follow(context.WithoutCancel(ctx))
		defer live.Close()
	}
	// Deliver what earlier mounts or `hubfs send --queue` left queued,
	// and whatever this one queues.
	deliverCtx, stopDelivery := context.WithCancel(context.WithoutCancel(ctx))
	delivered := make(chan struct{})
	go func() { outbox.Run(deliverCtx); close(delivered) }()
	defer func() { stopDelivery(); <-delivered }()
	logger.Info("mounted", "mnt", dir, "hub", hubAddr, "identity", key.Public().String())
	info := mountedInfo{Dir: dir, Identity: key.Public().String(), Hub: hubAddr, Embedded: embedded, Pid: os.Getpid()}
	if ready.f == nil {
		info.print(c.App.ErrWriter)
	}
	ready.ok(info)
	notify.ready(dir)

	done := make(chan struct{})
	go func() { srv.Wait(); close(done) }()
	select {
	case <-done:
		notify.stopping()
		logger.Info("unmounted", "mnt", dir)
		return nil
	case <-ctx.Done():
	}
	notify.stopping()
	logger.Info("signal: unmounting", "mnt", dir)
	// Readers of .hubfs/events would keep the mount busy: end them (EOF).
	root.CloseEvents()
	if err := srv.Unmount(); err != nil {
		// Busy (a shell inside the mount): detach it now. The name is
		// gone from the tree at once; the processes still inside lose
		// their descriptors when we exit, which is what a stop asks for.
		// Nothing accepted is lost: queued messages are on disk.
		logger.Warn("unmount failed, detaching lazily", "err", err)
		if err := mailfs.Unmount(dir, true); err != nil {
			return fmt.Errorf("unmount %s: %w", dir, err)
		}
		logger.Info("detached", "mnt", dir)
		return nil
	}
	<-done
	return nil
}

var _ mailfs.Outbox = (*queue.Outbox)(nil)

// openMaildirState opens the identity's Maildir flags (--maildir-state).
func openMaildirState(c *cli.Context, key *identity.PrivateKey) (*maildir.State, error) {
	path := c.String("maildir-state")
	if path == "" {
		p, err := maildir.DefaultDir(key.Public().String())
		if err != nil {
			return nil, err
		}
		path = p
	}
	return maildir.OpenState(path)
}

// openContacts opens the address book the mount reads for outbox/NAME and
// contacts/. A broken file does not stop the mount: it is logged, once per
// version, and the last good book (or none) serves until it is fixed.
func openContacts(c *cli.Context, mnt string, logger *slog.Logger) (*contacts.File, error) {
	path, err := contactsPath(c)
	if err != nil {
		return nil, err
	}
	// The mount reads the book while it serves: a book inside the mount
	// would have it wait on itself (go-fuse's documented deadlock).
	if abs, err := filepath.Abs(path); err == nil && strings.HasPrefix(abs, mnt+string(filepath.Separator)) {
		return nil, usagef("--contacts %s is inside the mount point %s", path, mnt)
	}
	f := contacts.Open(path)
	f.OnError(func(err error) { logger.Warn("contacts: keeping the last good book", "err", err) })
	return f, nil
}

// openOutbox opens the identity's durable queue and the outbox that sends
// through the model, so a delivered message shows in sentbox/ at once.
func openOutbox(c *cli.Context, key *identity.PrivateKey, hubAddr string, model *mailbox.Model, cfg mailbox.Config, onEvent func(queue.Event)) (*queue.Outbox, error) {
	path := c.String("queue-dir")
	if path == "" {
		p, err := queue.DefaultPath(key.Public().String())
		if err != nil {
			return nil, err
		}
		path = p
	}
	dir, err := queue.OpenDir(path)
	if err != nil {
		return nil, err
	}
	return queue.New(queue.Config{
		Dir:     dir,
		Sender:  model,
		Key:     key,
		Hub:     hubAddr,
		Attempt: cfg.SendTimeout,
		Timeout: cfg.OpTimeout,
		OnEvent: onEvent,
		Logger:  cfg.Logger.With("component", "queue"),
	})
}
