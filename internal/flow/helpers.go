package flow

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ghlsync/ghlsync/internal/ghl"
)

// helper is one function available in expressions. Types declare the
// accepted signatures so the checker rejects wrong argument counts at load.
type helper struct {
	name  string
	fn    func(args ...any) (any, error)
	types []any
	doc   string
}

// Helpers are nil-tolerant: given nil (a missing JSON key) they return nil,
// so the mapped field is left out of the request instead of failing the run.
var helpers = []helper{
	{"phone", hPhone, []any{new(func(any) any), new(func(any, string) any)},
		"phone(v[, region]) → E.164 string (+15551234567); nil for nil/empty; error if not a phone number"},
	{"validPhone", hValidPhone, []any{new(func(any) bool), new(func(any, string) bool)},
		"validPhone(v[, region]) → true when phone(v) would succeed"},
	{"default", hDefault, []any{new(func(any, any) any)},
		"default(v, fallback) → v unless it is nil, empty or blank"},
	{"coalesce", hCoalesce, []any{new(func(...any) any)},
		"coalesce(a, b, ...) → the first argument that is not nil, empty or blank"},
	{"has", hHas, []any{new(func(any) bool)},
		"has(v) → true when v is present and not empty (has(event.contact.email))"},
	{"join", hJoin, []any{new(func(any) string), new(func(any, string) string)},
		"join(list[, sep]) → the non-empty items joined by sep (default \", \")"},
	{"split", hSplit, []any{new(func(any) any), new(func(any, string) any)},
		"split(s[, sep]) → the trimmed, non-empty parts of s split on sep (default \",\")"},
	{"lower", stringHelper(strings.ToLower), []any{new(func(any) any)}, "lower(s)"},
	{"upper", stringHelper(strings.ToUpper), []any{new(func(any) any)}, "upper(s)"},
	{"trim", stringHelper(strings.TrimSpace), []any{new(func(any) any)}, "trim(s)"},
	{"lookup", hLookup, []any{new(func(any, any) any), new(func(any, any, any) any)},
		"lookup(map, key[, default]) → map[key] (exact, then case-insensitive), else default"},
	{"first", hFirst, []any{new(func(any) any)}, "first(list) → the first item, nil for an empty list"},
	{"last", hLast, []any{new(func(any) any)}, "last(list) → the last item, nil for an empty list"},
	{"number", hNumber, []any{new(func(any) any)},
		"number(v) → a number from 42, \"1,234.50\" or \"$49\"; error for text that is not a number"},
	{"validNumber", hValidNumber, []any{new(func(any) bool)},
		"validNumber(v) → true when number(v) would give a number (\"1,234.50\", \"$49\"; not \"abc\", \"1e400\", nil)"},
	{"parseTime", hParseTime, []any{new(func(any) any), new(func(any, string) any)},
		"parseTime(v[, zone]) → a time from RFC 3339, a wall clock read in zone (default UTC) or epoch s/ms"},
	{"inZone", hInZone, []any{new(func(any, string) any)},
		"inZone(t, zone) → the same instant shown in zone"},
	{"addDays", hAddDays, []any{new(func(any, any) any)},
		"addDays(t, n) → n calendar days later, same wall clock in t's zone"},
	{"addDuration", hAddDuration, []any{new(func(any, string) any)},
		"addDuration(t, \"90m\") → t plus a Go duration; a \"3d\" part adds calendar days"},
	{"atTime", hAtTime, []any{new(func(any, string) any)},
		"atTime(t, \"09:00\") → the same day in t's zone at that wall clock"},
	{"startOfDay", hStartOfDay, []any{new(func(any) any)}, "startOfDay(t) → midnight of t's day in t's zone"},
	{"formatTime", hFormatTime, []any{new(func(any, string) any), new(func(any, string, string) any)},
		"formatTime(t, layout[, zone]) → text; layout is a Go layout or date, datetime, rfc3339"},
	{"rfc3339", hRFC3339, []any{new(func(any) any), new(func(any, string) any)},
		"rfc3339(v[, zone]) → \"2026-03-02T09:00:00-05:00\": RFC 3339 with the zone's offset"},
	{"dateOnly", hDateOnly, []any{new(func(any) any), new(func(any, string) any)},
		"dateOnly(v[, zone]) → \"2026-03-02\""},
	{"epochMillis", hEpochMillis, []any{new(func(any) any)}, "epochMillis(v) → milliseconds since 1970"},
}

