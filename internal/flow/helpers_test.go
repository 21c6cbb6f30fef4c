package flow

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// evalExpr compiles and runs one expression the way a mapping does.
func evalExpr(t *testing.T, src string, env *Env) (any, error) {
	t.Helper()
	c, cerr := compileExpr(src, Position{File: "t.yaml", Line: 1, Column: 1})
	if cerr != nil {
		t.Fatalf("compile %q: %v", src, cerr)
	}
	v, err := c.run(env.view("t"))
	return normalizeOut(v), err
}

func TestHelpers(t *testing.T) {
	t.Parallel()
	env := testEnv(t, `{"phone": "415.555.2671", "uk": "020 7946 0958", "name": "  Ana ", "list": ["a", "", null, ["b", "c"]],
		"csv": "x, y,,z", "map": {"Visual": "design", "source": "code"}, "n": "1,234.50", "ts": "2026-03-07T09:00:00-05:00",
		"local": "2026-03-08 02:30", "ms": 1767225600000, "zero": 0, "f": false}`)
	tests := []struct {
		src  string
		want any
	}{
		{`phone(event.phone)`, "+14155552671"},
		{`phone(event.uk, "GB")`, "+442079460958"},
		{`phone(event.missing)`, nil},
		{`phone("")`, nil},
		{`validPhone(event.phone)`, true},
		{`validPhone("12")`, false},
		{`validPhone(nil)`, false},
		{`default(event.missing, "x")`, "x"},
		{`default("  ", "x")`, "x"},
		{`default(event.zero, 5)`, 0},
		{`default(event.f, true)`, false},
		{`coalesce(event.a, "", [], event.name)`, "  Ana "},
		{`coalesce(nil, nil)`, nil},
		{`has(event.name)`, true},
		{`has(event.missing.deeper)`, false},
		{`has("")`, false},
		{`join(event.list)`, "a, b, c"},
		{`join(event.list, "|")`, "a|b|c"},
		{`join(nil)`, ""},
		{`split(event.csv)`, []any{"x", "y", "z"}},
		{`split("a b  c", "")`, []any{"a", "b", "c"}},
		{`split(nil)`, nil},
		{`lower(event.name)`, "  ana "},
		{`upper(trim(event.name))`, "ANA"},
		{`trim(event.missing)`, nil},
		{`lower(42)`, "42"},
		{`lookup(event.map, "visual")`, "design"},
		{`lookup(event.map, "Visual")`, "design"},
		{`lookup(event.map, "keyword", "other")`, "other"},
		{`lookup(nil, "x", "d")`, "d"},
		{`lookup({"a": 1}, event.missing, 0)`, 0},
		{`first(event.list)`, "a"},
		{`last(event.list)`, []any{"b", "c"}},
		{`first([])`, nil},
		{`first("solo")`, "solo"},
		{`number(event.n)`, 1234.5},
		{`number("$49")`, 49},
		{`number("USD 1 000")`, 1000},
		{`number("(12)")`, -12},
		{`number(nil)`, nil},
		{`rfc3339(event.ts)`, "2026-03-07T14:00:00Z"},
		{`rfc3339(event.ts, "America/New_York")`, "2026-03-07T09:00:00-05:00"},
		{`rfc3339("2026-07-01 09:00", "America/New_York")`, "2026-07-01T09:00:00-04:00"},
		{`rfc3339(addDays(parseTime(event.ts, "America/New_York"), 1))`, "2026-03-08T09:00:00-04:00"},
		{`rfc3339(addDuration(parseTime(event.ts, "America/New_York"), "1d2h30m"))`, "2026-03-08T11:30:00-04:00"},
		{`rfc3339(addDuration(parseTime(event.ts, "UTC"), "-1d"))`, "2026-03-06T14:00:00Z"},
		{`rfc3339(atTime(addDays(inZone(meta.received_at, connection.timezone), 2), "09:00"))`, "2026-03-08T09:00:00-04:00"},
		{`rfc3339(startOfDay(inZone(now, "Asia/Tokyo")))`, "2026-03-07T00:00:00+09:00"},
		{`dateOnly(event.ts, "Asia/Tokyo")`, "2026-03-07"},
		{`dateOnly("03/02/2026")`, "2026-03-02"},
		{`formatTime(event.ts, "datetime", "Europe/Lisbon")`, "2026-03-07 14:00:00"},
		{`formatTime(event.ts, "Jan 2, 2006 3:04 PM")`, "Mar 7, 2026 2:00 PM"},
		{`epochMillis(event.ts)`, 1772892000000},
		{`dateOnly(event.ms)`, "2026-01-01"},
		{`epochMillis("1767225600000")`, 1767225600000},
		{`rfc3339(event.missing, "America/New_York")`, nil},
		{`addDays(nil, 3)`, nil},
		{`now.Year()`, 2026},
		{`connection.locationId + "/" + env.GHLSYNC_FLOW_CALENDAR`, "loc1/cal-9"},
		{`env.GHLSYNC_FLOW_UNSET`, nil},
		{`env.GHLSYNC_FLOW_UNSET ?? "fallback"`, "fallback"},
		{`event.map.Visual ?? "x"`, "design"},
		{`len(event.list)`, 4},
		{`toJSON({"a": 1})`, "{\n  \"a\": 1\n}"},
	}
	for _, tt := range tests {
		got, err := evalExpr(t, tt.src, env)
		if err != nil {
			t.Errorf("%s: %v", tt.src, err)
			continue
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tt.src, diff)
		}
	}
}

