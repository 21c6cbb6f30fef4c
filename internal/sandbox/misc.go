package sandbox

func init() {
	register(map[string]handlerFunc{
		"businesses.get":            (*call).businessGet,
		"businesses.listByLocation": (*call).businessList,
		"businesses.create":         (*call).businessCreate,
		"businesses.update":         (*call).businessUpdate,
		"businesses.delete":         (*call).businessDelete,
		"workflows.list":            (*call).workflowList,
		"campaigns.list":            (*call).campaignList,
		"snapshots.list":            (*call).snapshotList,
		"locations.list":            (*call).locationList,
		"locations.get":             (*call).locationGet,
		"locations.create":          (*call).locationCreate,
		"customFields.list":         (*call).customFieldList,
		"companies.get":             (*call).companyGet,
	})
}

// --- businesses ---

var businessFields = []string{"id", "name", "phone", "email", "website", "address", "city", "description", "state",
	"postalCode", "country", "updatedBy", "locationId", "createdBy", "createdAt", "updatedAt"}

func (c *call) business(id string) (record, *reply) {
	b := c.st.t("businesses").get(id)
	if b == nil {
		return nil, ptr(errNotFound("Business"))
	}
	if rep := c.owns(b); rep != nil {
		return nil, rep
	}
	return b, nil
}

func (c *call) applyBusiness(b record) {
	for _, f := range []string{"name", "phone", "email", "website", "address", "city", "description", "state", "postalCode", "country"} {
		if v, ok := c.body[f].(string); ok {
			b[f] = v
		}
	}
	b["updatedAt"] = isoMillis(c.now)
	b["updatedBy"] = map[string]any{"source": "INTEGRATION", "channel": "OAUTH", "timestamp": isoMillis(c.now)}
}

func (c *call) businessGet() reply {
	b, rep := c.business(c.path["businessId"])
	if rep != nil {
		return *rep
	}
	return ok(map[string]any{"business": pick(b, businessFields...)})
}

func (c *call) businessList() reply {
	bs := c.st.t("businesses").filter(func(r record) bool { return str(r, "locationId") == c.loc })
	page := pageOf(bs, c.intQuery("skip", 0, 0), max(c.intQuery("limit", 100, 100), 1))
	return ok(map[string]any{"businesses": recsToAnyWith(page, func(r record) record { return pick(r, businessFields...) })})
}

func (c *call) businessCreate() reply {
	ts := isoMillis(c.now)
	b := record{"id": c.st.newID(), "locationId": c.loc, "createdAt": ts,
		"createdBy": map[string]any{"source": "INTEGRATION", "channel": "OAUTH", "timestamp": ts}}
	c.applyBusiness(b)
	c.st.t("businesses").put(idOf(b), b)
	// GHL's response names the object "buiseness" (sic).
	return created(map[string]any{"success": true, "buiseness": pick(b, businessFields...)})
}

func (c *call) businessUpdate() reply {
	b, rep := c.business(c.path["businessId"])
	if rep != nil {
		return *rep
	}
	c.applyBusiness(b)
	return ok(map[string]any{"success": true, "buiseness": pick(b, businessFields...)})
}

func (c *call) businessDelete() reply {
	b, rep := c.business(c.path["businessId"])
	if rep != nil {
		return *rep
	}
	c.st.t("businesses").del(idOf(b))
	for _, ct := range c.st.t("contacts").all() {
		if str(ct, "businessId") == idOf(b) {
			delete(ct, "businessId")
		}
	}
	return ok(map[string]any{"success": true})
}

// --- workflows, campaigns, snapshots ---

func (c *call) workflowList() reply {
	ws := c.st.t("workflows").filter(func(r record) bool { return str(r, "locationId") == c.loc })
	return ok(map[string]any{"workflows": recsToAny(ws)})
}

