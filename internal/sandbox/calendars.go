package sandbox

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

func init() {
	register(map[string]handlerFunc{
		"calendars.list":              (*call).calendarList,
		"calendars.get":               (*call).calendarGet,
		"calendars.create":            (*call).calendarCreate,
		"calendars.update":            (*call).calendarUpdate,
		"calendars.delete":            (*call).calendarDelete,
		"calendars.listGroups":        (*call).groupList,
		"calendars.createGroup":       (*call).groupCreate,
		"calendars.updateGroup":       (*call).groupUpdate,
		"calendars.updateGroupStatus": (*call).groupStatus,
		"calendars.deleteGroup":       (*call).groupDelete,
		"calendars.validateGroupSlug": (*call).groupSlug,
		"calendars.getFreeSlots":      (*call).freeSlots,
		"calendars.listEvents":        (*call).eventList,
		"calendars.listBlockedSlots":  (*call).blockedList,
		"calendars.getAppointment":    (*call).appointmentGet,
		"calendars.createAppointment": (*call).appointmentCreate,
		"calendars.updateAppointment": (*call).appointmentUpdate,
		"calendars.deleteEvent":       (*call).eventDelete,
		"calendars.createBlockSlot":   (*call).blockCreate,
		"calendars.updateBlockSlot":   (*call).blockUpdate,
	})
}

const offsetLayout = "2006-01-02T15:04:05-07:00"

// normalizeCalendar fills a calendar's defaults. The sandbox keeps the
// calendar's time zone on the record ("timezone", default the location's).
func normalizeCalendar(st *state, r record) {
	loc := st.t("locations").get(str(r, "locationId"))
	setDefault(r, "timezone", firstNonEmpty(str(loc, "timezone"), "America/New_York"))
	setDefault(r, "isActive", true)
	setDefault(r, "calendarType", "event")
	setDefault(r, "widgetType", "classic")
	setDefault(r, "eventType", "RoundRobin_OptimizeForAvailability")
	setDefault(r, "slotDuration", float64(30))
	setDefault(r, "slotDurationUnit", "mins")
	setDefault(r, "slotInterval", r["slotDuration"])
	setDefault(r, "slotIntervalUnit", r["slotDurationUnit"])
	setDefault(r, "appoinmentPerSlot", float64(1))
	setDefault(r, "autoConfirm", true)
	setDefault(r, "description", "")
	setDefault(r, "slug", strings.ReplaceAll(lower(str(r, "name")), " ", "-"))
	setDefault(r, "widgetSlug", r["slug"])
	setDefault(r, "teamMembers", []any{})
	setDefault(r, "notifications", []any{})
	setDefault(r, "availabilities", []any{})
	setDefault(r, "openHours", []any{})
}

func unitDur(n float64, unit string) time.Duration {
	if unit == "hours" {
		return time.Duration(n * float64(time.Hour))
	}
	return time.Duration(n * float64(time.Minute))
}

func calTZ(cal record) *time.Location {
	l, err := time.LoadLocation(str(cal, "timezone"))
	if err != nil {
		return time.UTC
	}
	return l
}

// checkOpenHours validates the openHours shape of a calendar body.
func checkOpenHours(v any) []string {
	var msgs []string
	for i, oh := range asList(v) {
		m, ok := oh.(map[string]any)
		if !ok {
			msgs = append(msgs, fmt.Sprintf("openHours.%d must be an object", i))
			continue
		}
		for _, d := range asList(m["daysOfTheWeek"]) {
			if f, ok := d.(float64); !ok || f < 0 || f > 6 || f != float64(int(f)) {
				msgs = append(msgs, fmt.Sprintf("openHours.%d.daysOfTheWeek must hold days 0 (Sunday) to 6", i))
				break
			}
		}
		for j, h := range asList(m["hours"]) {
			hm, _ := h.(map[string]any)
			oh, _ := num(hm, "openHour")
			om, _ := num(hm, "openMinute")
			ch, _ := num(hm, "closeHour")
			cm, _ := num(hm, "closeMinute")
			if oh < 0 || oh > 23 || ch < 0 || ch > 24 || om < 0 || om > 59 || cm < 0 || cm > 59 || oh*60+om >= ch*60+cm {
				msgs = append(msgs, fmt.Sprintf("openHours.%d.hours.%d must open before it closes (hours 0-24, minutes 0-59)", i, j))
			}
		}
	}
	return msgs
}

