package source

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// DefaultTolerance is how far a signed timestamp may be from the receiver's
// clock, in either direction, before the delivery is rejected as a replay.
const DefaultTolerance = 5 * time.Minute

// Standard Webhooks header names; the svix- spelling is accepted too.
const (
	HeaderWebhookID        = "webhook-id"
	HeaderWebhookTimestamp = "webhook-timestamp"
	HeaderWebhookSignature = "webhook-signature"
)

func headerAny(h http.Header, names ...string) string {
	for _, n := range names {
		if v := h.Get(n); v != "" {
			return v
		}
	}
	return ""
}

// standardHeaders returns the Standard Webhooks id, timestamp and signature
// headers (webhook-* or svix-*).
func standardHeaders(h http.Header) (id, ts, sig string) {
	return headerAny(h, HeaderWebhookID, "svix-id"),
		headerAny(h, HeaderWebhookTimestamp, "svix-timestamp"),
		headerAny(h, HeaderWebhookSignature, "svix-signature")
}

func hmacSHA256(key []byte, parts ...[]byte) []byte {
	m := hmac.New(sha256.New, key)
	for _, p := range parts {
		m.Write(p)
	}
	return m.Sum(nil)
}

// verifyStandard checks a Standard Webhooks delivery: the signed content is
// "{id}.{timestamp}.{body}", the header holds space-separated "v1,<base64>"
// signatures, and any of keys may match. It returns the index of the
// matching key and the signed timestamp.
func verifyStandard(h http.Header, body []byte, keys [][]byte, tolerance time.Duration, now time.Time) (int, time.Time, *Error) {
	id, tsText, sigs := standardHeaders(h)
	switch {
	case sigs == "":
		return -1, time.Time{}, errorf(http.StatusUnauthorized, "missing %s header", HeaderWebhookSignature)
	case id == "":
		return -1, time.Time{}, errorf(http.StatusUnauthorized, "missing %s header", HeaderWebhookID)
	case tsText == "":
		return -1, time.Time{}, errorf(http.StatusUnauthorized, "missing %s header", HeaderWebhookTimestamp)
	}
	secs, err := strconv.ParseInt(strings.TrimSpace(tsText), 10, 64)
	if err != nil {
		return -1, time.Time{}, errorf(http.StatusUnauthorized, "%s header is not a Unix time in seconds", HeaderWebhookTimestamp)
	}
	ts := time.Unix(secs, 0).UTC()
	if len(keys) == 0 {
		return -1, ts, errorf(http.StatusUnauthorized, "no secret configured to verify %s", HeaderWebhookSignature)
	}
	var given [][]byte
	for _, part := range strings.Fields(sigs) {
		version, sig, ok := strings.Cut(part, ",")
		if !ok || version != "v1" {
			continue // other versions (v1a asymmetric, ...) are not ours to check
		}
		if b, err := base64.StdEncoding.DecodeString(sig); err == nil {
			given = append(given, b)
		}
	}
	if len(given) == 0 {
		return -1, ts, errorf(http.StatusUnauthorized, "%s header holds no v1,<base64> signature", HeaderWebhookSignature)
	}
	idx := -1
	for i, k := range keys {
		want := hmacSHA256(k, []byte(id), []byte("."), []byte(strconv.FormatInt(secs, 10)), []byte("."), body)
		for _, g := range given {
			if hmac.Equal(g, want) {
				idx = i
				break
			}
		}
		if idx >= 0 {
			break
		}
	}
	if idx < 0 {
		return -1, ts, errorf(http.StatusUnauthorized, "%s does not match the body with any configured secret (%d signature(s), %d secret(s) checked)", HeaderWebhookSignature, len(given), len(keys))
	}
	if err := checkSkew(HeaderWebhookTimestamp, ts, now, tolerance); err != nil {
		return idx, ts, err
	}
	return idx, ts, nil
}

// checkSkew rejects a signed timestamp further than tolerance from now.
func checkSkew(what string, ts, now time.Time, tolerance time.Duration) *Error {
	d := now.Sub(ts)
	switch {
	case d > tolerance:
		return errorf(http.StatusUnauthorized, "%s is %s old, outside the %s tolerance (replayed or delayed delivery)", what, d.Round(time.Second), tolerance)
	case -d > tolerance:
		return errorf(http.StatusUnauthorized, "%s is %s in the future, outside the %s tolerance (check the sender's clock)", what, (-d).Round(time.Second), tolerance)
	}
	return nil
}

// plainScheme is HMAC-SHA256 over the raw body in one header.
type plainScheme struct {
	Header   string // canonical header name
	Encoding string // "hex" or "base64"
	Prefix   string // e.g. "sha256=", may be empty
}

func (p plainScheme) String() string {
	s := fmt.Sprintf("HMAC-SHA256 of the body, %s", p.Encoding)
	if p.Prefix != "" {
		s += fmt.Sprintf(" with prefix %q", p.Prefix)
	}
	return s + " in header " + p.Header
}

// verify returns the index of the matching key.
func (p plainScheme) verify(h http.Header, body []byte, keys [][]byte) (int, *Error) {
	v := strings.TrimSpace(h.Get(p.Header))
	if v == "" {
		return -1, errorf(http.StatusUnauthorized, "missing %s header", p.Header)
	}
	if len(keys) == 0 {
		return -1, errorf(http.StatusUnauthorized, "no secret configured to verify %s", p.Header)
	}
	var given [][]byte
	for _, part := range strings.FieldsFunc(v, func(r rune) bool { return r == ' ' || r == ',' }) {
		if p.Prefix != "" {
			if len(part) < len(p.Prefix) || !strings.EqualFold(part[:len(p.Prefix)], p.Prefix) {
				continue
			}
			part = part[len(p.Prefix):]
		}
		if b, ok := decodeSig(part, p.Encoding); ok {
			given = append(given, b)
		}
	}
	if len(given) == 0 {
		want := p.Encoding
		if p.Prefix != "" {
			want = p.Prefix + "<" + p.Encoding + ">"
		}
		return -1, errorf(http.StatusUnauthorized, "%s header is not of the form %s", p.Header, want)
	}
	for i, k := range keys {
		want := hmacSHA256(k, body)
		for _, g := range given {
			if hmac.Equal(g, want) {
				return i, nil
			}
		}
	}
	return -1, errorf(http.StatusUnauthorized, "%s does not match the body with any configured secret (%d secret(s) checked)", p.Header, len(keys))
}
