package source

import (
	"bytes"
	"encoding/base64"
	"net/http"
	"strings"
)

// Redacted replaces a credential in recorded headers and captured bodies.
const Redacted = "[redacted]"

// sensitiveHeader reports whether a header carries credentials rather than
// data: such headers are never recorded. Signature headers are kept: a
// signature reveals nothing about its key and lets an operator re-check it.
func sensitiveHeader(name string) bool {
	n := strings.ToLower(name)
	switch n {
	case "authorization", "proxy-authorization", "cookie", "set-cookie":
		return true
	}
	for _, frag := range []string{"token", "secret", "password", "passwd", "api-key", "apikey", "session", "auth", "credential", "private"} {
		if strings.Contains(n, frag) {
			return true
		}
	}
	return false
}

// recordHeaders returns the named headers (all of them when names is nil),
// lower-cased, with sensitive headers and any value containing one of the
// secret forms redacted. Repeated headers are joined with ", ".
func recordHeaders(h http.Header, names []string, forms []string) map[string]string {
	out := map[string]string{}
	add := func(name string, vals []string) {
		if len(vals) == 0 {
			return
		}
		key := strings.ToLower(name)
		v := strings.Join(vals, ", ")
		if sensitiveHeader(key) || containsSecret(v, forms) {
			v = Redacted
		}
		out[key] = v
	}
	if names == nil {
		for k, v := range h {
			add(k, v)
		}
		return out
	}
	for _, n := range names {
		add(n, h.Values(n))
	}
	return out
}

// secretForms lists the strings under which a secret could leak: the value
// itself and, for a whsec_ secret, its base64 key.
func secretForms(secrets []string) []string {
	var forms []string
	for _, s := range secrets {
		if len(s) < 6 { // too short to search for without false hits
			continue
		}
		forms = append(forms, s)
		if b64, ok := strings.CutPrefix(s, "whsec_"); ok && len(b64) >= 6 {
			forms = append(forms, b64)
			if k, err := base64.StdEncoding.DecodeString(b64); err == nil && len(k) >= 6 {
				forms = append(forms, string(k))
			}
		}
	}
	return forms
}

func containsSecret(v string, forms []string) bool {
	for _, f := range forms {
		if strings.Contains(v, f) {
			return true
		}
	}
	return false
}

// redactBody replaces any secret found in a captured body. It returns the
// body unchanged (same slice) when there is nothing to redact.
func redactBody(body []byte, forms []string) ([]byte, bool) {
	out, changed := body, false
	for _, f := range forms {
		if bytes.Contains(out, []byte(f)) {
			out = bytes.ReplaceAll(out, []byte(f), []byte(Redacted))
			changed = true
		}
	}
	return out, changed
}
