// Package sign produces signed webhook deliveries for every scheme the
// source package verifies. Tests, the demo command and operators testing an
// endpoint use it to send deliveries a source accepts.
package sign

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

func mac(key []byte, parts ...[]byte) []byte {
	m := hmac.New(sha256.New, key)
	for _, p := range parts {
		m.Write(p)
	}
	return m.Sum(nil)
}

// StandardKey turns a Standard Webhooks secret into key bytes: the
// base64 part of a "whsec_" secret, decoded; any other secret as written.
func StandardKey(secret string) ([]byte, error) {
	b64, ok := strings.CutPrefix(secret, "whsec_")
	if !ok {
		return []byte(secret), nil
	}
	k, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, fmt.Errorf("sign: a whsec_ secret must be followed by base64 key bytes")
	}
	return k, nil
}

// StandardSignature returns "v1,<base64 HMAC-SHA256 of id.timestamp.body>".
func StandardSignature(secret, id string, ts time.Time, body []byte) (string, error) {
	k, err := StandardKey(secret)
	if err != nil {
		return "", err
	}
	sum := mac(k, []byte(id), []byte("."), []byte(strconv.FormatInt(ts.Unix(), 10)), []byte("."), body)
	return "v1," + base64.StdEncoding.EncodeToString(sum), nil
}

// StandardWebhooks returns the webhook-id, webhook-timestamp and
// webhook-signature headers for body. With several secrets (a rotation)
// the header carries one signature per secret, space-separated.
func StandardWebhooks(id string, ts time.Time, body []byte, secrets ...string) (http.Header, error) {
	if len(secrets) == 0 {
		return nil, fmt.Errorf("sign: no secret")
	}
	var sigs []string
	for _, s := range secrets {
		sig, err := StandardSignature(s, id, ts, body)
		if err != nil {
			return nil, err
		}
		sigs = append(sigs, sig)
	}
	h := http.Header{}
	h.Set("webhook-id", id)
	h.Set("webhook-timestamp", strconv.FormatInt(ts.Unix(), 10))
	h.Set("webhook-signature", strings.Join(sigs, " "))
	return h, nil
}

// HMAC returns the HMAC-SHA256 of body keyed by secret as written, encoded
// as "hex" or "base64" and preceded by prefix (e.g. "sha256=").
func HMAC(secret string, body []byte, encoding, prefix string) string {
	sum := mac([]byte(secret), body)
	if encoding == "base64" {
		return prefix + base64.StdEncoding.EncodeToString(sum)
	}
	return prefix + hex.EncodeToString(sum)
}

// Plain returns a header holding HMAC(secret, body, encoding, prefix) under
// name, the changetower source's configurable plain scheme.
func Plain(name, secret string, body []byte, encoding, prefix string) http.Header {
	h := http.Header{}
	h.Set(name, HMAC(secret, body, encoding, prefix))
	return h
}

// Generic returns the generic source's headers: X-Ghlsync-Signature:
// sha256=<hex> over "<unix ts>.<body>" with X-Ghlsync-Timestamp, or over the
// body alone when ts is the zero time.
func Generic(secret string, ts time.Time, body []byte) http.Header {
	h := http.Header{}
	if ts.IsZero() {
		h.Set("X-Ghlsync-Signature", "sha256="+hex.EncodeToString(mac([]byte(secret), body)))
		return h
	}
	t := strconv.FormatInt(ts.Unix(), 10)
	h.Set("X-Ghlsync-Timestamp", t)
	h.Set("X-Ghlsync-Signature", "sha256="+hex.EncodeToString(mac([]byte(secret), []byte(t), []byte("."), body)))
	return h
}

// GHLEd25519 returns the x-ghl-signature header for body.
func GHLEd25519(key ed25519.PrivateKey, body []byte) http.Header {
	h := http.Header{}
	h.Set("x-ghl-signature", base64.StdEncoding.EncodeToString(ed25519.Sign(key, body)))
	return h
}

// GHLRSA returns the legacy x-wh-signature header for body (RSA PKCS#1
// v1.5 over SHA-256).
func GHLRSA(key *rsa.PrivateKey, body []byte) (http.Header, error) {
	d := sha256.Sum256(body)
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, d[:])
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	h := http.Header{}
	h.Set("x-wh-signature", base64.StdEncoding.EncodeToString(sig))
	return h, nil
}

// GHLPayload returns body with "timestamp" (ISO 8601, milliseconds, UTC)
// and "webhookId" set, as GHL adds them to signed deliveries. body must be
// a JSON object; the result keeps body's bytes and appends the two fields
// before the closing brace, replacing nothing, so any existing fields of
// the same name should be absent.
func GHLPayload(body []byte, webhookID string, ts time.Time) ([]byte, error) {
	b := bytes.TrimRight(body, " \t\r\n")
	if len(b) < 2 || b[len(b)-1] != '}' {
		return nil, fmt.Errorf("sign: body is not a JSON object")
	}
	inner := bytes.TrimSpace(b[1 : len(b)-1])
	var out bytes.Buffer
	out.Write(b[:len(b)-1])
	if len(inner) > 0 {
		out.WriteString(",")
	}
	id, err := json.Marshal(webhookID)
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	fmt.Fprintf(&out, `"timestamp":"%s","webhookId":%s}`, ts.UTC().Format("2006-01-02T15:04:05.000Z"), id)
	return out.Bytes(), nil
}

// Request builds a POST of body to url with the given signature headers
// and Content-Type: application/json.
func Request(ctx context.Context, url string, body []byte, headers ...http.Header) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	for _, h := range headers {
		for k, vs := range h {
			for _, v := range vs {
				req.Header.Add(k, v)
			}
		}
	}
	return req, nil
}
