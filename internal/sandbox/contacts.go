package sandbox

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/nyaruka/phonenumbers"
)

func init() {
	register(map[string]handlerFunc{
		"contacts.get":                    (*call).contactGet,
		"contacts.create":                 (*call).contactCreate,
		"contacts.update":                 (*call).contactUpdate,
		"contacts.upsert":                 (*call).contactUpsert,
		"contacts.delete":                 (*call).contactDelete,
		"contacts.getDuplicate":           (*call).contactDuplicate,
		"contacts.search":                 (*call).contactSearch,
		"contacts.listDeprecated":         (*call).contactList,
		"contacts.listByBusiness":         (*call).contactsByBusiness,
		"contacts.addTags":                (*call).contactAddTags,
		"contacts.removeTags":             (*call).contactRemoveTags,
		"contacts.bulkUpdateTags":         (*call).contactBulkTags,
		"contacts.bulkBusinessUpdate":     (*call).contactBulkBusiness,
		"contacts.addFollowers":           (*call).contactAddFollowers,
		"contacts.removeFollowers":        (*call).contactRemoveFollowers,
		"contacts.listAppointments":       (*call).contactAppointments,
		"contacts.addToCampaign":          (*call).campaignAdd,
		"contacts.removeFromCampaign":     (*call).campaignRemove,
		"contacts.removeFromAllCampaigns": (*call).campaignRemoveAll,
		"workflows.addContact":            (*call).workflowAdd,
		"workflows.removeContact":         (*call).workflowRemove,
	})
}

// handlers maps catalog operation ids to their handlers.
var handlers = map[string]handlerFunc{}

func register(m map[string]handlerFunc) {
	for k, v := range m {
		if _, dup := handlers[k]; dup {
			panic("sandbox: handler registered twice: " + k)
		}
		handlers[k] = v
	}
}

// contactStringFields are copied as given (null clears them).
var contactStringFields = []string{"firstName", "lastName", "name", "companyName", "address1", "city", "state",
	"postalCode", "website", "timezone", "source", "assignedTo", "gender", "country"}

// applyContact writes body fields onto contact c the way GHL does: phone to
// E.164, emails kept as given with a lower-case twin, tags overwritten,
// custom fields typed and merged. It returns validation messages.
func applyContact(st *state, c record, body map[string]any, create bool) []string {
	var msgs []string
	loc := st.t("locations").get(str(c, "locationId"))
	for _, f := range contactStringFields {
		v, ok := body[f]
		if !ok {
			continue
		}
		if v == nil || v == "" {
			delete(c, f)
			continue
		}
		c[f] = strings.TrimSpace(fmt.Sprint(v))
	}
	if n, ok := body["name"].(string); ok && n != "" && body["firstName"] == nil && body["lastName"] == nil && str(c, "firstName") == "" {
		first, last, _ := strings.Cut(strings.TrimSpace(n), " ")
		c["firstName"] = first
		if last != "" {
			c["lastName"] = strings.TrimSpace(last)
		}
	}
	if v, ok := body["email"]; ok {
		if e, _ := v.(string); e == "" {
			delete(c, "email")
			delete(c, "emailLowerCase")
		} else {
			c["email"] = strings.TrimSpace(e)
			c["emailLowerCase"] = lower(e)
		}
	}
	if v, ok := body["phone"]; ok {
		if p, _ := v.(string); p == "" {
			delete(c, "phone")
		} else if e164, err := normalizePhone(p, str(loc, "country")); err != nil {
			msgs = append(msgs, "phone must be a valid phone number")
		} else {
			c["phone"] = e164
		}
	}
	for _, f := range []string{"dnd", "dndSettings", "inboundDndSettings"} {
		if v, ok := body[f]; ok {
			c[f] = clone(v)
		}
	}
	if v, ok := body["dateOfBirth"]; ok {
		if v == nil || v == "" {
			delete(c, "dateOfBirth")
		} else if d, err := parseBirthDate(v); err != nil {
			msgs = append(msgs, "dateOfBirth must be a valid date")
		} else {
			c["dateOfBirth"] = d
		}
	}
	if v, ok := body["tags"]; ok {
		c["tags"] = toAnySlice(normTags(strsOf(v)))
	}
	if v, ok := body["customFields"]; ok {
		out, m := applyCustomFields(st, str(c, "locationId"), "contact", c["customFields"], v, "value")
		msgs = append(msgs, m...)
		c["customFields"] = out
	}
	if create {
		setDefault(c, "tags", []any{})
		setDefault(c, "customFields", []any{})
		setDefault(c, "followers", []any{})
		setDefault(c, "type", "lead")
		setDefault(c, "dnd", false)
	}
	// derived fields
	first, last := str(c, "firstName"), str(c, "lastName")
	full := strings.TrimSpace(first + " " + last)
	setOrDelete(c, "firstNameLowerCase", lower(first))
	setOrDelete(c, "lastNameLowerCase", lower(last))
	setOrDelete(c, "fullNameLowerCase", lower(full))
	if full != "" {
		c["contactName"] = full
	}
	return msgs
}

