package ghl

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"
)

// GHL's documented budgets per app and resource (location or company).
const (
	DefaultBurstMax    = 100
	DefaultBurstWindow = 10 * time.Second
	DefaultDailyLimit  = 200_000
)

// LimiterOptions configure a Limiter. Zero fields take GHL's documented
// values.
type LimiterOptions struct {
	// Max requests in any Window (default 100 per 10 s).
	Max    int
	Window time.Duration
	// Margin is added to Window so that small differences between when we
	// send and when GHL counts do not push a request into the previous
	// window (default Window/100).
	Margin time.Duration
	// Daily is the budget per day (default 200,000).
	Daily int
	// DailyReset returns when the day that contains t ends (default: next
	// midnight UTC). GHL does not document its reset time; the
	// X-RateLimit-Daily-Remaining header keeps the count honest.
	DailyReset func(t time.Time) time.Time
	// Disabled turns local limiting off (server headers and 429s are still
	// honoured by the retry policy).
	Disabled bool
	now      func() time.Time
}

// Limiter keeps GHL's request budgets per (app, resource): at most Max
// requests in any sliding Window, and Daily requests per day. One Limiter
// should be shared by every Client of a process.
//
// The burst budget is a sliding-window log of send times rather than a token
// bucket: a bucket of 100 that refills at 10/s lets up to ~200 requests into
// one 10 s window (a full bucket plus its refill), which GHL answers with 429.
// The log guarantees the window bound while still letting a full burst of
// Max go at once. Entries are stamped when the request is actually written,
// and every send re-checks the trailing window, so the bound holds however
// goroutines are scheduled.
type Limiter struct {
	o       LimiterOptions
	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	max     int
	window  time.Duration // includes the margin
	sends   []*time.Time  // send (or reserved) times, unsorted
	waiters int
	blocked time.Time // no sends before this (429 or Remaining: 0)

	dailyLimit int
	dailyUsed  int
	resetAt    time.Time
}

// NewLimiter returns a Limiter with o's budgets.
func NewLimiter(o LimiterOptions) *Limiter {
	if o.Max <= 0 {
		o.Max = DefaultBurstMax
	}
	if o.Window <= 0 {
		o.Window = DefaultBurstWindow
	}
	if o.Margin <= 0 {
		o.Margin = o.Window / 100
	}
	if o.Daily <= 0 {
		o.Daily = DefaultDailyLimit
	}
	if o.DailyReset == nil {
		o.DailyReset = func(t time.Time) time.Time {
			y, m, d := t.UTC().Date()
			return time.Date(y, m, d+1, 0, 0, 0, 0, time.UTC)
		}
	}
	if o.now == nil {
		o.now = time.Now
	}
	return &Limiter{o: o, buckets: map[string]*bucket{}}
}

func limiterKey(appID, resource string) string { return appID + "\x00" + resource }

func (l *Limiter) bucket(key string, now time.Time) *bucket {
	b := l.buckets[key]
	if b == nil {
		b = &bucket{
			max:        l.o.Max,
			window:     l.o.Window + l.o.Margin,
			dailyLimit: l.o.Daily,
			resetAt:    l.o.DailyReset(now),
		}
		l.buckets[key] = b
	}
	if !now.Before(b.resetAt) {
		b.dailyUsed = 0
		b.resetAt = l.o.DailyReset(now)
	}
	return b
}

// permit is one admitted request. sent stamps the send time; cancel gives the
// slot back when the request never left the process.
type permit struct {
	l      *Limiter
	b      *bucket
	at     *time.Time
	one    sync.Once
	waited time.Duration
}

func (p *permit) sent() {
	if p == nil || p.at == nil {
		return
	}
	p.l.mu.Lock()
	if now := p.l.o.now(); now.After(*p.at) {
		*p.at = now
	}
	p.l.mu.Unlock()
}

func (p *permit) cancel() {
	if p == nil || p.at == nil {
		return
	}
	p.one.Do(func() {
		p.l.mu.Lock()
		defer p.l.mu.Unlock()
		if i := slices.Index(p.b.sends, p.at); i >= 0 {
			p.b.sends = slices.Delete(p.b.sends, i, i+1)
			p.b.dailyUsed--
		}
	})
}

