package hubd

import (
	"context"
	"math"
	"sync"
	"time"

	hubpb "github.com/hubfs/hubfs/wire/pb"
)

// Usage keys of GetUsage. The first four are the Textile hub's billing
// products, with its meanings and units (textile api/billingd): total is
// the amount (bytes, or instances read or written), units is total in the
// product's unit size, rounded, free and grace what is left of the free
// quota and of the grace allowance. The others are this hub's own figures,
// each with units = total.
const (
	UsageStoredData     = "stored_data"     // bytes: message bodies and signatures, and instance JSON
	UsageNetworkEgress  = "network_egress"  // bytes sent: not measured here, always 0
	UsageInstanceReads  = "instance_reads"  // ThreadDB instances returned
	UsageInstanceWrites = "instance_writes" // ThreadDB instance creates, saves and deletes

	UsageStoredMessages  = "stored_messages"  // inbox and sentbox copies
	UsageSentMessages    = "sent_messages"    // every stored send, deleted or not
	UsageStoredInstances = "stored_instances" // ThreadDB instances held now
)

// Quota is a product's free quota and grace allowance, in the product's
// amount (bytes, or instances), as Textile sizes them.
type Quota struct {
	Free, Grace int64
}

// Quotas are what GetUsage reports as free and grace. The hub enforces
// none of them: they tell apps written against the Textile hub how much
// room they have, and the defaults are Textile's free tier, so that an
// app does not read its quota as exhausted.
type Quotas struct {
	StoredData, NetworkEgress, InstanceReads, InstanceWrites Quota
}

const (
	mib = 1 << 20
	gib = 1 << 30
)

// DefaultQuotas are the Textile hub's free tier.
func DefaultQuotas() Quotas {
	return Quotas{
		StoredData:     Quota{Free: 5 * gib, Grace: 1000 * gib},
		NetworkEgress:  Quota{Free: 10 * gib, Grace: 1000 * gib},
		InstanceReads:  Quota{Free: 50000, Grace: 1000000},
		InstanceWrites: Quota{Free: 20000, Grace: 1000000},
	}
}

// withDefaults fills a zero quota with the default and makes grace at
// least the free quota: grace is an allowance past the free one.
func (q Quotas) withDefaults() Quotas {
	d := DefaultQuotas()
	fill := func(q *Quota, d Quota) {
		if q.Free <= 0 {
			q.Free = d.Free
		}
		if q.Grace <= 0 {
			q.Grace = d.Grace
		}
		q.Grace = max(q.Grace, q.Free)
	}
	fill(&q.StoredData, d.StoredData)
	fill(&q.NetworkEgress, d.NetworkEgress)
	fill(&q.InstanceReads, d.InstanceReads)
	fill(&q.InstanceWrites, d.InstanceWrites)
	return q
}

// product is one of Textile's billing products.
type product struct {
	name     string
	unitSize int64
	quota    Quota
}

// usage is Textile's billingd getUsage: units are the total in unit
// sizes, free and grace what is left (never below zero). Nothing costs
// anything here.
func (p product) usage(total int64, period *hubpb.Period) *hubpb.Usage {
	return &hubpb.Usage{
		Description: p.name,
		Units:       int64(math.Round(float64(total) / float64(p.unitSize))),
		Total:       total,
		Free:        max(p.quota.Free-total, 0),
		Grace:       max(p.quota.Grace-total, 0),
		Period:      period,
	}
}

// usageMap is GetUsage's map for u.
func (q Quotas) usageMap(u Usage, period *hubpb.Period) map[string]*hubpb.Usage {
	own := func(desc string, n int64) *hubpb.Usage {
		return &hubpb.Usage{Description: desc, Units: n, Total: n, Period: period}
	}
	return map[string]*hubpb.Usage{
		UsageStoredData:     product{"Stored data", 8 * mib, q.StoredData}.usage(u.StoredBytes+u.InstanceBytes, period),
		UsageNetworkEgress:  product{"Network egress (not measured by this hub)", 8 * mib, q.NetworkEgress}.usage(0, period),
		UsageInstanceReads:  product{"ThreadDB reads", 100, q.InstanceReads}.usage(u.InstanceReads, period),
		UsageInstanceWrites: product{"ThreadDB writes", 100, q.InstanceWrites}.usage(u.InstanceWrites, period),

		UsageStoredMessages:  own("messages stored (inbox and sentbox copies)", u.InboxMessages+u.SentboxMessages),
		UsageSentMessages:    own("messages sent", u.SentMessages),
		UsageStoredInstances: own("ThreadDB instances stored", u.Instances),
	}
}

// readFlushEvery is how often the instance reads counted in memory go to
// the store. Reads are counted per request; writing each count at once
// made a FindByID six times slower (one store write per read). A crash
// loses at most this long of read counts, which are figures, not data.
const readFlushEvery = time.Second

// readTally holds instance reads not yet written to the store, by owner.
type readTally struct {
	mu sync.Mutex // guards n
	n  map[string]int64
}

func (r *readTally) add(owner string, n int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.n == nil {
		r.n = make(map[string]int64)
	}
	r.n[owner] += n
}

// pending is what owner has read since the last flush.
func (r *readTally) pending(owner string) int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n[owner]
}

func (r *readTally) take() map[string]int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := r.n
	r.n = nil
	return n
}

// flushReads writes the counted reads to the store; counts it could not
// write are kept for the next flush.
func (s *Server) flushReads(ctx context.Context) {
	for owner, n := range s.reads.take() {
		if err := s.store.AddInstanceReads(ctx, owner, n); err != nil {
			s.log.WarnContext(ctx, "count instance reads", "err", err)
			s.reads.add(owner, n)
		}
	}
}

func (s *Server) flushReadsLoop() {
	t := time.NewTicker(readFlushEvery)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			if !s.inflight.enter() {
				return
			}
			s.flushReads(context.Background())
			s.inflight.leave()
		case <-s.events.done:
			return
		}
	}
}
