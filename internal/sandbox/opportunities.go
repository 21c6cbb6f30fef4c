package sandbox

import (
	"slices"
	"strings"
	"time"
)

func init() {
	register(map[string]handlerFunc{
		"opportunities.search":          (*call).oppSearch,
		"opportunities.get":             (*call).oppGet,
		"opportunities.listPipelines":   (*call).pipelineList,
		"opportunities.create":          (*call).oppCreate,
		"opportunities.update":          (*call).oppUpdate,
		"opportunities.delete":          (*call).oppDelete,
		"opportunities.updateStatus":    (*call).oppStatus,
		"opportunities.upsert":          (*call).oppUpsert,
		"opportunities.addFollowers":    (*call).oppAddFollowers,
		"opportunities.removeFollowers": (*call).oppRemoveFollowers,
	})
}

var oppStatuses = []string{"open", "won", "lost", "abandoned"}

func (c *call) opportunity(id string) (record, *reply) {
	r := c.st.t("opportunities").get(id)
	if r == nil {
		return nil, ptr(errNotFound("Opportunity"))
	}
	if rep := c.owns(r); rep != nil {
		return nil, rep
	}
	return r, nil
}

// oppOut embeds the current contact summary like GHL does.
func (c *call) oppOut(o record) record {
	out := cloneRec(o)
	if ct := c.st.t("contacts").get(str(o, "contactId")); ct != nil {
		out["contact"] = pick(ct, "id", "companyName", "email", "phone", "tags")
		if n := str(ct, "contactName"); n != "" {
			out["contact"].(map[string]any)["name"] = n
		}
	}
	return out
}

func webhookOpp(o record) record {
	return pick(o, "id", "locationId", "assignedTo", "contactId", "monetaryValue", "name", "pipelineId",
		"pipelineStageId", "source", "status", "dateAdded", "customFields", "lostReasonId")
}

func (c *call) pipeline(id string) record {
	p := c.st.t("pipelines").get(id)
	if p == nil || str(p, "locationId") != c.loc {
		return nil
	}
	return p
}

func stageIDs(p record) []string {
	var ids []string
	for _, s := range asList(p["stages"]) {
		m, _ := s.(map[string]any)
		ids = append(ids, str(m, "id"))
	}
	return ids
}

// applyOpp validates and writes opportunity fields, emitting change webhooks
// (stage, status, value, assignee) for existing opportunities.
func (c *call) applyOpp(o record, create bool) *reply {
	before := cloneRec(o)
	var msgs []string
	// status is checked against the spec's enum (which lists "all") with
	// the rest of the body.
	pid := firstNonEmpty(str(c.body, "pipelineId"), str(o, "pipelineId"))
	p := c.pipeline(pid)
	if p == nil {
		return ptr(errUnprocessable("pipelineId " + pid + " is not a pipeline of this location"))
	}
	stage := str(c.body, "pipelineStageId")
	if stage == "" && (create || str(c.body, "pipelineId") != "" && str(c.body, "pipelineId") != str(o, "pipelineId")) {
		if ids := stageIDs(p); len(ids) > 0 {
			stage = ids[0]
		}
	}
	if stage != "" && !slices.Contains(stageIDs(p), stage) {
		msgs = append(msgs, "pipelineStageId "+stage+" is not a stage of pipeline "+pid)
	}
	if u := str(c.body, "assignedTo"); u != "" && c.st.t("users").get(u) == nil {
		msgs = append(msgs, "assignedTo "+u+" is not a user of this location")
	}
	var cf []any
	if v, ok := c.body["customFields"]; ok {
		var m []string
		cf, m = applyCustomFields(c.st, c.loc, "opportunity", o["customFields"], v, "fieldValue")
		msgs = append(msgs, m...)
	}
	if len(msgs) > 0 {
		return ptr(errUnprocessable(msgs...))
	}
	ts := isoMillis(c.now)
	o["pipelineId"] = pid
	if stage != "" {
		o["pipelineStageId"] = stage
	}
	for _, f := range []string{"name", "status", "assignedTo", "lostReasonId", "source"} {
		if v, ok := c.body[f].(string); ok {
			o[f] = v
		}
	}
	if v, ok := num(c.body, "monetaryValue"); ok {
		o["monetaryValue"] = v
	}
	if cf != nil {
		o["customFields"] = cf
	}
	o["updatedAt"] = ts
	o["lastActionDate"] = ts
	if create {
		o["lastStatusChangeAt"], o["lastStageChangeAt"] = ts, ts
		return nil
	}
	if str(before, "pipelineStageId") != str(o, "pipelineStageId") {
		o["lastStageChangeAt"] = ts
		c.emit("OpportunityStageUpdate", webhookOpp(o))
	}
	if str(before, "status") != str(o, "status") {
		o["lastStatusChangeAt"] = ts
		c.emit("OpportunityStatusUpdate", webhookOpp(o))
	}
	if v1, _ := num(before, "monetaryValue"); v1 != numOr(o, "monetaryValue", 0) {
		c.emit("OpportunityMonetaryValueUpdate", webhookOpp(o))
	}
	if str(before, "assignedTo") != str(o, "assignedTo") {
		c.emit("OpportunityAssignedToUpdate", webhookOpp(o))
	}
	c.emit("OpportunityUpdate", webhookOpp(o))
	return nil
}

