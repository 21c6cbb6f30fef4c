package ghl

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// burst fires n concurrent contacts.get calls and reports errors and 429s
// seen by the caller.
func burst(t *testing.T, c *Client, n int) (errs []error) {
	t.Helper()
	var wg sync.WaitGroup
	var mu sync.Mutex
	for i := range n {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			_, err := c.Do(ctx, "contacts.get", Params{Path: map[string]string{"contactId": "c" + strconv.Itoa(i)}})
			if err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return errs
}

func okHandler(w http.ResponseWriter, r *http.Request) {
	io.WriteString(w, `{"contact":{"id":"x"}}`)
}

// TestBurstWindowScaled: 150 requests for one location at once against a
// server that allows 100 per window and answers 429 past it. The window is
// scaled to 1 s (with a 50 ms margin) so the test is fast; the honest 10 s
// run is TestBurstWindowRealTenSeconds.
func TestBurstWindowScaled(t *testing.T) {
	t.Parallel()
	const window = time.Second
	rs := newRateServer(t, 100, window, okHandler)
	lim := NewLimiter(LimiterOptions{Max: 100, Window: window, Margin: 50 * time.Millisecond})
	c := testClient(rs.URL, lim, "loc1")
	start := time.Now()
	if errs := burst(t, c, 150); len(errs) > 0 {
		t.Fatalf("%d calls failed, first: %v", len(errs), errs[0])
	}
	elapsed := time.Since(start)
	if got := rs.maxInWindow(); got > 100 {
		t.Errorf("server saw %d requests in one window, want <= 100", got)
	}
	if rs.rejected != 0 {
		t.Errorf("server answered 429 %d times; the limiter should have kept under the budget", rs.rejected)
	}
	if len(rs.arrivals) != 150 {
		t.Errorf("server saw %d requests, want 150", len(rs.arrivals))
	}
	// The first 100 go at once, the other 50 one window later.
	if elapsed < window || elapsed > 3*window {
		t.Errorf("150 requests took %s, want about one window (%s)", elapsed, window)
	}
}

// TestBurstWindowRealTenSeconds is the same check at GHL's real budget of
// 100 requests per 10 s, with the default limiter. It takes ~10 s, in
// parallel with the other tests.
func TestBurstWindowRealTenSeconds(t *testing.T) {
	if testing.Short() {
		t.Skip("takes 10 s: the real 100/10 s window (the scaled variant runs in -short)")
	}
	t.Parallel()
	rs := newRateServer(t, 100, 10*time.Second, okHandler)
	c := testClient(rs.URL, nil, "loc1")
	start := time.Now()
	if errs := burst(t, c, 150); len(errs) > 0 {
		t.Fatalf("%d calls failed, first: %v", len(errs), errs[0])
	}
	if got := rs.maxInWindow(); got > 100 {
		t.Errorf("server saw %d requests in one 10 s window, want <= 100", got)
	}
	if rs.rejected != 0 || len(rs.arrivals) != 150 {
		t.Errorf("429s %d, requests %d; want 0 and 150", rs.rejected, len(rs.arrivals))
	}
	t.Logf("150 requests in %s", time.Since(start).Round(time.Millisecond))
}

func TestLimiterIsPerResource(t *testing.T) {
	t.Parallel()
	lim := NewLimiter(LimiterOptions{Max: 5, Window: time.Hour})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	for range 5 {
		if _, err := lim.acquire(ctx, "op", "app", "A"); err != nil {
			t.Fatal(err)
		}
	}
	// A is full for an hour: fails fast at the deadline instead of waiting.
	if _, err := lim.acquire(ctx, "op", "app", "A"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("6th for A: err = %v, want deadline", err)
	}
	// B and the same resource under another app are untouched.
	for _, k := range [][2]string{{"app", "B"}, {"app2", "A"}} {
		if _, err := lim.acquire(ctx, "op", k[0], k[1]); err != nil {
			t.Errorf("%v: %v", k, err)
		}
	}
}

func TestLimiterCancelGivesSlotBack(t *testing.T) {
	t.Parallel()
	lim := NewLimiter(LimiterOptions{Max: 1, Window: time.Hour, Daily: 10})
	ctx := context.Background()
	pm, err := lim.acquire(ctx, "op", "app", "A")
	if err != nil {
		t.Fatal(err)
	}
	pm.cancel()
	pm.cancel() // idempotent
	if st := lim.State("app", "A"); st.InWindow != 0 || st.DailyRemaining != 10 {
		t.Errorf("after cancel: %+v", st)
	}
	if _, err := lim.acquire(ctx, "op", "app", "A"); err != nil {
		t.Errorf("slot not given back: %v", err)
	}
}

func TestLimiterFollowsHeaders(t *testing.T) {
	t.Parallel()
	lim := NewLimiter(LimiterOptions{})
	h := http.Header{}
	h.Set("X-RateLimit-Max", "50")
	h.Set("X-RateLimit-Interval-Milliseconds", "5000")
	h.Set("X-RateLimit-Remaining", "10")
	h.Set("X-RateLimit-Limit-Daily", "1000")
	h.Set("X-RateLimit-Daily-Remaining", "900")
	lim.observe("app", "A", h, 200, 0)
	st := lim.State("app", "A")
	// 40 requests were spent elsewhere in this window (other processes).
	if st.Max != 50 || st.Window != 5050*time.Millisecond || st.InWindow != 40 || st.DailyLimit != 1000 || st.DailyRemaining != 900 {
		t.Errorf("state = %+v", st)
	}
	// Remaining: 0 with a 429 blocks the resource for a window.
	h.Set("X-RateLimit-Remaining", "0")
	lim.observe("app", "A", h, 429, 0)
	if st := lim.State("app", "A"); time.Until(st.BlockedUntil) < 4*time.Second {
		t.Errorf("blocked until %s, want about a window from now", st.BlockedUntil)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := lim.acquire(ctx, "op", "app", "A"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("acquire while blocked: %v", err)
	}
}

// dailyServer serves contacts.get and reports a daily budget per location.
func dailyServer(t *testing.T, daily int) (*httptest.Server, *sync.Map) {
	t.Helper()
	var counts sync.Map // locationId -> *atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		loc := r.URL.Query().Get("locationId")
		v, _ := counts.LoadOrStore(loc, new(atomic.Int32))
		n := int(v.(*atomic.Int32).Add(1))
		w.Header().Set("X-RateLimit-Limit-Daily", strconv.Itoa(daily))
		w.Header().Set("X-RateLimit-Daily-Remaining", strconv.Itoa(max(0, daily-n)))
		if n > daily {
			w.WriteHeader(429)
			io.WriteString(w, `{"statusCode":429,"message":"daily limit"}`)
			return
		}
		io.WriteString(w, `{"calendars":[]}`)
	}))
	t.Cleanup(srv.Close)
	return srv, &counts
}

