package ghl

import (
	"github.com/ghlsync/ghlsync/internal/testutil"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"
)

// testToken is distinctive so tests can prove it never leaks.
const testToken = "pit-SECRET-7f3a9c1e-0b2d-4e5f-8a6b-test"

// rateServer is an httptest server that enforces GHL's burst budget: at most
// max requests in any sliding window, answering 429 past it. It records the
// arrival time of every request (accepted or not).
type rateServer struct {
	*httptest.Server
	max    int
	window time.Duration

	mu       sync.Mutex
	arrivals []time.Time
	accepted []time.Time
	rejected int
	handler  http.HandlerFunc
}

func newRateServer(t *testing.T, max int, window time.Duration, h http.HandlerFunc) *rateServer {
	t.Helper()
	rs := &rateServer{max: max, window: window, handler: h}
	rs.Server = httptest.NewServer(http.HandlerFunc(rs.serve))
	t.Cleanup(rs.Close)
	return rs
}

func (rs *rateServer) serve(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	rs.mu.Lock()
	rs.arrivals = append(rs.arrivals, now)
	n := 0
	for _, a := range rs.accepted {
		if now.Sub(a) < rs.window {
			n++
		}
	}
	if n >= rs.max {
		rs.rejected++
		rs.mu.Unlock()
		w.Header().Set("X-RateLimit-Max", strconv.Itoa(rs.max))
		w.Header().Set("X-RateLimit-Remaining", "0")
		w.WriteHeader(http.StatusTooManyRequests)
		io.WriteString(w, `{"statusCode":429,"message":"Too many requests"}`)
		return
	}
	rs.accepted = append(rs.accepted, now)
	rs.mu.Unlock()
	rs.handler(w, r)
}

// maxInWindow is the largest number of arrivals inside any window.
func (rs *rateServer) maxInWindow() int {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	best := 0
	j := 0
	for i := range rs.arrivals {
		for rs.arrivals[i].Sub(rs.arrivals[j]) >= rs.window {
			j++
		}
		best = max(best, i-j+1)
	}
	return best
}

type syncBuffer = testutil.SyncBuffer

func debugLogger(buf *syncBuffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// fastRetry keeps retry tests quick.
var fastRetry = RetryPolicy{MaxAttempts: 4, BaseDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond}

func testClient(url string, lim *Limiter, resource string) *Client {
	if lim == nil {
		lim = NewLimiter(LimiterOptions{})
	}
	return New(Config{BaseURL: url, Limiter: lim, Retry: fastRetry, AppID: "app1"}, StaticToken(testToken), resource)
}