func (c *call) newOpp(contactID string) (record, *reply) {
	ct, rep := c.contact(contactID)
	if rep != nil {
		return nil, rep
	}
	if !allowDuplicates(c.location(), "allowDuplicateOpportunity") {
		for _, o := range c.st.t("opportunities").all() {
			if str(o, "contactId") == contactID && str(o, "pipelineId") == str(c.body, "pipelineId") && str(o, "status") == "open" {
				return nil, ptr(errBadRequest("Can not create duplicate opportunity for the contact."))
			}
		}
	}
	ts := isoMillis(c.now)
	o := record{"id": c.st.newID(), "locationId": c.loc, "contactId": idOf(ct), "status": "open", "monetaryValue": float64(0),
		"source": "api", "customFields": []any{}, "followers": []any{}, "createdAt": ts, "dateAdded": ts, "indexVersion": "1"}
	if rep := c.applyOpp(o, true); rep != nil {
		return nil, rep
	}
	c.st.t("opportunities").put(idOf(o), o)
	c.emit("OpportunityCreate", webhookOpp(o))
	return o, nil
}

func (c *call) oppCreate() reply {
	o, rep := c.newOpp(str(c.body, "contactId"))
	if rep != nil {
		return *rep
	}
	return created(map[string]any{"opportunity": c.oppOut(o)})
}

func (c *call) oppGet() reply {
	o, rep := c.opportunity(c.path["id"])
	if rep != nil {
		return *rep
	}
	return ok(map[string]any{"opportunity": c.oppOut(o)})
}

func (c *call) oppUpdate() reply {
	o, rep := c.opportunity(c.path["id"])
	if rep != nil {
		return *rep
	}
	c.loc = str(o, "locationId")
	if rep := c.applyOpp(o, false); rep != nil {
		return *rep
	}
	return ok(map[string]any{"opportunity": c.oppOut(o)})
}

func (c *call) oppStatus() reply {
	o, rep := c.opportunity(c.path["id"])
	if rep != nil {
		return *rep
	}
	c.loc = str(o, "locationId")
	if rep := c.applyOpp(o, false); rep != nil {
		return *rep
	}
	return ok(map[string]any{"succeded": true})
}

func (c *call) oppDelete() reply {
	o, rep := c.opportunity(c.path["id"])
	if rep != nil {
		return *rep
	}
	c.st.t("opportunities").del(idOf(o))
	c.emit("OpportunityDelete", webhookOpp(o))
	return ok(map[string]any{"succeded": true})
}

// oppUpsert matches by id, then by name within the pipeline (GHL documents no
// rule; this is the sandbox's), and applies the followers action.
func (c *call) oppUpsert() reply {
	var o record
	if id := str(c.body, "id"); id != "" {
		var rep *reply
		if o, rep = c.opportunity(id); rep != nil {
			return *rep
		}
	} else if name := str(c.body, "name"); name != "" {
		for _, r := range c.st.t("opportunities").all() {
			if str(r, "locationId") == c.loc && str(r, "pipelineId") == str(c.body, "pipelineId") && lower(str(r, "name")) == lower(name) {
				o = r
				break
			}
		}
	}
	isNew := o == nil
	if isNew {
		if str(c.body, "contactId") == "" {
			return errUnprocessable("contactId should not be empty when no opportunity matches")
		}
		if str(c.body, "name") == "" {
			return errUnprocessable("name should not be empty when no opportunity matches")
		}
		var rep *reply
		if o, rep = c.newOpp(str(c.body, "contactId")); rep != nil {
			return *rep
		}
	} else if rep := c.applyOpp(o, false); rep != nil {
		return *rep
	}
	switch {
	case boolean(c.body, "isRemoveAllFollowers"):
		o["followers"] = []any{}
	case str(c.body, "followersActionType") == "remove":
		c.followers(o, false)
	default:
		if _, _, rep := c.followers(o, true); rep != nil {
			return *rep
		}
	}
	return ok(map[string]any{"opportunity": c.oppOut(o), "new": isNew})
}

