package sandbox

import (
	"fmt"
	"net/mail"
	"slices"
	"strconv"
	"strings"

	"github.com/ghlsync/ghlsync/internal/ghl/catalog"
)

// extraBody lists body properties GHL accepts that the catalog (and the
// official spec it was written from) leaves out. Everything else not in the
// catalog's field list is rejected as GHL does with forbidNonWhitelisted.
var extraBody = map[string][]string{
	// The spec's SearchBodyV2DTO is empty; these are the documented fields.
	"contacts.search": {"page", "searchAfter", "filters", "sort", "query"},
	// The upsert needs a contact to create an opportunity; GHL accepts it.
	"opportunities.upsert": {"contactId"},
	// The catalog lists only the required fields of the array's items.
	"calendars.createNotification": {"isActive", "templateId", "body", "subject", "afterTime", "beforeTime",
		"additionalEmailIds", "additionalPhoneNumbers", "selectedUsers", "fromAddress", "fromName", "fromNumber"},
}

// extraQuery lists query parameters GHL accepts beyond the catalog's list.
var extraQuery = map[string][]string{}

// field types checked when a property is present (class-validator style).
type fieldKind int

const (
	kString fieldKind = iota + 1
	kBool
	kNumber
	kStrings
	kArray
	kObject
	kEmail
	kStringOrNull
	kBoolOrString
)

var fieldKinds = map[string]fieldKind{
	"locationId": kString, "companyId": kString, "contactId": kString, "calendarId": kString, "pipelineId": kString,
	"pipelineStageId": kString, "title": kString, "body": kString, "name": kString, "firstName": kStringOrNull,
	"lastName": kStringOrNull, "phone": kStringOrNull, "email": kEmail, "slug": kString, "description": kString,
	"startTime": kString, "endTime": kString, "dueDate": kString, "status": kString, "assignedTo": kStringOrNull,
	"assignedUserId": kString, "userId": kString, "source": kStringOrNull, "address1": kStringOrNull,
	"city": kStringOrNull, "state": kStringOrNull, "postalCode": kString, "website": kStringOrNull, "timezone": kStringOrNull,
	"country": kString, "companyName": kStringOrNull, "gender": kString, "key": kString, "associationId": kString,
	"firstRecordId": kString, "secondRecordId": kString, "firstObjectKey": kString, "secondObjectKey": kString,
	"blogId": kString, "urlSlug": kString, "rawHTML": kString, "imageUrl": kString, "imageAltText": kString,
	"author": kString, "publishedAt": kString, "canonicalLink": kString, "visitorId": kString, "conversationId": kString,
	"eventStartTime": kString, "rrule": kString, "meetingLocationType": kString, "appointmentStatus": kString,
	"lostReasonId": kString, "emailMessageId": kString, "password": kString, "type": kString, "role": kString,
	"color": kString, "emails": kString, "snapshotId": kString, "address": kString,

	"dnd": kBool, "completed": kBool, "pinned": kBool, "isActive": kBool, "createNewIfDuplicateAllowed": kBool,
	"removeAllTags": kBool, "ignoreDateRange": kBool, "ignoreFreeSlotValidation": kBool, "toNotify": kBool,
	"overrideLocationConfig": kBool, "isRemoveAllFollowers": kBool, "deleted": kBool, "isTyping": kBoolOrString,

	"monetaryValue": kNumber, "pageLimit": kNumber, "page": kNumber, "slotDuration": kNumber, "slotInterval": kNumber,
	"quantity": kNumber, "outOfService": kNumber, "capacity": kNumber,

	"tags": kStrings, "followers": kStrings, "contacts": kStrings, "ids": kStrings, "locationIds": kStrings,
	"calendarIds": kStrings, "categories": kStrings, "recipients": kStrings,

	"customFields": kArray, "filters": kArray, "sort": kArray, "searchAfter": kArray, "openHours": kArray,
	"teamMembers": kArray, "notifications": kArray, "availabilities": kArray,

	"dndSettings": kObject, "inboundDndSettings": kObject, "settings": kObject, "prospectInfo": kObject,
	"social": kObject, "permissions": kObject,
}

