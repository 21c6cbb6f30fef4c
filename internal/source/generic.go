package source

import (
	"crypto/hmac"
	"encoding/hex"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Headers of the generic source's own signature scheme.
const (
	HeaderGenericSignature = "X-Ghlsync-Signature"
	HeaderGenericTimestamp = "X-Ghlsync-Timestamp"
)

// GenericTypes are the event types the generic source accepts.
var GenericTypes = []string{
	"contact.created", "contact.updated",
	"note.created", "task.created",
	"appointment.created", "appointment.updated",
}

func init() { Register("generic", newGeneric) }

// generic accepts signed JSON events from any system:
//
//	{"id": "evt_1", "type": "contact.created", "occurred_at": "2026-11-30T14:05:12Z", "data": {...}}
//
// Signature, ghlsync scheme: X-Ghlsync-Signature: sha256=<hex HMAC-SHA256>,
// keyed by the secret as written. Without X-Ghlsync-Timestamp the HMAC is
// over the raw body; with X-Ghlsync-Timestamp: <Unix seconds> it is over
// "<timestamp>.<body>" and the timestamp must be within tolerance. Standard
// Webhooks headers are accepted as well (whsec_ secrets are base64-decoded
// for that scheme, other secrets used as written).
//
// Configuration (trigger.webhook):
//
//	secret: env:GHLSYNC_GENERIC_SECRET  # or secrets: [new, old]
//	require_timestamp: true             # reject deliveries without a signed timestamp
//	tolerance: 5m
//	unsigned: true                      # accept without a signature (flagged)
//	types: [contact.created, contact.updated]
type generic struct {
	plainKeys    [][]byte
	standardKeys [][]byte
	forms        []string
	requireTS    bool
	tolerance    time.Duration
	unsigned     bool
	types        map[string]bool
	now          func() time.Time
}

func newGeneric(m map[string]any, lookup SecretLookup) (Source, error) {
	c := newConfig(m)
	s := &generic{now: time.Now}
	var err error
	if s.requireTS, err = c.boolean("require_timestamp"); err != nil {
		return nil, err
	}
	if s.tolerance, err = c.duration("tolerance", DefaultTolerance); err != nil {
		return nil, err
	}
	if s.unsigned, err = c.boolean("unsigned"); err != nil {
		return nil, err
	}
	if s.types, err = c.typeFilter(GenericTypes); err != nil {
		return nil, err
	}
	secrets, err := c.secretRefs(lookup)
	if err != nil {
		return nil, err
	}
	if err := c.finish(); err != nil {
		return nil, err
	}
	switch {
	case s.unsigned && len(secrets) > 0:
		return nil, fmt.Errorf("unsigned: true and a secret are both set; remove one")
	case !s.unsigned && len(secrets) == 0:
		return nil, fmt.Errorf("secret: required (for example secret: env:GHLSYNC_GENERIC_SECRET), unless the endpoint is explicitly unsigned: true")
	}
	for i, sec := range secrets {
		s.plainKeys = append(s.plainKeys, []byte(sec))
		k, err := decodeStandardSecret(sec)
		if err != nil {
			return nil, fmt.Errorf("secret #%d: %w", i+1, err)
		}
		s.standardKeys = append(s.standardKeys, k)
	}
	s.forms = secretForms(secrets)
	return s, nil
}

func (s *generic) Name() string { return "generic" }

// verify picks the scheme from the headers present: X-Ghlsync-Signature
// first, else Standard Webhooks.
func (s *generic) verify(h http.Header, body []byte, now time.Time) (Verification, *Error) {
	if s.unsigned {
		return Verification{Scheme: "none", KeyIndex: -1, Detail: "endpoint configured unsigned: true; signature not checked"}, nil
	}
	fail := func(scheme string, err *Error) (Verification, *Error) {
		return Verification{Scheme: scheme, KeyIndex: -1, Detail: err.Msg}, err
	}
	sig := strings.TrimSpace(h.Get(HeaderGenericSignature))
	if sig == "" {
		if _, _, std := standardHeaders(h); std != "" {
			idx, _, err := verifyStandard(h, body, s.standardKeys, s.tolerance, now)
			if err != nil {
				return fail(SchemeStandardWebhooks, err)
			}
			return Verification{Scheme: SchemeStandardWebhooks, Verified: true, KeyIndex: idx, Detail: fmt.Sprintf("standard-webhooks signature matched secret #%d", idx+1)}, nil
		}
		return fail("hmac-sha256", errorf(http.StatusUnauthorized, "missing %s header (or Standard Webhooks webhook-signature)", HeaderGenericSignature))
	}
	tsText := strings.TrimSpace(h.Get(HeaderGenericTimestamp))
	if tsText == "" && s.requireTS {
		return fail("hmac-sha256", errorf(http.StatusUnauthorized, "missing %s header (this endpoint requires a signed timestamp)", HeaderGenericTimestamp))
	}
	var ts time.Time
	if tsText != "" {
		secs, err := strconv.ParseInt(tsText, 10, 64)
		if err != nil || secs <= 0 {
			return fail("hmac-sha256", errorf(http.StatusUnauthorized, "%s header is not a Unix time in seconds", HeaderGenericTimestamp))
		}
		ts = time.Unix(secs, 0)
	}
	var given [][]byte
	for _, part := range strings.FieldsFunc(sig, func(r rune) bool { return r == ' ' || r == ',' }) {
		hexSig, ok := strings.CutPrefix(part, "sha256=")
		if !ok {
			continue
		}
		if b, err := hex.DecodeString(hexSig); err == nil {
			given = append(given, b)
		}
	}
	if len(given) == 0 {
		return fail("hmac-sha256", errorf(http.StatusUnauthorized, "%s header is not of the form sha256=<hex>", HeaderGenericSignature))
	}
	idx := -1
	for i, k := range s.plainKeys {
		var want []byte
		if tsText != "" {
			want = hmacSHA256(k, []byte(tsText), []byte("."), body)
		} else {
			want = hmacSHA256(k, body)
		}
		for _, g := range given {
			if hmac.Equal(g, want) {
				idx = i
			}
		}
		if idx >= 0 {
			break
		}
	}
	if idx < 0 {
		signed := "the body"
		if tsText != "" {
			signed = "\"<timestamp>.<body>\""
		}
		return fail("hmac-sha256", errorf(http.StatusUnauthorized, "%s does not match HMAC-SHA256 of %s with any configured secret (%d secret(s) checked)", HeaderGenericSignature, signed, len(s.plainKeys)))
	}
	if tsText != "" {
		if err := checkSkew(HeaderGenericTimestamp, ts, now, s.tolerance); err != nil {
			return fail("hmac-sha256", err)
		}
	}
	return Verification{Scheme: "hmac-sha256", Verified: true, KeyIndex: idx, Detail: fmt.Sprintf("%s matched secret #%d", HeaderGenericSignature, idx+1)}, nil
}

// Receive implements Source.
func (s *generic) Receive(r *http.Request, body []byte) (Event, error) {
	now := s.now().UTC()
	ver, verr := s.verify(r.Header, body, now)
	if verr != nil {
		return Event{}, verr
	}
	payload, err := DecodeJSON(body)
	if err != nil {
		return Event{}, err
	}
	ev := Event{
		Raw:     body,
		Payload: payload,
		Headers: recordHeaders(r.Header, []string{"content-type", "user-agent", HeaderGenericSignature, HeaderGenericTimestamp,
			HeaderWebhookID, HeaderWebhookTimestamp, HeaderWebhookSignature}, s.forms),
		Verification: ver,
		Unsigned:     s.unsigned,
		OccurredAt:   now,
	}
	typ, ok := payload["type"].(string)
	switch {
	case !ok && payload["type"] == nil:
		return Event{}, errorf(http.StatusUnprocessableEntity, "missing \"type\" (one of %s)", strings.Join(GenericTypes, ", "))
	case !ok:
		return Event{}, errorf(http.StatusUnprocessableEntity, "\"type\" must be a string (one of %s)", strings.Join(GenericTypes, ", "))
	case !contains(GenericTypes, typ):
		hint := ""
		if c := closest(typ, GenericTypes); c != "" {
			hint = fmt.Sprintf("; did you mean %q?", c)
		}
		return Event{}, errorf(http.StatusUnprocessableEntity, "unknown \"type\" %q (one of %s%s)", typ, strings.Join(GenericTypes, ", "), hint)
	}
	ev.Type = typ
	if v, ok := payload["data"]; ok {
		if _, isObj := v.(map[string]any); !isObj {
			return Event{}, errorf(http.StatusUnprocessableEntity, "\"data\" must be an object, got %s", jsonKind(v))
		}
	}
	if v, ok := payload["id"]; ok {
		id := lookupString(payload, "id")
		if id == "" && v != nil {
			return Event{}, errorf(http.StatusUnprocessableEntity, "\"id\" must be a non-empty string or a number, got %s", jsonKind(v))
		}
		ev.ID = id
	}
	if ev.ID == "" && ver.Scheme == SchemeStandardWebhooks {
		ev.ID, _, _ = standardHeaders(r.Header) // signed under that scheme
	}
	if v, ok := payload["occurred_at"]; ok && v != nil {
		t, ok := parseTime(v)
		if !ok {
			return Event{}, errorf(http.StatusUnprocessableEntity, "\"occurred_at\" must be an RFC 3339 time (2026-11-30T14:05:12Z) or Unix seconds")
		}
		ev.OccurredAt = t
	}
	if s.types != nil && !s.types[ev.Type] {
		ev.Ignore = fmt.Sprintf("event type %q is not in this flow's types", ev.Type)
	}
	return ev, nil
}