func (c *call) oppAddFollowers() reply {
	o, rep := c.opportunity(c.path["id"])
	if rep != nil {
		return *rep
	}
	all, added, rep := c.followers(o, true)
	if rep != nil {
		return *rep
	}
	return created(map[string]any{"followers": toAnySlice(all), "followersAdded": toAnySlice(added)})
}

func (c *call) oppRemoveFollowers() reply {
	o, rep := c.opportunity(c.path["id"])
	if rep != nil {
		return *rep
	}
	var all, removed []string
	if c.q.Get("isRemoveAllFollowers") == "true" {
		removed = strs(o, "followers")
		o["followers"] = []any{}
	} else {
		all, removed, _ = c.followers(o, false)
	}
	if all == nil {
		all = []string{}
	}
	return ok(map[string]any{"followers": toAnySlice(all), "followersRemoved": toAnySlice(removed)})
}

func (c *call) pipelineList() reply {
	ps := c.st.t("pipelines").filter(func(r record) bool { return str(r, "locationId") == c.loc })
	return ok(map[string]any{"pipelines": recsToAny(ps)})
}

// oppSearch is GET /opportunities/search: snake_case filters, newest first,
// paged with startAfter/startAfterId (page also accepted).
func (c *call) oppSearch() reply {
	q := c.q
	limit := c.intQuery("limit", 20, 100)
	if limit == 0 {
		limit = 20
	}
	status := q.Get("status")
	if status != "" && status != "all" && !slices.Contains(oppStatuses, status) {
		return errUnprocessable("status must be one of the following values: open, won, lost, abandoned, all")
	}
	var from, to time.Time
	for name, dst := range map[string]*time.Time{"date": &from, "endDate": &to} {
		if v := q.Get(name); v != "" {
			t, err := time.Parse("01-02-2006", v)
			if err != nil {
				return errUnprocessable(name + " must be a date in mm-dd-yyyy format")
			}
			*dst = t
		}
	}
	text := lower(q.Get("q"))
	items := c.st.t("opportunities").filter(func(o record) bool {
		switch {
		case str(o, "locationId") != c.loc,
			q.Get("pipeline_id") != "" && str(o, "pipelineId") != q.Get("pipeline_id"),
			q.Get("pipeline_stage_id") != "" && str(o, "pipelineStageId") != q.Get("pipeline_stage_id"),
			q.Get("contact_id") != "" && str(o, "contactId") != q.Get("contact_id"),
			q.Get("assigned_to") != "" && str(o, "assignedTo") != q.Get("assigned_to"),
			q.Get("id") != "" && idOf(o) != q.Get("id"),
			status != "" && status != "all" && str(o, "status") != status,
			text != "" && !strings.Contains(lower(str(o, "name")), text):
			return false
		}
		created := parseEventTime(o, "createdAt")
		if !from.IsZero() && created.Before(from) || !to.IsZero() && !created.Before(to.AddDate(0, 0, 1)) {
			return false
		}
		return true
	})
	// Only the creation order is known to be honoured (the spec's example
	// is added_asc); anything else is refused rather than silently
	// answered in another order.
	var asc bool
	switch q.Get("order") {
	case "added_asc":
		asc = true
	case "", "added_desc":
	default:
		return errUnprocessable("order must be one of the following values: added_asc, added_desc")
	}
	sortByDateID(items, "createdAt", !asc)
	var pageItems []record
	var meta map[string]any
	if p := c.intQuery("page", 0, 0); p > 1 && q.Get("startAfterId") == "" {
		pageItems = pageOf(items, (p-1)*limit, limit)
		meta = map[string]any{"total": len(items), "currentPage": p, "prevPage": p - 1}
		if p*limit < len(items) {
			meta["nextPage"] = p + 1
		}
	} else {
		var rep *reply
		if pageItems, meta, rep = c.startAfterPage(items, "createdAt", limit, "/opportunities/search"); rep != nil {
			return *rep
		}
	}
	out := make([]any, 0, len(pageItems))
	for _, o := range pageItems {
		out = append(out, c.oppOut(o))
	}
	return ok(map[string]any{"opportunities": out, "meta": meta, "aggregations": map[string]any{}})
}