func (c *call) calendar(id string) (record, *reply) {
	r := c.st.t("calendars").get(id)
	if r == nil {
		return nil, ptr(errNotFound("Calendar"))
	}
	if rep := c.owns(r); rep != nil {
		return nil, rep
	}
	return r, nil
}

func calendarOut(r record) record { return cloneRec(r) }

func (c *call) calendarList() reply {
	g := c.q.Get("groupId")
	drafted := c.q.Get("showDrafted") != "false"
	cals := c.st.t("calendars").filter(func(r record) bool {
		return str(r, "locationId") == c.loc && (g == "" || str(r, "groupId") == g) && (drafted || boolean(r, "isActive"))
	})
	out := make([]any, 0, len(cals))
	for _, r := range cals {
		out = append(out, calendarOut(r))
	}
	return ok(map[string]any{"calendars": out})
}

func (c *call) calendarGet() reply {
	r, rep := c.calendar(c.path["calendarId"])
	if rep != nil {
		return *rep
	}
	return ok(map[string]any{"calendar": calendarOut(r)})
}

func (c *call) applyCalendar(r record) *reply {
	if msgs := checkOpenHours(c.body["openHours"]); len(msgs) > 0 {
		return ptr(errUnprocessable(msgs...))
	}
	if g, _ := c.body["groupId"].(string); g != "" {
		if gr := c.st.t("groups").get(g); gr == nil || str(gr, "locationId") != str(r, "locationId") {
			return ptr(errUnprocessable("groupId " + g + " is not a group of this location"))
		}
	}
	for _, tm := range asList(c.body["teamMembers"]) {
		m, _ := tm.(map[string]any)
		if c.st.t("users").get(str(m, "userId")) == nil {
			return ptr(errUnprocessable("teamMembers: user " + str(m, "userId") + " not found"))
		}
	}
	for k, v := range c.body {
		if k != "locationId" {
			r[k] = clone(v)
		}
	}
	return nil
}

func (c *call) calendarCreate() reply {
	r := record{"id": c.st.newID(), "locationId": c.loc}
	if rep := c.applyCalendar(r); rep != nil {
		return *rep
	}
	normalizeCalendar(c.st, r)
	c.st.t("calendars").put(idOf(r), r)
	return ok(map[string]any{"calendar": calendarOut(r)})
}

func (c *call) calendarUpdate() reply {
	r, rep := c.calendar(c.path["calendarId"])
	if rep != nil {
		return *rep
	}
	if rep := c.applyCalendar(r); rep != nil {
		return *rep
	}
	return ok(map[string]any{"calendar": calendarOut(r)})
}

func (c *call) calendarDelete() reply {
	r, rep := c.calendar(c.path["calendarId"])
	if rep != nil {
		return *rep
	}
	c.st.t("calendars").del(idOf(r))
	return ok(map[string]any{"success": true})
}

// --- groups ---

var groupFields = []string{"id", "locationId", "name", "description", "slug", "isActive"}

func (c *call) group(id string) (record, *reply) {
	r := c.st.t("groups").get(id)
	if r == nil {
		return nil, ptr(errNotFound("Group"))
	}
	if rep := c.owns(r); rep != nil {
		return nil, rep
	}
	return r, nil
}

func (c *call) slugTaken(slug, except string) bool {
	for _, g := range c.st.t("groups").all() {
		if str(g, "locationId") == c.loc && str(g, "slug") == slug && idOf(g) != except {
			return true
		}
	}
	return false
}

