package auth

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

// GoHighLevel's access tokens live a day, but a token living less than the
// refresh skew (a test server's, or a shorter lifetime some day) must not be
// due the moment it is issued: each use, in each process, would refresh it
// again, rotating the refresh token on every API call.
func TestShortLivedTokenRefreshedOnceWhenDue(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect)
		e.fake.ttl = 2 * time.Minute // shorter than the default 5-minute skew
		var offset atomic.Int64
		clock := func(o *Options) {
			o.Now = func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
		}
		ms := []*Manager{e.manager(clock), e.manager(clock), e.manager(clock)}
		e.login(ms[0], "main", "loc-1")
		first, err := ms[0].Token(context.Background(), "main")
		if err != nil {
			t.Fatal(err)
		}
		same := func(got []string, want string) {
			t.Helper()
			for _, tok := range got {
				if tok != want {
					t.Fatalf("callers got another token than the current one")
				}
			}
		}

		// Freshly issued: used as it is, by every process.
		same(tokensConcurrently(t, ms, "main", 9), first)
		if _, refresh, _ := e.fake.counts(); refresh != 0 {
			t.Fatalf("%d refreshes of a token issued moments ago, want 0", refresh)
		}

		// Past half its life it is due: one refresh for all of them.
		offset.Store(int64(70 * time.Second))
		for _, m := range ms {
			m.Forget("main")
		}
		second := assertOneNewToken(t, e, tokensConcurrently(t, ms, "main", 21), 21, first)

		// The new token is fresh again: no further refresh.
		for _, m := range ms {
			m.Forget("main")
		}
		same(tokensConcurrently(t, ms, "main", 9), second)
		if _, refresh, _ := e.fake.counts(); refresh != 1 {
			t.Fatalf("%d refreshes, want 1", refresh)
		}
	})
}