func setOrDelete(r record, k, v string) {
	if v == "" {
		delete(r, k)
	} else {
		r[k] = v
	}
}

func stampContact(c record, ts string, created bool) {
	if created {
		c["dateAdded"] = ts
	}
	c["dateUpdated"] = ts
}

func strsOf(v any) []string { return strs(record{"v": v}, "v") }

// normTags trims, lower-cases and de-duplicates tags as GHL stores them.
func normTags(in []string) []string {
	out := []string{}
	for _, t := range in {
		t = lower(t)
		if t != "" && !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out
}

// normalizePhone returns the number in E.164, reading national numbers in
// the location's country (default US).
func normalizePhone(raw, country string) (string, error) {
	if country == "" {
		country = "US"
	}
	n, err := phonenumbers.Parse(raw, strings.ToUpper(country))
	if err != nil {
		return "", err
	}
	if !phonenumbers.IsPossibleNumber(n) {
		return "", fmt.Errorf("not a possible number")
	}
	return phonenumbers.Format(n, phonenumbers.E164), nil
}

var birthLayouts = []string{"2006/01/02", "01/02/2006", "2006-01-02", "01-02-2006", "2006.01.02", "01.02.2006",
	"2006_01_02", "01_02_2006", time.RFC3339, "2006-01-02T15:04:05.000Z"}

func parseBirthDate(v any) (string, error) {
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("not a string")
	}
	for _, l := range birthLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t.UTC().Format("2006-01-02T00:00:00.000Z"), nil
		}
	}
	return "", fmt.Errorf("unknown date format")
}

// customFieldTypes are GHL's custom field data types.
var customFieldTypes = []string{"TEXT", "LARGE_TEXT", "NUMERICAL", "PHONE", "MONETORY", "CHECKBOX", "SINGLE_OPTIONS",
	"MULTIPLE_OPTIONS", "DATE", "TEXTBOX_LIST", "FILE_UPLOAD", "RADIO", "EMAIL"}

// findCustomField looks a definition up by id or by key ("contact.x" or "x").
func findCustomField(st *state, loc, model, id, key string) record {
	for _, f := range st.t("customFields").all() {
		if str(f, "locationId") != loc || str(f, "model") != model {
			continue
		}
		if id != "" && idOf(f) == id {
			return f
		}
		if id == "" && key != "" && (str(f, "fieldKey") == key || str(f, "fieldKey") == model+"."+key) {
			return f
		}
	}
	return nil
}

