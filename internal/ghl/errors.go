package ghl

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// APIError is a non-2xx answer from GoHighLevel. GHL error bodies look like
// {"statusCode":422,"message":["email must be an email"],"error":"Unprocessable Entity","traceId":"..."}
// where message is a string or an array of strings.
type APIError struct {
	Status int
	// Message is GHL's message; an array message is joined with "; ".
	Message string
	// Messages holds the message array exactly as GHL sent it (one element
	// when GHL sent a string).
	Messages []string
	// ErrorText is GHL's "error" field (usually the status text).
	ErrorText string
	TraceID   string
	// Op is the catalog operation id, or "METHOD /path" for Raw calls.
	Op string
	// RetryAfter is the server's Retry-After, when it sent one.
	RetryAfter time.Duration
	// Attempts is how many requests were sent before giving up.
	Attempts int
}

// Error renders the status, GHL's message and the trace id. It never
// contains request headers, so no token can leak through it.
func (e *APIError) Error() string {
	var b strings.Builder
	b.WriteString("ghl ")
	b.WriteString(e.Op)
	fmt.Fprintf(&b, ": %d", e.Status)
	if t := http.StatusText(e.Status); t != "" {
		b.WriteString(" " + t)
	}
	switch {
	case e.Message != "":
		b.WriteString(": " + e.Message)
	case e.ErrorText != "" && e.ErrorText != http.StatusText(e.Status):
		b.WriteString(": " + e.ErrorText)
	}
	if e.TraceID != "" {
		b.WriteString(" (traceId " + e.TraceID + ")")
	}
	if e.Attempts > 1 {
		fmt.Fprintf(&b, " after %d attempts", e.Attempts)
	}
	return b.String()
}

// Transient reports whether the failure may go away if the request is sent
// again later: 408, 429 and 5xx.
func (e *APIError) Transient() bool {
	return e.Status == http.StatusRequestTimeout || e.Status == http.StatusTooManyRequests || e.Status >= 500
}

// ErrDailyLimit is the errors.Is target of *DailyLimitError.
var ErrDailyLimit = errors.New("ghl: daily request budget spent")

// DailyLimitError says the daily request budget of one (app, resource) pair
// is spent. Calls for that resource fail fast with it until ResetAt; other
// resources are unaffected.
type DailyLimitError struct {
	Op       string
	AppID    string
	Resource string
	Limit    int
	ResetAt  time.Time
}

func (e *DailyLimitError) Error() string {
	return fmt.Sprintf("ghl %s: daily request budget of %d for %s is spent; calls resume after %s",
		e.Op, e.Limit, e.Resource, e.ResetAt.UTC().Format(time.RFC3339))
}

// Is makes errors.Is(err, ErrDailyLimit) true.
func (e *DailyLimitError) Is(target error) bool { return target == ErrDailyLimit }

// OutcomeUnknownError says the request was, or may have been, received by
// GoHighLevel but no answer was read (a timeout or a reset after the request
// was written, or a gateway error). It is returned without retry for
// operations that are not safe to repeat; the caller must reconcile (look the
// effect up by its natural key) before sending again.
type OutcomeUnknownError struct {
	Op  string
	Err error
}

func (e *OutcomeUnknownError) Error() string {
	return fmt.Sprintf("ghl %s: outcome unknown (the request may have been applied; reconcile before repeating): %v", e.Op, e.Err)
}

func (e *OutcomeUnknownError) Unwrap() error { return e.Err }

// ErrLegacyAPIKey is returned for a legacy v1 location API key, which API v2
// does not accept.
var ErrLegacyAPIKey = errors.New("this token is a legacy v1 location API key (a JWT for rest.gohighlevel.com), which API v2 refuses; " +
	"create a Private Integration Token instead (sub-account Settings > Private Integrations > Create new integration, choose the scopes) and use that")

