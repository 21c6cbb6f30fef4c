// Package redact removes secrets and configured personal data from what
// ghlsync records about a run: requests, responses, headers and events.
//
// Secrets are recognised by key name (authorization, token, secret,
// password, api key, cookie, signature...) wherever they appear in a JSON
// document or a header set. Personal data is whatever field names the
// operator configures (for example --redact-fields email,phone); matching is
// by exact key, case-insensitively, at any depth, including GoHighLevel's
// custom field items ({"key": "contact.email", "field_value": ...}).
package redact

import (
	"bytes"
	"encoding/json"
	"net/url"
	"regexp"
	"strings"
)

// Mask replaces every redacted value.
const Mask = "[redacted]"

// secretKeyParts are substrings of key names whose values are always secret.
var secretKeyParts = []string{
	"authorization", "token", "secret", "password", "passwd", "apikey", "api_key", "api-key",
	"cookie", "signature", "credential", "private_key", "privatekey", "client_secret",
}

// bearer catches tokens written into free text ("Bearer abc...").
var bearer = regexp.MustCompile(`(?i)\bbearer\s+[A-Za-z0-9\-._~+/]+=*`)

// Redactor redacts secrets and a configured set of personal-data fields. The
// zero value redacts secrets only. It is safe for concurrent use.
type Redactor struct {
	fields map[string]bool
}

// New returns a Redactor that also masks the given field names (case
// insensitive), e.g. "email", "phone".
func New(fields ...string) *Redactor {
	r := &Redactor{fields: map[string]bool{}}
	for _, f := range fields {
		f = strings.ToLower(strings.TrimSpace(f))
		if f != "" {
			r.fields[f] = true
		}
	}
	return r
}

// Fields returns the configured personal-data field names.
func (r *Redactor) Fields() []string {
	if r == nil {
		return nil
	}
	out := make([]string, 0, len(r.fields))
	for f := range r.fields {
		out = append(out, f)
	}
	return out
}

// IsSecretKey reports whether a key names a secret.
func IsSecretKey(key string) bool {
	k := strings.ToLower(key)
	for _, p := range secretKeyParts {
		if strings.Contains(k, p) {
			return true
		}
	}
	return false
}

// maskKey reports whether the value under key must be masked.
func (r *Redactor) maskKey(key string) bool {
	if IsSecretKey(key) {
		return true
	}
	if r == nil || len(r.fields) == 0 {
		return false
	}
	k := strings.ToLower(key)
	if r.fields[k] {
		return true
	}
	// GoHighLevel repeats some fields in lower case: emailLowerCase.
	if base, ok := strings.CutSuffix(k, "lowercase"); ok && r.fields[base] {
		return true
	}
	// Custom field keys look like "contact.email".
	if i := strings.LastIndexByte(k, '.'); i >= 0 && r.fields[k[i+1:]] {
		return true
	}
	return false
}

// Value returns a redacted deep copy of a decoded JSON value.
func (r *Redactor) Value(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, val := range x {
			if r.maskKey(k) && val != nil {
				out[k] = Mask
				continue
			}
			out[k] = r.Value(val)
		}
		// A custom field item names its field in "key", "fieldKey", "name"
		// or "id" and carries the value beside it.
		if r.customFieldItem(x) {
			for _, vk := range []string{"field_value", "fieldValue", "value"} {
				if _, ok := out[vk]; ok {
					out[vk] = Mask
				}
			}
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, val := range x {
			out[i] = r.Value(val)
		}
		return out
	case string:
		return bearer.ReplaceAllString(x, "Bearer "+Mask)
	default:
		return v
	}
}

func (r *Redactor) customFieldItem(m map[string]any) bool {
	for _, nk := range []string{"key", "fieldKey", "name"} {
		if s, ok := m[nk].(string); ok && r.maskKey(s) {
			return true
		}
	}
	return false
}

// JSON redacts a JSON document. A body that is not JSON is returned with
// bearer tokens masked.
func (r *Redactor) JSON(b []byte) []byte {
	if len(bytes.TrimSpace(b)) == 0 {
		return b
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return bearer.ReplaceAll(b, []byte("Bearer "+Mask))
	}
	out, err := json.Marshal(r.Value(v))
	if err != nil {
		return []byte(`"` + Mask + `"`)
	}
	return out
}

// Headers returns a redacted copy of a header map.
func (r *Redactor) Headers(h map[string]string) map[string]string {
	out := make(map[string]string, len(h))
	for k, v := range h {
		if r.maskKey(k) || strings.EqualFold(k, "x-api-key") {
			out[k] = Mask
			continue
		}
		out[k] = bearer.ReplaceAllString(v, "Bearer "+Mask)
	}
	return out
}

// Query returns a redacted copy of URL query values.
func (r *Redactor) Query(q url.Values) url.Values {
	out := make(url.Values, len(q))
	for k, vs := range q {
		if r.maskKey(k) {
			out[k] = []string{Mask}
			continue
		}
		out[k] = append([]string(nil), vs...)
	}
	return out
}

// Text masks bearer tokens and the given literal secrets in free text such
// as an error message.
func (r *Redactor) Text(s string, secrets ...string) string {
	for _, sec := range secrets {
		if len(sec) >= 6 {
			s = strings.ReplaceAll(s, sec, Mask)
		}
	}
	return bearer.ReplaceAllString(s, "Bearer "+Mask)
}
