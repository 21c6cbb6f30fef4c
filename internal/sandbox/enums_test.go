package sandbox

import (
	"strings"
	"testing"
)

// Body enums documented by the specs are enforced with NestJS's message;
// the values the specs allow pass.
func TestBodyEnumsAndOpportunityDates(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	for _, tc := range []struct {
		name, method, path string
		body               map[string]any
		want               string
	}{
		{"appointment status", "POST", "/calendars/events/appointments",
			map[string]any{"calendarId": "sbx-calendar-1", "locationId": loc1, "contactId": "sbx-contact-1",
				"startTime": "2027-03-01T10:00:00-05:00", "appointmentStatus": "booked"},
			"appointmentStatus must be one of the following values: new, confirmed, cancelled, showed, noshow, invalid"},
		{"meeting location type", "POST", "/calendars/events/appointments",
			map[string]any{"calendarId": "sbx-calendar-1", "locationId": loc1, "contactId": "sbx-contact-1",
				"startTime": "2027-03-01T10:00:00-05:00", "meetingLocationType": "teams"},
			"meetingLocationType must be one of the following values: custom, zoom"},
		{"dnd status", "POST", "/contacts/",
			map[string]any{"locationId": loc1, "email": "dnd@example.com",
				"dndSettings": map[string]any{"Email": map[string]any{"status": "maybe"}}},
			"dndSettings.Email.status must be one of the following values: active, inactive, permanent"},
	} {
		r := e.do(tc.method, tc.path, locTok, tc.body)
		if r.status != 422 || !strings.Contains(string(r.raw), tc.want) {
			t.Errorf("%s: status %d %s, want 422 with %q", tc.name, r.status, r.raw, tc.want)
		}
	}

	// status "all" is in the create DTO's enum.
	o := e.must(201, "POST", "/opportunities/", locTok, map[string]any{"locationId": loc1, "pipelineId": "sbx-pipeline-1",
		"contactId": "sbx-contact-1", "name": "Enum deal", "status": "all"})
	if got := sget(o.body, "opportunity.status"); got != "all" {
		t.Errorf("status = %q", got)
	}
	if r := e.do("POST", "/opportunities/", locTok, map[string]any{"locationId": loc1, "pipelineId": "sbx-pipeline-1",
		"contactId": "sbx-contact-1", "name": "Enum deal 2", "status": "closed"}); r.status != 422 {
		t.Errorf("status closed: %d %s", r.status, r.raw)
	}

	// endDate is mm-dd-yyyy, as documented.
	e.must(200, "GET", "/opportunities/search?location_id="+loc1+"&endDate=12-31-2099", locTok, nil)
	if r := e.do("GET", "/opportunities/search?location_id="+loc1+"&endDate=1800000000000", locTok, nil); r.status != 422 ||
		!strings.Contains(string(r.raw), "mm-dd-yyyy") {
		t.Errorf("endDate epoch: %d %s", r.status, r.raw)
	}
}
