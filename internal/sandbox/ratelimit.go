package sandbox

import (
	"net/http"
	"strconv"
	"sync"
	"time"
)

// rateLimiter enforces GHL's limits per (app, location): Burst requests in
// any sliding Window and Daily requests per UTC day. Every API response
// carries the five X-RateLimit-* headers GHL sends.
type rateLimiter struct {
	opts RateLimitOptions
	mu   sync.Mutex
	keys map[string]*bucket
}

type bucket struct {
	times []time.Time // request times inside the window, oldest first
	day   string
	daily int
}

func newRateLimiter(o RateLimitOptions) *rateLimiter {
	if o.Burst <= 0 {
		o.Burst = 100
	}
	if o.Window <= 0 {
		o.Window = 10 * time.Second
	}
	if o.Daily <= 0 {
		o.Daily = 200000
	}
	return &rateLimiter{opts: o, keys: map[string]*bucket{}}
}

// take counts one request for key and sets the headers; it returns a 429
// reply when the request is over a limit (and then does not count it).
func (l *rateLimiter) take(h http.Header, key string, now time.Time) *reply {
	o := l.opts
	h.Set("X-RateLimit-Limit-Daily", strconv.Itoa(o.Daily))
	h.Set("X-RateLimit-Interval-Milliseconds", strconv.FormatInt(o.Window.Milliseconds(), 10))
	h.Set("X-RateLimit-Max", strconv.Itoa(o.Burst))
	if o.Disabled {
		h.Set("X-RateLimit-Daily-Remaining", strconv.Itoa(o.Daily))
		h.Set("X-RateLimit-Remaining", strconv.Itoa(o.Burst))
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.keys[key]
	if b == nil {
		b = &bucket{}
		l.keys[key] = b
	}
	day := now.UTC().Format("2006-01-02")
	if b.day != day {
		b.day, b.daily = day, 0
	}
	cut := now.Add(-o.Window)
	i := 0
	for i < len(b.times) && !b.times[i].After(cut) {
		i++
	}
	b.times = b.times[i:]
	over := len(b.times) >= o.Burst || b.daily >= o.Daily
	if !over {
		b.times = append(b.times, now)
		b.daily++
	}
	h.Set("X-RateLimit-Daily-Remaining", strconv.Itoa(max(0, o.Daily-b.daily)))
	h.Set("X-RateLimit-Remaining", strconv.Itoa(max(0, o.Burst-len(b.times))))
	if over {
		rep := reply{status: http.StatusTooManyRequests, body: map[string]any{"statusCode": 429, "message": "Too Many Requests"}}
		return &rep
	}
	return nil
}

func (l *rateLimiter) reset() {
	l.mu.Lock()
	l.keys = map[string]*bucket{}
	l.mu.Unlock()
}