// applyCustomFields merges written values ({id | key, field_value}) into the
// stored list ({id, <valueKey>}), checking each value against its type.
func applyCustomFields(st *state, loc, model string, current any, items any, valueKey string) ([]any, []string) {
	out, _ := clone(current).([]any)
	if out == nil {
		out = []any{}
	}
	list, ok := items.([]any)
	if !ok {
		return out, []string{"customFields must be an array"}
	}
	var msgs []string
	for i, it := range list {
		m, ok := it.(map[string]any)
		if !ok {
			msgs = append(msgs, fmt.Sprintf("customFields.%d must be an object", i))
			continue
		}
		id, key := str(m, "id"), str(m, "key")
		if id == "" && key == "" {
			msgs = append(msgs, fmt.Sprintf("customFields.%d: pass either id or key", i))
			continue
		}
		def := findCustomField(st, loc, model, id, key)
		if def == nil {
			msgs = append(msgs, fmt.Sprintf("customFields.%d: no %s custom field with %s", i, model, firstNonEmpty(quoteKV("id", id), quoteKV("key", key))))
			continue
		}
		raw, has := m["field_value"]
		if !has {
			raw, has = m["value"]
		}
		if !has {
			raw, has = m["fieldValue"]
		}
		fid := idOf(def)
		idx := slices.IndexFunc(out, func(e any) bool { em, _ := e.(map[string]any); return str(em, "id") == fid })
		if raw == nil || raw == "" {
			if idx >= 0 {
				out = slices.Delete(out, idx, idx+1)
			}
			continue
		}
		val, err := typedValue(def, raw)
		if err != "" {
			msgs = append(msgs, fmt.Sprintf("customFields.%d (%s, %s): %s", i, str(def, "fieldKey"), str(def, "dataType"), err))
			continue
		}
		entry := map[string]any{"id": fid, valueKey: val}
		if idx >= 0 {
			out[idx] = entry
		} else {
			out = append(out, entry)
		}
	}
	return out, msgs
}

func quoteKV(k, v string) string {
	if v == "" {
		return ""
	}
	return fmt.Sprintf("%s %q", k, v)
}

// typedValue checks and converts a custom field value for its data type.
func typedValue(def record, raw any) (any, string) {
	opts := strs(def, "picklistOptions")
	switch str(def, "dataType") {
	case "NUMERICAL", "MONETORY":
		switch v := raw.(type) {
		case float64:
			return v, ""
		case string:
			if f, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
				return f, ""
			}
		}
		return nil, "value must be a number"
	case "CHECKBOX", "MULTIPLE_OPTIONS", "TEXTBOX_LIST":
		if t, isText := raw.(string); isText && str(def, "dataType") == "TEXTBOX_LIST" {
			// GHL documents no single form for a text list: one text is
			// taken as a list of one, like the array form.
			raw = []any{t}
		}
		a, ok := raw.([]any)
		if !ok {
			return nil, "value must be an array of strings"
		}
		vals := strsOf(a)
		if len(vals) != len(a) {
			return nil, "value must be an array of strings"
		}
		for _, v := range vals {
			if len(opts) > 0 && str(def, "dataType") != "TEXTBOX_LIST" && !slices.Contains(opts, v) {
				return nil, fmt.Sprintf("%q is not one of the options %s", v, strings.Join(opts, ", "))
			}
		}
		return toAnySlice(vals), ""
	case "FILE_UPLOAD":
		if m, ok := raw.(map[string]any); ok {
			return clone(m), ""
		}
		return nil, "value must be an object of uploaded files"
	case "DATE":
		s, ok := raw.(string)
		if !ok {
			if f, ok := raw.(float64); ok {
				return time.UnixMilli(int64(f)).UTC().Format("2006-01-02"), ""
			}
			return nil, "value must be a date string"
		}
		for _, l := range []string{"2006-01-02", time.RFC3339, "2006-01-02T15:04:05.000Z", "01/02/2006", "2006/01/02"} {
			if t, err := time.Parse(l, s); err == nil {
				return t.Format("2006-01-02"), ""
			}
		}
		return nil, "value must be a date (YYYY-MM-DD)"
	default: // TEXT, LARGE_TEXT, PHONE, EMAIL, SINGLE_OPTIONS, RADIO
		s, ok := raw.(string)
		if !ok {
			return nil, "value must be a string"
		}
		if t := str(def, "dataType"); (t == "SINGLE_OPTIONS" || t == "RADIO") && len(opts) > 0 && !slices.Contains(opts, s) {
			return nil, fmt.Sprintf("%q is not one of the options %s", s, strings.Join(opts, ", "))
		}
		return s, ""
	}
}

// --- lookups ---

func (c *call) contact(id string) (record, *reply) {
	r := c.st.t("contacts").get(id)
	if r == nil {
		return nil, ptr(errNotFound("Contact"))
	}
	if rep := c.owns(r); rep != nil {
		return nil, rep
	}
	return r, nil
}

func (c *call) location() record { return c.st.t("locations").get(c.loc) }