// acquire waits until one more request for (appID, resource) fits the
// budgets. It fails fast with *DailyLimitError when the day's budget is
// spent, and returns early when ctx would expire before a slot frees.
func (l *Limiter) acquire(ctx context.Context, op, appID, resource string) (*permit, error) {
	if l == nil || l.o.Disabled {
		return nil, nil
	}
	key := limiterKey(appID, resource)
	l.mu.Lock()
	start := l.o.now()
	for {
		now := l.o.now()
		b := l.bucket(key, now)
		if b.dailyUsed >= b.dailyLimit {
			l.mu.Unlock()
			return nil, &DailyLimitError{Op: op, AppID: appID, Resource: resource, Limit: b.dailyLimit, ResetAt: b.resetAt}
		}
		// Trailing-window check: count sends in (now-window, now].
		var wake time.Time
		if now.Before(b.blocked) {
			wake = b.blocked
		} else {
			b.prune(now)
			active := b.activeTimes(now)
			if len(active) < b.max {
				t := now
				b.sends = append(b.sends, &t)
				b.dailyUsed++
				l.mu.Unlock()
				return &permit{l: l, b: b, at: &t, waited: now.Sub(start)}, nil
			}
			// Stagger waiters: the i-th waiter wakes when the i-th oldest
			// send leaves the window.
			slices.SortFunc(active, func(a, b time.Time) int { return a.Compare(b) })
			i := len(active) - b.max + b.waiters
			if i >= len(active) {
				i = len(active) - 1
			}
			wake = active[i].Add(b.window)
		}
		if dl, ok := ctx.Deadline(); ok && wake.After(dl) {
			l.mu.Unlock()
			return nil, fmt.Errorf("ghl %s: rate limit for %s frees a slot in %s, after the deadline: %w",
				op, resource, wake.Sub(now).Round(time.Millisecond), context.DeadlineExceeded)
		}
		b.waiters++
		l.mu.Unlock()
		err := sleepUntil(ctx, wake.Sub(now))
		l.mu.Lock()
		b.waiters--
		if err != nil {
			l.mu.Unlock()
			return nil, err
		}
	}
}

func (b *bucket) prune(now time.Time) {
	keep := b.sends[:0]
	for _, t := range b.sends {
		if t.Add(b.window).After(now) {
			keep = append(keep, t)
		}
	}
	clear(b.sends[len(keep):])
	b.sends = keep
}

func (b *bucket) activeTimes(now time.Time) []time.Time {
	out := make([]time.Time, 0, len(b.sends))
	for _, t := range b.sends {
		out = append(out, *t)
	}
	return out
}

// observe keeps the budgets in step with GHL's X-RateLimit-* headers and
// with 429 answers.
func (l *Limiter) observe(appID, resource string, h http.Header, status int, retryAfter time.Duration) (dailySpent bool) {
	if l == nil || l.o.Disabled {
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.o.now()
	b := l.bucket(limiterKey(appID, resource), now)
	if v, ok := headerInt(h, "X-RateLimit-Max"); ok && v > 0 {
		b.max = v
	}
	if v, ok := headerInt(h, "X-RateLimit-Interval-Milliseconds"); ok && v > 0 {
		w := time.Duration(v) * time.Millisecond
		b.window = w + w/100
	}
	if v, ok := headerInt(h, "X-RateLimit-Limit-Daily"); ok && v > 0 {
		b.dailyLimit = v
	}
	dailyRemaining, hasDaily := headerInt(h, "X-RateLimit-Daily-Remaining")
	if hasDaily && b.dailyLimit-dailyRemaining > b.dailyUsed {
		// Other processes (or an earlier run) spent budget we did not see.
		b.dailyUsed = b.dailyLimit - dailyRemaining
	}
	if status == http.StatusTooManyRequests && hasDaily && dailyRemaining <= 0 {
		b.dailyUsed = b.dailyLimit
		return true
	}
	if remaining, ok := headerInt(h, "X-RateLimit-Remaining"); ok {
		b.prune(now)
		if used := b.max - remaining; used > len(b.sends) {
			for range used - len(b.sends) {
				t := now
				b.sends = append(b.sends, &t)
			}
		}
		if remaining <= 0 && status == http.StatusTooManyRequests {
			b.block(now.Add(b.window))
		}
	}
	if status == http.StatusTooManyRequests {
		until := now.Add(b.window)
		if retryAfter > 0 {
			until = now.Add(retryAfter)
		}
		b.block(until)
	}
	return false
}

func (b *bucket) block(until time.Time) {
	if until.After(b.blocked) {
		b.blocked = until
	}
}

func headerInt(h http.Header, name string) (int, bool) {
	s := h.Get(name)
	if s == "" {
		return 0, false
	}
	v, err := strconv.Atoi(s)
	if err != nil {
		return 0, false
	}
	return v, true
}

// LimitState is a snapshot of one (app, resource) budget.
type LimitState struct {
	Max            int
	Window         time.Duration
	InWindow       int
	DailyLimit     int
	DailyRemaining int
	DailyResetAt   time.Time
	BlockedUntil   time.Time
}

// State returns the current budget of (appID, resource), for dashboards.
func (l *Limiter) State(appID, resource string) LimitState {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.o.now()
	b := l.bucket(limiterKey(appID, resource), now)
	b.prune(now)
	return LimitState{
		Max: b.max, Window: b.window, InWindow: len(b.sends),
		DailyLimit: b.dailyLimit, DailyRemaining: max(0, b.dailyLimit-b.dailyUsed),
		DailyResetAt: b.resetAt, BlockedUntil: b.blocked,
	}
}

func sleepUntil(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
