package hubd_test

import (
	"testing"

	"github.com/hubfs/hubfs/hubd"
	"github.com/hubfs/hubfs/hubd/hubdtest"
	hubpb "github.com/hubfs/hubfs/wire/pb"
)

// TestUsageTextileProducts: GetUsage answers with the Textile hub's four
// products, their units and what is left of the free quota, so that an app
// does not read a fresh account as exhausted (it read free = 0 before).
func TestUsageTextileProducts(t *testing.T) {
	h := hubdtest.Start(t)
	conn := dial(t, h)
	alice, bob := mailboxUser(t, h, conn), mailboxUser(t, h, conn)
	res, err := alice.users.GetUsage(alice.ctx(), &hubpb.GetUsageRequest{})
	if err != nil {
		t.Fatal(err)
	}
	u := res.GetUsage().GetUsage()
	d := hubd.DefaultQuotas()
	for key, q := range map[string]hubd.Quota{
		hubd.UsageStoredData: d.StoredData, hubd.UsageNetworkEgress: d.NetworkEgress,
		hubd.UsageInstanceReads: d.InstanceReads, hubd.UsageInstanceWrites: d.InstanceWrites,
	} {
		if u[key] == nil || u[key].GetFree() != q.Free || u[key].GetGrace() != q.Grace || u[key].GetTotal() != 0 || u[key].GetUnits() != 0 {
			t.Errorf("%s of a fresh user = %v, want free %d grace %d", key, u[key], q.Free, q.Grace)
		}
	}
	if res.GetCustomer().GetDailyUsage()[hubd.UsageStoredData].GetFree() != d.StoredData.Free {
		t.Errorf("customer.daily_usage differs from usage.usage")
	}

	// 5 MiB sent: stored_data counts bytes, units of 8 MiB rounded (Textile's).
	for range 5 {
		send(t, alice, bob.id, make([]byte, 1<<20-200))
	}
	res, err = alice.users.GetUsage(alice.ctx(), &hubpb.GetUsageRequest{})
	if err != nil {
		t.Fatal(err)
	}
	sd := res.GetUsage().GetUsage()[hubd.UsageStoredData]
	if sd.GetTotal() < 5<<20-5000 || sd.GetTotal() > 5<<20 || sd.GetUnits() != 1 || sd.GetFree() != d.StoredData.Free-sd.GetTotal() {
		t.Fatalf("stored_data after 5 MiB = %v", sd)
	}
	if own := res.GetUsage().GetUsage()[hubd.UsageSentMessages]; own.GetTotal() != 5 || own.GetUnits() != 5 {
		t.Fatalf("sent_messages = %v", own)
	}
}

// TestUsageConfiguredQuota: the quotas are the hub's to set; what is left
// never goes below zero.
func TestUsageConfiguredQuota(t *testing.T) {
	h := hubdtest.Start(t, func(c *hubd.Config) {
		c.Quotas.StoredData = hubd.Quota{Free: 1000, Grace: 2000}
		c.Quotas.InstanceReads = hubd.Quota{Free: 7}
	})
	conn := dial(t, h)
	alice, bob := mailboxUser(t, h, conn), mailboxUser(t, h, conn)
	send(t, alice, bob.id, make([]byte, 1500))
	res, err := alice.users.GetUsage(alice.ctx(), &hubpb.GetUsageRequest{})
	if err != nil {
		t.Fatal(err)
	}
	u := res.GetUsage().GetUsage()
	if sd := u[hubd.UsageStoredData]; sd.GetFree() != 0 || sd.GetGrace() != 2000-sd.GetTotal() {
		t.Fatalf("stored_data over a 1000-byte quota = %v", sd)
	}
	if r := u[hubd.UsageInstanceReads]; r.GetFree() != 7 || r.GetGrace() != hubd.DefaultQuotas().InstanceReads.Grace {
		t.Fatalf("instance_reads with free 7 = %v", r)
	}
}

// TestUsageInstanceReadsAndWrites: ThreadDB reads and writes are counted;
// reads, tallied in memory, show at once and survive a restart (the
// shutdown writes them).
func TestUsageInstanceReadsAndWrites(t *testing.T) {
	h := hubdtest.Start(t)
	alice := newUser(t, h, dial(t, h))
	db := newDB(t, alice)
	ctx := alice.ctx()
	if _, err := alice.threads.Create(ctx, &hubpb.CreateRequest{DbID: db, CollectionName: "people", Instances: raws(`{"_id":"a","name":"A"}`, `{"_id":"b","name":"B"}`)}); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.threads.Find(ctx, &hubpb.FindRequest{DbID: db, CollectionName: "people"}); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.threads.FindByID(ctx, &hubpb.FindByIDRequest{DbID: db, CollectionName: "people", InstanceID: "a"}); err != nil {
		t.Fatal(err)
	}
	usage := func(u *user) map[string]*hubpb.Usage {
		t.Helper()
		res, err := u.users.GetUsage(u.ctx(), &hubpb.GetUsageRequest{})
		if err != nil {
			t.Fatal(err)
		}
		return res.GetUsage().GetUsage()
	}
	u := usage(alice)
	if u[hubd.UsageInstanceReads].GetTotal() != 3 || u[hubd.UsageInstanceWrites].GetTotal() != 2 || u[hubd.UsageStoredInstances].GetTotal() != 2 {
		t.Fatalf("reads %v, writes %v, stored %v; want 3, 2, 2", u[hubd.UsageInstanceReads], u[hubd.UsageInstanceWrites], u[hubd.UsageStoredInstances])
	}
	h.Restart(t)
	conn := dial(t, h)
	alice.conn, alice.users, alice.threads = conn, hubpb.NewAPIServiceClient(conn), hubpb.NewAPIClient(conn)
	if r := usage(alice)[hubd.UsageInstanceReads].GetTotal(); r != 3 {
		t.Fatalf("instance reads after a restart = %d, want 3", r)
	}
}
