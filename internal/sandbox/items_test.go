package sandbox

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/ghlsync/ghlsync/internal/ghl"
)

// TestClientPagesEveryStyle reads each paged list through the client's
// Items with small pages, so the client's paging and the sandbox's cursors
// must agree for every style.
func TestClientPagesEveryStyle(t *testing.T) {
	t.Parallel()
	clk := &fakeClock{t: time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)}
	e := newEnv(t, Options{Now: clk.Now})
	for i := 0; i < 12; i++ {
		clk.Add(time.Second)
		c := e.must(201, "POST", "/contacts/", locTok, map[string]any{"locationId": loc1, "email": fmt.Sprintf("i%02d@example.com", i)})
		e.must(201, "POST", "/opportunities/", locTok, map[string]any{"locationId": loc1, "pipelineId": "sbx-pipeline-1",
			"name": fmt.Sprint("Deal ", i), "status": "open", "contactId": sget(c.body, "contact.id")})
	}
	a := e.must(200, "POST", "/calendars/events/appointments", locTok, map[string]any{"locationId": loc1, "calendarId": "sbx-calendar-1",
		"contactId": "sbx-contact-1", "startTime": "2030-01-07T10:00:00-05:00"})
	for i := 0; i < 5; i++ {
		clk.Add(time.Second)
		e.must(201, "POST", "/calendars/appointments/"+sget(a.body, "id")+"/notes", locTok, map[string]any{"body": fmt.Sprint(i)})
	}
	cl := ghl.New(ghl.Config{BaseURL: e.srv.URL, Limiter: ghl.NewLimiter(ghl.LimiterOptions{Disabled: true})}, ghl.StaticToken(locTok), loc1)
	ms := func(t time.Time) string { return strconv.FormatInt(t.UnixMilli(), 10) }
	cases := []struct {
		op    string
		p     ghl.Params
		size  int
		want  int
		style string
	}{
		{"contacts.listDeprecated", ghl.Params{}, 5, 13, "startAfter"},
		{"opportunities.search", ghl.Params{}, 5, 12, "startAfter"},
		{"contacts.search", ghl.Params{Body: map[string]any{"locationId": loc1}}, 4, 13, "page"},
		{"users.search", ghl.Params{Query: url.Values{"companyId": {"sbx-company-1"}}}, 1, 2, "skip"},
		{"calendars.listAppointmentNotes", ghl.Params{Path: map[string]string{"appointmentId": sget(a.body, "id")}, Query: url.Values{"offset": {"0"}}}, 2, 5, "offset"},
		{"conversations.listMessages", ghl.Params{Path: map[string]string{"conversationId": "sbx-conversation-1"}}, 1, 3, "lastId"},
		{"calendars.getFreeSlots", ghl.Params{Path: map[string]string{"calendarId": "sbx-calendar-1"}, Query: url.Values{
			"startDate": {ms(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))}, "endDate": {ms(time.Date(2030, 3, 1, 0, 0, 0, 0, time.UTC))}}}, 0, 43*16 - 1, "window"}, // 43 weekdays of 16 slots, minus the booked one
	}
	for _, c := range cases {
		seen := map[string]bool{}
		n := 0
		for item, err := range cl.Items(context.Background(), c.op, c.p, ghl.PageOptions{PageSize: c.size}) {
			if err != nil {
				t.Fatalf("%s (%s): %v", c.op, c.style, err)
			}
			n++
			var m map[string]any
			if json.Unmarshal(item, &m) == nil {
				seen[fmt.Sprint(m["id"])] = true
			} else {
				seen[string(item)] = true
			}
		}
		if n != c.want || len(seen) != c.want {
			t.Errorf("%s (%s): %d items, %d distinct, want %d", c.op, c.style, n, len(seen), c.want)
		}
	}
}
