package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/hubfs/hubfs/hubd"
)

// defaultDrainTimeout bounds how long `hubfs serve` waits for calls in
// flight after SIGINT or SIGTERM (--drain-timeout); a second signal stops
// at once. Short enough for an orchestrator's grace period (Kubernetes
// gives 30 s), long enough for any unary call.
const defaultDrainTimeout = 10 * time.Second

// dataFlag is the hub's data directory, shared by serve and keys.
func dataFlag() cli.Flag {
	return &cli.StringFlag{
		Name:    "data",
		Usage:   "hub data `DIR` (store, host key; default $XDG_DATA_HOME/hubfs/hub)",
		EnvVars: []string{"HUBFS_DATA"},
	}
}

// storeFlag is the hub's store, shared by serve and keys.
func storeFlag() cli.Flag {
	return &cli.StringFlag{
		Name:    "store",
		Usage:   "hub store `URL`: sqlite:PATH (default sqlite:DIR/hub.db of --data), or postgres://USER@HOST:PORT/DB?sslmode=... for several hub processes on one database (it keeps the host key too: --data is then unused)",
		EnvVars: []string{"HUBFS_STORE"},
	}
}

// storeURL is --store, else the data directory's store.
func storeURL(c *cli.Context) (string, error) {
	if u := c.String("store"); u != "" {
		return u, nil
	}
	dir, err := dataDir(c)
	if err != nil {
		return "", err
	}
	return hubd.DataDirStore(dir), nil
}

func dataDir(c *cli.Context) (string, error) {
	if d := c.String("data"); d != "" {
		return d, nil
	}
	return hubd.DefaultDataDir()
}

func serveCommand() *cli.Command {
	return &cli.Command{
		Name:  "serve",
		Usage: "run a self-hosted hub that speaks the Textile Hub Users protocol",
		UsageText: "hubfs serve [--listen ADDR] [--data DIR] [--store URL] [--max-message-size N] [--tls-cert FILE --tls-key FILE] [--insecure] [--metrics-listen ADDR] [--drain-timeout D] [--quota-* N] [--debug]\n\n" +
			"One address serves native gRPC (Go clients, hubfs mount) and grpc-web websockets\n" +
			"(the @textile/hub JavaScript client), and grpc.health.v1 without an API key.\n" +
			"Once listening, the address is printed on stdout as one line; logs go to stderr.\n" +
			"SIGINT or SIGTERM drains: health turns NOT_SERVING, new calls are refused with\n" +
			"Unavailable, Listen streams end, calls in flight finish (for --drain-timeout at\n" +
			"most); a second signal stops at once. --metrics-listen serves Prometheus metrics\n" +
			"at /metrics on a second address. --insecure also lets the hub take insecure\n" +
			"(non-signing) keys off loopback. --quota-stored-data, --quota-network-egress\n" +
			"(bytes), --quota-instance-reads and --quota-instance-writes set the free quotas\n" +
			"getUsage reports (Textile's free tier by default; nothing is enforced).\n\n" +
			"Example:\n" +
			"   hubfs keys create --data ~/hub\n" +
			"   hubfs serve --data ~/hub --listen 127.0.0.1:3006",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "listen", Value: hubd.DefaultListen, Usage: "`ADDR` to serve on (host:port; port 0 picks one)", EnvVars: []string{"HUBFS_LISTEN"}},
			dataFlag(),
			storeFlag(),
			&cli.IntFlag{Name: "max-message-size", Value: hubd.DefaultMaxMessageSize, Usage: "largest message body accepted, in `BYTES` of ciphertext per copy (at most 64 MiB)"},
			&cli.StringFlag{Name: "tls-cert", Usage: "serve TLS with this certificate `FILE` (PEM; needs --tls-key)"},
			&cli.StringFlag{Name: "tls-key", Usage: "private key `FILE` of --tls-cert (PEM)"},
			&cli.BoolFlag{Name: "insecure", Usage: "allow plaintext on an address other machines can reach (--listen and --metrics-listen), and insecure (non-signing) keys there"},
			&cli.StringFlag{Name: "metrics-listen", Usage: "serve Prometheus metrics at /metrics on `ADDR` (off by default; TLS with --tls-cert, else loopback only unless --insecure)", EnvVars: []string{"HUBFS_METRICS_LISTEN"}},
			&cli.DurationFlag{Name: "drain-timeout", Value: defaultDrainTimeout, Usage: "how long a stop waits for calls in flight (`DURATION`)", EnvVars: []string{"HUBFS_DRAIN_TIMEOUT"}},
			&cli.Int64Flag{Name: "quota-stored-data", Value: hubd.DefaultQuotas().StoredData.Free, Usage: "free quota of stored data getUsage reports, in `BYTES`"},
			&cli.Int64Flag{Name: "quota-network-egress", Value: hubd.DefaultQuotas().NetworkEgress.Free, Usage: "free quota of network egress getUsage reports, in `BYTES`"},
			&cli.Int64Flag{Name: "quota-instance-reads", Value: hubd.DefaultQuotas().InstanceReads.Free, Usage: "free quota of ThreadDB instance reads getUsage reports (`N`)"},
			&cli.Int64Flag{Name: "quota-instance-writes", Value: hubd.DefaultQuotas().InstanceWrites.Free, Usage: "free quota of ThreadDB instance writes getUsage reports (`N`)"},
			&cli.BoolFlag{Name: "debug", Usage: "log one line per call (method, key prefix, status, duration)"},
		},
		Action: runServe,
	}
}

