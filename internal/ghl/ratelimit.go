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
// The burst budget is a sliding-window log rather than a token bucket: a
// bucket of 100 that refills at 10/s lets up to ~200 requests into one 10 s
// window (a full bucket plus its refill), which GHL answers with 429. The log
// lets a full burst of Max go at once and then holds the bound exactly:
//
//   - a request counts from the moment it is admitted;
//   - while in flight it counts as "now";
//   - once its answer arrives it is stamped with that time and counts until
//     the stamp leaves the window.
//
// GHL counts a request when it arrives, which is before its answer, so every
// request GHL saw in the last Window is either still in flight or stamped
// later than its arrival: the local count can only over-estimate GHL's, and
// the bound holds however slow the network or the scheduler is. The price is
// that a slot is held for the request's latency on top of the window.
type Limiter struct {
	o       LimiterOptions
	mu      sync.Mutex
	buckets map[string]*bucket
}

// entry is one request in the window log.
type entry struct {
	at   time.Time // admission time, then the time the answer arrived
	done bool
}

type bucket struct {
	max     int
	window  time.Duration // includes the margin
	log     []*entry
	waiters int
	// answered is closed (and replaced) when an in-flight request completes
	// while waiters have no completed entry to time their wake-up by.
	answered chan struct{}
	blocked  time.Time // no sends before this (429 or Remaining: 0)

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
			answered:   make(chan struct{}),
		}
		l.buckets[key] = b
	}
	if !now.Before(b.resetAt) {
		b.dailyUsed = 0
		b.resetAt = l.o.DailyReset(now)
	}
	return b
}

// permit is one admitted request. done stamps the time its answer (or its
// failure) arrived; cancel gives the slot back when the request never left
// the process.
type permit struct {
	l      *Limiter
	b      *bucket
	e      *entry
	one    sync.Once
	waited time.Duration
}

func (p *permit) done() {
	if p == nil {
		return
	}
	p.one.Do(func() {
		p.l.mu.Lock()
		defer p.l.mu.Unlock()
		p.e.at = p.l.o.now()
		p.e.done = true
		p.b.wake()
	})
}

func (p *permit) cancel() {
	if p == nil {
		return
	}
	p.one.Do(func() {
		p.l.mu.Lock()
		defer p.l.mu.Unlock()
		if i := slices.Index(p.b.log, p.e); i >= 0 {
			p.b.log = slices.Delete(p.b.log, i, i+1)
			p.b.dailyUsed--
		}
		p.b.wake()
	})
}

func (b *bucket) wake() {
	if b.waiters > 0 {
		close(b.answered)
		b.answered = make(chan struct{})
	}
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
		var wake time.Time // zero: wait for an answer
		if now.Before(b.blocked) {
			wake = b.blocked
		} else {
			b.prune(now)
			if len(b.log) < b.max {
				e := &entry{at: now}
				b.log = append(b.log, e)
				b.dailyUsed++
				l.mu.Unlock()
				return &permit{l: l, b: b, e: e, waited: now.Sub(start)}, nil
			}
			// Full. Stagger waiters: the i-th waiter wakes when the i-th
			// oldest answered request leaves the window.
			done := b.doneTimes()
			if len(done) > 0 {
				slices.SortFunc(done, func(a, b time.Time) int { return a.Compare(b) })
				wake = done[min(b.waiters, len(done)-1)].Add(b.window)
			}
		}
		if dl, ok := ctx.Deadline(); ok && !wake.IsZero() && wake.After(dl) {
			l.mu.Unlock()
			return nil, fmt.Errorf("ghl %s: rate limit for %s frees a slot in %s, after the deadline: %w",
				op, resource, wake.Sub(now).Round(time.Millisecond), context.DeadlineExceeded)
		}
		b.waiters++
		answered := b.answered
		l.mu.Unlock()
		var err error
		if wake.IsZero() {
			select {
			case <-ctx.Done():
				err = ctx.Err()
			case <-answered:
			}
		} else {
			err = sleepUntil(ctx, wake.Sub(now))
		}
		l.mu.Lock()
		b.waiters--
		if err != nil {
			l.mu.Unlock()
			return nil, err
		}
	}
}

// prune drops answered requests that left the window.
func (b *bucket) prune(now time.Time) {
	keep := b.log[:0]
	for _, e := range b.log {
		if !e.done || e.at.Add(b.window).After(now) {
			keep = append(keep, e)
		}
	}
	clear(b.log[len(keep):])
	b.log = keep
}

func (b *bucket) doneTimes() []time.Time {
	out := make([]time.Time, 0, len(b.log))
	for _, e := range b.log {
		if e.done {
			out = append(out, e.at)
		}
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
		// Requests we did not send (other processes with the same app)
		// count too: add them as answered now.
		if used := b.max - remaining; used > len(b.log) {
			for range used - len(b.log) {
				b.log = append(b.log, &entry{at: now, done: true})
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
		Max: b.max, Window: b.window, InWindow: len(b.log),
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
