package engine

import (
	"context"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ghlsync/ghlsync/internal/store"
)

// Metrics are the engine's Prometheus metrics.
type Metrics struct {
	// Events counts deliveries and polled items by flow and result:
	// accepted, duplicate, rejected, ignored, unavailable.
	Events *prometheus.CounterVec
	// RunsFinished counts runs reaching a final status, by flow and status.
	RunsFinished *prometheus.CounterVec
	// StepDuration observes each step attempt by op and outcome.
	StepDuration *prometheus.HistogramVec
	// GHLRequests counts GHL calls by op and HTTP status ("error" when no
	// answer was read).
	GHLRequests *prometheus.CounterVec
	// Polls counts polls by flow and result (ok, baseline, error).
	Polls *prometheus.CounterVec
	// Purged counts events and runs deleted by retention.
	Purged *prometheus.CounterVec
}

// Event results for Metrics.Events.
const (
	EventAccepted    = "accepted"
	EventDuplicate   = "duplicate"
	EventRejected    = "rejected"
	EventIgnored     = "ignored"
	EventUnavailable = "unavailable"
)

func newMetrics(reg prometheus.Registerer, st *store.Store) *Metrics {
	m := &Metrics{
		Events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ghlsync_events_total",
			Help: "Trigger events received, by flow and result (accepted, duplicate, rejected, ignored, unavailable).",
		}, []string{"flow", "result"}),
		RunsFinished: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ghlsync_runs_finished_total",
			Help: "Runs that reached a final status in this process, by flow and status.",
		}, []string{"flow", "status"}),
		StepDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "ghlsync_step_duration_seconds",
			Help:    "Duration of step attempts, by operation and outcome.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"op", "outcome"}),
		GHLRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ghlsync_ghl_requests_total",
			Help: "Calls to GoHighLevel by operation and final HTTP status (error = no answer read).",
		}, []string{"op", "status"}),
		Polls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ghlsync_polls_total",
			Help: "Polls of polling triggers, by flow and result (ok, baseline, error).",
		}, []string{"flow", "result"}),
		Purged: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ghlsync_purged_total",
			Help: "Rows deleted by retention, by kind (events, runs).",
		}, []string{"kind"}),
	}
	reg.MustRegister(m.Events, m.RunsFinished, m.StepDuration, m.GHLRequests, m.Polls, m.Purged,
		&dbCollector{st: st})
	return m
}

func (m *Metrics) ghlCall(op string, status int, err error) {
	if m == nil || m.GHLRequests == nil {
		return
	}
	s := "error"
	if status > 0 {
		s = strconv.Itoa(status)
	} else if err == nil {
		s = "200"
	}
	m.GHLRequests.WithLabelValues(op, s).Inc()
}

// dbCollector reads run counts and queue depth from the database at scrape
// time, so every process reports the same totals.
type dbCollector struct {
	st *store.Store
}

var (
	runsDesc  = prometheus.NewDesc("ghlsync_runs", "Runs in the database by status.", []string{"status"}, nil)
	queueDesc = prometheus.NewDesc("ghlsync_queue_depth", "River jobs waiting, scheduled, retrying or running.", nil, nil)
	upDesc    = prometheus.NewDesc("ghlsync_database_up", "1 when the database answered the last scrape.", nil, nil)
)

func (c *dbCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- runsDesc
	ch <- queueDesc
	ch <- upDesc
}

func (c *dbCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	counts, err := c.st.CountRunsByStatus(ctx)
	if err != nil {
		ch <- prometheus.MustNewConstMetric(upDesc, prometheus.GaugeValue, 0)
		return
	}
	for _, s := range store.RunStatuses {
		ch <- prometheus.MustNewConstMetric(runsDesc, prometheus.GaugeValue, float64(counts[s]), s)
	}
	depth, err := c.st.QueueDepth(ctx)
	if err == nil {
		ch <- prometheus.MustNewConstMetric(queueDesc, prometheus.GaugeValue, float64(depth))
	}
	ch <- prometheus.MustNewConstMetric(upDesc, prometheus.GaugeValue, 1)
}
