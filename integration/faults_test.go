package integration

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hubfs/hubfs/faultnet"
	"github.com/hubfs/hubfs/hub"
	"github.com/hubfs/hubfs/identity"
)

// The fault suite: a mount sends through a fault proxy while the network
// between it and the hub fails in every way faultnet knows and the hub is
// SIGKILLed and restarted, then the hub's boxes are read directly (not
// through the proxy) and held to the send contract of docs/semantics.md:
//
//   - every send whose writer exited 0 is delivered exactly once, in the
//     recipient's inbox and in the sender's sentbox, byte for byte;
//   - no send whose writer failed is delivered;
//   - the mount's local queue drains to empty once the network heals.
//
// Two kinds of writer send: a shell redirection (`printf > outbox/KEY`),
// whose exit status ignores close(2), so exit 0 must mean "accepted" even
// when the hub could not be reached; and dd, which reports a failed close,
// so a failed close can be told from a successful one.
//
// The size of a run comes from the environment, so bench/soak.sh runs the
// same test for long: HUBFS_SOAK_SENDS, HUBFS_SOAK_FAULTS, HUBFS_SOAK_KILLS,
// HUBFS_SOAK_WORKERS, HUBFS_SOAK_SEED, HUBFS_SOAK_BUDGET (how long sends
// and faults may run), HUBFS_SOAK_DRAIN (how long the queue may take to
// drain) and HUBFS_SOAK_REPORT (a file to write the figures table to).

// faultPlan is the size of one run.
type faultPlan struct {
	sends, faults, kills, workers int
	seed                          uint64
	budget, drain                 time.Duration
	report                        string
}

func faultPlanFromEnv(t *testing.T) faultPlan {
	t.Helper()
	p := faultPlan{sends: 240, faults: 110, kills: 3, workers: 4, budget: 2 * time.Minute, drain: time.Minute}
	p.seed = rand.Uint64()
	num := func(name string, dst *int) {
		if v := os.Getenv(name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				t.Fatalf("%s=%q: want a count", name, v)
			}
			*dst = n
		}
	}
	dur := func(name string, dst *time.Duration) {
		if v := os.Getenv(name); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil || d <= 0 {
				t.Fatalf("%s=%q: want a duration", name, v)
			}
			*dst = d
		}
	}
	num("HUBFS_SOAK_SENDS", &p.sends)
	num("HUBFS_SOAK_FAULTS", &p.faults)
	num("HUBFS_SOAK_KILLS", &p.kills)
	num("HUBFS_SOAK_WORKERS", &p.workers)
	dur("HUBFS_SOAK_BUDGET", &p.budget)
	dur("HUBFS_SOAK_DRAIN", &p.drain)
	if v := os.Getenv("HUBFS_SOAK_SEED"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("HUBFS_SOAK_SEED=%q: want a number", v)
		}
		p.seed = n
	}
	p.report = os.Getenv("HUBFS_SOAK_REPORT")
	if p.workers < 1 {
		p.workers = 1
	}
	return p
}

// A writer is how a send reaches outbox/KEY: a shell script run by sh with
// BODY (or HEAD and TAIL, its two halves), MNT and TO in its environment.
// weight is its share of the sends, in twentieths.
type writer struct {
	name, script string
	weight       int
	killed       bool // SIGKILLed, with its process group, mid-write
}

var writers = []writer{
	{name: "redirect", weight: 9, script: `printf '%s' "$BODY" > "$MNT/outbox/$TO"`},
	{name: "dd", weight: 9, script: `printf '%s' "$BODY" | dd of="$MNT/outbox/$TO" bs=64k status=none`},
	// Killed between the halves: nothing of it may be sent.
	{name: "killed", weight: 2, killed: true, script: `{ printf '%s' "$HEAD"; sleep 60; printf '%s' "$TAIL"; } > "$MNT/outbox/$TO"`},
}