// HelperDocs lists every expression helper with a one-line description, in
// documentation order.
func HelperDocs() []string {
	out := make([]string, len(helpers))
	for i, h := range helpers {
		out[i] = h.doc
	}
	return out
}

// isEmpty reports whether a mapped value carries nothing: nil, a blank
// string, or an empty list or map. Zero and false are values.
func isEmpty(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case string:
		return strings.TrimSpace(x) == ""
	case []any:
		return len(x) == 0
	case []string:
		return len(x) == 0
	case map[string]any:
		return len(x) == 0
	case time.Time:
		return x.IsZero()
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Slice, reflect.Map, reflect.Array:
		return rv.Len() == 0
	case reflect.Pointer, reflect.Interface:
		return rv.IsNil()
	}
	return false
}

// toString renders a scalar the way it should appear in a URL or a text
// field: integers without exponent, times in RFC 3339.
func toString(v any) (string, error) {
	switch x := v.(type) {
	case nil:
		return "", nil
	case string:
		return x, nil
	case bool:
		return strconv.FormatBool(x), nil
	case int:
		return strconv.Itoa(x), nil
	case int64:
		return strconv.FormatInt(x, 10), nil
	case float64:
		return formatFloat(x), nil
	case json.Number:
		return x.String(), nil
	case time.Time:
		return x.Format(time.RFC3339), nil
	case time.Duration:
		return x.String(), nil
	case fmt.Stringer:
		return x.String(), nil
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.FormatInt(rv.Int(), 10), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return strconv.FormatUint(rv.Uint(), 10), nil
	case reflect.Float32:
		return formatFloat(rv.Float()), nil
	}
	return "", fmt.Errorf("expected text, got %s", describe(v))
}

func formatFloat(f float64) string {
	if f == math.Trunc(f) && math.Abs(f) < 1e15 {
		return strconv.FormatInt(int64(f), 10)
	}
	return strconv.FormatFloat(f, 'f', -1, 64)
}

// describe names a value's kind for error messages without echoing large or
// sensitive content.
func describe(v any) string {
	switch v.(type) {
	case nil:
		return "nothing (nil)"
	case string:
		return "text"
	case bool:
		return "a boolean"
	case map[string]any:
		return "an object"
	case []any, []string:
		return "a list"
	case time.Time:
		return "a time"
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Map, reflect.Struct:
		return "an object"
	case reflect.Slice, reflect.Array:
		return "a list"
	}
	return fmt.Sprintf("a %T", v)
}