func runServe(c *cli.Context) error {
	if c.NArg() > 0 {
		return usagef("serve takes no arguments, got %q", c.Args().First())
	}
	if (c.String("tls-cert") == "") != (c.String("tls-key") == "") {
		return usagef("--tls-cert and --tls-key go together")
	}
	if n := c.Int("max-message-size"); n <= 0 || n > hubd.MaxMaxMessageSize {
		return usagef("--max-message-size must be between 1 and %d bytes, got %d", hubd.MaxMaxMessageSize, n)
	}
	drain := c.Duration("drain-timeout")
	if drain <= 0 {
		return usagef("--drain-timeout must be positive, got %v", drain)
	}
	quotas := hubd.DefaultQuotas()
	for _, q := range []struct {
		flag string
		to   *hubd.Quota
	}{
		{"quota-stored-data", &quotas.StoredData},
		{"quota-network-egress", &quotas.NetworkEgress},
		{"quota-instance-reads", &quotas.InstanceReads},
		{"quota-instance-writes", &quotas.InstanceWrites},
	} {
		n := c.Int64(q.flag)
		if n <= 0 {
			return usagef("--%s must be positive, got %d", q.flag, n)
		}
		q.to.Free = n
	}
	dir, err := dataDir(c)
	if err != nil {
		return err
	}
	level := slog.LevelInfo
	if c.Bool("debug") {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(c.App.ErrWriter, &slog.HandlerOptions{Level: level}))

	srv, err := hubd.New(hubd.Config{
		Listen:         c.String("listen"),
		DataDir:        dir,
		StoreURL:       c.String("store"), // "": the data directory's
		MaxMessageSize: c.Int("max-message-size"),
		TLSCertFile:    c.String("tls-cert"),
		TLSKeyFile:     c.String("tls-key"),
		AllowInsecure:  c.Bool("insecure"),
		MetricsListen:  c.String("metrics-listen"),
		Quotas:         quotas,
		Logger:         logger,
	})
	if err != nil {
		return err
	}

	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)

	served := make(chan error, 1)
	go func() { served <- srv.Serve() }()
	if _, err := fmt.Fprintln(c.App.Writer, srv.Addr()); err != nil {
		return err
	}
	// Through the server: a second open of the store in this process
	// would drop its locks when closed.
	keys, err := srv.ListKeys(context.Background())
	if err == nil && !anyActive(keys) {
		logger.Warn("no API key in the store yet: create one with `hubfs keys create`", "data", dir)
	}
	if n := activeInsecure(keys); n > 0 {
		if srv.InsecureKeysAccepted() {
			logger.Warn("INSECURE KEYS are active: calls with them need no signature (revoke them with `hubfs keys revoke` when done developing)", "count", n)
		} else {
			logger.Warn("the store holds insecure (non-signing) keys, which this hub refuses: it is not on loopback and --insecure was not given", "count", n)
		}
	}

	select {
	case err := <-served:
		return err
	case sig := <-sigs:
		logger.Info("signal received, draining", "signal", sig.String(), "drain_timeout", drain)
	case <-c.Context.Done():
	}
	ctx, cancel := context.WithTimeout(context.Background(), drain)
	defer cancel()
	go func() {
		select {
		case <-sigs:
			cancel() // a second signal: stop waiting for calls in flight
		case <-ctx.Done():
		}
	}()
	shutErr := srv.Shutdown(ctx)
	if err := <-served; err != nil {
		return err
	}
	if shutErr != nil && !errors.Is(shutErr, context.Canceled) {
		return shutErr
	}
	return nil
}

func anyActive(keys []hubd.APIKey) bool {
	for _, k := range keys {
		if !k.Revoked {
			return true
		}
	}
	return false
}

func activeInsecure(keys []hubd.APIKey) int {
	n := 0
	for _, k := range keys {
		if !k.Revoked && hubd.IsInsecure(k) {
			n++
		}
	}
	return n
}