func pickWriter(rng *rand.Rand) writer {
	n := rng.IntN(20)
	for _, w := range writers {
		if n < w.weight {
			return w
		}
		n -= w.weight
	}
	return writers[0]
}

// sendRecord is one send and what its writer said.
type sendRecord struct {
	seq    int
	via    string
	body   []byte
	err    error // the writer's exit: nil is "accepted"
	output string
}

// bodySizes are the random parts of bodies, hex-encoded so a shell can
// carry them (twice as many bytes): from a line to tens of KiB.
var bodySizes = []int{8, 100, 700, 2000, 5000, 12000}

func faultBody(rng *rand.Rand, seq int, via string) []byte {
	raw := make([]byte, bodySizes[rng.IntN(len(bodySizes))]+rng.IntN(64))
	for i := range raw {
		raw[i] = byte(rng.Uint32())
	}
	return []byte(fmt.Sprintf("hubfs-faults seq=%06d via=%s\n%s\n", seq, via, hex.EncodeToString(raw)))
}

var seqLine = regexp.MustCompile(`^hubfs-faults seq=(\d{6}) `)

// faultKinds are what the driver injects: every faultnet mode but Pass,
// and a reset of the current connections that leaves the proxy passing.
var faultKinds = []string{"reset", "blackhole", "refuse", "drop-replies", "stall", "reset-all"}

var faultModes = map[string]faultnet.Mode{
	"reset":        faultnet.Reset,
	"blackhole":    faultnet.Blackhole,
	"refuse":       faultnet.Refuse,
	"drop-replies": faultnet.DropReplies,
	"stall":        faultnet.Stall,
}

// scheduledFault is one fault of a run: a kind held for a while, then a
// passing gap; a kill first SIGKILLs the hub and keeps it down a while.
type scheduledFault struct {
	kind            string
	hold, gap, down time.Duration
	kill            bool
}

// faultSchedule draws a run's faults from its seed. Most are short, so
// that many fit in the run; one in five outlasts the mount's op timeout
// (2 s), where a send can no longer wait the fault out.
func faultSchedule(plan faultPlan) []scheduledFault {
	rng := rand.New(rand.NewPCG(plan.seed, ^uint64(0)))
	out := make([]scheduledFault, plan.faults)
	for i := range out {
		f := &out[i]
		f.kind = faultKinds[rng.IntN(len(faultKinds))]
		if f.kind != "reset-all" {
			if rng.IntN(5) == 0 {
				f.hold = randDuration(rng, 1500*time.Millisecond, 2500*time.Millisecond)
			} else {
				f.hold = randDuration(rng, 50*time.Millisecond, 400*time.Millisecond)
			}
		}
		// Gaps about as long as the faults: the network is up about half
		// the time, so a send also meets a network that has just healed.
		f.gap = randDuration(rng, 100*time.Millisecond, 700*time.Millisecond)
	}
	for k := 1; k <= plan.kills && plan.faults > 0; k++ {
		f := &out[k*plan.faults/(plan.kills+1)]
		f.kill = true
		f.down = randDuration(rng, 200*time.Millisecond, 2*time.Second)
	}
	return out
}

// faultFigures is what a run measured, for the log and bench/soak.sh.
type faultFigures struct {
	seed     uint64
	sends    int
	sendsBy  map[string]int
	failedBy map[string]int
	faultsBy map[string]int
	kills    int
	// Sends, counted once whichever boxes show it.
	lost, doubled, cut, failedIn map[int]bool
	unexpected                   int // messages in a box from no send of this run
	maxQueue                     int
	drain                        time.Duration
	drained                      bool
	sendPhase                    time.Duration
	proxyConnections             int64
}

func (f *faultFigures) faults() int {
	n := 0
	for _, c := range f.faultsBy {
		n += c
	}
	return n
}