func (c *call) groupList() reply {
	gs := c.st.t("groups").filter(func(r record) bool { return str(r, "locationId") == c.loc })
	out := make([]any, 0, len(gs))
	for _, g := range gs {
		out = append(out, pick(g, groupFields...))
	}
	return ok(map[string]any{"groups": out})
}

func (c *call) groupCreate() reply {
	if c.slugTaken(str(c.body, "slug"), "") {
		return errBadRequest("Slug " + str(c.body, "slug") + " is already in use")
	}
	g := record{"id": c.st.newID(), "locationId": c.loc, "isActive": true}
	for _, f := range []string{"name", "description", "slug", "isActive"} {
		if v, ok := c.body[f]; ok {
			g[f] = v
		}
	}
	c.st.t("groups").put(idOf(g), g)
	return created(map[string]any{"group": pick(g, groupFields...)})
}

func (c *call) groupUpdate() reply {
	g, rep := c.group(c.path["groupId"])
	if rep != nil {
		return *rep
	}
	c.loc = str(g, "locationId")
	if c.slugTaken(str(c.body, "slug"), idOf(g)) {
		return errBadRequest("Slug " + str(c.body, "slug") + " is already in use")
	}
	for _, f := range []string{"name", "description", "slug"} {
		g[f] = c.body[f]
	}
	return ok(map[string]any{"group": pick(g, groupFields...)})
}

func (c *call) groupStatus() reply {
	g, rep := c.group(c.path["groupId"])
	if rep != nil {
		return *rep
	}
	g["isActive"] = boolean(c.body, "isActive")
	return ok(map[string]any{"success": true})
}

func (c *call) groupDelete() reply {
	g, rep := c.group(c.path["groupId"])
	if rep != nil {
		return *rep
	}
	c.st.t("groups").del(idOf(g))
	for _, cal := range c.st.t("calendars").all() {
		if str(cal, "groupId") == idOf(g) {
			delete(cal, "groupId")
		}
	}
	return ok(map[string]any{"success": true})
}

func (c *call) groupSlug() reply {
	return ok(map[string]any{"available": !c.slugTaken(str(c.body, "slug"), "")})
}

// --- free slots ---

// epochMs reads an epoch-milliseconds query parameter.
func (c *call) epochMs(name string) (time.Time, bool) {
	v := c.q.Get(name)
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		return time.Time{}, false
	}
	return time.UnixMilli(int64(f)), true
}

type span struct{ start, end time.Time }

func (a span) overlaps(b span) bool { return a.start.Before(b.end) && b.start.Before(a.end) }

func parseEventTime(r record, k string) time.Time {
	t, _ := time.Parse(time.RFC3339, str(r, k))
	return t
}

// busy returns the appointments and blocked slots that take time on cal,
// optionally for one user, skipping the event "except".
func (c *call) busy(cal record, userID, except string) (appts []span, blocks []span) {
	pre := unitDur(numOr(cal, "preBuffer", 0), str(cal, "preBufferUnit"))
	post := unitDur(numOr(cal, "slotBuffer", 0), str(cal, "slotBufferUnit"))
	for _, a := range c.st.t("appointments").all() {
		if str(a, "calendarId") != idOf(cal) || idOf(a) == except {
			continue
		}
		if st := str(a, "appointmentStatus"); st == "cancelled" || st == "invalid" {
			continue
		}
		if userID != "" && str(a, "assignedUserId") != userID {
			continue
		}
		appts = append(appts, span{parseEventTime(a, "startTime").Add(-pre), parseEventTime(a, "endTime").Add(post)})
	}
	members := map[string]bool{}
	for _, tm := range asList(cal["teamMembers"]) {
		m, _ := tm.(map[string]any)
		members[str(m, "userId")] = true
	}
	for _, b := range c.st.t("blockedSlots").all() {
		if idOf(b) == except || str(b, "locationId") != str(cal, "locationId") {
			continue
		}
		if str(b, "calendarId") == idOf(cal) || (str(b, "calendarId") == "" && members[str(b, "assignedUserId")]) {
			blocks = append(blocks, span{parseEventTime(b, "startTime"), parseEventTime(b, "endTime")})
		}
	}
	return appts, blocks
}