// duplicateOrder is the order in which email and phone identify a contact.
func duplicateOrder(loc record) []string {
	if str(loc, "duplicateRule") == "phone-then-email" {
		return []string{"phone", "email"}
	}
	return []string{"email", "phone"}
}

func allowDuplicates(loc record, key string) bool {
	s, _ := loc["settings"].(map[string]any)
	return boolean(s, key)
}

// findDuplicate finds the contact matching email or phone in the order the
// location is configured with; it returns the contact and the field matched.
func findDuplicate(st *state, loc record, email, phone string) (record, string) {
	for _, f := range duplicateOrder(loc) {
		var ids []string
		switch {
		case f == "email" && email != "":
			ids = st.contactsBy(idOf(loc), "email", lower(email))
		case f == "phone" && phone != "":
			ids = st.contactsBy(idOf(loc), "phone", phone)
		}
		if len(ids) > 0 {
			return st.t("contacts").get(ids[0]), f
		}
	}
	return nil, ""
}

// contactOut is a contact as returned by the API.
func contactOut(r record) record { return cloneRec(r) }

// webhookContact is the flat contact payload of Contact* webhooks.
func webhookContact(r record) record {
	out := pick(r, "id", "locationId", "address1", "city", "state", "companyName", "country", "source", "dateAdded",
		"dateOfBirth", "dnd", "email", "firstName", "lastName", "phone", "postalCode", "tags", "website", "assignedTo",
		"customFields", "timezone")
	if n := str(r, "contactName"); n != "" {
		out["name"] = n
	}
	out["attachments"] = []any{}
	return out
}

// --- handlers ---

func (c *call) contactGet() reply {
	r, rep := c.contact(c.path["contactId"])
	if rep != nil {
		return *rep
	}
	return ok(map[string]any{"contact": contactOut(r)})
}

func (c *call) phoneOf(body map[string]any) (string, *reply) {
	p, _ := body["phone"].(string)
	if p == "" {
		return "", nil
	}
	e, err := normalizePhone(p, str(c.location(), "country"))
	if err != nil {
		return "", ptr(errUnprocessable("phone must be a valid phone number"))
	}
	return e, nil
}

func (c *call) newContact(body map[string]any) (record, *reply) {
	ct := record{"id": c.st.newID(), "locationId": c.loc}
	b := cloneRec(body)
	delete(b, "locationId")
	delete(b, "createNewIfDuplicateAllowed")
	if msgs := applyContact(c.st, ct, b, true); len(msgs) > 0 {
		return nil, ptr(errUnprocessable(msgs...))
	}
	stampContact(ct, isoMillis(c.now), true)
	c.st.t("contacts").put(idOf(ct), ct)
	c.st.reindexContact(nil, ct)
	c.emit("ContactCreate", webhookContact(ct))
	return ct, nil
}

func (c *call) contactCreate() reply {
	loc := c.location()
	if loc == nil {
		return errNotFound("Location")
	}
	phone, rep := c.phoneOf(c.body)
	if rep != nil {
		return *rep
	}
	email, _ := c.body["email"].(string)
	if !allowDuplicates(loc, "allowDuplicateContact") {
		if dup, field := findDuplicate(c.st, loc, email, phone); dup != nil {
			return reply{status: 400, body: map[string]any{"statusCode": 400,
				"message": "This location does not allow duplicated contacts.",
				"meta":    map[string]any{"contactName": str(dup, "contactName"), "contactId": idOf(dup), "matchingField": field}}}
		}
	}
	ct, rep := c.newContact(c.body)
	if rep != nil {
		return *rep
	}
	return created(map[string]any{"contact": contactOut(ct)})
}

// updateContact applies body to an existing contact and emits the webhooks.
func (c *call) updateContact(ct record, body map[string]any) *reply {
	before := cloneRec(ct)
	b := cloneRec(body)
	delete(b, "locationId")
	delete(b, "createNewIfDuplicateAllowed")
	next := cloneRec(ct)
	if msgs := applyContact(c.st, next, b, false); len(msgs) > 0 {
		return ptr(errUnprocessable(msgs...))
	}
	stampContact(next, isoMillis(c.now), false)
	c.st.reindexContact(ct, next)
	for k := range ct {
		delete(ct, k)
	}
	for k, v := range next {
		ct[k] = v
	}
	c.emit("ContactUpdate", webhookContact(ct))
	if !slices.Equal(strs(before, "tags"), strs(ct, "tags")) {
		c.emit("ContactTagUpdate", webhookContact(ct))
	}
	if boolean(before, "dnd") != boolean(ct, "dnd") {
		c.emit("ContactDndUpdate", webhookContact(ct))
	}
	return nil
}