func (f *faultFigures) table() string {
	var b strings.Builder
	row := func(k string, v any) { fmt.Fprintf(&b, "| %-28s | %20v |\n", k, v) }
	b.WriteString("| figure                       |                value |\n|------------------------------|----------------------|\n")
	row("seed", f.seed)
	row("sends", f.sends)
	for _, w := range writers {
		row("  sends via "+w.name, f.sendsBy[w.name])
	}
	row("faults", f.faults())
	for _, k := range faultKinds {
		row("  "+k, f.faultsBy[k])
	}
	row("hub kills (SIGKILL)", f.kills)
	row("proxy connections", f.proxyConnections)
	row("losses", len(f.lost))
	row("duplicates", len(f.doubled))
	row("truncations", len(f.cut))
	row("failed closes", f.failedBy["dd"])
	row("failed redirects", f.failedBy["redirect"])
	row("failed but delivered", len(f.failedIn))
	row("unexpected messages", f.unexpected)
	row("max queue length", f.maxQueue)
	drain := "not drained"
	if f.drained {
		drain = f.drain.Round(10 * time.Millisecond).String()
	}
	row("drain time", drain)
	row("send phase", f.sendPhase.Round(time.Second))
	return b.String()
}

// queueStatus is the part of .hubfs/status the fault suite reads.
type queueStatus struct {
	Queue *struct {
		Length           int     `json:"length"`
		OldestAgeSeconds float64 `json:"oldest_age_seconds"`
	} `json:"queue"`
}

// queueLength reads the mount's queue length from .hubfs/status; ok is
// false when the status has no queue at all.
func queueLength(m *mount) (n int, ok bool, err error) {
	b, err := os.ReadFile(m.path(".hubfs", "status"))
	if err != nil {
		return 0, false, err
	}
	var st queueStatus
	if err := json.Unmarshal(b, &st); err != nil {
		return 0, false, fmt.Errorf(".hubfs/status: %w", err)
	}
	if st.Queue == nil {
		return 0, false, nil
	}
	return st.Queue.Length, true, nil
}

