package ghl

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestNormalizePhone(t *testing.T) {
	t.Parallel()
	cases := []struct {
		raw, region, want string
		wantErr           string // substring of the error
	}{
		{raw: "(555) 555-0104", region: "US", want: "+15555550104"},
		{raw: "+44 20 7946 0018", region: "US", want: "+442079460018"},
		{raw: "0044 20 7946 0018", region: "US", want: "+442079460018"},
		{raw: "+15555550104", region: "US", want: "+15555550104"},
		{raw: "555-555-0104", region: "", want: "+15555550104"},
		{raw: "011 44 20 7946 0018", region: "US", want: "+442079460018"},
		{raw: "020 7946 0018", region: "GB", want: "+442079460018"},
		{raw: "(11) 98765-4321", region: "br", want: "+5511987654321"},
		{raw: "555-0104", region: "US", wantErr: `invalid phone "555-0104": a local number without area code`},
		{raw: "12", region: "US", wantErr: `invalid phone "12"`},
		{raw: "call me", region: "US", wantErr: `invalid phone "call me"`},
		{raw: "+1 555 555 0104 5555 5555", region: "US", wantErr: `invalid phone`},
		{raw: "  ", region: "US", wantErr: `invalid phone "  ": empty`},
	}
	for _, tc := range cases {
		t.Run(tc.raw, func(t *testing.T) {
			t.Parallel()
			got, err := NormalizePhone(tc.raw, tc.region)
			if tc.wantErr != "" {
				var ve *ValidationError
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !errors.As(err, &ve) || ve.Value != tc.raw || !errors.Is(err, ErrValidation) {
					t.Errorf("NormalizePhone(%q) = %q, %v; want error containing %q keeping the raw value", tc.raw, got, err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("NormalizePhone(%q, %q) = %q, %v; want %q", tc.raw, tc.region, got, err, tc.want)
			}
		})
	}
}

func TestAppointmentTime(t *testing.T) {
	t.Parallel()
	const ny = "America/New_York"
	cases := []struct {
		value, tz, want string
		wantErr         string
	}{
		{value: "2026-03-07 09:00", tz: ny, want: "2026-03-07T09:00:00-05:00"},
		{value: "2026-03-08 09:00", tz: ny, want: "2026-03-08T09:00:00-04:00"},
		{value: "2026-03-08 02:30", tz: ny, wantErr: "2026-03-08 02:30 does not exist in America/New_York"},
		{value: "2026-03-08T14:00:00Z", tz: ny, want: "2026-03-08T10:00:00-04:00"}, // same instant, zone's offset
		{value: "2026-03-08T09:30:00+05:30", tz: ny, want: "2026-03-07T23:00:00-05:00"},
		{value: "2026-03-07T09:00", tz: ny, want: "2026-03-07T09:00:00-05:00"},
		{value: "2026-03-07 09:00:30", tz: ny, want: "2026-03-07T09:00:30-05:00"},
		{value: "2026-11-01 01:30", tz: ny, want: "2026-11-01T01:30:00-04:00"}, // ambiguous: the earlier instant
		{value: "2026-07-01 12:00", tz: "Europe/Lisbon", want: "2026-07-01T12:00:00+01:00"},
		{value: "2026-03-29 01:30", tz: "Europe/Lisbon", wantErr: "does not exist"},
		{value: "2026-03-07 09:00", tz: "Mars/Olympus", wantErr: `invalid timezone "Mars/Olympus"`},
		{value: "2026-03-07 09:00", tz: "", wantErr: `invalid timezone ""`},
		{value: "next tuesday", tz: ny, wantErr: `invalid startTime "next tuesday"`},
		{value: "1772892000000", tz: ny, want: "2026-03-07T09:00:00-05:00"}, // epoch ms
	}
	for _, tc := range cases {
		t.Run(tc.value+" "+tc.tz, func(t *testing.T) {
			t.Parallel()
			got, err := AppointmentTime(tc.value, tc.tz)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !errors.Is(err, ErrValidation) {
					t.Errorf("AppointmentTime(%q, %q) = %q, %v; want error %q", tc.value, tc.tz, got, err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("AppointmentTime(%q, %q) = %q, %v; want %q", tc.value, tc.tz, got, err, tc.want)
			}
		})
	}
	// "kept as that instant": the result parses back to the same moment.
	got, _ := AppointmentTime("2026-03-08T14:00:00Z", ny)
	gt, _ := time.Parse(time.RFC3339, got)
	if !gt.Equal(time.Date(2026, 3, 8, 14, 0, 0, 0, time.UTC)) {
		t.Errorf("instant changed: %s", got)
	}
}
