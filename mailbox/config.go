package mailbox

import (
	"log/slog"
	"runtime"
	"time"

	"github.com/hubfs/hubfs/identity"
)

// Config is a mount's settings, one type with one set of defaults
// (DefaultConfig) for every layer: the model, the cache (cache.New), the
// hub backend (hubmail), the node tree (mailfs.New) and the outbox queue.
// Each layer reads its own fields; the CLI's flags start from DefaultConfig.
// docs/semantics.md explains each cache and TTL.
type Config struct {
	// ListTTL is how long a box or thread listing is served without asking
	// the hub again (the cache), and how long the kernel keeps thread
	// dentries and directory attributes (the tree).
	ListTTL time.Duration
	// WatchTTL replaces ListTTL for the boxes while the watch delivers
	// every change, here and in the kernel.
	WatchTTL time.Duration
	// CiphertextBytes bounds the message bodies the cache keeps; they
	// never change, so a body kept is a fetch saved.
	CiphertextBytes int64
	// PlaintextBytes bounds the decrypted bodies the model keeps in RAM,
	// never on disk; a body kept is a decryption (and maybe a fetch) saved.
	PlaintextBytes int64
	// DecryptAhead is how many workers open (decrypt and verify) the
	// messages of a new listing before anyone reads them, within the
	// PlaintextBytes budget and from bodies already in memory only; 0 turns
	// it off. The default is GOMAXPROCS: a first cat * then runs on every
	// core instead of one message at a time.
	DecryptAhead int
	// DiskCacheBytes bounds the ciphertext cache on disk (0: none); it
	// keeps listings and bodies as the hub sent them under DiskCacheDir, so
	// a new mount shows what the last one knew at once and reads of mail
	// seen before work while the hub is down. No DiskCacheDir, no disk
	// cache: the mount sets it per identity (cache/disk.DefaultDir).
	DiskCacheBytes int64
	DiskCacheDir   string
	// PageSize is the hub listing page size; 0 means the largest a Textile
	// hub serves.
	PageSize int

	// Watch follows the hub's watch for live updates; PollInterval is how
	// often both boxes are listed while it is down, and caps the kernel
	// timeouts of messages then.
	Watch        bool
	PollInterval time.Duration

	// MessageTTL is how long the kernel may keep a message's dentry and
	// attributes: bodies never change, and read state and deletions are
	// pushed to the kernel by notifications.
	MessageTTL time.Duration
	// OpTimeout bounds every hub-bound operation of one syscall.
	OpTimeout time.Duration
	// MaxMessageSize is the largest plaintext an outbox file may hold.
	MaxMessageSize int
	// EventQueue is how many events a .hubfs/events reader may fall
	// behind; ErrorLog how many failures .hubfs/errors keeps.
	EventQueue, ErrorLog int
	// SendTimeout bounds the first, synchronous delivery attempt of a
	// send, past which the message waits in the queue.
	SendTimeout time.Duration

	// Now is the clock; tests step it instead of sleeping.
	Now    func() time.Time
	Logger *slog.Logger
}

// Defaults of the settings that have no flag of their own.
const (
	DefaultPollInterval = 30 * time.Second
	DefaultEventQueue   = 1024
	DefaultErrorLog     = 100
	DefaultSendTimeout  = 5 * time.Second
)

// DefaultConfig is the mount's default: the one place the defaults are
// written.
func DefaultConfig() Config {
	return Config{
		ListTTL:         2 * time.Second,
		WatchTTL:        time.Hour,
		CiphertextBytes: 64 << 20,
		PlaintextBytes:  32 << 20,
		DecryptAhead:    runtime.GOMAXPROCS(0),
		DiskCacheBytes:  256 << 20,
		Watch:           true,
		PollInterval:    DefaultPollInterval,
		MessageTTL:      time.Hour,
		OpTimeout:       10 * time.Second,
		MaxMessageSize:  1<<20 - identity.Overhead,
		EventQueue:      DefaultEventQueue,
		ErrorLog:        DefaultErrorLog,
		SendTimeout:     DefaultSendTimeout,
	}
}

// Caches reports whether the config asks for a cache at all: with no
// listing TTL, no ciphertext budget and no disk cache, the backend is not
// wrapped.
func (c Config) Caches() bool {
	return c.ListTTL > 0 || c.WatchTTL > 0 || c.CiphertextBytes > 0 || c.DiskCaches()
}

// DiskCaches reports whether the config asks for the cache on disk.
func (c Config) DiskCaches() bool { return c.DiskCacheBytes > 0 && c.DiskCacheDir != "" }

// withDefaults fills what the model needs and the caller left unset.
func (c Config) withDefaults() Config {
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.PollInterval <= 0 {
		c.PollInterval = DefaultPollInterval
	}
	return c
}