func numOr(r record, k string, def float64) float64 {
	if v, ok := num(r, k); ok {
		return v
	}
	return def
}

// slots computes the free slot start times of cal in [from, to]: the
// calendar's open hours in its own time zone (so DST shifts the UTC times),
// stepping by slotInterval, minus slots that overlap blocked time or whose
// appointments already fill appoinmentPerSlot. Past slots are not offered.
func (c *call) slots(cal record, from, to time.Time, userID, except string) []time.Time {
	tz := calTZ(cal)
	dur := unitDur(numOr(cal, "slotDuration", 30), str(cal, "slotDurationUnit"))
	step := unitDur(numOr(cal, "slotInterval", numOr(cal, "slotDuration", 30)), str(cal, "slotIntervalUnit"))
	if dur <= 0 || step <= 0 {
		return nil
	}
	perSlot := int(numOr(cal, "appoinmentPerSlot", 1))
	if perSlot < 1 {
		perSlot = 1
	}
	appts, blocks := c.busy(cal, userID, except)
	var out []time.Time
	day := time.Date(from.In(tz).Year(), from.In(tz).Month(), from.In(tz).Day(), 0, 0, 0, 0, tz)
	for ; !day.After(to); day = time.Date(day.Year(), day.Month(), day.Day()+1, 0, 0, 0, 0, tz) {
		for _, oh := range asList(cal["openHours"]) {
			m, _ := oh.(map[string]any)
			if !slices.ContainsFunc(asList(m["daysOfTheWeek"]), func(d any) bool { f, _ := d.(float64); return int(f) == int(day.Weekday()) }) {
				continue
			}
			for _, h := range asList(m["hours"]) {
				hm, _ := h.(map[string]any)
				openMin := int(numOr(hm, "openHour", 0))*60 + int(numOr(hm, "openMinute", 0))
				closeMin := int(numOr(hm, "closeHour", 0))*60 + int(numOr(hm, "closeMinute", 0))
				closeAt := time.Date(day.Year(), day.Month(), day.Day(), 0, closeMin, 0, 0, tz)
				stepMin := max(int(step/time.Minute), 1)
				for k := openMin; k < closeMin; k += stepMin {
					s := time.Date(day.Year(), day.Month(), day.Day(), 0, k, 0, 0, tz)
					// Skip wall times that do not exist on a DST change day.
					if s.Hour()*60+s.Minute() != k {
						continue
					}
					e := s.Add(dur)
					if e.After(closeAt) {
						break
					}
					if s.Before(from) || s.After(to) || s.Before(c.now) {
						continue
					}
					sp := span{s, e}
					free := true
					for _, b := range blocks {
						if b.overlaps(sp) {
							free = false
							break
						}
					}
					n := 0
					for _, a := range appts {
						if a.overlaps(sp) {
							n++
						}
					}
					if free && n < perSlot {
						out = append(out, s)
					}
				}
			}
		}
	}
	slices.SortFunc(out, func(a, b time.Time) int { return a.Compare(b) })
	return slices.Compact(out)
}

func (c *call) freeSlots() reply {
	cal, rep := c.calendar(c.path["calendarId"])
	if rep != nil {
		return *rep
	}
	from, ok1 := c.epochMs("startDate")
	to, ok2 := c.epochMs("endDate")
	if !ok1 || !ok2 {
		return errUnprocessable("startDate and endDate must be epoch milliseconds")
	}
	if to.Before(from) {
		return errUnprocessable("endDate must not be before startDate")
	}
	if to.Sub(from) > 31*24*time.Hour {
		return errUnprocessable("The date range between startDate and endDate must not exceed 31 days")
	}
	out := calTZ(cal)
	if tzName := c.q.Get("timezone"); tzName != "" {
		l, err := time.LoadLocation(tzName)
		if err != nil {
			return errUnprocessable("timezone must be a valid IANA time zone")
		}
		out = l
	}
	user := c.q.Get("userId")
	days := map[string]any{}
	var order []string
	for _, s := range c.slots(cal, from, to, user, "") {
		ls := s.In(out)
		d := ls.Format("2006-01-02")
		m, okd := days[d].(map[string]any)
		if !okd {
			m = map[string]any{"slots": []any{}}
			days[d] = m
			order = append(order, d)
		}
		m["slots"] = append(m["slots"].([]any), ls.Format(offsetLayout))
	}
	return ok(days)
}

