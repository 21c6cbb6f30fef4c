package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/ghlsync/ghlsync/internal/flow"
	"github.com/ghlsync/ghlsync/internal/ghl"
	"github.com/ghlsync/ghlsync/internal/ghl/catalog"
)

// errNoReconcile says an operation has no way to look its effect up.
var errNoReconcile = errors.New("no lookup is known for this operation")

// clockSkew widens the window in which an object found by a lookup counts
// as created by the interrupted attempt (GHL's clock against ours).
const clockSkew = 5 * time.Minute

// lookup describes how to find what a create operation made, by its
// natural key.
type lookup struct {
	// list is the list operation to read.
	list string
	// params builds the list call from the create request; ok=false when the
	// request lacks what the lookup needs.
	params func(req *flow.Request, conn ConnInfo) (ghl.Params, bool)
	// keys are the fields compared between the request and each item
	// (request field → item field; times compare as instants).
	keys map[string]string
	// wrap names the key the create operation's answer puts the object
	// under ("" = the object itself is the answer).
	wrap string
}

func pathParam(name, from string) func(*flow.Request, ConnInfo) (ghl.Params, bool) {
	return func(req *flow.Request, _ ConnInfo) (ghl.Params, bool) {
		v := reqValue(req, from)
		if v == "" {
			return ghl.Params{}, false
		}
		return ghl.Params{Path: map[string]string{name: v}}, true
	}
}

func noParams(*flow.Request, ConnInfo) (ghl.Params, bool) { return ghl.Params{}, true }

// lookups covers the reconcile-class operations of the catalog.
var lookups = map[string]lookup{
	"contacts.createNote": {list: "contacts.listNotes", params: pathParam("contactId", "contactId"),
		keys: map[string]string{"body": "body"}, wrap: "note"},
	"contacts.createTask": {list: "contacts.listTasks", params: pathParam("contactId", "contactId"),
		keys: map[string]string{"title": "title", "dueDate": "dueDate"}, wrap: "task"},
	"calendars.createAppointment": {list: "contacts.listAppointments", params: pathParam("contactId", "contactId"),
		keys: map[string]string{"calendarId": "calendarId", "startTime": "startTime"}},
	"contactsApiPage.createAppointment": {list: "contacts.listAppointments", params: pathParam("contactId", "contactId"),
		keys: map[string]string{"calendarId": "calendarId", "startTime": "startTime"}},
	"calendars.createAppointmentNote": {list: "calendars.listAppointmentNotes", params: pathParam("appointmentId", "appointmentId"),
		keys: map[string]string{"body": "body"}, wrap: "note"},
	"calendars.createBlockSlot": {list: "calendars.listBlockedSlots",
		params: func(req *flow.Request, _ ConnInfo) (ghl.Params, bool) {
			start, err := parseInstant(reqValue(req, "startTime"))
			cal := reqValue(req, "calendarId")
			if err != nil || cal == "" {
				return ghl.Params{}, false
			}
			q := url.Values{"calendarId": {cal},
				"startTime": {fmt.Sprint(start.Add(-time.Hour).UnixMilli())},
				"endTime":   {fmt.Sprint(start.Add(time.Hour).UnixMilli())}}
			return ghl.Params{Query: q}, true
		},
		keys: map[string]string{"calendarId": "calendarId", "startTime": "startTime"}},
	"calendars.createGroup": {list: "calendars.listGroups", params: noParams,
		keys: map[string]string{"slug": "slug"}, wrap: "group"},
	"calendars.create": {list: "calendars.list", params: noParams,
		keys: map[string]string{"name": "name"}, wrap: "calendar"},
	"opportunities.create": {list: "opportunities.search",
		params: func(req *flow.Request, _ ConnInfo) (ghl.Params, bool) {
			q := url.Values{}
			if v := reqValue(req, "pipelineId"); v != "" {
				q.Set("pipeline_id", v)
			}
			if v := reqValue(req, "contactId"); v != "" {
				q.Set("contact_id", v)
			}
			return ghl.Params{Query: q}, len(q) > 0
		},
		keys: map[string]string{"pipelineId": "pipelineId", "contactId": "contactId", "name": "name"}, wrap: "opportunity"},
	"businesses.create": {list: "businesses.listByLocation", params: noParams,
		keys: map[string]string{"name": "name"}, wrap: "business"},
	"users.create": {list: "users.search",
		params: func(req *flow.Request, conn ConnInfo) (ghl.Params, bool) {
			email := reqValue(req, "email")
			company := reqValue(req, "companyId")
			if company == "" {
				company = conn.CompanyID
			}
			if email == "" || company == "" {
				return ghl.Params{}, false
			}
			return ghl.Params{Query: url.Values{"companyId": {company}, "query": {email}}}, true
		},
		keys: map[string]string{"email": "email"}},
	"associations.create": {list: "associations.list", params: noParams,
		keys: map[string]string{"key": "key"}},
	"associations.createRelation": {list: "associations.listRelationsByRecord", params: pathParam("recordId", "firstRecordId"),
		keys: map[string]string{"associationId": "associationId", "firstRecordId": "firstRecordId", "secondRecordId": "secondRecordId"}},
	"blogs.createPost": {list: "blogs.listPosts",
		params: func(req *flow.Request, _ ConnInfo) (ghl.Params, bool) {
			blog := reqValue(req, "blogId")
			if blog == "" {
				return ghl.Params{}, false
			}
			return ghl.Params{Query: url.Values{"blogId": {blog}}}, true
		},
		keys: map[string]string{"urlSlug": "urlSlug"}, wrap: "data"},
}

