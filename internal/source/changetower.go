package source

import (
	"fmt"
	"net/http"
	"strings"
	"time"
)

// ChangeTowerEventType is the one event type ChangeTower sends today.
const ChangeTowerEventType = "monitor.notification.created"

// Signature schemes a changetower source can be configured with.
const (
	SchemeStandardWebhooks = "standard-webhooks"
	SchemeHMAC             = "hmac"
)

func init() { Register("changetower", newChangeTower) }

// changeTower verifies ChangeTower deliveries. ChangeTower does not publish
// its signature scheme, so the Standard Webhooks scheme is the default and
// a plain HMAC scheme can be configured; capture mode records real
// deliveries so an operator can confirm which one applies.
//
// Configuration (trigger.webhook):
//
//	secret: env:CHANGETOWER_SECRET  # or secrets: [new, old] during a rotation
//	scheme: standard-webhooks       # or hmac
//	header: X-Signature             # hmac only: the signature header
//	encoding: hex                   # hmac only: hex (default) or base64
//	prefix: "sha256="               # hmac only: optional prefix of the value
//	tolerance: 5m                   # standard-webhooks timestamp tolerance
//	capture: true                   # record deliveries, run nothing
//	unsigned: true                  # accept without a signature (flagged)
//	types: [monitor.notification.created]
type changeTower struct {
	scheme    string
	plain     plainScheme
	keys      [][]byte // keys for the configured scheme
	secrets   []string // the secret values, for capture diagnostics
	forms     []string // strings to redact
	tolerance time.Duration
	unsigned  bool
	capture   bool
	types     map[string]bool
	now       func() time.Time
}

func newChangeTower(m map[string]any, lookup SecretLookup) (Source, error) {
	c := newConfig(m)
	s := &changeTower{now: time.Now}
	var err error
	if s.scheme, err = c.str("scheme", SchemeStandardWebhooks); err != nil {
		return nil, err
	}
	header, err := c.str("header", "")
	if err != nil {
		return nil, err
	}
	encoding, err := c.str("encoding", "")
	if err != nil {
		return nil, err
	}
	prefix, err := c.str("prefix", "")
	if err != nil {
		return nil, err
	}
	if s.tolerance, err = c.duration("tolerance", DefaultTolerance); err != nil {
		return nil, err
	}
	if s.capture, err = c.boolean("capture"); err != nil {
		return nil, err
	}
	if s.unsigned, err = c.boolean("unsigned"); err != nil {
		return nil, err
	}
	if s.types, err = c.typeFilter(nil); err != nil {
		return nil, err
	}
	if s.secrets, err = c.secretRefs(lookup); err != nil {
		return nil, err
	}
	if err := c.finish(); err != nil {
		return nil, err
	}
	s.forms = secretForms(s.secrets)

	switch s.scheme {
	case SchemeStandardWebhooks:
		for k, v := range map[string]string{"header": header, "encoding": encoding, "prefix": prefix} {
			if v != "" {
				return nil, fmt.Errorf("%s is only used with scheme: %s", k, SchemeHMAC)
			}
		}
		for i, sec := range s.secrets {
			k, err := decodeStandardSecret(sec)
			if err != nil {
				return nil, fmt.Errorf("secret #%d: %w", i+1, err)
			}
			s.keys = append(s.keys, k)
		}
	case SchemeHMAC:
		if header == "" {
			return nil, fmt.Errorf("scheme: %s needs header: (the name of the signature header)", SchemeHMAC)
		}
		if encoding == "" {
			encoding = "hex"
		}
		if encoding != "hex" && encoding != "base64" {
			return nil, fmt.Errorf("encoding: want hex or base64, got %q", encoding)
		}
		s.plain = plainScheme{Header: http.CanonicalHeaderKey(header), Encoding: encoding, Prefix: prefix}
		for _, sec := range s.secrets {
			s.keys = append(s.keys, []byte(sec))
		}
	default:
		return nil, fmt.Errorf("scheme: want %s or %s, got %q", SchemeStandardWebhooks, SchemeHMAC, s.scheme)
	}

	switch {
	case s.unsigned && s.capture:
		return nil, fmt.Errorf("capture: true and unsigned: true cannot be combined (capture already records unverified deliveries)")
	case s.unsigned && len(s.secrets) > 0:
		return nil, fmt.Errorf("unsigned: true and a secret are both set; remove one")
	case !s.unsigned && !s.capture && len(s.secrets) == 0:
		return nil, fmt.Errorf("secret: required (for example secret: env:CHANGETOWER_SECRET), unless the endpoint is explicitly unsigned: true")
	}
	return s, nil
}

func (s *changeTower) Name() string { return "changetower" }

func (s *changeTower) schemeName() string {
	if s.scheme == SchemeHMAC {
		return "hmac-sha256"
	}
	return SchemeStandardWebhooks
}

