package ghl

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
)

// TokenSource supplies the bearer token for each request.
type TokenSource interface {
	Token(ctx context.Context) (string, error)
}

// Refresher is an optional interface of a TokenSource. After a 401 the client
// asks it once for a new token (passing the rejected one) and sends the
// request once more with it.
type Refresher interface {
	Refresh(ctx context.Context, rejected string) (string, error)
}

// TokenFunc adapts a function to TokenSource.
type TokenFunc func(ctx context.Context) (string, error)

// Token calls f.
func (f TokenFunc) Token(ctx context.Context) (string, error) { return f(ctx) }

// StaticToken returns a TokenSource for a fixed token such as a Private
// Integration Token. A legacy v1 location API key is refused with
// ErrLegacyAPIKey (and guidance) when the token is first used.
func StaticToken(tok string) TokenSource { return staticToken(strings.TrimSpace(tok)) }

type staticToken string

func (s staticToken) Token(context.Context) (string, error) {
	if err := CheckToken(string(s)); err != nil {
		return "", err
	}
	return string(s), nil
}

// ErrNoToken is returned when a TokenSource yields an empty token.
var ErrNoToken = errors.New("ghl: no access token (set a Private Integration Token or connect an OAuth app)")

var errBadToken = errors.New("ghl: the token contains spaces or control characters; paste it exactly as GoHighLevel shows it")

// CheckToken reports why tok cannot be sent to API v2: empty, malformed, or
// a legacy v1 API key (ErrLegacyAPIKey). It never includes the token in the
// error.
func CheckToken(tok string) error {
	if tok == "" {
		return ErrNoToken
	}
	for _, r := range tok {
		if r <= ' ' || r == 0x7f {
			return errBadToken
		}
	}
	if IsLegacyAPIKey(tok) {
		return ErrLegacyAPIKey
	}
	return nil
}

// IsLegacyAPIKey reports whether tok looks like a v1 location (or agency) API
// key. The rule: tok is a JWT (three base64url parts whose first decodes to a
// JSON header with "alg") and its payload is a JSON object that has no
// "authClass" claim (every API v2 OAuth access token carries one) but does
// carry a v1 claim: "location_id", "company_id" or "version". Private
// Integration Tokens ("pit-...") are not JWTs and never match.
func IsLegacyAPIKey(tok string) bool {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" {
		return false
	}
	var header map[string]any
	if !decodeJWTPart(parts[0], &header) {
		return false
	}
	if _, ok := header["alg"]; !ok {
		return false
	}
	var claims map[string]any
	if !decodeJWTPart(parts[1], &claims) {
		return false
	}
	if _, ok := claims["authClass"]; ok {
		return false
	}
	for _, k := range []string{"location_id", "company_id", "version"} {
		if _, ok := claims[k]; ok {
			return true
		}
	}
	return false
}

func decodeJWTPart(s string, v any) bool {
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
	if err != nil {
		return false
	}
	return json.Unmarshal(b, v) == nil
}
