package sandbox

import (
	"slices"
	"strconv"
)

func init() {
	register(map[string]handlerFunc{
		"calendars.listAppointmentNotes":  (*call).apptNoteList,
		"calendars.createAppointmentNote": (*call).apptNoteCreate,
		"calendars.updateAppointmentNote": (*call).apptNoteUpdate,
		"calendars.deleteAppointmentNote": (*call).apptNoteDelete,
		"calendars.listNotifications":     (*call).notificationList,
		"calendars.getNotification":       (*call).notificationGet,
		"calendars.createNotification":    (*call).notificationCreate,
		"calendars.updateNotification":    (*call).notificationUpdate,
		"calendars.deleteNotification":    (*call).notificationDelete,
		"calendars.listResources":         (*call).resourceList,
		"calendars.getResource":           (*call).resourceGet,
		"calendars.createResource":        (*call).resourceCreate,
		"calendars.updateResource":        (*call).resourceUpdate,
		"calendars.deleteResource":        (*call).resourceDelete,
	})
}

// --- appointment notes (offset/limit with hasMore) ---

var apptNoteFields = []string{"id", "body", "userId", "dateAdded", "contactId", "createdBy"}

func (c *call) apptNoteList() reply {
	a, rep := c.appointment(c.path["appointmentId"])
	if rep != nil {
		return *rep
	}
	limit, offset := c.intQuery("limit", 10, 0), c.intQuery("offset", 0, 0)
	if limit < 1 || limit > 100 {
		return errUnprocessable("limit must not be less than 1 and not greater than 100")
	}
	ns := c.st.t("appointmentNotes").filter(func(r record) bool { return str(r, "appointmentId") == idOf(a) })
	sortByDateID(ns, "dateAdded", true)
	page := pageOf(ns, offset, limit)
	out := make([]any, 0, len(page))
	for _, n := range page {
		out = append(out, pick(n, apptNoteFields...))
	}
	return ok(map[string]any{"notes": out, "hasMore": offset+len(page) < len(ns)})
}

func (c *call) apptNoteCreate() reply {
	a, rep := c.appointment(c.path["appointmentId"])
	if rep != nil {
		return *rep
	}
	user := str(c.body, "userId")
	if rep := c.checkUser(user); rep != nil {
		return *rep
	}
	n := record{"id": c.st.newID(), "appointmentId": idOf(a), "locationId": str(a, "locationId"), "contactId": str(a, "contactId"),
		"body": str(c.body, "body"), "dateAdded": isoMillis(c.now)}
	if user != "" {
		u := c.st.t("users").get(user)
		n["userId"] = user
		n["createdBy"] = map[string]any{"id": user, "name": str(u, "name")}
	}
	c.st.t("appointmentNotes").put(idOf(n), n)
	return created(map[string]any{"note": pick(n, apptNoteFields...)})
}

func (c *call) apptNote() (record, *reply) {
	a, rep := c.appointment(c.path["appointmentId"])
	if rep != nil {
		return nil, rep
	}
	n := c.st.t("appointmentNotes").get(c.path["noteId"])
	if n == nil || str(n, "appointmentId") != idOf(a) {
		return nil, ptr(errNotFound("Note"))
	}
	return n, nil
}

func (c *call) apptNoteUpdate() reply {
	n, rep := c.apptNote()
	if rep != nil {
		return *rep
	}
	if rep := c.checkUser(str(c.body, "userId")); rep != nil {
		return *rep
	}
	n["body"] = str(c.body, "body")
	if u := str(c.body, "userId"); u != "" {
		n["userId"] = u
	}
	return ok(map[string]any{"note": pick(n, apptNoteFields...)})
}

func (c *call) apptNoteDelete() reply {
	n, rep := c.apptNote()
	if rep != nil {
		return *rep
	}
	c.st.t("appointmentNotes").del(idOf(n))
	return ok(map[string]any{"success": true})
}

// --- calendar notifications (skip/limit; GHL names their id _id) ---

var notificationFields = []string{"_id", "receiverType", "additionalEmailIds", "additionalPhoneNumbers", "channel",
	"notificationType", "isActive", "additionalWhatsappNumbers", "templateId", "body", "subject", "afterTime",
	"beforeTime", "selectedUsers", "deleted", "fromAddress", "fromName", "fromNumber"}

var notificationEnums = map[string][]string{
	"receiverType":     {"contact", "guest", "assignedUser", "emails", "phoneNumbers", "business"},
	"channel":          {"email", "inApp", "sms", "whatsapp"},
	"notificationType": {"booked", "confirmation", "cancellation", "reminder", "followup", "reschedule"},
}

func checkEnums(m map[string]any, prefix string) []string {
	var msgs []string
	for f, vals := range notificationEnums {
		if v, ok := m[f].(string); ok && !slices.Contains(vals, v) {
			msgs = append(msgs, prefix+f+" must be one of the following values: "+joinComma(vals))
		}
	}
	slices.Sort(msgs)
	return msgs
}

func joinComma(s []string) string {
	out := ""
	for i, v := range s {
		if i > 0 {
			out += ", "
		}
		out += v
	}
	return out
}

func (c *call) notification() (record, *reply) {
	cal, rep := c.calendar(c.path["calendarId"])
	if rep != nil {
		return nil, rep
	}
	n := c.st.t("notifications").get(c.path["notificationId"])
	if n == nil || str(n, "calendarId") != idOf(cal) {
		return nil, ptr(errNotFound("Notification"))
	}
	return n, nil
}