// --- appointments and blocked slots ---

var apptResponseFields = []string{"id", "calendarId", "locationId", "contactId", "startTime", "endTime", "title",
	"meetingLocationType", "appointmentStatus", "assignedUserId", "address", "isRecurring", "rrule"}

var eventFields = []string{"id", "address", "title", "calendarId", "locationId", "contactId", "groupId",
	"appointmentStatus", "assignedUserId", "users", "notes", "description", "isRecurring", "rrule", "startTime",
	"endTime", "dateAdded", "dateUpdated", "assignedResources", "createdBy", "masterEventId"}

func eventOut(r record) record { return pick(r, eventFields...) }

// parseOffsetTime requires an ISO 8601 time with a UTC offset (or Z).
func parseOffsetTime(v any, field string) (time.Time, *reply) {
	s, _ := v.(string)
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, ptr(errUnprocessable(field + " must be a valid ISO 8601 date string with a UTC offset, e.g. 2021-06-23T03:30:00+05:30"))
	}
	return t, nil
}

func (c *call) appointment(id string) (record, *reply) {
	r := c.st.t("appointments").get(id)
	if r == nil {
		return nil, ptr(reply{status: 404, body: map[string]any{"statusCode": 404, "message": "Appointment not found", "error": "Not Found"}})
	}
	if rep := c.owns(r); rep != nil {
		return nil, rep
	}
	return r, nil
}

// placeAppointment checks and writes times, calendar and user onto a.
func (c *call) placeAppointment(a, cal record, create bool) *reply {
	tz := calTZ(cal)
	start := parseEventTime(a, "startTime")
	if v, ok := c.body["startTime"]; ok || create {
		t, rep := parseOffsetTime(v, "startTime")
		if rep != nil {
			return rep
		}
		start = t
	}
	dur := unitDur(numOr(cal, "slotDuration", 30), str(cal, "slotDurationUnit"))
	end := parseEventTime(a, "endTime")
	if create || c.body["startTime"] != nil {
		end = start.Add(dur)
	}
	if v, ok := c.body["endTime"]; ok && v != nil {
		t, rep := parseOffsetTime(v, "endTime")
		if rep != nil {
			return rep
		}
		end = t
	}
	if !end.After(start) {
		return ptr(errUnprocessable("endTime must be after startTime"))
	}
	if rr, _ := c.body["rrule"].(string); rr != "" && !boolean(c.body, "ignoreFreeSlotValidation") {
		return ptr(errUnprocessable("rrule is applied only with ignoreFreeSlotValidation: true"))
	}
	user := firstNonEmpty(str(c.body, "assignedUserId"), str(a, "assignedUserId"))
	if user == "" {
		for _, tm := range asList(cal["teamMembers"]) {
			m, _ := tm.(map[string]any)
			user = firstNonEmpty(user, str(m, "userId"))
		}
	}
	if user != "" && c.st.t("users").get(user) == nil {
		return ptr(errUnprocessable("assignedUserId " + user + " is not a user of this location"))
	}
	moved := create || !start.Equal(parseEventTime(a, "startTime")) || !end.Equal(parseEventTime(a, "endTime")) || str(a, "calendarId") != idOf(cal)
	if moved && !boolean(c.body, "ignoreFreeSlotValidation") {
		free := c.slots(cal, start, start, "", idOf(a))
		if len(free) == 0 || !free[0].Equal(start) || end.Sub(start) != dur {
			return ptr(errBadRequest("The slot you have selected is no longer available."))
		}
	}
	a["calendarId"] = idOf(cal)
	a["groupId"] = str(cal, "groupId")
	a["startTime"] = start.In(tz).Format(offsetLayout)
	a["endTime"] = end.In(tz).Format(offsetLayout)
	if user != "" {
		a["assignedUserId"] = user
		a["users"] = []any{user}
	}
	return nil
}

