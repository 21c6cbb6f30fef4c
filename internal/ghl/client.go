// Package ghl is the GoHighLevel API v2 client: it turns a catalog operation
// and parameters into an HTTP request with the right headers, keeps each
// (app, location or company) inside GHL's request budgets, retries what is
// safe to retry, decodes GHL's errors, and pages through lists.
//
// No token ever appears in an error or a log line written by this package.
package ghl

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/tidwall/gjson"
	"golang.org/x/time/rate"

	"github.com/ghlsync/ghlsync/internal/ghl/catalog"
)

// DefaultBaseURL is GHL's API v2 host.
const DefaultBaseURL = "https://services.leadconnectorhq.com"

// DefaultUserAgent is sent when Config.UserAgent is empty.
var DefaultUserAgent = "ghlsync/dev"

// maxBody caps a response body read into memory.
const maxBody = 64 << 20

// Config configures a Client. The zero value works against GHL with default
// budgets and retries.
type Config struct {
	BaseURL    string       // default DefaultBaseURL
	HTTPClient *http.Client // default: 30 s timeout, pooled connections
	UserAgent  string       // default DefaultUserAgent ("ghlsync/<version>")
	AppID      string       // rate-limit key part (OAuth client id, or "pit")
	Limiter    *Limiter     // shared per process; nil = a fresh default (100/10s, 200k/day)
	Retry      RetryPolicy  // zero value = defaults
	// PhoneRegion is the default region for phone numbers without a country
	// code (default "US").
	PhoneRegion string
	Logger      *slog.Logger // never logs tokens; nil = no logs
}

// Client calls GHL for one resource (a locationId or a companyId), which
// keys the rate limiter together with Config.AppID. It is safe for
// concurrent use.
type Client struct {
	base     *url.URL
	baseErr  error
	hc       *http.Client
	ua       string
	appID    string
	resource string
	lim      *Limiter
	retry    RetryPolicy
	region   string
	log      *slog.Logger
	ts       TokenSource
	waitLog  *rate.Sometimes
}

// DefaultHTTPClient returns the HTTP client used when Config.HTTPClient is
// nil: a 30 s overall timeout and enough idle connections per host for a
// full burst window.
func DefaultHTTPClient() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = 256
	tr.MaxIdleConnsPerHost = 128
	tr.ResponseHeaderTimeout = 30 * time.Second
	return &http.Client{Timeout: 30 * time.Second, Transport: tr}
}