func (c *call) notificationList() reply {
	cal, rep := c.calendar(c.path["calendarId"])
	if rep != nil {
		return *rep
	}
	wantDeleted := c.q.Get("deleted") == "true"
	active := c.q.Get("isActive")
	ns := c.st.t("notifications").filter(func(r record) bool {
		return str(r, "calendarId") == idOf(cal) && boolean(r, "deleted") == wantDeleted &&
			(active == "" || (active == "true") == boolean(r, "isActive"))
	})
	page := pageOf(ns, c.intQuery("skip", 0, 0), max(c.intQuery("limit", 100, 100), 1))
	out := make([]any, 0, len(page))
	for _, n := range page {
		out = append(out, pick(n, notificationFields...))
	}
	return ok(out)
}

func (c *call) notificationGet() reply {
	n, rep := c.notification()
	if rep != nil {
		return *rep
	}
	return ok(pick(n, notificationFields...))
}

func (c *call) notificationCreate() reply {
	cal, rep := c.calendar(c.path["calendarId"])
	if rep != nil {
		return *rep
	}
	var msgs []string
	for i, e := range c.arr {
		m, _ := e.(map[string]any)
		msgs = append(msgs, checkEnums(m, itoa(i)+".")...)
	}
	if len(msgs) > 0 {
		return errUnprocessable(msgs...)
	}
	out := []any{}
	for _, e := range c.arr {
		m, _ := e.(map[string]any)
		n := record{"_id": c.st.newID(), "calendarId": idOf(cal), "locationId": str(cal, "locationId"), "isActive": true, "deleted": false}
		for k, v := range m {
			n[k] = clone(v)
		}
		c.st.t("notifications").put(idOf(n), n)
		out = append(out, pick(n, notificationFields...))
	}
	return ok(out)
}

func itoa(i int) string { return strconv.Itoa(i) }

func (c *call) notificationUpdate() reply {
	n, rep := c.notification()
	if rep != nil {
		return *rep
	}
	if msgs := checkEnums(c.body, ""); len(msgs) > 0 {
		return errUnprocessable(msgs...)
	}
	for k, v := range c.body {
		n[k] = clone(v)
	}
	return ok(map[string]any{"message": "Notification updated successfully"})
}

func (c *call) notificationDelete() reply {
	n, rep := c.notification()
	if rep != nil {
		return *rep
	}
	n["deleted"] = true // GHL keeps deleted notifications, listed with deleted=true
	return ok(map[string]any{"message": "Notification deleted successfully"})
}

// --- resources (equipments and rooms) ---

var resourceFields = []string{"id", "locationId", "name", "resourceType", "isActive", "description", "quantity",
	"outOfService", "capacity", "calendarIds"}

func (c *call) resourceType() *reply {
	if t := c.path["resourceType"]; t != "equipments" && t != "rooms" {
		return ptr(errUnprocessable("resourceType must be one of the following values: equipments, rooms"))
	}
	return nil
}

func (c *call) resource() (record, *reply) {
	if rep := c.resourceType(); rep != nil {
		return nil, rep
	}
	r := c.st.t("resources").get(c.path["id"])
	if r == nil || str(r, "resourceType") != c.path["resourceType"] {
		return nil, ptr(errNotFound("Resource"))
	}
	if rep := c.owns(r); rep != nil {
		return nil, rep
	}
	return r, nil
}

func (c *call) resourceList() reply {
	if rep := c.resourceType(); rep != nil {
		return *rep
	}
	rs := c.st.t("resources").filter(func(r record) bool {
		return str(r, "locationId") == c.loc && str(r, "resourceType") == c.path["resourceType"]
	})
	page := pageOf(rs, c.intQuery("skip", 0, 0), max(c.intQuery("limit", 100, 100), 1))
	out := make([]any, 0, len(page))
	for _, r := range page {
		out = append(out, pick(r, resourceFields...))
	}
	return ok(out)
}

func (c *call) resourceGet() reply {
	r, rep := c.resource()
	if rep != nil {
		return *rep
	}
	return ok(pick(r, resourceFields...))
}

func (c *call) checkCalendars() *reply {
	for _, id := range strs(c.body, "calendarIds") {
		cal := c.st.t("calendars").get(id)
		if cal == nil || str(cal, "locationId") != c.loc {
			return ptr(errUnprocessable("calendarIds: calendar " + id + " not found"))
		}
	}
	return nil
}

func (c *call) resourceCreate() reply {
	if rep := c.resourceType(); rep != nil {
		return *rep
	}
	if rep := c.checkCalendars(); rep != nil {
		return *rep
	}
	r := record{"id": c.st.newID(), "locationId": c.loc, "resourceType": c.path["resourceType"], "isActive": true}
	for _, f := range []string{"name", "description", "quantity", "outOfService", "capacity", "calendarIds"} {
		r[f] = clone(c.body[f])
	}
	c.st.t("resources").put(idOf(r), r)
	return created(pick(r, resourceFields...))
}

func (c *call) resourceUpdate() reply {
	r, rep := c.resource()
	if rep != nil {
		return *rep
	}
	c.loc = str(r, "locationId")
	if rep := c.checkCalendars(); rep != nil {
		return *rep
	}
	for _, f := range []string{"name", "description", "quantity", "outOfService", "capacity", "calendarIds", "isActive"} {
		if v, ok := c.body[f]; ok {
			r[f] = clone(v)
		}
	}
	return ok(pick(r, resourceFields...))
}

func (c *call) resourceDelete() reply {
	r, rep := c.resource()
	if rep != nil {
		return *rep
	}
	c.st.t("resources").del(idOf(r))
	return ok(map[string]any{"success": true})
}