func TestFaults(t *testing.T) {
	requireFUSE(t)
	plan := faultPlanFromEnv(t)
	t.Logf("fault plan: %d sends, %d faults, %d hub kills, %d writers, seed %d (HUBFS_SOAK_SEED=%d repeats the schedule)",
		plan.sends, plan.faults, plan.kills, plan.workers, plan.seed, plan.seed)

	h := startHubProc(t)
	proxy, err := faultnet.Listen(h.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proxy.Close() })

	// The mount's durable queue lives under $XDG_STATE_HOME/hubfs: one of
	// this test's own, inherited by the mount process.
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	alice := newUserAt(t, proxy.Addr(), h.key, h.secret, "alice")
	bob := newUserAt(t, h.addr, h.key, h.secret, "bob")
	// Both sign up directly, so bob has a mailbox to receive into and the
	// checks at the end can read both boxes without the proxy.
	aliceHub := faultClient(t, h, alice)
	bobHub := faultClient(t, h, bob)
	// A short op timeout, so that many faults outlast it: what a send
	// does when it cannot wait the fault out is what this suite is about.
	m := mountUser(t, alice, "--op-timeout=2s")

	fig := &faultFigures{seed: plan.seed, sendsBy: map[string]int{}, failedBy: map[string]int{}, faultsBy: map[string]int{}}
	schedule := faultSchedule(plan)
	var planned time.Duration
	for _, f := range schedule {
		planned += f.hold + f.gap + f.down
	}
	t.Logf("fault schedule: %d faults over %v", len(schedule), planned.Round(time.Second))
	records := make([]*sendRecord, plan.sends)
	deadline := time.Now().Add(plan.budget)
	start := time.Now()

	// The senders: each takes the next sequence number until all are sent
	// or the budget is spent, paced so that the sends spread over the whole
	// schedule. Bodies come from the seed, per sequence number, so a seed
	// repeats a run's bodies whatever the interleaving.
	var (
		wg      sync.WaitGroup
		seqMu   sync.Mutex // guards next
		next    int
		sending = make(chan struct{})
	)
	pace := planned / time.Duration(max(plan.sends, 1))
	for range plan.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				seqMu.Lock()
				seq := next
				next++
				seqMu.Unlock()
				if seq >= plan.sends {
					return
				}
				if wait := time.Until(start.Add(time.Duration(seq) * pace)); wait > 0 {
					time.Sleep(wait)
				}
				if time.Now().After(deadline) {
					return
				}
				rng := rand.New(rand.NewPCG(plan.seed, uint64(seq)))
				w := pickWriter(rng)
				rec := &sendRecord{seq: seq, via: w.name, body: faultBody(rng, seq, w.name)}
				killAfter := randDuration(rng, 100*time.Millisecond, 400*time.Millisecond)
				rec.output, rec.err = faultSend(m, bob.pub, w, rec.body, killAfter)
				records[seq] = rec
			}
		}()
	}
	go func() { wg.Wait(); close(sending) }()

	// The driver plays the schedule: faults of random kinds for random
	// periods (the sleeps are the faults' lengths, not waits for
	// anything), passing gaps between, and hub kills spread over the run.
	sampleQueue := func() {
		if n, ok, err := queueLength(m); err == nil && ok && n > fig.maxQueue {
			fig.maxQueue = n
		}
	}
	for i, f := range schedule {
		if time.Now().After(deadline) {
			break
		}
		if f.kill {
			h.kill(t)
			fig.kills++
			time.Sleep(f.down)
			h.start(t)
		}
		if f.kind == "reset-all" {
			proxy.ResetAll()
		} else {
			if err := proxy.Set(faultModes[f.kind]); err != nil {
				t.Fatalf("fault %d (%s): %v", i, f.kind, err)
			}
			time.Sleep(f.hold)
			sampleQueue()
			if err := proxy.Set(faultnet.Pass); err != nil {
				t.Fatalf("healing fault %d (%s): %v", i, f.kind, err)
			}
		}
		fig.faultsBy[f.kind]++
		time.Sleep(f.gap)
		sampleQueue()
	}
	// Senders still running go on with the network passing.
	for done := false; !done; {
		select {
		case <-sending:
			done = true
		case <-time.After(100 * time.Millisecond):
			sampleQueue()
		}
	}
	fig.sendPhase = time.Since(start)
	fig.proxyConnections = proxy.Stats().Connections

	// The network has healed: the queue must drain.
	fig.drained, fig.drain = faultDrain(t, m, plan.drain)
	if !fig.drained {
		t.Errorf("the mount's queue did not drain within %v of the network healing", plan.drain)
	}

	var sent []*sendRecord
	for _, r := range records {
		if r == nil {
			continue // not sent: the budget ran out
		}
		sent = append(sent, r)
		fig.sends++
		fig.sendsBy[r.via]++
		if r.err != nil {
			fig.failedBy[r.via]++
		}
	}
	t.Logf("why writers failed: %s", failureReasons(sent))
	if fig.sends < plan.sends {
		t.Logf("budget %v spent after %d of %d sends", plan.budget, fig.sends, plan.sends)
	}
	if n := fig.faults(); n < plan.faults {
		t.Errorf("only %d of %d faults injected within the budget of %v", n, plan.faults, plan.budget)
	}

	inbox := faultBox(t, "bob's inbox", bobHub.Client.InboxMessages(context.Background(), hub.InboxListOptions{}), bobHub.Key)
	sentbox := faultBox(t, "alice's sentbox", aliceHub.Client.SentboxMessages(context.Background(), hub.SentboxListOptions{}), aliceHub.Key)
	for _, box := range []faultBoxContents{inbox, sentbox} {
		checkFaultBox(t, box, sent, fig)
	}

	t.Logf("fault figures:\n%s", fig.table())
	if plan.report != "" {
		if err := os.WriteFile(plan.report, []byte(fig.table()), 0o644); err != nil {
			t.Errorf("writing %s: %v", plan.report, err)
		}
	}
	if t.Failed() {
		t.Logf("hub log:\n%s", tail(h.logs.String(), 4000))
	}
}

