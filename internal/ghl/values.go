package ghl

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // IANA zones even where the host has none (static binaries)

	"github.com/nyaruka/phonenumbers"
)

// NormalizePhone returns raw in E.164 form ("+15555550104"). Numbers without
// a country code are read in defaultRegion (ISO 3166 code, "" = "US"); a
// leading 00 is read as the international prefix. A number that cannot be
// dialled from anywhere (too short, too long, no area code) is a
// *ValidationError that names the value.
func NormalizePhone(raw, defaultRegion string) (string, error) {
	s := strings.TrimSpace(raw)
	if defaultRegion == "" {
		defaultRegion = "US"
	}
	defaultRegion = strings.ToUpper(defaultRegion)
	if s == "" {
		return "", &ValidationError{Field: "phone", Value: raw, Reason: "empty"}
	}
	num, err := phonenumbers.Parse(s, defaultRegion)
	if err != nil || phonenumbers.IsPossibleNumberWithReason(num) != phonenumbers.IS_POSSIBLE {
		// "0044 ..." is international dialling in most of the world, but
		// not from the default region's own prefix (011 in the US).
		if d := digitsOnly(s); strings.HasPrefix(d, "00") && len(d) > 4 {
			if n2, err2 := phonenumbers.Parse("+"+d[2:], defaultRegion); err2 == nil &&
				phonenumbers.IsPossibleNumberWithReason(n2) == phonenumbers.IS_POSSIBLE {
				return phonenumbers.Format(n2, phonenumbers.E164), nil
			}
		}
		if err != nil {
			return "", &ValidationError{Field: "phone", Value: raw, Reason: phoneParseReason(err)}
		}
		return "", &ValidationError{Field: "phone", Value: raw, Reason: possibleReason(phonenumbers.IsPossibleNumberWithReason(num), defaultRegion)}
	}
	return phonenumbers.Format(num, phonenumbers.E164), nil
}

func digitsOnly(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	return b.String()
}

func phoneParseReason(err error) string {
	switch err {
	case phonenumbers.ErrInvalidCountryCode:
		return "unknown country code"
	case phonenumbers.ErrNotANumber:
		return "not a phone number"
	case phonenumbers.ErrTooShortNSN, phonenumbers.ErrTooShortAfterIDD:
		return "too short to be a phone number"
	case phonenumbers.ErrNumTooLong:
		return "too long to be a phone number"
	}
	return err.Error()
}

func possibleReason(r phonenumbers.ValidationResult, region string) string {
	switch r {
	case phonenumbers.IS_POSSIBLE_LOCAL_ONLY:
		return "a local number without area code; add the area code or country code"
	case phonenumbers.TOO_SHORT:
		return "too short for region " + region
	case phonenumbers.TOO_LONG:
		return "too long for region " + region
	case phonenumbers.INVALID_COUNTRY_CODE:
		return "unknown country code"
	}
	return "not a possible number for region " + region
}

// localLayouts are the wall-clock forms AppointmentTime accepts.
var localLayouts = []string{
	"2006-01-02 15:04",
	"2006-01-02 15:04:05",
	"2006-01-02T15:04",
	"2006-01-02T15:04:05",
}

// AppointmentTime returns value as RFC 3339 with the offset that tz (an IANA
// zone such as "America/New_York") has at that moment. value is either an
// instant with an offset (RFC 3339, kept as the same instant and shown in tz)
// or a wall-clock time in tz ("2026-03-07 09:00"). A wall-clock time that
// does not exist in tz (skipped by a daylight-saving change) is a
// *ValidationError; one that occurs twice takes the earlier instant.
func AppointmentTime(value, tz string) (string, error) {
	if tz == "" {
		return "", &ValidationError{Field: "timezone", Value: tz, Reason: "empty; appointment times need the calendar's IANA time zone"}
	}
	loc, err := time.LoadLocation(tz)
	if err != nil {
		return "", &ValidationError{Field: "timezone", Value: tz, Reason: "not an IANA time zone"}
	}
	v := strings.TrimSpace(value)
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t.In(loc).Format(time.RFC3339), nil
	}
	if len(v) >= 12 && isDigits(v) { // epoch milliseconds, as GHL lists them
		ms, _ := strconv.ParseInt(v, 10, 64)
		return time.UnixMilli(ms).In(loc).Format(time.RFC3339), nil
	}
	for _, layout := range localLayouts {
		wall, err := time.Parse(layout, v)
		if err != nil {
			continue
		}
		t := time.Date(wall.Year(), wall.Month(), wall.Day(), wall.Hour(), wall.Minute(), wall.Second(), 0, loc)
		if t.Hour() != wall.Hour() || t.Minute() != wall.Minute() || t.Day() != wall.Day() {
			return "", &ValidationError{Field: "startTime", Value: value,
				Reason: fmt.Sprintf("%s does not exist in %s (clocks skip it for daylight saving time)", wall.Format("2006-01-02 15:04"), tz)}
		}
		return t.Format(time.RFC3339), nil
	}
	return "", &ValidationError{Field: "startTime", Value: value,
		Reason: "want RFC 3339 (2026-03-07T09:00:00-05:00) or a local time (2026-03-07 09:00)"}
}

func isDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}