func (c *call) campaignList() reply {
	st := c.q.Get("status")
	cs := c.st.t("campaigns").filter(func(r record) bool {
		return str(r, "locationId") == c.loc && (st == "" || str(r, "status") == st)
	})
	return ok(map[string]any{"campaigns": recsToAnyWith(cs, func(r record) record { return pick(r, "id", "name", "status", "locationId") })})
}

func (c *call) snapshotList() reply {
	ss := c.st.t("snapshots").filter(func(r record) bool { return str(r, "companyId") == c.tok.CompanyID })
	return ok(map[string]any{"snapshots": recsToAnyWith(ss, func(r record) record { return pick(r, "id", "name", "type") })})
}

// --- locations, custom fields, companies ---

func locationOut(r record) record {
	out := cloneRec(r)
	delete(out, "duplicateRule")
	return out
}

func (c *call) locationList() reply {
	co := c.companyID()
	email := lower(c.q.Get("email"))
	ls := c.st.t("locations").filter(func(r record) bool {
		if str(r, "companyId") != co || (email != "" && lower(str(r, "email")) != email) {
			return false
		}
		return c.tok.agency() || idOf(r) == c.tok.LocationID
	})
	sortRecords(ls, "name", c.q.Get("order") == "desc")
	page := pageOf(ls, c.intQuery("skip", 0, 0), max(c.intQuery("limit", 10, 100), 1))
	return ok(map[string]any{"locations": recsToAnyWith(page, locationOut)})
}

func (c *call) locationGet() reply {
	l := c.st.t("locations").get(c.path["locationId"])
	if l == nil {
		return errBadRequest("Location not found")
	}
	out := locationOut(l)
	if s := c.st.t("companies").get(str(l, "companyId")); s != nil {
		out["business"] = map[string]any{"name": str(l, "name"), "address": str(l, "address"), "city": str(l, "city"),
			"state": str(l, "state"), "country": str(l, "country"), "postalCode": str(l, "postalCode"),
			"website": str(l, "website"), "timezone": str(l, "timezone")}
	}
	return ok(map[string]any{"location": out})
}

func (c *call) locationCreate() reply {
	if s, _ := c.body["snapshotId"].(string); s != "" {
		snap := c.st.t("snapshots").get(s)
		if snap == nil || str(snap, "companyId") != c.tok.CompanyID {
			return errUnprocessable("snapshotId " + s + " is not a snapshot of this company")
		}
	}
	l := record{"id": c.st.newID(), "companyId": c.tok.CompanyID}
	for k, v := range c.body {
		switch k {
		case "twilio", "mailgun", "prospectInfo", "snapshotId":
			// accepted and not returned, like GHL
		default:
			l[k] = clone(v)
		}
	}
	if p, _ := l["phone"].(string); p != "" {
		if e, err := normalizePhone(p, str(l, "country")); err == nil {
			l["phone"] = e
		}
	}
	l = normalizeLocation(l)
	c.st.t("locations").put(idOf(l), l)
	return ok(locationOut(l))
}

func (c *call) customFieldList() reply {
	model := c.q.Get("model")
	if model != "" && model != "contact" && model != "opportunity" && model != "all" {
		return errUnprocessable("model must be one of the following values: contact, opportunity, all")
	}
	fs := c.st.t("customFields").filter(func(r record) bool {
		return str(r, "locationId") == c.loc && (model == "" || model == "all" || str(r, "model") == model)
	})
	return ok(map[string]any{"customFields": recsToAny(fs)})
}

func (c *call) companyGet() reply {
	id := c.path["companyId"]
	co := c.st.t("companies").get(id)
	if co == nil {
		return errBadRequest("Company not found")
	}
	out := cloneRec(co)
	n := 0
	for _, l := range c.st.t("locations").all() {
		if str(l, "companyId") == id {
			n++
		}
	}
	out["locationCount"] = float64(n)
	out["isSandboxAccount"] = true
	return ok(map[string]any{"company": out})
}