// faultClient signs u up directly on the hub, never through the proxy.
type faultUser struct {
	Client *hub.Client
	Key    *identity.PrivateKey
}

func faultClient(t *testing.T, h *hubProc, u *user) faultUser {
	t.Helper()
	key, err := identity.LoadKeyFile(u.keyFile)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cl, err := hub.Dial(ctx, h.addr, hub.WithKeyInfo(h.key, h.secret))
	if err != nil {
		t.Fatalf("dial %s: %v", h.addr, err)
	}
	t.Cleanup(func() { cl.Close() })
	if _, err := cl.GetToken(ctx, key); err != nil {
		t.Fatalf("%s: get token: %v", u.name, err)
	}
	if _, err := cl.SetupMailbox(ctx); err != nil {
		t.Fatalf("%s: setup mailbox: %v", u.name, err)
	}
	return faultUser{Client: cl, Key: key}
}

// faultSend runs one writer; a killed writer is SIGKILLed after killAfter
// (whatever it has written by then, none of it may be sent), and a hung
// one after a minute, which counts as failed.
func faultSend(m *mount, to string, w writer, body []byte, killAfter time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sh", "-c", w.script)
	half := len(body) / 2
	cmd.Env = append(os.Environ(), "MNT="+m.dir, "TO="+to, "BODY="+string(body),
		"HEAD="+string(body[:half]), "TAIL="+string(body[half:]))
	var out lockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	// Its own process group, so a kill reaches the sleep holding the
	// draft open as well as the shell.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	if err := cmd.Start(); err != nil {
		return "", err
	}
	if w.killed {
		time.AfterFunc(killAfter, cancel)
	}
	err := cmd.Wait()
	return out.String(), err
}