// per-operation exceptions to fieldKinds.
var opFieldKinds = map[string]map[string]fieldKind{
	"contacts.bulkBusinessUpdate": {"businessId": kStringOrNull},
	"users.filterByEmail":         {"skip": kString, "limit": kString, "projection": kString},
	"calendars.updateResource":    {"name": kString},
}

func typeMessage(name string, k fieldKind) string {
	switch k {
	case kBool:
		return name + " must be a boolean value"
	case kNumber:
		return name + " must be a number conforming to the specified constraints"
	case kStrings:
		return "each value in " + name + " must be a string"
	case kArray:
		return name + " must be an array"
	case kObject:
		return name + " must be an object"
	case kEmail:
		return name + " must be an email"
	default:
		return name + " must be a string"
	}
}

func checkKind(v any, k fieldKind) bool {
	switch k {
	case kString:
		_, ok := v.(string)
		return ok
	case kStringOrNull:
		_, ok := v.(string)
		return ok || v == nil
	case kBool:
		_, ok := v.(bool)
		return ok
	case kBoolOrString:
		switch x := v.(type) {
		case bool:
			return true
		case string:
			return x == "true" || x == "false"
		}
		return false
	case kNumber:
		_, ok := v.(float64)
		return ok
	case kStrings:
		a, ok := v.([]any)
		if !ok {
			return false
		}
		for _, e := range a {
			if _, ok := e.(string); !ok {
				return false
			}
		}
		return true
	case kArray:
		_, ok := v.([]any)
		return ok
	case kObject:
		_, ok := v.(map[string]any)
		return ok
	case kEmail:
		if v == nil {
			return true
		}
		s, ok := v.(string)
		if !ok {
			return false
		}
		if s == "" {
			return true
		}
		a, err := mail.ParseAddress(s)
		return err == nil && a.Address == s && strings.Contains(s, ".")
	}
	return true
}

func empty(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case string:
		return x == ""
	case []any:
		return false
	}
	return false
}

// validate applies GHL's request validation: required and unknown query
// parameters, then required, mistyped and unknown body properties, all
// reported together in one 422 like NestJS's ValidationPipe does.
func (c *call) validate() *reply {
	op := c.op
	var msgs []string
	if c.r.Method == "GET" || len(op.Query) > 0 {
		for _, p := range op.Query {
			if p.Required && c.q.Get(p.Name) == "" {
				msgs = append(msgs, p.Name+" should not be empty")
			}
		}
		for name := range c.q {
			if !op.HasQuery(name) && !slices.Contains(extraQuery[op.ID], name) {
				msgs = append(msgs, "property "+name+" should not exist")
			}
		}
		if pg := op.Pagination; pg != nil && pg.MaxLimit > 0 && pg.LimitParam != "" && pg.In != "body" {
			if f, err := strconv.ParseFloat(c.q.Get(pg.LimitParam), 64); err == nil && f > float64(pg.MaxLimit) {
				msgs = append(msgs, fmt.Sprintf("%s must not be greater than %d", pg.LimitParam, pg.MaxLimit))
			}
		}
		for _, p := range op.Query {
			v := c.q.Get(p.Name)
			if v == "" {
				continue
			}
			switch p.Name {
			case "limit", "skip", "offset", "startDate", "endDate", "page", "startAfter":
				if p.Name == "endDate" && op.ID == "opportunities.search" {
					continue // mm-dd-yyyy, as the spec documents; checked by the handler
				}
				if _, err := strconv.ParseFloat(v, 64); err != nil {
					msgs = append(msgs, p.Name+" must be a number conforming to the specified constraints")
				}
			}
		}
	}
	if c.arr != nil {
		if !slices.Contains(op.Body, "") {
			return ptr(errUnprocessable("request body must be an object"))
		}
		for i, e := range c.arr {
			m, ok := e.(map[string]any)
			if !ok {
				msgs = append(msgs, fmt.Sprintf("%d must be an object", i))
				continue
			}
			msgs = append(msgs, c.checkObject(m, fmt.Sprintf("%d.", i))...)
		}
	} else if len(op.Body) > 0 || c.body != nil {
		if slices.Contains(op.Body, "") {
			if c.body != nil {
				return ptr(errUnprocessable("request body must be an array"))
			}
		} else {
			if c.body == nil && len(op.BodyRequired) > 0 {
				c.body = map[string]any{}
			}
			msgs = append(msgs, c.checkObject(c.body, "")...)
		}
	}
	if len(msgs) > 0 {
		return ptr(errUnprocessable(msgs...))
	}
	return nil
}