// toList turns a list of any element type into []any; nil stays nil.
func toList(v any) ([]any, bool) {
	switch x := v.(type) {
	case nil:
		return nil, true
	case []any:
		return x, true
	case []string:
		out := make([]any, len(x))
		for i, s := range x {
			out[i] = s
		}
		return out, true
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() == reflect.Slice || rv.Kind() == reflect.Array {
		out := make([]any, rv.Len())
		for i := range out {
			out[i] = rv.Index(i).Interface()
		}
		return out, true
	}
	return nil, false
}

func argString(name string, v any) (string, error) {
	s, err := toString(v)
	if err != nil {
		return "", fmt.Errorf("%s: %w", name, err)
	}
	return s, nil
}

func optString(args []any, i int) string {
	if i >= 0 && i < len(args) {
		s, _ := toString(args[i])
		return s
	}
	return ""
}

func hPhone(args ...any) (any, error) {
	if isEmpty(args[0]) {
		return nil, nil
	}
	s, err := argString("phone", args[0])
	if err != nil {
		return nil, err
	}
	out, err := normalizePhone(s, optString(args, 1))
	if err != nil {
		return nil, fmt.Errorf("phone: %w", err)
	}
	return out, nil
}

func hValidPhone(args ...any) (any, error) {
	if isEmpty(args[0]) {
		return false, nil
	}
	s, err := toString(args[0])
	if err != nil {
		return false, nil
	}
	_, err = normalizePhone(s, optString(args, 1))
	return err == nil, nil
}

func hDefault(args ...any) (any, error) {
	if isEmpty(args[0]) {
		return args[1], nil
	}
	return args[0], nil
}

func hCoalesce(args ...any) (any, error) {
	for _, a := range args {
		if !isEmpty(a) {
			return a, nil
		}
	}
	return nil, nil
}

func hHas(args ...any) (any, error) { return !isEmpty(args[0]), nil }

func flatten(v any, out []string) ([]string, error) {
	if l, ok := toList(v); ok && v != nil {
		for _, it := range l {
			var err error
			if out, err = flatten(it, out); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	if isEmpty(v) {
		return out, nil
	}
	s, err := toString(v)
	if err != nil {
		return nil, err
	}
	if s = strings.TrimSpace(s); s != "" {
		out = append(out, s)
	}
	return out, nil
}

func hJoin(args ...any) (any, error) {
	sep := ", "
	if len(args) > 1 {
		sep = optString(args, 1)
	}
	parts, err := flatten(args[0], nil)
	if err != nil {
		return nil, fmt.Errorf("join: %w", err)
	}
	return strings.Join(parts, sep), nil
}

func hSplit(args ...any) (any, error) {
	if isEmpty(args[0]) {
		return nil, nil
	}
	sep := ","
	if len(args) > 1 {
		sep = optString(args, 1)
	}
	s, err := argString("split", args[0])
	if err != nil {
		return nil, err
	}
	var out []any
	var pieces []string
	if sep == "" {
		pieces = strings.Fields(s)
	} else {
		pieces = strings.Split(s, sep)
	}
	for _, p := range pieces {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out, nil
}

func stringHelper(f func(string) string) func(args ...any) (any, error) {
	return func(args ...any) (any, error) {
		if args[0] == nil {
			return nil, nil
		}
		s, err := toString(args[0])
		if err != nil {
			return nil, err
		}
		return f(s), nil
	}
}

func hLookup(args ...any) (any, error) {
	var def any
	if len(args) > 2 {
		def = args[2]
	}
	if args[0] == nil || args[1] == nil {
		return def, nil
	}
	key, err := argString("lookup", args[1])
	if err != nil {
		return nil, err
	}
	m, ok := args[0].(map[string]any)
	if !ok {
		rv := reflect.ValueOf(args[0])
		if rv.Kind() != reflect.Map || rv.Type().Key().Kind() != reflect.String {
			return nil, fmt.Errorf("lookup: expected an object to look %q up in, got %s", key, describe(args[0]))
		}
		m = map[string]any{}
		for _, k := range rv.MapKeys() {
			m[k.String()] = rv.MapIndex(k).Interface()
		}
	}
	if v, ok := m[key]; ok {
		return v, nil
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if strings.EqualFold(k, key) {
			return m[k], nil
		}
	}
	return def, nil
}

func hFirst(args ...any) (any, error) {
	l, ok := toList(args[0])
	if !ok {
		return args[0], nil // a single value is its own first item
	}
	if len(l) == 0 {
		return nil, nil
	}
	return l[0], nil
}

func hLast(args ...any) (any, error) {
	l, ok := toList(args[0])
	if !ok {
		return args[0], nil
	}
	if len(l) == 0 {
		return nil, nil
	}
	return l[len(l)-1], nil
}

var numberJunk = regexp.MustCompile(`[\s,_$€£¥]|^[A-Z]{3}|[A-Z]{3}$`)

// parseNumber reads numbers the way people write amounts: "1,234.50",
// "$49", "USD 49", " 12 ".
func parseNumber(v any) (float64, bool, error) {
	switch x := v.(type) {
	case nil:
		return 0, false, nil
	case int:
		return float64(x), true, nil
	case int64:
		return float64(x), true, nil
	case float64:
		if math.IsInf(x, 0) || math.IsNaN(x) {
			return 0, false, fmt.Errorf("%v is not a finite number", x)
		}
		return x, true, nil
	case json.Number:
		f, err := x.Float64()
		if err != nil {
			return 0, false, fmt.Errorf("%q is not a number", x)
		}
		return f, true, nil
	case bool:
		return 0, false, fmt.Errorf("expected a number, got a boolean")
	case string:
		s := strings.TrimSpace(x)
		if s == "" {
			return 0, false, nil
		}
		neg := false
		if strings.HasPrefix(s, "(") && strings.HasSuffix(s, ")") { // accounting negative
			neg, s = true, s[1:len(s)-1]
		}
		s = numberJunk.ReplaceAllString(strings.ToUpper(s), "")
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			return 0, false, fmt.Errorf("%q is not a number", x)
		}
		if neg {
			f = -f
		}
		return f, true, nil
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return float64(rv.Int()), true, nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return float64(rv.Uint()), true, nil
	case reflect.Float32:
		if f := rv.Float(); !math.IsInf(f, 0) && !math.IsNaN(f) {
			return f, true, nil
		}
		return 0, false, fmt.Errorf("%v is not a finite number", v)
	}
	return 0, false, fmt.Errorf("expected a number, got %s", describe(v))
}

// numberValue returns an int when the number is whole, so JSON shows 49,
// not 49.0.
func numberValue(f float64) any {
	if f == math.Trunc(f) && math.Abs(f) < 1<<53 {
		return int(f)
	}
	return f
}

func hNumber(args ...any) (any, error) {
	f, ok, err := parseNumber(args[0])
	if err != nil {
		return nil, fmt.Errorf("number: %w", err)
	}
	if !ok {
		return nil, nil
	}
	return numberValue(f), nil
}

// hValidNumber tests what number() would do, with the same parsing: false
// for nil and blank text (number gives nil) as for text that is not a
// number, so `validNumber(x) ? number(x) : nil` never fails the run.
func hValidNumber(args ...any) (any, error) {
	_, ok, err := parseNumber(args[0])
	return ok && err == nil, nil
}

// toTime reads v as a time; wall clocks are read in zone. ok is false for nil.
func toTime(v any, zone string) (time.Time, bool, error) {
	loc, err := loadZone(zone)
	if err != nil {
		return time.Time{}, false, err
	}
	switch x := v.(type) {
	case nil:
		return time.Time{}, false, nil
	case time.Time:
		if zone != "" {
			return x.In(loc), true, nil
		}
		return x, true, nil
	case string:
		if strings.TrimSpace(x) == "" {
			return time.Time{}, false, nil
		}
		if n, err := strconv.ParseFloat(strings.TrimSpace(x), 64); err == nil && len(strings.TrimSpace(x)) >= 9 {
			return epochTime(n, loc), true, nil
		}
		t, err := parseTimeString(x, loc)
		return t, err == nil, err
	}
	f, ok, err := parseNumber(v)
	if err != nil || !ok {
		return time.Time{}, false, fmt.Errorf("expected a time, got %s", describe(v))
	}
	return epochTime(f, loc), true, nil
}

func timeArg(name string, args []any, zoneArg int) (time.Time, bool, error) {
	t, ok, err := toTime(args[0], optString(args, zoneArg))
	if err != nil {
		return t, ok, fmt.Errorf("%s: %w", name, err)
	}
	return t, ok, nil
}

func hParseTime(args ...any) (any, error) {
	t, ok, err := timeArg("parseTime", args, 1)
	if err != nil || !ok {
		return nil, err
	}
	return t, nil
}

func hInZone(args ...any) (any, error) {
	t, ok, err := timeArg("inZone", args, 1)
	if err != nil || !ok {
		return nil, err
	}
	return t, nil
}

func hAddDays(args ...any) (any, error) {
	t, ok, err := timeArg("addDays", args, -1)
	if err != nil || !ok {
		return nil, err
	}
	n, okN, err := parseNumber(args[1])
	if err != nil || !okN || n != math.Trunc(n) || math.Abs(n) > 1e6 {
		return nil, fmt.Errorf("addDays: expected a whole number of days, got %v", args[1])
	}
	return t.AddDate(0, 0, int(n)), nil
}

var dayPart = regexp.MustCompile(`^(-?)(\d+)d(.*)$`)

func hAddDuration(args ...any) (any, error) {
	t, ok, err := timeArg("addDuration", args, -1)
	if err != nil || !ok {
		return nil, err
	}
	s := strings.TrimSpace(optString(args, 1))
	days := 0
	if m := dayPart.FindStringSubmatch(s); m != nil {
		days, _ = strconv.Atoi(m[2])
		if days > 1e6 {
			return nil, fmt.Errorf("addDuration: %q is too long", s)
		}
		if m[1] == "-" {
			days = -days
			if m[3] != "" && !strings.HasPrefix(m[3], "-") {
				m[3] = "-" + m[3]
			}
		}
		s = m[3]
	}
	var d time.Duration
	if s != "" {
		if d, err = time.ParseDuration(s); err != nil {
			return nil, fmt.Errorf("addDuration: %q is not a duration (expected forms like 90m, 2h30m, 3d, -1d12h)", optString(args, 1))
		}
	}
	return t.AddDate(0, 0, days).Add(d), nil
}

func hAtTime(args ...any) (any, error) {
	t, ok, err := timeArg("atTime", args, -1)
	if err != nil || !ok {
		return nil, err
	}
	clock := strings.TrimSpace(optString(args, 1))
	var c time.Time
	for _, l := range []string{"15:04", "15:04:05", "3:04pm", "3pm"} {
		if c, err = time.Parse(l, strings.ToLower(clock)); err == nil {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("atTime: %q is not a time of day (expected 09:00 or 17:30:00)", clock)
	}
	return time.Date(t.Year(), t.Month(), t.Day(), c.Hour(), c.Minute(), c.Second(), 0, t.Location()), nil
}

func hStartOfDay(args ...any) (any, error) {
	t, ok, err := timeArg("startOfDay", args, -1)
	if err != nil || !ok {
		return nil, err
	}
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, t.Location()), nil
}

var namedLayouts = map[string]string{
	"date":     "2006-01-02",
	"datetime": "2006-01-02 15:04:05",
	"time":     "15:04",
	"rfc3339":  time.RFC3339,
}

func hFormatTime(args ...any) (any, error) {
	t, ok, err := timeArg("formatTime", args, 2)
	if err != nil || !ok {
		return nil, err
	}
	layout := optString(args, 1)
	if l, ok := namedLayouts[layout]; ok {
		layout = l
	}
	return t.Format(layout), nil
}

func hRFC3339(args ...any) (any, error) {
	// Wall-clock text in a zone goes through the client's own rule, so a
	// flow and the client agree on offsets and daylight-saving gaps.
	if s, isText := args[0].(string); isText && len(args) > 1 && strings.TrimSpace(s) != "" {
		out, err := ghl.AppointmentTime(s, optString(args, 1))
		if err == nil {
			return out, nil
		}
		if _, _, err2 := toTime(s, optString(args, 1)); err2 != nil {
			return nil, fmt.Errorf("rfc3339: %w", err)
		}
	}
	t, ok, err := timeArg("rfc3339", args, 1)
	if err != nil || !ok {
		return nil, err
	}
	return t.Format(time.RFC3339), nil
}

func hDateOnly(args ...any) (any, error) {
	t, ok, err := timeArg("dateOnly", args, 1)
	if err != nil || !ok {
		return nil, err
	}
	return t.Format("2006-01-02"), nil
}

func hEpochMillis(args ...any) (any, error) {
	t, ok, err := timeArg("epochMillis", args, -1)
	if err != nil || !ok {
		return nil, err
	}
	return int(t.UnixMilli()), nil
}