// reconcile looks for the object an interrupted create made. since is when
// the interrupted attempt started; objects created well before it are not
// taken. It returns the answer the create would have given.
func (e *Engine) reconcile(ctx context.Context, rc *runCtx, req *flow.Request, since time.Time) (json.RawMessage, bool, error) {
	if req.Op == "contacts.create" {
		return e.reconcileContact(ctx, rc, req)
	}
	lk, ok := lookups[req.Op]
	if !ok {
		return nil, false, fmt.Errorf("%s: %w", req.Op, errNoReconcile)
	}
	p, ok := lk.params(req, rc.conn)
	if !ok {
		return nil, false, fmt.Errorf("%s: the request lacks the fields its lookup needs: %w", req.Op, errNoReconcile)
	}
	want := map[string]string{}
	for rk := range lk.keys {
		want[rk] = reqValue(req, rk)
	}
	var found json.RawMessage
	for item, err := range rc.client.Items(ctx, lk.list, p, ghl.PageOptions{MaxPages: 20}) {
		if err != nil {
			if errors.Is(err, ghl.ErrPageCap) {
				break
			}
			e.metrics.ghlCall(lk.list, 0, err)
			return nil, false, fmt.Errorf("reconcile %s with %s: %w", req.Op, lk.list, err)
		}
		var m map[string]any
		if json.Unmarshal(item, &m) != nil {
			continue
		}
		if matches(m, want, lk.keys) && createdSince(m, since) {
			found = item
			break
		}
	}
	e.metrics.ghlCall(lk.list, 200, nil)
	if found == nil {
		return nil, false, nil
	}
	if lk.wrap == "" {
		return found, true, nil
	}
	out, _ := json.Marshal(map[string]json.RawMessage{lk.wrap: found})
	return out, true, nil
}

// reconcileContact looks a contact up by email, then phone, with GHL's
// duplicate search, as the location's duplicate rule would match it.
func (e *Engine) reconcileContact(ctx context.Context, rc *runCtx, req *flow.Request) (json.RawMessage, bool, error) {
	tried := false
	for _, k := range []struct{ field, param string }{{"email", "email"}, {"phone", "number"}} {
		v := reqValue(req, k.field)
		if v == "" {
			continue
		}
		tried = true
		resp, err := rc.client.Do(ctx, "contacts.getDuplicate", ghl.Params{Query: url.Values{k.param: {v}}})
		status := 0
		if resp != nil {
			status = resp.Status
		}
		e.metrics.ghlCall("contacts.getDuplicate", status, err)
		if err != nil {
			return nil, false, fmt.Errorf("reconcile contacts.create by %s: %w", k.field, err)
		}
		var body struct {
			Contact json.RawMessage `json:"contact"`
		}
		if err := resp.Decode(&body); err != nil {
			return nil, false, err
		}
		if len(body.Contact) > 0 && string(body.Contact) != "null" {
			out, _ := json.Marshal(map[string]json.RawMessage{"contact": body.Contact})
			return out, true, nil
		}
	}
	if !tried {
		return nil, false, fmt.Errorf("contacts.create without email or phone: %w", errNoReconcile)
	}
	return nil, false, nil
}

// reqValue reads a request field from the path, then the body, as text.
func reqValue(req *flow.Request, name string) string {
	if v, ok := req.Path[name]; ok {
		return v
	}
	if req.Body != nil {
		if v, ok := req.Body[name]; ok && v != nil {
			return fmt.Sprint(v)
		}
	}
	if req.Query != nil {
		return req.Query.Get(name)
	}
	return ""
}

func matches(item map[string]any, want map[string]string, keys map[string]string) bool {
	for rk, ik := range keys {
		w := want[rk]
		got, ok := item[ik]
		if !ok || got == nil {
			return false
		}
		g := fmt.Sprint(got)
		if strings.TrimSpace(g) == strings.TrimSpace(w) {
			continue
		}
		// Times compare as instants: GHL may answer in another offset.
		wt, err1 := parseInstant(w)
		gt, err2 := parseInstant(g)
		if err1 != nil || err2 != nil || !wt.Equal(gt) {
			return false
		}
	}
	return true
}

func createdSince(item map[string]any, since time.Time) bool {
	if since.IsZero() {
		return true
	}
	for _, k := range []string{"dateAdded", "createdAt", "dateCreated"} {
		if s, ok := item[k].(string); ok {
			t, err := parseInstant(s)
			if err != nil {
				return true
			}
			return !t.Before(since.Add(-clockSkew))
		}
	}
	return true
}

var instantLayouts = []string{time.RFC3339Nano, "2006-01-02T15:04:05.000Z0700", "2006-01-02 15:04:05", "2006-01-02T15:04:05"}

func parseInstant(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	for _, l := range instantLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("not a time: %q", s)
}

// reconcilable reports whether the catalog operation has a lookup.
func reconcilable(op *catalog.Operation) bool {
	if op.Idempotency != catalog.Reconcile {
		return false
	}
	_, ok := lookups[op.ID]
	return ok || op.ID == "contacts.create"
}
