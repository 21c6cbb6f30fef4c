package flow

import (
	"fmt"
	"strings"
	"sync"
	"time"
	_ "time/tzdata" // zone names must resolve in a static binary on any host

	"github.com/ghlsync/ghlsync/internal/ghl"
)

// DefaultPhoneRegion is the region assumed for phone numbers written
// without a country code.
const DefaultPhoneRegion = "US"

// normalizePhone returns raw in E.164 form, like GoHighLevel stores it.
func normalizePhone(raw, region string) (string, error) {
	if region == "" {
		region = DefaultPhoneRegion
	}
	return ghl.NormalizePhone(raw, region)
}

var zones sync.Map // name → *time.Location

// loadZone returns the IANA zone; "" and "UTC" are UTC.
func loadZone(name string) (*time.Location, error) {
	name = strings.TrimSpace(name)
	if name == "" || name == "UTC" || name == "Z" {
		return time.UTC, nil
	}
	if l, ok := zones.Load(name); ok {
		return l.(*time.Location), nil
	}
	l, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("unknown time zone %q", name)
	}
	zones.Store(name, l)
	return l, nil
}

// localLayouts are the wall-clock forms parseTime accepts; they carry no
// offset and are read in the given zone.
var localLayouts = []string{
	"2006-01-02T15:04:05.999999999",
	"2006-01-02T15:04:05",
	"2006-01-02T15:04",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02 15:04:05",
	"2006-01-02 15:04",
	"2006-01-02",
	"2006/01/02",
	"01/02/2006 15:04:05",
	"01/02/2006 15:04",
	"01/02/2006",
}

// offsetLayouts carry their own offset; the zone argument only changes how
// the instant is displayed.
var offsetLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999Z0700",
	"2006-01-02T15:04Z07:00",
	"2006-01-02 15:04:05Z07:00",
	"2006-01-02 15:04:05 -0700",
	time.RFC1123Z,
	time.RFC1123,
}

// parseTimeString reads s. Wall-clock forms are placed in loc, and a wall
// clock that does not exist there (a daylight-saving gap) is an error rather
// than a silently shifted appointment.
func parseTimeString(s string, loc *time.Location) (time.Time, error) {
	s = strings.TrimSpace(s)
	for _, l := range offsetLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t.In(loc), nil
		}
	}
	for _, l := range localLayouts {
		t, err := time.ParseInLocation(l, s, loc)
		if err != nil {
			continue
		}
		naive, _ := time.Parse(l, s)
		if t.Hour() != naive.Hour() || t.Minute() != naive.Minute() || t.Day() != naive.Day() {
			return time.Time{}, fmt.Errorf("%q does not exist in %s (daylight-saving gap)", s, loc)
		}
		return t, nil
	}
	return time.Time{}, fmt.Errorf("cannot read %q as a time (expected RFC 3339 like 2026-03-01T09:30:00-05:00, or 2026-03-01 09:30, or 2026-03-01)", s)
}

// epochTime reads a number as epoch seconds, or milliseconds when it is too
// large to be seconds (anything after 5138 AD in seconds).
func epochTime(n float64, loc *time.Location) time.Time {
	if n > 1e11 || n < -1e11 {
		return time.UnixMilli(int64(n)).In(loc)
	}
	sec := int64(n)
	return time.Unix(sec, int64((n-float64(sec))*1e9)).In(loc)
}