func (c *call) contactUpdate() reply {
	ct, rep := c.contact(c.path["contactId"])
	if rep != nil {
		return *rep
	}
	if rep := c.updateContact(ct, c.body); rep != nil {
		return *rep
	}
	return ok(map[string]any{"succeded": true, "contact": contactOut(ct)})
}

func (c *call) contactUpsert() reply {
	loc := c.location()
	if loc == nil {
		return errNotFound("Location")
	}
	phone, rep := c.phoneOf(c.body)
	if rep != nil {
		return *rep
	}
	email, _ := c.body["email"].(string)
	forceNew := boolean(c.body, "createNewIfDuplicateAllowed") && allowDuplicates(loc, "allowDuplicateContact")
	if !forceNew {
		if dup, _ := findDuplicate(c.st, loc, email, phone); dup != nil {
			// The first field of the configured order found the contact; the
			// other field is written only if no other contact owns it.
			body := cloneRec(c.body)
			if email != "" {
				if o, _ := findDuplicate(c.st, loc, email, ""); o != nil && idOf(o) != idOf(dup) {
					delete(body, "email")
				}
			}
			if phone != "" {
				if o, _ := findDuplicate(c.st, loc, "", phone); o != nil && idOf(o) != idOf(dup) {
					delete(body, "phone")
				}
			}
			if rep := c.updateContact(dup, body); rep != nil {
				return *rep
			}
			return ok(map[string]any{"new": false, "contact": contactOut(dup), "traceId": c.trace})
		}
	}
	ct, rep := c.newContact(c.body)
	if rep != nil {
		return *rep
	}
	return ok(map[string]any{"new": true, "contact": contactOut(ct), "traceId": c.trace})
}

func (c *call) contactDelete() reply {
	ct, rep := c.contact(c.path["contactId"])
	if rep != nil {
		return *rep
	}
	id := idOf(ct)
	c.st.t("contacts").del(id)
	c.st.reindexContact(ct, nil)
	for _, kind := range []string{"notes", "tasks", "enrolments"} {
		for _, r := range c.st.t(kind).filter(func(r record) bool { return str(r, "contactId") == id }) {
			c.st.t(kind).del(idOf(r))
		}
	}
	c.emit("ContactDelete", webhookContact(ct))
	return ok(map[string]any{"succeded": true})
}

func (c *call) contactDuplicate() reply {
	loc := c.location()
	if loc == nil {
		return errNotFound("Location")
	}
	email, number := c.q.Get("email"), c.q.Get("number")
	if email == "" && number == "" {
		return errBadRequest("Either email or number is required")
	}
	phone := ""
	if number != "" {
		e, err := normalizePhone(number, str(loc, "country"))
		if err != nil {
			return errUnprocessable("number must be a valid phone number")
		}
		phone = e
	}
	// With duplicates allowed GHL looks at email first, then phone; otherwise
	// it uses the location's unique identifier order.
	look := loc
	if allowDuplicates(loc, "allowDuplicateContact") {
		look = cloneRec(loc)
		look["duplicateRule"] = "email-then-phone"
	}
	dup, field := findDuplicate(c.st, look, email, phone)
	if dup == nil {
		return ok(map[string]any{"contact": nil, "traceId": c.trace})
	}
	return ok(map[string]any{"contact": contactOut(dup), "matchingField": field, "traceId": c.trace})
}

// contactsOfLocation lists the location's contacts, newest first.
func (c *call) contactsOfLocation() []record {
	rs := c.st.t("contacts").filter(func(r record) bool { return str(r, "locationId") == c.loc })
	sortByDateID(rs, "dateAdded", true)
	return rs
}

func sortByDateID(rs []record, key string, desc bool) {
	sort.SliceStable(rs, func(i, j int) bool {
		a, b := str(rs[i], key), str(rs[j], key)
		if a != b {
			return (a > b) == desc
		}
		return (idOf(rs[i]) > idOf(rs[j])) == desc
	})
}

