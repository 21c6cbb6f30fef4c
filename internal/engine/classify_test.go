package engine

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"github.com/ghlsync/ghlsync/internal/ghl"
	"github.com/ghlsync/ghlsync/internal/ghl/catalog"
	"github.com/ghlsync/ghlsync/internal/store"
)

func TestClassify(t *testing.T) {
	t.Parallel()
	paused := &ConnectionPausedError{Name: "main", Reason: "needs re-authorisation"}
	api401 := &ghl.APIError{Status: http.StatusUnauthorized, Op: "contacts.upsert", Message: "Invalid JWT"}
	for _, c := range []struct {
		name string
		err  error
		want failKind
	}{
		{"401 whose refresh needs re-authorisation", fmt.Errorf("%w (token refresh failed: %w)", api401, paused), failSnooze},
		{"paused connection", fmt.Errorf("connection: %w", paused), failSnooze},
		{"plain 401", api401, failPermanent},
		{"422", &ghl.APIError{Status: 422, Message: "bad"}, failPermanent},
		{"429", &ghl.APIError{Status: 429, RetryAfter: 3 * time.Second}, failSnooze},
		{"503", &ghl.APIError{Status: 503}, failTransient},
		{"network", errors.New("connection reset"), failTransient},
	} {
		if got := classify(c.err, catalog.Safe); got.kind != c.want {
			t.Errorf("%s: kind %d, want %d", c.name, got.kind, c.want)
		}
	}
}

// reauthSource answers with a token GoHighLevel refuses, and its refresh
// finds that the connection needs re-authorisation.
type reauthSource struct{}

func (reauthSource) Token(context.Context) (string, error) { return "pit-revoked", nil }
func (reauthSource) Refresh(context.Context, string) (string, error) {
	return "", &ConnectionPausedError{Name: "default", Reason: "the refresh token was revoked: run ghlsync auth login", PauseFor: time.Minute}
}

type reauthConns struct{ base string }

func (c reauthConns) Client(context.Context, string) (*ghl.Client, ConnInfo, error) {
	cl := ghl.New(ghl.Config{BaseURL: c.base, Limiter: ghl.NewLimiter(ghl.LimiterOptions{Disabled: true}),
		Retry: ghl.RetryPolicy{MaxAttempts: 1}}, reauthSource{}, "loc1")
	return cl, ConnInfo{Name: "default", LocationID: "loc1", Timezone: "UTC"}, nil
}

func TestRunPausesWhenA401NeedsReauthorisation(t *testing.T) {
	t.Parallel()
	h := newHarness(t, store.SQLite, map[string]string{"three": threeSteps})
	// Swap in connections whose refresh reports re-authorisation.
	e, err := New(Config{Store: h.st, Flows: h.e.Flows(), Connections: reauthConns{base: h.ghl.URL()}, MaxAttempts: 5})
	if err != nil {
		t.Fatal(err)
	}
	h.e = e
	res := h.ingest("three", "evt-1", map[string]any{"email": "ana@example.com"})
	err = h.work(res.RunID, 1)
	var sn *river.JobSnoozeError
	if !errors.As(err, &sn) {
		t.Fatalf("run error %v, want a snooze", err)
	}
	if sn.Duration != ConnectionWait {
		t.Errorf("snooze %s, want %s so a re-login is picked up promptly", sn.Duration, ConnectionWait)
	}
	r := h.run(res.RunID)
	if r.Status != store.RunRetrying {
		t.Errorf("run status %s (%s), want retrying", r.Status, r.Error)
	}
	if s := h.steps(res.RunID)["contact"]; s == nil || s.Status != store.StepPending {
		t.Errorf("step: %+v, want pending", s)
	}
}

// TestPausedConnectionLooksAgainWithin30s: whatever pause a connection
// asks for (10 minutes for a missing token), a waiting run looks again
// after ConnectionWait, so a repaired connection resumes it promptly.
func TestPausedConnectionLooksAgainWithin30s(t *testing.T) {
	t.Parallel()
	if ConnectionWait > 30*time.Second {
		t.Fatalf("ConnectionWait = %s, want at most 30s", ConnectionWait)
	}
	h := newHarness(t, store.SQLite, map[string]string{"three": threeSteps})
	e, err := New(Config{Store: h.st, Flows: h.e.Flows(), Connections: &StaticConnections{}, MaxAttempts: 5})
	if err != nil {
		t.Fatal(err)
	}
	h.e = e
	res := h.ingest("three", "evt-p", map[string]any{"email": "p@example.com"})
	err = h.work(res.RunID, 1)
	var sn *river.JobSnoozeError
	if !errors.As(err, &sn) || sn.Duration != ConnectionWait {
		t.Fatalf("run on a paused connection: %v, want a snooze of %s", err, ConnectionWait)
	}
	if r := h.run(res.RunID); r.Status != store.RunRetrying || !strings.Contains(r.Error, "no token configured") {
		t.Errorf("run = %s %q, want retrying with the reason", r.Status, r.Error)
	}
}