func TestDailyLimitFailsFastPerLocation(t *testing.T) {
	t.Parallel()
	srv, counts := dailyServer(t, 3)
	lim := NewLimiter(LimiterOptions{})
	a := testClient(srv.URL, lim, "locA")
	b := a.WithResource("locB")
	ctx := context.Background()
	for i := range 3 {
		if _, err := a.Do(ctx, "calendars.list", Params{}); err != nil {
			t.Fatalf("call %d for A: %v", i, err)
		}
	}
	// The server said 0 remaining: the next call fails without a request.
	start := time.Now()
	_, err := a.Do(ctx, "calendars.list", Params{})
	var de *DailyLimitError
	if !errors.Is(err, ErrDailyLimit) || !errors.As(err, &de) || de.Resource != "locA" || de.Limit != 3 || de.ResetAt.IsZero() {
		t.Fatalf("err = %v, want *DailyLimitError for locA", err)
	}
	if time.Since(start) > 50*time.Millisecond {
		t.Errorf("took %s, want fail fast", time.Since(start))
	}
	if v, _ := counts.Load("locA"); v.(*atomic.Int32).Load() != 3 {
		t.Errorf("A requests = %d, want 3 (no request after the budget is spent)", v.(*atomic.Int32).Load())
	}
	// Another location under the same app and limiter still works.
	if _, err := b.Do(ctx, "calendars.list", Params{}); err != nil {
		t.Errorf("locB: %v", err)
	}
}

func TestDailyLimitFrom429(t *testing.T) {
	t.Parallel()
	// A fresh process does not know the budget is spent: the 429 that says
	// so turns into a DailyLimitError at once (no retries) and later calls
	// fail fast.
	srv, counts := dailyServer(t, 0)
	a := testClient(srv.URL, nil, "locA")
	_, err := a.Do(context.Background(), "calendars.list", Params{})
	if !errors.Is(err, ErrDailyLimit) {
		t.Fatalf("err = %v", err)
	}
	_, err = a.Do(context.Background(), "calendars.list", Params{})
	if !errors.Is(err, ErrDailyLimit) {
		t.Fatalf("second err = %v", err)
	}
	if v, _ := counts.Load("locA"); v.(*atomic.Int32).Load() != 1 {
		t.Errorf("requests = %d, want 1", v.(*atomic.Int32).Load())
	}
}

func TestDailyLimitLocalBudgetAndReset(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 7, 23, 59, 0, 0, time.UTC)
	var mu sync.Mutex
	lim := NewLimiter(LimiterOptions{Daily: 2})
	lim.o.now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	ctx := context.Background()
	for range 2 {
		if _, err := lim.acquire(ctx, "op", "app", "A"); err != nil {
			t.Fatal(err)
		}
	}
	_, err := lim.acquire(ctx, "op", "app", "A")
	var de *DailyLimitError
	if !errors.As(err, &de) || !de.ResetAt.Equal(time.Date(2026, 3, 8, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("err = %v", err)
	}
	mu.Lock()
	now = now.Add(2 * time.Minute) // past midnight UTC
	mu.Unlock()
	if _, err := lim.acquire(ctx, "op", "app", "A"); err != nil {
		t.Errorf("after reset: %v", err)
	}
}