func millisOf(iso string) int64 {
	t, err := time.Parse(time.RFC3339Nano, iso)
	if err != nil {
		return 0
	}
	return t.UnixMilli()
}

func matchesQuery(r record, q string) bool {
	if q == "" {
		return true
	}
	q = lower(q)
	for _, f := range []string{"contactName", "firstName", "lastName", "emailLowerCase", "phone", "companyName"} {
		if strings.Contains(lower(str(r, f)), q) {
			return true
		}
	}
	return false
}

// contactList is the deprecated GET /contacts/: newest first, paged with
// startAfter (dateAdded in epoch ms) and startAfterId from meta.
func (c *call) contactList() reply {
	limit := c.intQuery("limit", 20, 100)
	if limit == 0 {
		limit = 20
	}
	all := c.contactsOfLocation()
	q := c.q.Get("query")
	items := all[:0:0]
	for _, r := range all {
		if matchesQuery(r, q) {
			items = append(items, r)
		}
	}
	pageItems, meta, rep := c.startAfterPage(items, "dateAdded", limit, "/contacts/")
	if rep != nil {
		return *rep
	}
	return ok(map[string]any{"contacts": recsToAny(pageItems), "count": len(items), "meta": meta})
}

// startAfterPage pages newest-first items with the startAfter/startAfterId
// cursor pair. Only startAfterId is enough to continue; startAfter without
// startAfterId is rejected (422) instead of silently restarting the list.
func (c *call) startAfterPage(items []record, dateKey string, limit int, path string) ([]record, map[string]any, *reply) {
	sa, said := c.q.Get("startAfter"), c.q.Get("startAfterId")
	start := 0
	page := 1
	if sa != "" && said == "" {
		return nil, nil, ptr(errUnprocessable("startAfterId should not be empty when startAfter is set"))
	}
	if said != "" {
		idx := slices.IndexFunc(items, func(r record) bool { return idOf(r) == said })
		if idx < 0 {
			// The cursor item is gone (deleted) or never existed: fall back to
			// the timestamp, which GHL also compares on.
			if sa == "" {
				return nil, nil, ptr(errUnprocessable("startAfterId " + said + " is not a valid cursor"))
			}
			ms, _ := strconv.ParseFloat(sa, 64)
			idx = len(items) - 1
			for i, r := range items {
				if float64(millisOf(str(r, dateKey))) < ms {
					idx = i - 1
					break
				}
			}
		}
		start = idx + 1
		page = start/max(limit, 1) + 1
	}
	out := pageOf(items, start, limit)
	meta := map[string]any{"total": len(items), "currentPage": page}
	if page > 1 {
		meta["prevPage"] = page - 1
	}
	if start+len(out) < len(items) && len(out) > 0 {
		last := out[len(out)-1]
		ms := millisOf(str(last, dateKey))
		meta["startAfterId"] = idOf(last)
		meta["startAfter"] = ms
		meta["nextPage"] = page + 1
		q := c.q
		nq := make(map[string][]string, len(q))
		for k, v := range q {
			nq[k] = v
		}
		nq["startAfterId"] = []string{idOf(last)}
		nq["startAfter"] = []string{strconv.FormatInt(ms, 10)}
		meta["nextPageUrl"] = "http://" + c.r.Host + path + "?" + encodeQuery(nq)
	}
	return out, meta, nil
}

func (c *call) contactsByBusiness() reply {
	bid := c.path["businessId"]
	if b := c.st.t("businesses").get(bid); b == nil {
		return errNotFound("Business")
	} else if rep := c.owns(b); rep != nil {
		return *rep
	}
	var items []record
	q := c.q.Get("query")
	for _, r := range c.contactsOfLocation() {
		if str(r, "businessId") == bid && matchesQuery(r, q) {
			items = append(items, r)
		}
	}
	out := pageOf(items, c.intQuery("skip", 0, 0), max(c.intQuery("limit", 25, 100), 1))
	return ok(map[string]any{"contacts": recsToAny(out), "count": len(items)})
}