// ErrValidation is the errors.Is target of *ValidationError.
var ErrValidation = errors.New("ghl: invalid value")

// ValidationError is a value the client refuses to send. It names the field
// and keeps the raw value so nothing is lost.
type ValidationError struct {
	Field  string
	Value  string
	Reason string
}

func (e *ValidationError) Error() string {
	return fmt.Sprintf("invalid %s %q: %s", e.Field, e.Value, e.Reason)
}

// Is makes errors.Is(err, ErrValidation) true.
func (e *ValidationError) Is(target error) bool { return target == ErrValidation }

// decodeAPIError builds an APIError from a GHL error body. Bodies that are
// not JSON keep their (trimmed) text as the message.
func decodeAPIError(op string, status int, h http.Header, body []byte) *APIError {
	e := &APIError{Status: status, Op: op, RetryAfter: parseRetryAfter(h.Get("Retry-After"), time.Now())}
	var raw struct {
		Message json.RawMessage `json:"message"`
		Error   json.RawMessage `json:"error"`
		TraceID string          `json:"traceId"`
		Detail  string          `json:"detail"`
	}
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) > 0 && trimmed[0] == '{' && json.Unmarshal(trimmed, &raw) == nil {
		e.TraceID = raw.TraceID
		e.Messages = stringOrArray(raw.Message)
		if len(raw.Error) > 0 {
			var s string
			if json.Unmarshal(raw.Error, &s) == nil {
				e.ErrorText = s
			} else {
				// v3-style envelope: {"error":{"code":"...","message":"..."}}
				var env struct {
					Code    string          `json:"code"`
					Message json.RawMessage `json:"message"`
				}
				if json.Unmarshal(raw.Error, &env) == nil {
					e.ErrorText = env.Code
					if len(e.Messages) == 0 {
						e.Messages = stringOrArray(env.Message)
					}
				}
			}
		}
		if len(e.Messages) == 0 && raw.Detail != "" {
			e.Messages = []string{raw.Detail}
		}
	} else if len(trimmed) > 0 {
		text := string(trimmed)
		if len(text) > 512 {
			text = text[:512] + "…"
		}
		e.Messages = []string{text}
	}
	if e.TraceID == "" {
		e.TraceID = h.Get("X-Trace-Id")
	}
	e.Message = strings.Join(e.Messages, "; ")
	return e
}

func stringOrArray(m json.RawMessage) []string {
	if len(m) == 0 || string(m) == "null" {
		return nil
	}
	var s string
	if json.Unmarshal(m, &s) == nil {
		if s == "" {
			return nil
		}
		return []string{s}
	}
	var arr []json.RawMessage
	if json.Unmarshal(m, &arr) == nil {
		out := make([]string, 0, len(arr))
		for _, a := range arr {
			var s string
			if json.Unmarshal(a, &s) == nil {
				out = append(out, s)
			} else {
				out = append(out, string(a))
			}
		}
		return out
	}
	return []string{string(m)}
}

// redact removes secret from every text field of the error, in case a
// server echoes the Authorization header back.
func (e *APIError) redact(secret string) {
	if secret == "" {
		return
	}
	e.Message = strings.ReplaceAll(e.Message, secret, "[redacted]")
	e.ErrorText = strings.ReplaceAll(e.ErrorText, secret, "[redacted]")
	for i, m := range e.Messages {
		e.Messages[i] = strings.ReplaceAll(m, secret, "[redacted]")
	}
}

// redactedError hides a secret inside an error's text while keeping the
// chain for errors.Is/As.
type redactedError struct {
	msg string
	err error
}

func (r *redactedError) Error() string { return r.msg }
func (r *redactedError) Unwrap() error { return r.err }

func redactErr(err error, secret string) error {
	if err == nil || secret == "" || !strings.Contains(err.Error(), secret) {
		return err
	}
	return &redactedError{msg: strings.ReplaceAll(err.Error(), secret, "[redacted]"), err: err}
}
