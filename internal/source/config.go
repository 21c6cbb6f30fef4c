package source

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ghlsync/ghlsync/internal/textdist"
)

// config reads one source's trigger.webhook mapping, remembering which keys
// were used so unknown (misspelt) keys can be reported.
type config struct {
	m    map[string]any
	used map[string]bool
}

// ignoredKeys belong to the trigger, not to the source.
var ignoredKeys = []string{"source", "path"}

func newConfig(m map[string]any) *config {
	c := &config{m: m, used: map[string]bool{}}
	for _, k := range ignoredKeys {
		c.used[k] = true
	}
	return c
}

// finish reports keys nobody asked for.
func (c *config) finish() error {
	var unknown, known []string
	for k := range c.m {
		if !c.used[k] {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	for k := range c.used {
		if k != "source" && k != "path" {
			known = append(known, k)
		}
	}
	sort.Strings(unknown)
	sort.Strings(known)
	return fmt.Errorf("unknown key %q (known keys: %s)", unknown[0], strings.Join(known, ", "))
}

func (c *config) get(key string) (any, bool) {
	c.used[key] = true
	v, ok := c.m[key]
	if ok && v == nil {
		return nil, false
	}
	return v, ok
}

func (c *config) str(key, def string) (string, error) {
	v, ok := c.get(key)
	if !ok {
		return def, nil
	}
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("%s: want a string, got %T", key, v)
	}
	return s, nil
}

func (c *config) boolean(key string) (bool, error) {
	v, ok := c.get(key)
	if !ok {
		return false, nil
	}
	switch b := v.(type) {
	case bool:
		return b, nil
	case string:
		p, err := strconv.ParseBool(b)
		if err == nil {
			return p, nil
		}
	}
	return false, fmt.Errorf("%s: want true or false, got %v", key, v)
}

// strings accepts a single string or a list of strings.
func (c *config) strs(key string) ([]string, error) {
	v, ok := c.get(key)
	if !ok {
		return nil, nil
	}
	switch t := v.(type) {
	case string:
		return []string{t}, nil
	case []string:
		return t, nil
	case []any:
		out := make([]string, 0, len(t))
		for i, e := range t {
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("%s[%d]: want a string, got %T", key, i, e)
			}
			out = append(out, s)
		}
		return out, nil
	}
	return nil, fmt.Errorf("%s: want a string or a list of strings, got %T", key, v)
}

// duration accepts a Go duration string ("5m") or a number of seconds.
func (c *config) duration(key string, def time.Duration) (time.Duration, error) {
	v, ok := c.get(key)
	if !ok {
		return def, nil
	}
	var d time.Duration
	switch t := v.(type) {
	case string:
		p, err := time.ParseDuration(t)
		if err != nil {
			return 0, fmt.Errorf("%s: %q is not a duration like 5m or 300s", key, t)
		}
		d = p
	case int:
		d = time.Duration(t) * time.Second
	case int64:
		d = time.Duration(t) * time.Second
	case uint64:
		d = time.Duration(t) * time.Second
	case float64:
		d = time.Duration(t * float64(time.Second))
	default:
		return 0, fmt.Errorf("%s: want a duration like 5m, got %T", key, v)
	}
	if d <= 0 {
		return 0, fmt.Errorf("%s: must be positive, got %v", key, v)
	}
	return d, nil
}

// secretRefs reads `secret` and `secrets` (several during a rotation) and
// resolves them. Errors name the reference only when it is a reference
// ("env:NAME"), never a literal value.
func (c *config) secretRefs(lookup SecretLookup) ([]string, error) {
	one, err := c.strs("secret")
	if err != nil {
		return nil, err
	}
	many, err := c.strs("secrets")
	if err != nil {
		return nil, err
	}
	refs := append(one, many...)
	out := make([]string, 0, len(refs))
	for i, ref := range refs {
		v, err := lookup(ref)
		if err != nil {
			return nil, fmt.Errorf("secret #%d (%s): %w", i+1, describeRef(ref), err)
		}
		if v == "" {
			return nil, fmt.Errorf("secret #%d (%s) is empty", i+1, describeRef(ref))
		}
		out = append(out, v)
	}
	return out, nil
}

var refPattern = regexp.MustCompile(`^[a-z][a-z0-9+.-]*:[^\s]`)

// isRef reports whether a configured value is a reference such as
// "env:NAME", "file:/path" or "vault:name" rather than a literal value.
func isRef(v string) bool {
	return refPattern.MatchString(v) && !strings.HasPrefix(v, "literal:")
}

// describeRef names a secret reference without revealing a literal secret.
func describeRef(ref string) string {
	if isRef(ref) {
		return ref
	}
	return "literal value"
}

// typeFilter reads `types:` and checks each against known (when not nil).
func (c *config) typeFilter(known []string) (map[string]bool, error) {
	types, err := c.strs("types")
	if err != nil {
		return nil, err
	}
	if len(types) == 0 {
		return nil, nil
	}
	set := map[string]bool{}
	for i, t := range types {
		if known != nil && !contains(known, t) {
			hint := ""
			if s := closest(t, known); s != "" {
				hint = fmt.Sprintf(" (did you mean %q?)", s)
			}
			return nil, fmt.Errorf("types[%d]: unknown event type %q%s", i, t, hint)
		}
		set[t] = true
	}
	return set, nil
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

// closest returns the candidate that matches s case-insensitively, or that
// is within a small edit distance of it.
func closest(s string, candidates []string) string {
	return textdist.Closest(s, candidates, 3)
}

// decodeStandardSecret turns a Standard Webhooks secret ("whsec_<base64>")
// into key bytes. A secret without the prefix is used as raw bytes, like
// the reference libraries' raw-key option.
func decodeStandardSecret(s string) ([]byte, error) {
	if !strings.HasPrefix(s, "whsec_") {
		return []byte(s), nil
	}
	b64 := strings.TrimPrefix(s, "whsec_")
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if k, err := enc.DecodeString(b64); err == nil && len(k) > 0 {
			return k, nil
		}
	}
	return nil, fmt.Errorf("a whsec_ secret must be followed by base64 key bytes")
}

// decodeSig decodes a signature in the given encoding ("hex" or "base64",
// either base64 alphabet, padded or not).
func decodeSig(s, encoding string) ([]byte, bool) {
	s = strings.TrimSpace(s)
	if encoding == "hex" {
		b, err := hex.DecodeString(s)
		return b, err == nil
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return b, true
		}
	}
	return nil, false
}