func (c *call) contactTags(add bool) reply {
	ct, rep := c.contact(c.path["contactId"])
	if rep != nil {
		return *rep
	}
	before := strs(ct, "tags")
	tags := normTags(before)
	for _, t := range normTags(strs(c.body, "tags")) {
		i := slices.Index(tags, t)
		if add && i < 0 {
			tags = append(tags, t)
		} else if !add && i >= 0 {
			tags = slices.Delete(tags, i, i+1)
		}
	}
	ct["tags"] = toAnySlice(tags)
	if !slices.Equal(before, tags) {
		ct["dateUpdated"] = isoMillis(c.now)
		c.emit("ContactTagUpdate", webhookContact(ct))
	}
	if add {
		return created(map[string]any{"tags": toAnySlice(tags)})
	}
	return ok(map[string]any{"tags": toAnySlice(tags)})
}

func (c *call) contactAddTags() reply    { return c.contactTags(true) }
func (c *call) contactRemoveTags() reply { return c.contactTags(false) }

func (c *call) contactBulkTags() reply {
	typ := c.path["type"]
	if typ != "add" && typ != "remove" {
		return errUnprocessable("type must be one of the following values: add, remove")
	}
	if _, ok := c.body["removeAllTags"]; ok && typ == "add" {
		return errUnprocessable("removeAllTags can only be used with type remove")
	}
	tags := normTags(strs(c.body, "tags"))
	// Items as GHL answers (the spec's example): one object per contact,
	// type success or error.
	responses := []any{}
	errCount := 0
	for _, id := range strs(c.body, "contacts") {
		ct := c.st.t("contacts").get(id)
		if ct == nil || str(ct, "locationId") != c.loc {
			errCount++
			msg := "contact not found"
			if ct != nil {
				msg = "contact does not belong to location"
			}
			responses = append(responses, map[string]any{"contactId": id, "message": msg, "type": "error"})
			continue
		}
		cur := normTags(strs(ct, "tags"))
		before := slices.Clone(cur)
		switch {
		case typ == "remove" && boolean(c.body, "removeAllTags"):
			cur = []string{}
		case typ == "remove":
			cur = slices.DeleteFunc(cur, func(t string) bool { return slices.Contains(tags, t) })
		default:
			for _, t := range tags {
				if !slices.Contains(cur, t) {
					cur = append(cur, t)
				}
			}
		}
		ct["tags"] = toAnySlice(cur)
		if !slices.Equal(before, cur) {
			ct["dateUpdated"] = isoMillis(c.now)
			c.emit("ContactTagUpdate", webhookContact(ct))
		}
		added := slices.DeleteFunc(slices.Clone(cur), func(t string) bool { return slices.Contains(before, t) })
		removed := slices.DeleteFunc(slices.Clone(before), func(t string) bool { return slices.Contains(cur, t) })
		responses = append(responses, map[string]any{
			"contactId": id, "message": "Tags updated", "type": "success",
			"oldTags": toAnySlice(before), "tagsAdded": toAnySlice(added), "tagsRemoved": toAnySlice(removed),
		})
	}
	return created(map[string]any{"succeded": errCount == 0, "errorCount": errCount, "responses": responses})
}

func (c *call) contactBulkBusiness() reply {
	bid, _ := c.body["businessId"].(string)
	if bid != "" {
		b := c.st.t("businesses").get(bid)
		if b == nil || str(b, "locationId") != c.loc {
			return errNotFound("Business")
		}
	}
	ids := strs(c.body, "ids")
	var done []string
	for _, id := range ids {
		ct := c.st.t("contacts").get(id)
		if ct == nil || str(ct, "locationId") != c.loc {
			continue
		}
		if bid == "" {
			delete(ct, "businessId")
		} else {
			ct["businessId"] = bid
		}
		ct["dateUpdated"] = isoMillis(c.now)
		c.emit("ContactUpdate", webhookContact(ct))
		done = append(done, id)
	}
	return ok(map[string]any{"success": true, "ids": toAnySlice(done)})
}

// followers adds or removes user ids on a contact or opportunity.
func (c *call) followers(r record, add bool) (all, changed []string, rep *reply) {
	cur := strs(r, "followers")
	for _, f := range strs(c.body, "followers") {
		u := c.st.t("users").get(f)
		if add && u == nil {
			return nil, nil, ptr(errUnprocessable("followers: user " + f + " not found"))
		}
		i := slices.Index(cur, f)
		if add && i < 0 {
			cur = append(cur, f)
			changed = append(changed, f)
		} else if !add && i >= 0 {
			cur = slices.Delete(cur, i, i+1)
			changed = append(changed, f)
		}
	}
	r["followers"] = toAnySlice(cur)
	return cur, changed, nil
}

