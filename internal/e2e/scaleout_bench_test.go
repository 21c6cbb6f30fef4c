package e2e

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkPostgresScaleOut measures webhook-to-done throughput of one and of
// three `ghlsync serve` processes on one Postgres database: each iteration
// posts 400 signed events to the three-step flow (upsert, note, tag), spread
// over the servers by 16 senders, and waits until every run has succeeded.
// The sandbox runs without rate limits; senders, servers, sandbox and
// Postgres share the machine.
//
//	GHLSYNC_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test?sslmode=disable \
//	  go test -run '^$' -bench PostgresScaleOut -benchtime 3x ./internal/e2e/
func BenchmarkPostgresScaleOut(b *testing.B) {
	for _, tc := range []struct{ servers, workers, pool int }{{1, 20, 10}, {1, 60, 10}, {1, 60, 30}, {3, 20, 10}} {
		b.Run(fmt.Sprintf("servers=%d/workers=%d/pool=%d", tc.servers, tc.workers, tc.pool), func(b *testing.B) {
			dbURL, db := pgSchema(b)
			dbURL += fmt.Sprintf("&pool_max_conns=%d", tc.pool)
			sb := launch(b, "sandbox", "/_sandbox/", nil, "sandbox", "--quiet", "--no-rate-limit")
			c := &cluster{t: b, sandbox: sb, dbURL: dbURL, db: db, flows: "testdata/webhook",
				env: []string{"GHLSYNC_TOKEN=" + token}, args: []string{"--location-id", location}}
			servers := c.startN(tc.servers, "--workers", fmt.Sprint(tc.workers))
			const perIter = 400
			// One round first, so connection pools and caches are warm.
			for _, d := range postSpread(servers, seq(0, 50), 1, 16) {
				if d.err != nil || d.status != 202 {
					b.Fatalf("event %d: %d %v %v", d.event, d.status, d.body, d.err)
				}
			}
			waitSucceeded(b, db, "three", 50, time.Minute)
			b.ResetTimer()
			start := time.Now()
			for i := 0; i < b.N; i++ {
				from := 50 + i*perIter
				for _, d := range postSpread(servers, seq(from, from+perIter), 1, 16) {
					if d.err != nil || d.status != 202 {
						b.Fatalf("event %d: %d %v %v", d.event, d.status, d.body, d.err)
					}
				}
				waitSucceeded(b, db, "three", from+perIter, 2*time.Minute)
			}
			b.ReportMetric(float64(b.N*perIter)/time.Since(start).Seconds(), "events/s")
			b.StopTimer()
			stopAll(b, servers)
		})
	}
}