func (c *call) appointmentCreate() reply {
	cal, rep := c.calendar(str(c.body, "calendarId"))
	if rep != nil {
		return *rep
	}
	ct, rep := c.contact(str(c.body, "contactId"))
	if rep != nil {
		return *rep
	}
	status := "new"
	if boolean(cal, "autoConfirm") {
		status = "confirmed"
	}
	ts := isoMillis(c.now)
	a := record{"id": c.st.newID(), "locationId": c.loc, "contactId": idOf(ct), "appointmentStatus": status,
		"title": firstNonEmpty(str(ct, "contactName"), "Appointment"), "address": "", "notes": "", "description": "",
		"isRecurring": false, "users": []any{}, "assignedUserId": "", "dateAdded": ts, "dateUpdated": ts,
		"assignedResources": []any{}, "createdBy": map[string]any{"source": "third_party"}}
	if rep := c.placeAppointment(a, cal, true); rep != nil {
		return *rep
	}
	c.applyApptFields(a)
	if rr := str(a, "rrule"); rr != "" {
		a["isRecurring"] = true
	}
	c.st.t("appointments").put(idOf(a), a)
	c.emit("AppointmentCreate", record{"appointment": webhookAppointment(a)})
	return ok(pick(a, apptResponseFields...))
}

func (c *call) applyApptFields(a record) {
	for _, f := range []string{"title", "appointmentStatus", "address", "description", "meetingLocationType", "meetingLocationId", "rrule"} {
		if v, ok := c.body[f].(string); ok {
			a[f] = v
		}
	}
}

func webhookAppointment(a record) record {
	return pick(a, "id", "address", "title", "calendarId", "contactId", "groupId", "appointmentStatus", "assignedUserId",
		"users", "notes", "source", "startTime", "endTime", "dateAdded", "dateUpdated")
}

func (c *call) appointmentUpdate() reply {
	a, rep := c.appointment(c.path["eventId"])
	if rep != nil {
		return *rep
	}
	calID := firstNonEmpty(str(c.body, "calendarId"), str(a, "calendarId"))
	cal, rep := c.calendar(calID)
	if rep != nil {
		return *rep
	}
	next := cloneRec(a)
	if rep := c.placeAppointment(next, cal, false); rep != nil {
		return *rep
	}
	c.applyApptFields(next)
	next["dateUpdated"] = isoMillis(c.now)
	for k, v := range next {
		a[k] = v
	}
	c.emit("AppointmentUpdate", record{"appointment": webhookAppointment(a)})
	return ok(pick(a, apptResponseFields...))
}

func (c *call) appointmentGet() reply {
	a, rep := c.appointment(c.path["eventId"])
	if rep != nil {
		return *rep
	}
	return ok(map[string]any{"event": eventOut(a)})
}

func (c *call) eventDelete() reply {
	id := c.path["eventId"]
	if a := c.st.t("appointments").get(id); a != nil {
		if rep := c.owns(a); rep != nil {
			return *rep
		}
		c.st.t("appointments").del(id)
		for _, n := range c.st.t("appointmentNotes").filter(func(r record) bool { return str(r, "appointmentId") == id }) {
			c.st.t("appointmentNotes").del(idOf(n))
		}
		c.emit("AppointmentDelete", record{"appointment": webhookAppointment(a)})
		return created(map[string]any{"succeeded": true})
	}
	if b := c.st.t("blockedSlots").get(id); b != nil {
		if rep := c.owns(b); rep != nil {
			return *rep
		}
		c.st.t("blockedSlots").del(id)
		return created(map[string]any{"succeeded": true})
	}
	return reply{status: 404, body: map[string]any{"statusCode": 404, "message": "Event not found", "error": "Not Found"}}
}