// faultDrain waits for the mount's queue to be empty, in both its views:
// no file under MNT/queued, length 0 in .hubfs/status.
func faultDrain(t *testing.T, m *mount, limit time.Duration) (bool, time.Duration) {
	t.Helper()
	start := time.Now()
	for {
		n, ok, err := queueLength(m)
		switch {
		case err != nil:
			t.Errorf("reading the queue length: %v", err)
			return false, 0
		case !ok:
			t.Errorf(".hubfs/status has no queue")
			return false, 0
		}
		ents, err := os.ReadDir(m.path("queued"))
		if err != nil {
			t.Errorf("ls MNT/queued: %v", err)
			return false, 0
		}
		if n == 0 && len(ents) == 0 {
			return true, time.Since(start)
		}
		if time.Since(start) > limit {
			t.Logf("queue after %v: length %d, %d files under queued/", limit, n, len(ents))
			return false, 0
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// faultBoxContents is one box as the hub has it: bodies by sequence
// number, in the order listed.
type faultBoxContents struct {
	name       string
	bySeq      map[int][][]byte
	unexpected int
}

func faultBox(t *testing.T, name string, msgs func(func(hub.UserMessage, error) bool), key *identity.PrivateKey) faultBoxContents {
	t.Helper()
	box := faultBoxContents{name: name, bySeq: map[int][][]byte{}}
	for msg, err := range msgs {
		if err != nil {
			t.Fatalf("listing %s: %v", name, err)
		}
		body, err := msg.Open(key)
		if err != nil {
			t.Errorf("%s: message %s does not open: %v", name, msg.ID, err)
			box.unexpected++
			continue
		}
		sub := seqLine.FindSubmatch(body)
		if sub == nil {
			box.unexpected++
			continue
		}
		seq, _ := strconv.Atoi(string(sub[1]))
		box.bySeq[seq] = append(box.bySeq[seq], body)
	}
	return box
}

// checkFaultBox holds one box to the send contract and adds what it finds
// to the figures.
func checkFaultBox(t *testing.T, box faultBoxContents, sent []*sendRecord, fig *faultFigures) {
	t.Helper()
	var lost, doubled, cut, failedIn []int
	known := map[int]bool{}
	for _, r := range sent {
		known[r.seq] = true
		got := box.bySeq[r.seq]
		for _, b := range got {
			if !bytes.Equal(b, r.body) {
				cut = append(cut, r.seq)
				break
			}
		}
		switch {
		case r.err != nil && len(got) > 0:
			failedIn = append(failedIn, r.seq)
		case r.err == nil && len(got) == 0:
			lost = append(lost, r.seq)
		case r.err == nil && len(got) > 1:
			doubled = append(doubled, r.seq)
		}
	}
	unexpected := box.unexpected
	for seq := range box.bySeq {
		if !known[seq] {
			unexpected++
		}
	}
	addSeqs(&fig.lost, lost)
	addSeqs(&fig.doubled, doubled)
	addSeqs(&fig.cut, cut)
	addSeqs(&fig.failedIn, failedIn)
	fig.unexpected += unexpected
	report := func(what string, seqs []int) {
		if len(seqs) > 0 {
			sort.Ints(seqs)
			t.Errorf("%s: %d %s (seq %s)", box.name, len(seqs), what, firstSeqs(seqs, 12))
		}
	}
	report("sends accepted (writer exit 0) and not delivered", lost)
	report("sends delivered more than once", doubled)
	report("sends delivered with a body other than the one written", cut)
	report("sends whose writer failed delivered all the same", failedIn)
	if unexpected > 0 {
		t.Errorf("%s: %d messages from no send of this run", box.name, unexpected)
	}
	if len(cut) > 0 {
		r := sent[slices.IndexFunc(sent, func(r *sendRecord) bool { return r.seq == cut[0] })]
		t.Logf("%s: seq %d: wrote %d bytes, box has %v bytes", box.name, r.seq, len(r.body), lens(box.bySeq[r.seq]))
	}
	if len(failedIn) > 0 {
		r := sent[slices.IndexFunc(sent, func(r *sendRecord) bool { return r.seq == failedIn[0] })]
		t.Logf("%s: seq %d (%s) failed with %v: %s", box.name, r.seq, r.via, r.err, strings.TrimSpace(r.output))
	}
}

// failureReasons counts the failed sends by what their writer said last
// (the errno text, or the signal that killed it).
func failureReasons(sent []*sendRecord) string {
	counts := map[string]int{}
	for _, r := range sent {
		if r.err == nil {
			continue
		}
		why := r.err.Error()
		if out := strings.TrimSpace(r.output); out != "" {
			why = out[strings.LastIndex(out, ": ")+2:]
		}
		counts[r.via+": "+why]++
	}
	var parts []string
	for why, n := range counts {
		parts = append(parts, fmt.Sprintf("%d %s", n, why))
	}
	sort.Strings(parts)
	if len(parts) == 0 {
		return "none failed"
	}
	return strings.Join(parts, "; ")
}

func addSeqs(set *map[int]bool, seqs []int) {
	if *set == nil {
		*set = map[int]bool{}
	}
	for _, seq := range seqs {
		(*set)[seq] = true
	}
}

func firstSeqs(seqs []int, n int) string {
	var parts []string
	for i, s := range seqs {
		if i == n {
			parts = append(parts, "...")
			break
		}
		parts = append(parts, strconv.Itoa(s))
	}
	return strings.Join(parts, ", ")
}

func lens(bodies [][]byte) []int {
	var out []int
	for _, b := range bodies {
		out = append(out, len(b))
	}
	return out
}

func randDuration(rng *rand.Rand, lo, hi time.Duration) time.Duration {
	return lo + time.Duration(rng.Int64N(int64(hi-lo)))
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}