func (c *call) contactAddFollowers() reply {
	ct, rep := c.contact(c.path["contactId"])
	if rep != nil {
		return *rep
	}
	all, added, rep := c.followers(ct, true)
	if rep != nil {
		return *rep
	}
	return created(map[string]any{"followers": toAnySlice(all), "followersAdded": toAnySlice(added)})
}

func (c *call) contactRemoveFollowers() reply {
	ct, rep := c.contact(c.path["contactId"])
	if rep != nil {
		return *rep
	}
	all, removed, _ := c.followers(ct, false)
	return ok(map[string]any{"followers": toAnySlice(all), "followersRemoved": toAnySlice(removed)})
}

func (c *call) contactAppointments() reply {
	ct, rep := c.contact(c.path["contactId"])
	if rep != nil {
		return *rep
	}
	evs := c.st.t("appointments").filter(func(r record) bool { return str(r, "contactId") == idOf(ct) })
	sortByDateID(evs, "startTime", false)
	out := make([]any, 0, len(evs))
	for _, e := range evs {
		o := eventOut(e)
		o["status"] = str(e, "appointmentStatus")
		out = append(out, o)
	}
	return ok(map[string]any{"events": out})
}

// --- campaign and workflow enrolment ---

func (c *call) enrol(kind, field, id string, extra record) reply {
	ct, rep := c.contact(c.path["contactId"])
	if rep != nil {
		return *rep
	}
	target := c.st.t(kind).get(id)
	if target == nil || str(target, "locationId") != c.loc {
		return errNotFound(strings.ToUpper(kind[:1]) + kind[1:len(kind)-1])
	}
	for _, e := range c.st.t("enrolments").all() {
		if str(e, "contactId") == idOf(ct) && str(e, field) == id {
			return reply{} // already enrolled: GHL answers success
		}
	}
	e := record{"id": c.st.newID(), "locationId": c.loc, "contactId": idOf(ct), field: id, "dateAdded": isoMillis(c.now)}
	for k, v := range extra {
		e[k] = v
	}
	c.st.t("enrolments").put(idOf(e), e)
	return reply{}
}

func (c *call) unenrol(field, id string) reply {
	ct, rep := c.contact(c.path["contactId"])
	if rep != nil {
		return *rep
	}
	for _, e := range c.st.t("enrolments").all() {
		if str(e, "contactId") == idOf(ct) && str(e, field) != "" && (id == "" || str(e, field) == id) {
			c.st.t("enrolments").del(idOf(e))
		}
	}
	return reply{}
}

func (c *call) campaignAdd() reply {
	if rep := c.enrol("campaigns", "campaignId", c.path["campaignId"], nil); rep.status != 0 {
		return rep
	}
	return created(map[string]any{"succeded": true})
}

func (c *call) campaignRemove() reply {
	if rep := c.unenrol("campaignId", c.path["campaignId"]); rep.status != 0 {
		return rep
	}
	return ok(map[string]any{"succeded": true})
}

func (c *call) campaignRemoveAll() reply {
	if rep := c.unenrol("campaignId", ""); rep.status != 0 {
		return rep
	}
	return ok(map[string]any{"succeded": true})
}

func (c *call) workflowAdd() reply {
	extra := record{}
	if s, _ := c.body["eventStartTime"].(string); s != "" {
		if _, err := time.Parse(time.RFC3339, s); err != nil {
			return errUnprocessable("eventStartTime must be a valid ISO 8601 date string with an offset")
		}
		extra["eventStartTime"] = s
	}
	if rep := c.enrol("workflows", "workflowId", c.path["workflowId"], extra); rep.status != 0 {
		return rep
	}
	return ok(map[string]any{"succeded": true})
}

func (c *call) workflowRemove() reply {
	if rep := c.unenrol("workflowId", c.path["workflowId"]); rep.status != 0 {
		return rep
	}
	return ok(map[string]any{"succeded": true})
}
