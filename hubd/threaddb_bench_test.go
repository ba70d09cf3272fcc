package hubd_test

import (
	"fmt"
	"testing"

	"github.com/hubfs/hubfs/hubd/hubdtest"
	hubpb "github.com/hubfs/hubfs/wire/pb"
)

// BenchmarkThreadDBFind10k: a collection of 10,000 instances (about 100
// bytes each) over loopback gRPC: Find with a query that matches 1%, Find
// with a limit of 10, and FindByID beside them, so that their ratio says
// what a scan of the collection costs (Find reads every instance and runs
// the query in hubd; there is no index scan).
func BenchmarkThreadDBFind10k(b *testing.B) {
	h := hubdtest.Start(b)
	alice := newUser(b, h, dial(b, h))
	db := newDB(b, alice)
	ctx := alice.ctx()
	const n = 10000
	for start := 0; start < n; start += 1000 {
		batch := make([][]byte, 0, 1000)
		for i := start; i < start+1000; i++ {
			batch = append(batch, fmt.Appendf(nil, `{"_id":"p%05d","name":"person %d","email":"p%d@example.com","age":%d}`, i, i, i, i%100))
		}
		if _, err := alice.threads.Create(ctx, &hubpb.CreateRequest{DbID: db, CollectionName: "people", Instances: batch}); err != nil {
			b.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name, query string
		want        int
	}{
		{"1pct", `{"ands":[{"fieldPath":"age","operation":0,"value":{"float":42}}]}`, n / 100},
		{"limit10", `{"sort":{"fieldPath":"age","desc":true},"limit":10}`, 10},
	} {
		b.Run("Find/"+tc.name, func(b *testing.B) {
			req := &hubpb.FindRequest{DbID: db, CollectionName: "people", QueryJSON: []byte(tc.query)}
			for b.Loop() {
				r, err := alice.threads.Find(ctx, req)
				if err != nil || len(r.Instances) != tc.want {
					b.Fatalf("Find = %d, %v (want %d)", len(r.GetInstances()), err, tc.want)
				}
			}
		})
	}
	b.Run("FindByID", func(b *testing.B) {
		req := &hubpb.FindByIDRequest{DbID: db, CollectionName: "people", InstanceID: "p04242"}
		for b.Loop() {
			if _, err := alice.threads.FindByID(ctx, req); err != nil {
				b.Fatal(err)
			}
		}
	})
}