// New returns a client acting for one resource (locationId or companyId).
func New(cfg Config, ts TokenSource, resourceID string) *Client {
	c := &Client{
		hc:       cfg.HTTPClient,
		ua:       cfg.UserAgent,
		appID:    cfg.AppID,
		resource: resourceID,
		lim:      cfg.Limiter,
		retry:    cfg.Retry.withDefaults(),
		region:   cfg.PhoneRegion,
		log:      cfg.Logger,
		ts:       ts,
		waitLog:  &rate.Sometimes{Interval: time.Minute},
	}
	base := cfg.BaseURL
	if base == "" {
		base = DefaultBaseURL
	}
	u, err := url.Parse(strings.TrimRight(base, "/"))
	switch {
	case err != nil:
		c.baseErr = fmt.Errorf("ghl: base URL %q: %w", base, err)
	case u.Scheme != "http" && u.Scheme != "https" || u.Host == "":
		c.baseErr = fmt.Errorf("ghl: base URL %q must be an absolute http(s) URL", base)
	}
	c.base = u
	if c.hc == nil {
		c.hc = DefaultHTTPClient()
	}
	if c.ua == "" {
		c.ua = DefaultUserAgent
	}
	if c.appID == "" {
		c.appID = "pit"
	}
	if c.lim == nil {
		c.lim = NewLimiter(LimiterOptions{})
	}
	if c.region == "" {
		c.region = "US"
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.ts == nil {
		c.ts = TokenFunc(func(context.Context) (string, error) { return "", ErrNoToken })
	}
	return c
}

// Resource returns the locationId or companyId the client acts for.
func (c *Client) Resource() string { return c.resource }

// WithResource returns a client for another resource that shares this one's
// configuration, token source and limiter.
func (c *Client) WithResource(resourceID string) *Client {
	cp := *c
	cp.resource = resourceID
	return &cp
}

// Params are the inputs of one call.
type Params struct {
	Path  map[string]string // path template values
	Query url.Values
	// Body is marshalled as JSON (or as a form for ops with Form=true);
	// json.RawMessage, []byte and string are sent as they are.
	Body any
	// Version overrides the Version header (Raw calls default to the value
	// of the catalog operation matching the path, else by service).
	Version string
}

// Response is a 2xx answer, or the answer that came with an *APIError.
type Response struct {
	Status   int
	Header   http.Header
	Body     []byte             // raw JSON
	Op       *catalog.Operation // nil for Raw
	Attempts int
	TraceID  string
}

// Decode unmarshals the body into v.
func (r *Response) Decode(v any) error {
	if r == nil {
		return errors.New("ghl: decode of a nil response")
	}
	if err := json.Unmarshal(r.Body, v); err != nil {
		name := "raw call"
		if r.Op != nil {
			name = r.Op.ID
		}
		return fmt.Errorf("ghl %s: decode response: %w", name, err)
	}
	return nil
}

// call is one prepared request, sent possibly several times.
type call struct {
	name    string // op id, or "METHOD /path" for Raw
	op      *catalog.Operation
	method  string
	path    string
	query   string
	body    []byte
	ctype   string
	version string
	safe    bool
}

// Do calls the catalog operation opID. On a non-2xx answer it returns the
// response together with an *APIError. Other errors: *DailyLimitError,
// *OutcomeUnknownError (not safe to resend blindly), ErrLegacyAPIKey and
// ErrNoToken, a plain error for invalid input caught before sending (unknown
// operation, missing path or required query parameter), and context errors.
func (c *Client) Do(ctx context.Context, opID string, p Params) (*Response, error) {
	op, err := catalog.Lookup(opID)
	if err != nil {
		return nil, fmt.Errorf("ghl: %w", err)
	}
	cl, err := c.prepare(op, p)
	if err != nil {
		return nil, err
	}
	return c.send(ctx, cl)
}

func (c *Client) prepare(op *catalog.Operation, p Params) (*call, error) {
	p = c.fillResource(op, p)
	path, err := op.Expand(p.Path, url.PathEscape)
	if err != nil {
		return nil, fmt.Errorf("ghl %w", err)
	}
	var missing []string
	for _, q := range op.RequiredQuery() {
		if p.Query.Get(q) == "" {
			missing = append(missing, q)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("ghl %s: missing required query parameter %s", op.ID, strings.Join(missing, ", "))
	}
	body, ctype, err := encodeBody(op.Form, p.Body)
	if err != nil {
		return nil, fmt.Errorf("ghl %s: %w", op.ID, err)
	}
	v := op.Version
	if p.Version != "" {
		v = p.Version
	}
	return &call{
		name: op.ID, op: op, method: op.Method, path: path, query: p.Query.Encode(),
		body: body, ctype: ctype, version: v, safe: op.Idempotency == catalog.Safe,
	}, nil
}

// fillResource adds the client's resource id where the operation needs it
// and the caller left it out: locationId (or location_id) for location
// operations, companyId for agency operations.
func (c *Client) fillResource(op *catalog.Operation, p Params) Params {
	if c.resource == "" {
		return p
	}
	var names []string
	switch op.Token {
	case catalog.TokenLocation:
		names = []string{"locationId", "location_id"}
	case catalog.TokenAgency:
		names = []string{"companyId"}
	default:
		return p
	}
	for _, n := range names {
		if slicesContains(op.PathParams, n) && p.Path[n] == "" {
			m := make(map[string]string, len(p.Path)+1)
			for k, v := range p.Path {
				m[k] = v
			}
			m[n] = c.resource
			p.Path = m
		}
		if op.HasQuery(n) && p.Query.Get(n) == "" && isRequiredQuery(op, n) {
			q := cloneValues(p.Query)
			q.Set(n, c.resource)
			p.Query = q
		}
		if slicesContains(op.BodyRequired, n) {
			if m, ok := p.Body.(map[string]any); ok {
				if _, has := m[n]; !has {
					cp := make(map[string]any, len(m)+1)
					for k, v := range m {
						cp[k] = v
					}
					cp[n] = c.resource
					p.Body = cp
				}
			} else if p.Body == nil && op.Method != http.MethodGet {
				p.Body = map[string]any{n: c.resource}
			}
		}
	}
	return p
}

func isRequiredQuery(op *catalog.Operation, name string) bool {
	for _, q := range op.Query {
		if q.Name == name {
			return q.Required
		}
	}
	return false
}

func slicesContains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func cloneValues(v url.Values) url.Values {
	out := make(url.Values, len(v)+1)
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}

// Raw calls an endpoint outside the catalog with the same auth, limits and
// retries. path is relative to the base URL ("/contacts/abc"); {name}
// segments are filled from p.Path. A POST or PATCH is treated as not safe to
// repeat unless the path matches a catalog operation that is.
func (c *Client) Raw(ctx context.Context, method, path string, p Params) (*Response, error) {
	method = strings.ToUpper(strings.TrimSpace(method))
	if method == "" {
		method = http.MethodGet
	}
	name := method + " " + path
	if !strings.HasPrefix(path, "/") || strings.HasPrefix(path, "//") || strings.Contains(path, "://") {
		return nil, fmt.Errorf("ghl %s: path must start with / and stay on the API host", name)
	}
	query := cloneValues(p.Query)
	if i := strings.IndexByte(path, '?'); i >= 0 {
		extra, err := url.ParseQuery(path[i+1:])
		if err != nil {
			return nil, fmt.Errorf("ghl %s: query: %w", name, err)
		}
		for k, vs := range extra {
			query[k] = append(query[k], vs...)
		}
		path = path[:i]
	}
	if strings.ContainsAny(path, " #\t\n") {
		return nil, fmt.Errorf("ghl %s: path contains spaces or '#'; escape them", name)
	}
	tmpl := &catalog.Operation{ID: name, Path: path}
	expanded, err := tmpl.Expand(p.Path, url.PathEscape)
	if err != nil {
		return nil, fmt.Errorf("ghl %w", err)
	}
	if _, err := url.ParseRequestURI(expanded); err != nil {
		return nil, fmt.Errorf("ghl %s: %w", name, err)
	}
	match := matchOp(method, expanded)
	form := match != nil && match.Form
	body, ctype, err := encodeBody(form, p.Body)
	if err != nil {
		return nil, fmt.Errorf("ghl %s: %w", name, err)
	}
	cl := &call{name: name, method: method, path: expanded, query: query.Encode(), body: body, ctype: ctype}
	switch {
	case p.Version != "":
		cl.version = p.Version
	case match != nil:
		cl.version = match.Version
	default:
		cl.version = serviceVersion(path)
	}
	if match != nil {
		cl.safe = match.Idempotency == catalog.Safe
	} else {
		switch method {
		case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodPut, http.MethodDelete:
			cl.safe = true
		}
	}
	return c.send(ctx, cl)
}

// serviceVersion is the Version header GHL's services expect: calendars and
// conversations were versioned 2021-04-15, everything else 2021-07-28.
func serviceVersion(path string) string {
	seg := strings.SplitN(strings.TrimPrefix(path, "/"), "/", 2)[0]
	switch seg {
	case "calendars", "conversations", "knowledge-base", "voice-ai", "conversation-ai", "agent-studio", "saas-api":
		return "2021-04-15"
	}
	return "2021-07-28"
}

func encodeBody(form bool, body any) ([]byte, string, error) {
	if body == nil {
		return nil, "", nil
	}
	if form {
		switch b := body.(type) {
		case url.Values:
			return []byte(b.Encode()), "application/x-www-form-urlencoded", nil
		case map[string]string:
			v := url.Values{}
			for k, s := range b {
				v.Set(k, s)
			}
			return []byte(v.Encode()), "application/x-www-form-urlencoded", nil
		case map[string]any:
			v := url.Values{}
			for k, s := range b {
				v.Set(k, fmt.Sprint(s))
			}
			return []byte(v.Encode()), "application/x-www-form-urlencoded", nil
		}
	}
	switch b := body.(type) {
	case json.RawMessage:
		return b, "application/json", nil
	case []byte:
		return b, "application/json", nil
	case string:
		return []byte(b), "application/json", nil
	}
	data, err := json.Marshal(body)
	if err != nil {
		return nil, "", fmt.Errorf("encode body: %w", err)
	}
	return data, "application/json", nil
}

// send runs the request with limits, retries and token refresh.
func (c *Client) send(ctx context.Context, cl *call) (*Response, error) {
	if c.baseErr != nil {
		return nil, c.baseErr
	}
	// cl.path is already escaped segment by segment.
	fullURL := strings.TrimRight(c.base.String(), "/") + cl.path
	if cl.query != "" {
		fullURL += "?" + cl.query
	}

	refresher, canRefresh := c.ts.(Refresher)
	refreshed := false
	var tok string
	var lastErr error
	var lastResp *Response
	attempts := 0
	for retry := 0; ; {
		if tok == "" {
			t, err := c.ts.Token(ctx)
			if err != nil {
				return nil, fmt.Errorf("ghl %s: token: %w", cl.name, redactErr(err, t))
			}
			if err := CheckToken(t); err != nil {
				return nil, fmt.Errorf("ghl %s: %w", cl.name, err)
			}
			tok = t
		}
		pm, err := c.lim.acquire(ctx, cl.name, c.appID, c.resource)
		if err != nil {
			if lastErr != nil && !errors.Is(err, ErrDailyLimit) {
				return lastResp, lastErr
			}
			return nil, err
		}
		if pm != nil && pm.waited > time.Second {
			c.waitLog.Do(func() {
				c.log.Info("ghl rate limit: waited for a free slot", "op", cl.name, "resource", c.resource, "waited", pm.waited.Round(time.Millisecond))
			})
		}
		attempts++
		start := time.Now()
		resp, sent, err := c.attempt(ctx, cl, fullURL, tok, pm)
		if err != nil {
			err = redactErr(err, tok)
			if !sent {
				pm.cancel()
			}
			c.log.Debug("ghl request failed", "op", cl.name, "method", cl.method, "path", cl.path, "attempt", attempts, "sent", sent, "duration", time.Since(start), "error", err)
			if ctx.Err() != nil {
				if sent && !cl.safe {
					return nil, &OutcomeUnknownError{Op: cl.name, Err: err}
				}
				return nil, fmt.Errorf("ghl %s: %w", cl.name, err)
			}
			if sent && !cl.safe {
				return nil, &OutcomeUnknownError{Op: cl.name, Err: err}
			}
			lastErr, lastResp = fmt.Errorf("ghl %s: %w", cl.name, err), nil
			if !transientNetError(err) {
				return nil, lastErr
			}
		} else {
			resp.Op = cl.op
			resp.Attempts = attempts
			c.log.Debug("ghl request", "op", cl.name, "method", cl.method, "path", cl.path, "status", resp.Status, "attempt", attempts, "duration", time.Since(start))
			daily := c.lim.observe(c.appID, c.resource, resp.Header, resp.Status, parseRetryAfter(resp.Header.Get("Retry-After"), time.Now()))
			if resp.Status >= 200 && resp.Status < 300 {
				return resp, nil
			}
			apiErr := decodeAPIError(cl.name, resp.Status, resp.Header, resp.Body)
			apiErr.redact(tok)
			apiErr.Attempts = attempts
			if resp.TraceID == "" {
				resp.TraceID = apiErr.TraceID
			}
			if daily {
				st := c.lim.State(c.appID, c.resource)
				return resp, &DailyLimitError{Op: cl.name, AppID: c.appID, Resource: c.resource, Limit: st.DailyLimit, ResetAt: st.DailyResetAt}
			}
			if resp.Status == http.StatusUnauthorized && canRefresh && !refreshed {
				refreshed = true
				nt, rerr := refresher.Refresh(ctx, tok)
				if rerr != nil {
					return resp, fmt.Errorf("%w (token refresh failed: %w)", apiErr, redactErr(redactErr(rerr, tok), nt))
				}
				if err := CheckToken(nt); err != nil {
					return resp, fmt.Errorf("%w (refreshed token unusable: %w)", apiErr, err)
				}
				tok = nt
				continue // a 401 was not applied: resend at once
			}
			if !retryableStatus(resp.Status) {
				return resp, apiErr
			}
			// 429 means GHL refused before doing anything, so it is safe
			// to resend for every operation; gateway errors are not.
			if !cl.safe && resp.Status != http.StatusTooManyRequests {
				return resp, &OutcomeUnknownError{Op: cl.name, Err: apiErr}
			}
			lastErr, lastResp = apiErr, resp
		}
		retry++
		if attempts >= c.retry.MaxAttempts {
			return lastResp, lastErr
		}
		var wait time.Duration
		var ae *APIError
		if errors.As(lastErr, &ae) && ae.Status == http.StatusTooManyRequests && !c.lim.o.Disabled {
			wait = 0 // the limiter is now blocked until Retry-After or a full window
		} else if ae != nil {
			wait = c.retry.backoff(retry, ae.RetryAfter)
		} else {
			wait = c.retry.backoff(retry, 0)
		}
		if dl, ok := ctx.Deadline(); ok && time.Now().Add(wait).After(dl) {
			return lastResp, lastErr
		}
		if err := sleepUntil(ctx, wait); err != nil {
			return lastResp, lastErr
		}
		if !refreshed {
			tok = "" // ask the source again: it may have rotated
		}
	}
}

// attempt sends the request once. sent reports whether the request may have
// reached the server (a connection was obtained).
func (c *Client) attempt(ctx context.Context, cl *call, fullURL, tok string, pm *permit) (*Response, bool, error) {
	var body io.Reader
	if cl.body != nil {
		body = bytes.NewReader(cl.body)
	}
	var gotConn atomic.Bool
	trace := &httptrace.ClientTrace{
		GotConn: func(httptrace.GotConnInfo) { gotConn.Store(true) },
	}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), cl.method, fullURL, body)
	if err != nil {
		return nil, false, err
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	if cl.version != "" {
		req.Header.Set("Version", cl.version)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.ua)
	if cl.ctype != "" {
		req.Header.Set("Content-Type", cl.ctype)
	}
	res, err := c.hc.Do(req)
	if err != nil {
		if gotConn.Load() {
			pm.done() // may have arrived: it keeps its slot for a window
		}
		return nil, gotConn.Load(), err
	}
	pm.done()
	defer res.Body.Close()
	data, err := io.ReadAll(io.LimitReader(res.Body, maxBody+1))
	if err != nil {
		return nil, true, fmt.Errorf("read response: %w", err)
	}
	if len(data) > maxBody {
		return nil, true, fmt.Errorf("response larger than %d MiB", maxBody>>20)
	}
	r := &Response{Status: res.StatusCode, Header: res.Header, Body: data}
	if bytes.Contains(data, []byte(`"traceId"`)) {
		r.TraceID = gjson.GetBytes(data, "traceId").String()
	}
	return r, true, nil
}
