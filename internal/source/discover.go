package source

import (
	"crypto/hmac"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"
)

// discoverSchemes tries the common webhook signature conventions against a
// captured delivery and describes every one that matches, so an operator
// can confirm how a sender signs without guessing. It tries Standard
// Webhooks, then HMAC-SHA256 of the body in every header whose name
// mentions a signature, in hex or base64, with or without a "label="
// prefix, keyed by each secret as written and, for whsec_ secrets, by the
// decoded key. The result never contains a secret.
func discoverSchemes(h http.Header, body []byte, secrets []string, tolerance time.Duration, now time.Time) []string {
	var found []string
	type key struct {
		b    []byte
		desc string
	}
	var keys []key
	for i, sec := range secrets {
		keys = append(keys, key{[]byte(sec), fmt.Sprintf("secret #%d as written", i+1)})
		if strings.HasPrefix(sec, "whsec_") {
			if k, err := decodeStandardSecret(sec); err == nil {
				keys = append(keys, key{k, fmt.Sprintf("secret #%d base64-decoded", i+1)})
			}
		}
	}
	if _, _, sig := standardHeaders(h); sig != "" {
		for _, k := range keys {
			idx, _, err := verifyStandard(h, body, [][]byte{k.b}, tolerance, now)
			if idx == 0 {
				msg := "standard-webhooks matches with " + k.desc
				if err != nil {
					msg += " (but: " + err.Msg + ")"
				}
				found = append(found, msg)
			}
		}
	}
	var names []string
	for name := range h {
		n := strings.ToLower(name)
		if n == HeaderWebhookSignature || n == "svix-signature" {
			continue
		}
		if strings.Contains(n, "sign") || strings.Contains(n, "hmac") || strings.Contains(n, "digest") {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	for _, name := range names {
		for _, part := range strings.FieldsFunc(h.Get(name), func(r rune) bool { return r == ' ' || r == ',' }) {
			prefix, val := "", part
			if i := strings.IndexAny(part, "=:"); i > 0 && i < len(part)-1 && i <= 10 {
				prefix, val = part[:i+1], part[i+1:]
			}
			for _, enc := range []string{"hex", "base64"} {
				got, ok := decodeSig(val, enc)
				if !ok || len(got) != 32 {
					continue
				}
				for _, k := range keys {
					if hmac.Equal(got, hmacSHA256(k.b, body)) {
						desc := fmt.Sprintf("header %s matches HMAC-SHA256 of the body, %s", name, enc)
						if prefix != "" {
							desc += fmt.Sprintf(", prefix %q", prefix)
						}
						found = append(found, desc+", with "+k.desc)
					}
				}
			}
		}
	}
	if len(found) == 0 {
		return []string{"no known scheme matched (tried standard-webhooks and HMAC-SHA256 of the body in signature headers)"}
	}
	return found
}
