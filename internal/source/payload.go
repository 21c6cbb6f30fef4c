package source

import (
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"time"
)

// Lookup returns the value at a dotted path ("data.notification.id") in a
// decoded payload, and whether it exists.
func Lookup(payload map[string]any, path string) (any, bool) {
	var cur any = payload
	for _, part := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		cur, ok = m[part]
		if !ok {
			return nil, false
		}
	}
	return cur, true
}

// lookupString returns the string (or number, as written) at path, or "".
func lookupString(payload map[string]any, path string) string {
	v, ok := Lookup(payload, path)
	if !ok {
		return ""
	}
	switch t := v.(type) {
	case string:
		return t
	case json.Number:
		return t.String()
	}
	return ""
}

// parseTime reads an event time: an RFC 3339 string (with or without
// fractional seconds), or a Unix time in seconds or milliseconds.
func parseTime(v any) (time.Time, bool) {
	switch t := v.(type) {
	case string:
		s := strings.TrimSpace(t)
		for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999Z0700", "2006-01-02 15:04:05Z07:00"} {
			if ts, err := time.Parse(layout, s); err == nil {
				return ts.UTC(), true
			}
		}
		if n, err := strconv.ParseFloat(s, 64); err == nil {
			return unixTime(n)
		}
	case json.Number:
		if n, err := t.Float64(); err == nil {
			return unixTime(n)
		}
	case float64:
		return unixTime(t)
	}
	return time.Time{}, false
}

// unixTime interprets n as seconds, or as milliseconds when it is too large
// to be seconds (after the year 5138).
func unixTime(n float64) (time.Time, bool) {
	if math.IsNaN(n) || math.IsInf(n, 0) || n <= 0 {
		return time.Time{}, false
	}
	if n > 1e11 {
		n /= 1000
	}
	if n > 1e11 {
		return time.Time{}, false
	}
	sec, frac := math.Modf(n)
	return time.Unix(int64(sec), int64(frac*1e9)).UTC(), true
}