func (c *call) checkObject(m map[string]any, prefix string) []string {
	op := c.op
	var msgs []string
	for _, f := range op.BodyRequired {
		if f == "" {
			continue
		}
		if v, ok := m[f]; !ok || empty(v) {
			msgs = append(msgs, prefix+f+" should not be empty")
		}
	}
	msgs = append(msgs, dndMessages(m)...)
	for _, f := range sortedKeys(m) {
		v := m[f]
		if !op.HasBodyField(f) && !slices.Contains(extraBody[op.ID], f) {
			if op.Form {
				continue // form bodies are checked by their handler
			}
			msgs = append(msgs, "property "+prefix+f+" should not exist")
			continue
		}
		k, ok := opFieldKinds[op.ID][f]
		if !ok {
			k, ok = fieldKinds[f]
		}
		if ok && v != nil && !checkKind(v, k) {
			msgs = append(msgs, typeMessage(prefix+f, k))
		} else if msg := enumMessage(op, prefix, f, v); msg != "" {
			msgs = append(msgs, msg)
		} else if ok && v == nil && k != kStringOrNull && k != kEmail && slices.Contains(op.BodyRequired, f) {
			// already reported as empty
		}
	}
	return msgs
}

// enumMessage checks a body field against the enum the spec gives it (the
// catalog's fields), the way NestJS's @IsEnum answers.
func enumMessage(op *catalog.Operation, prefix, f string, v any) string {
	fd, ok := op.Field(f)
	if !ok || len(fd.Enum) == 0 || v == nil || fd.Type == "number" || fd.Type == "integer" {
		return ""
	}
	vals := []any{v}
	if fd.Type == "array" {
		l, isList := v.([]any)
		if !isList {
			return ""
		}
		vals = l
	}
	for _, x := range vals {
		if s, isText := x.(string); !isText || !slices.Contains(fd.Enum, s) {
			what := prefix + f
			if fd.Type == "array" {
				what = "each value in " + what
			}
			return what + " must be one of the following values: " + strings.Join(fd.Enum, ", ")
		}
	}
	return ""
}

// dndMessages checks the status of each dndSettings channel and of
// inboundDndSettings.all against DndSettingSchema's enums.
func dndMessages(m map[string]any) []string {
	var msgs []string
	check := func(path string, v any, allowed []string) {
		ch, _ := v.(map[string]any)
		if ch == nil {
			return
		}
		if st, has := ch["status"]; has {
			if s, isText := st.(string); !isText || !slices.Contains(allowed, s) {
				msgs = append(msgs, path+".status must be one of the following values: "+strings.Join(allowed, ", "))
			}
		}
	}
	if d, _ := m["dndSettings"].(map[string]any); d != nil {
		for _, k := range sortedKeys(d) {
			check("dndSettings."+k, d[k], []string{"active", "inactive", "permanent"})
		}
	}
	if d, _ := m["inboundDndSettings"].(map[string]any); d != nil {
		check("inboundDndSettings.all", d["all"], []string{"active", "inactive"})
	}
	return msgs
}

func ptr[T any](v T) *T { return &v }

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// --- query helpers ---

// intQuery reads a numeric query parameter with a default and bounds.
func (c *call) intQuery(name string, def, max int) int {
	v := c.q.Get(name)
	if v == "" {
		return def
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f < 0 {
		return def
	}
	n := int(f)
	if max > 0 && n > max {
		n = max
	}
	return n
}

// page slices items by skip/offset and limit.
func pageOf[T any](items []T, skip, limit int) []T {
	if skip >= len(items) {
		return []T{}
	}
	end := len(items)
	if limit > 0 && skip+limit < end {
		end = skip + limit
	}
	return items[skip:end]
}

func recsToAny(rs []record) []any {
	out := make([]any, len(rs))
	for i, r := range rs {
		out[i] = cloneRec(r)
	}
	return out
}
