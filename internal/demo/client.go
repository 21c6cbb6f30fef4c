package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/ghlsync/ghlsync/internal/source/sign"
	"github.com/ghlsync/ghlsync/internal/store"
)

// Client talks to a running ghlsync server (webhook intake and JSON API)
// and to a sandbox's admin API, over HTTP.
type Client struct {
	// URL is the ghlsync server, e.g. http://127.0.0.1:8080.
	URL string
	// SandboxURL is the sandbox, e.g. http://127.0.0.1:8089.
	SandboxURL string
	// HTTP is the client used; nil means one with a 15-second timeout,
	// ChangeTower's own deadline for an answer.
	HTTP *http.Client
}

func (c *Client) http() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return &http.Client{Timeout: 15 * time.Second}
}

// HookResult is ghlsync's answer to one delivery.
type HookResult struct {
	Status    int    // HTTP status
	EventID   string `json:"eventId"`
	RunID     string `json:"runId"`
	Duplicate bool   `json:"duplicate"`
	Ignored   string `json:"ignored"`
	Error     string `json:"error"`
}

// Accepted reports whether the delivery was stored (a new run or a
// duplicate of a stored event).
func (r HookResult) Accepted() bool { return r.Status >= 200 && r.Status < 300 && r.Ignored == "" }

// Post signs d as its sender would at time now and posts it to
// /hooks/{flow}.
func (c *Client) Post(ctx context.Context, d Delivery, now time.Time) (HookResult, error) {
	hdr, err := Sign(d, now)
	if err != nil {
		return HookResult{}, err
	}
	req, err := sign.Request(ctx, c.URL+"/hooks/"+url.PathEscape(d.Flow), d.Body, hdr)
	if err != nil {
		return HookResult{}, err
	}
	resp, err := c.http().Do(req)
	if err != nil {
		return HookResult{}, fmt.Errorf("post %s to %s: %w", d.File, d.Flow, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	res := HookResult{Status: resp.StatusCode}
	if err := json.Unmarshal(body, &res); err != nil {
		return res, fmt.Errorf("post %s to %s: answer %d is not JSON: %.200s", d.File, d.Flow, resp.StatusCode, body)
	}
	return res, nil
}

// RunView is a run as the JSON API shows it.
type RunView struct {
	ID         string     `json:"id"`
	Flow       string     `json:"flow"`
	Status     string     `json:"status"`
	Attempts   int        `json:"attempts"`
	EventID    string     `json:"eventId"`
	ReplayOf   string     `json:"replayOf"`
	Error      string     `json:"error"`
	CreatedAt  time.Time  `json:"createdAt"`
	StartedAt  *time.Time `json:"startedAt"`
	FinishedAt *time.Time `json:"finishedAt"`
	DurationMS int64      `json:"durationMs"`
}

// Finished reports whether the run will not run again by itself.
func (r RunView) Finished() bool { return store.Terminal(r.Status) }

func (c *Client) getJSON(ctx context.Context, u string, v any) error {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := c.http().Do(req)
	if err != nil {
		return fmt.Errorf("GET %s: %w", u, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("GET %s: %w", u, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %d %s", u, resp.StatusCode, strings.TrimSpace(string(body)))
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("GET %s: %w", u, err)
	}
	return nil
}

// Run returns one run.
func (c *Client) Run(ctx context.Context, id string) (RunView, error) {
	var d struct {
		Run RunView `json:"run"`
	}
	err := c.getJSON(ctx, c.URL+"/api/runs/"+url.PathEscape(id), &d)
	return d.Run, err
}

// Runs returns the most recent runs (up to 1000), newest first.
func (c *Client) Runs(ctx context.Context) ([]RunView, error) {
	var v struct {
		Runs []RunView `json:"runs"`
	}
	err := c.getJSON(ctx, c.URL+"/api/runs?limit=1000", &v)
	return v.Runs, err
}

// WaitRun polls a run until it has finished or ctx ends.
func (c *Client) WaitRun(ctx context.Context, id string) (RunView, error) {
	for {
		r, err := c.Run(ctx, id)
		if err != nil {
			return r, err
		}
		if r.Finished() {
			return r, nil
		}
		select {
		case <-ctx.Done():
			return r, fmt.Errorf("run %s of %s still %s: %w", id, r.Flow, r.Status, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Record is one sandbox record.
type Record = map[string]any

// Records returns the sandbox's records of a kind (contacts, notes, tasks,
// appointments, appointmentNotes, customFields, ...).
func (c *Client) Records(ctx context.Context, kind string) ([]Record, error) {
	var v struct {
		Items []Record `json:"items"`
	}
	err := c.getJSON(ctx, c.SandboxURL+"/_sandbox/store?kind="+url.QueryEscape(kind), &v)
	return v.Items, err
}

// WebhookDelivery is one webhook the sandbox sent (or gave up on).
type WebhookDelivery struct {
	WebhookID string `json:"webhookId"`
	Type      string `json:"type"`
	URL       string `json:"url"`
	Attempts  int    `json:"attempts"`
	Status    int    `json:"status"`
	Error     string `json:"error"`
	Delivered bool   `json:"delivered"`
}

// Webhooks returns the sandbox's outgoing webhook log, oldest first.
func (c *Client) Webhooks(ctx context.Context) ([]WebhookDelivery, error) {
	var v struct {
		Deliveries []WebhookDelivery `json:"deliveries"`
	}
	err := c.getJSON(ctx, c.SandboxURL+"/_sandbox/webhooks", &v)
	return v.Deliveries, err
}

// SandboxKeys are the sandbox's webhook verification keys.
type SandboxKeys struct {
	RSAPublicKeyPEM        string `json:"rsaPublicKeyPem"`
	Ed25519PublicKeyPEM    string `json:"ed25519PublicKeyPem"`
	Ed25519PublicKeyBase64 string `json:"ed25519PublicKeyBase64"`
}

// Keys returns the sandbox's webhook verification keys (GET /_sandbox/keys).
func (c *Client) Keys(ctx context.Context) (SandboxKeys, error) {
	var k SandboxKeys
	err := c.getJSON(ctx, c.SandboxURL+"/_sandbox/keys", &k)
	return k, err
}

// SetWebhookURL points the sandbox's outgoing webhooks at u.
func (c *Client) SetWebhookURL(ctx context.Context, u string) error {
	b, _ := json.Marshal(map[string]string{"url": u})
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, c.SandboxURL+"/_sandbox/webhooks", bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http().Do(req)
	if err != nil {
		return fmt.Errorf("set sandbox webhook URL: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("set sandbox webhook URL: %d %s", resp.StatusCode, strings.TrimSpace(string(body)))
	}
	return nil
}