// verify checks the configured scheme and returns the verification record
// and the signed timestamp (zero when the scheme has none).
func (s *changeTower) verify(h http.Header, body []byte, now time.Time) (Verification, time.Time, *Error) {
	if s.unsigned {
		return Verification{Scheme: "none", KeyIndex: -1, Detail: "endpoint configured unsigned: true; signature not checked"}, time.Time{}, nil
	}
	if s.scheme == SchemeHMAC {
		idx, err := s.plain.verify(h, body, s.keys)
		if err != nil {
			return Verification{Scheme: s.schemeName(), KeyIndex: -1, Detail: err.Msg}, time.Time{}, err
		}
		return Verification{Scheme: s.schemeName(), Verified: true, KeyIndex: idx, Detail: fmt.Sprintf("%s matched secret #%d", s.plain, idx+1)}, time.Time{}, nil
	}
	idx, ts, err := verifyStandard(h, body, s.keys, s.tolerance, now)
	if err != nil {
		return Verification{Scheme: s.schemeName(), KeyIndex: idx, Detail: err.Msg}, ts, err
	}
	return Verification{Scheme: s.schemeName(), Verified: true, KeyIndex: idx, Detail: fmt.Sprintf("standard-webhooks signature matched secret #%d", idx+1)}, ts, nil
}

func (s *changeTower) recordedHeaders() []string {
	names := []string{"content-type", "user-agent", HeaderWebhookID, HeaderWebhookTimestamp, HeaderWebhookSignature}
	if s.plain.Header != "" {
		names = append(names, s.plain.Header)
	}
	return names
}

// Receive implements Source.
func (s *changeTower) Receive(r *http.Request, body []byte) (Event, error) {
	now := s.now().UTC()
	if s.capture {
		return s.captureEvent(r, body, now), nil
	}
	ver, signedAt, verr := s.verify(r.Header, body, now)
	if verr != nil {
		return Event{}, verr
	}
	payload, err := DecodeJSON(body)
	if err != nil {
		return Event{}, err
	}
	ev := Event{
		Raw:          body,
		Payload:      payload,
		Headers:      recordHeaders(r.Header, s.recordedHeaders(), s.forms),
		Verification: ver,
		Unsigned:     s.unsigned,
	}
	s.normalise(&ev, r.Header, signedAt, now)
	if s.types != nil && !s.types[ev.Type] {
		ev.Ignore = fmt.Sprintf("event type %q is not in this flow's types", ev.Type)
	}
	return ev, nil
}

// normalise fills ID, Type and OccurredAt from the payload and headers.
func (s *changeTower) normalise(ev *Event, h http.Header, signedAt, now time.Time) {
	ev.Type = lookupString(ev.Payload, "type")
	if ev.Type == "" {
		ev.Type = ChangeTowerEventType
	}
	headerID, _, _ := standardHeaders(h)
	payloadID := lookupString(ev.Payload, "data.notification.id")
	// Under Standard Webhooks the webhook-id header is signed, and stays the
	// same across retries. Under the plain scheme headers are not signed,
	// so the (signed) payload id comes first.
	if s.scheme == SchemeHMAC {
		ev.ID = firstNonEmpty(payloadID, headerID)
	} else {
		ev.ID = firstNonEmpty(headerID, payloadID)
	}
	ev.OccurredAt = now
	for _, p := range []string{"timestamp", "data.notification.created_at"} {
		if v, ok := Lookup(ev.Payload, p); ok {
			if t, ok := parseTime(v); ok {
				ev.OccurredAt = t
				return
			}
		}
	}
	if !signedAt.IsZero() {
		ev.OccurredAt = signedAt
	}
}

func firstNonEmpty(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

// captureEvent records a delivery without rejecting it: the configured
// scheme's result plus a search for other schemes that would match, so an
// operator can confirm how ChangeTower signs and map fields from a sample.
func (s *changeTower) captureEvent(r *http.Request, body []byte, now time.Time) Event {
	raw, redacted := redactBody(body, s.forms)
	ev := Event{
		Raw:     raw,
		Headers: recordHeaders(r.Header, nil, s.forms),
		Capture: true,
	}
	var notes []string
	var signedAt time.Time
	if len(s.secrets) == 0 {
		ev.Verification = Verification{Scheme: s.schemeName(), KeyIndex: -1}
		notes = append(notes, "no secret configured: signatures not checked")
	} else {
		ev.Verification, signedAt, _ = s.verify(r.Header, body, now)
		if ev.Verification.Verified {
			notes = append(notes, "configured scheme: "+ev.Verification.Detail)
		} else {
			notes = append(notes, "configured scheme ("+s.schemeName()+") failed: "+ev.Verification.Detail)
		}
		notes = append(notes, discoverSchemes(r.Header, body, s.secrets, s.tolerance, now)...)
	}
	payload, err := DecodeJSON(body)
	if err != nil {
		notes = append(notes, "body: "+err.(*Error).Msg)
		ev.ID, _, _ = standardHeaders(r.Header)
	} else {
		ev.Payload = payload
		s.normalise(&ev, r.Header, signedAt, now)
	}
	if ev.OccurredAt.IsZero() {
		ev.OccurredAt = now
	}
	if redacted {
		notes = append(notes, "a configured secret appeared in the body and was redacted")
	}
	ev.Verification.Detail = strings.Join(notes, "; ")
	return ev
}