// windowEvents lists events of kind overlapping the startTime..endTime window
// (epoch ms) for a calendar, user or group.
func (c *call) windowEvents(kind string) reply {
	from, ok1 := c.epochMs("startTime")
	to, ok2 := c.epochMs("endTime")
	if !ok1 || !ok2 {
		return errUnprocessable("startTime and endTime must be epoch milliseconds")
	}
	calID, userID, groupID := c.q.Get("calendarId"), c.q.Get("userId"), c.q.Get("groupId")
	if calID == "" && userID == "" && groupID == "" {
		return errUnprocessable("one of calendarId, userId or groupId is required")
	}
	win := span{from, to}
	evs := c.st.t(kind).filter(func(r record) bool {
		if str(r, "locationId") != c.loc {
			return false
		}
		if calID != "" && str(r, "calendarId") != calID || userID != "" && str(r, "assignedUserId") != userID {
			return false
		}
		if groupID != "" {
			cal := c.st.t("calendars").get(str(r, "calendarId"))
			if str(cal, "groupId") != groupID {
				return false
			}
		}
		return win.overlaps(span{parseEventTime(r, "startTime"), parseEventTime(r, "endTime")})
	})
	slices.SortStableFunc(evs, func(a, b record) int {
		return parseEventTime(a, "startTime").Compare(parseEventTime(b, "startTime"))
	})
	out := make([]any, 0, len(evs))
	for _, e := range evs {
		out = append(out, eventOut(e))
	}
	return ok(map[string]any{"events": out})
}

func (c *call) eventList() reply   { return c.windowEvents("appointments") }
func (c *call) blockedList() reply { return c.windowEvents("blockedSlots") }

var blockResponseFields = []string{"id", "locationId", "title", "startTime", "endTime", "calendarId", "assignedUserId"}

func (c *call) applyBlock(b record) *reply {
	cal, rep := c.calendar(str(c.body, "calendarId"))
	if rep != nil {
		return rep
	}
	tz := calTZ(cal)
	for _, f := range []string{"startTime", "endTime"} {
		if v, ok := c.body[f]; ok {
			t, rep := parseOffsetTime(v, f)
			if rep != nil {
				return rep
			}
			b[f] = t.In(tz).Format(offsetLayout)
		}
	}
	if str(b, "startTime") == "" || str(b, "endTime") == "" {
		return ptr(errUnprocessable("startTime and endTime are required"))
	}
	if !parseEventTime(b, "endTime").After(parseEventTime(b, "startTime")) {
		return ptr(errUnprocessable("endTime must be after startTime"))
	}
	if u := str(c.body, "assignedUserId"); u != "" {
		if c.st.t("users").get(u) == nil {
			return ptr(errUnprocessable("assignedUserId " + u + " is not a user of this location"))
		}
		b["assignedUserId"] = u
	}
	b["calendarId"] = idOf(cal)
	if t, ok := c.body["title"].(string); ok {
		b["title"] = t
	}
	b["dateUpdated"] = isoMillis(c.now)
	return nil
}

func (c *call) blockCreate() reply {
	ts := isoMillis(c.now)
	b := record{"id": c.st.newID(), "locationId": c.loc, "title": "", "contactId": "", "groupId": "", "appointmentStatus": "",
		"assignedUserId": "", "users": []any{}, "dateAdded": ts, "dateUpdated": ts}
	if rep := c.applyBlock(b); rep != nil {
		return *rep
	}
	c.st.t("blockedSlots").put(idOf(b), b)
	return created(pick(b, blockResponseFields...))
}

func (c *call) blockUpdate() reply {
	b := c.st.t("blockedSlots").get(c.path["eventId"])
	if b == nil {
		return reply{status: 404, body: map[string]any{"statusCode": 404, "message": "Event not found", "error": "Not Found"}}
	}
	if rep := c.owns(b); rep != nil {
		return *rep
	}
	next := cloneRec(b)
	if rep := c.applyBlock(next); rep != nil {
		return *rep
	}
	for k, v := range next {
		b[k] = v
	}
	return created(pick(b, blockResponseFields...))
}