func TestHelperErrors(t *testing.T) {
	t.Parallel()
	env := testEnv(t, `{"ts": "2026-03-07T09:00:00-05:00"}`)
	tests := []struct{ src, want string }{
		{`phone("not a phone")`, `phone: invalid phone "not a phone"`},
		{`phone("12")`, `invalid phone "12"`},
		{`number("abc")`, `number: "abc" is not a number`},
		{`number(true)`, `expected a number, got a boolean`},
		{`number(1/0)`, `is not a finite number`},
		{`rfc3339("2026-03-08 02:30", "America/New_York")`, `does not exist in America/New_York`},
		{`rfc3339(event.ts, "Mars/Olympus")`, `"Mars/Olympus"`},
		{`parseTime("next week")`, `cannot read "next week" as a time`},
		{`addDuration(event.ts, "soon")`, `"soon" is not a duration`},
		{`addDays(event.ts, 1.5)`, `expected a whole number of days`},
		{`atTime(event.ts, "25:00")`, `"25:00" is not a time of day`},
		{`lookup("text", "k")`, `lookup: expected an object`},
		{`lower({"a": 1})`, `expected text, got an object`},
		{`join([{"a": 1}])`, `join: expected text, got an object`},
	}
	for _, tt := range tests {
		_, err := evalExpr(t, tt.src, env)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error = %v, want it to contain %q", tt.src, err, tt.want)
		}
	}
}

func TestTemplateRendering(t *testing.T) {
	t.Parallel()
	f := mustParse(t, `
trigger: {webhook: {source: generic}}
steps:
  - id: n
    op: contacts.createNote
    with:
      contactId: x
      body: "{{ event.a }}-{{ event.b }}-{{ event.c }}-{{ event.d }}-{{ event.t }}"
      title: "{{ event.obj }} and text"
`)
	env := testEnv(t, `{"a": 1.5, "b": true, "c": null, "d": 10000000000}`)
	env.Event.Payload["t"] = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	env.Event.Payload["obj"] = "plain"
	req := request(t, f, "n", env)
	if got := req.Body["body"]; got != "1.5-true--10000000000-2026-01-02T03:04:05Z" {
		t.Errorf("body = %q", got)
	}
	env2 := testEnv(t, `{"obj": {"k": 1}}`)
	s, _ := f.Step("n")
	if _, err := s.Request(t.Context(), env2); err == nil || !strings.Contains(err.Error(), "toJSON") {
		t.Errorf("object inside text: %v", err)
	}
}

func TestPhoneRegionFromConnection(t *testing.T) {
	t.Parallel()
	env := testEnv(t, `{"uk": "020 7946 0958", "us": "+1 415 555 2671"}`)
	env.Connection.PhoneRegion = "GB"
	for src, want := range map[string]any{
		`phone(event.uk)`:             "+442079460958",
		`phone(event.us)`:             "+14155552671",
		`validPhone(event.uk)`:        true,
		`phone(event.uk, "GB")`:       "+442079460958",
		`connection.phoneRegion`:      "GB",
		`[phone(event.uk)][0] ?? nil`: "+442079460958",
	} {
		got, err := evalExpr(t, src, env)
		if err != nil || got != want {
			t.Errorf("%s = %v, %v; want %v", src, got, err, want)
		}
	}
	fallback := testEnv(t, `{"uk": "020 7946 0958"}`)
	fallback.PhoneRegion = "GB"
	if got, err := evalExpr(t, `phone(event.uk)`, fallback); err != nil || got != "+442079460958" {
		t.Errorf("Env.PhoneRegion fallback: %v, %v", got, err)
	}
	us := testEnv(t, `{"uk": "020 7946 0958"}`)
	if _, err := evalExpr(t, `phone(event.uk)`, us); err == nil {
		t.Error("a UK number without country code was read as a US number")
	}
}

// TestValidNumber: validNumber(x) is true exactly when number(x) gives a
// number, so `validNumber(x) ? number(x) : nil` never fails a run.
func TestValidNumber(t *testing.T) {
	t.Parallel()
	env := testEnv(t, `{"amount": "1,234.50", "int": 49, "float": 12.5, "huge": 1e400, "text": "lots", "blank": "  ", "list": [1], "obj": {"a": 1}, "yes": true}`)
	for _, tt := range []struct {
		arg  string
		want bool
	}{
		{`event.amount`, true},
		{`event.int`, true},
		{`event.float`, true},
		{`"$49"`, true},
		{`"USD 1 000"`, true},
		{`"(12)"`, true},
		{`" -3.5 "`, true},
		{`"1e5"`, true},
		{`0`, true},
		{`event.huge`, false},
		{`"1e400"`, false},
		{`event.text`, false},
		{`"abc"`, false},
		{`"NaN"`, false},
		{`"Inf"`, false},
		{`"-Infinity"`, false},
		{`1/0`, false},
		{`-1/0`, false},
		{`event.blank`, false},
		{`""`, false},
		{`nil`, false},
		{`event.missing`, false},
		{`event.list`, false},
		{`event.obj`, false},
		{`event.yes`, false},
		{`now`, false},
	} {
		got, err := evalExpr(t, `validNumber(`+tt.arg+`)`, env)
		if err != nil || got != tt.want {
			t.Errorf("validNumber(%s) = %v, %v; want %v", tt.arg, got, err, tt.want)
		}
		// The same rules as number(): a number exactly when valid.
		n, err := evalExpr(t, `number(`+tt.arg+`)`, env)
		if gotNumber := err == nil && n != nil; gotNumber != tt.want {
			t.Errorf("number(%s) = %v, %v; validNumber says %v", tt.arg, n, err, tt.want)
		}
		guarded, err := evalExpr(t, `validNumber(`+tt.arg+`) ? number(`+tt.arg+`) : nil`, env)
		if err != nil || (guarded != nil) != tt.want {
			t.Errorf("guarded number(%s) = %v, %v", tt.arg, guarded, err)
		}
	}
}
