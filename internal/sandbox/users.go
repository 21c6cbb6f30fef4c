package sandbox

import (
	"slices"
	"strings"
)

func init() {
	register(map[string]handlerFunc{
		"users.search":         (*call).userSearch,
		"users.filterByEmail":  (*call).userFilterByEmail,
		"users.get":            (*call).userGet,
		"users.listByLocation": (*call).userListByLocation,
		"users.create":         (*call).userCreate,
		"users.update":         (*call).userUpdate,
		"users.delete":         (*call).userDelete,
	})
}

var userPermissionKeys = []string{"campaignsEnabled", "campaignsReadOnly", "contactsEnabled", "workflowsEnabled",
	"workflowsReadOnly", "triggersEnabled", "funnelsEnabled", "websitesEnabled", "opportunitiesEnabled",
	"dashboardStatsEnabled", "bulkRequestsEnabled", "appointmentsEnabled", "reviewsEnabled", "onlineListingsEnabled",
	"phoneCallEnabled", "conversationsEnabled", "assignedDataOnly", "adwordsReportingEnabled", "membershipEnabled",
	"facebookAdsReportingEnabled", "attributionsReportingEnabled", "settingsEnabled", "tagsEnabled", "leadValueEnabled",
	"marketingEnabled", "agentReportingEnabled", "botService", "socialPlanner", "bloggingEnabled", "invoiceEnabled",
	"affiliateManagerEnabled", "contentAiEnabled", "refundsEnabled", "recordPaymentEnabled", "cancelSubscriptionEnabled",
	"paymentsEnabled", "communitiesEnabled", "exportPaymentsEnabled"}

// normalizeUser gives a user GHL's shape: name, permissions and roles.
func normalizeUser(r record, ts string) {
	setDefault(r, "firstName", "")
	setDefault(r, "lastName", "")
	r["name"] = strings.TrimSpace(str(r, "firstName") + " " + str(r, "lastName"))
	setDefault(r, "email", "")
	setDefault(r, "phone", "")
	setDefault(r, "extension", "")
	perms, _ := r["permissions"].(map[string]any)
	if perms == nil {
		perms = map[string]any{}
	}
	for _, k := range userPermissionKeys {
		setDefault(perms, k, !strings.HasSuffix(k, "ReadOnly") && k != "assignedDataOnly")
	}
	r["permissions"] = perms
	roles, _ := r["roles"].(map[string]any)
	if roles == nil {
		roles = map[string]any{}
	}
	setDefault(roles, "type", "account")
	setDefault(roles, "role", "user")
	setDefault(roles, "locationIds", []any{})
	r["roles"] = roles
	r["deleted"] = false
	setDefault(r, "dateAdded", ts)
}

func userOut(u record) record {
	out := cloneRec(u)
	delete(out, "password")
	delete(out, "deleted")
	delete(out, "dateAdded")
	return out
}

func userLocations(u record) []string {
	roles, _ := u["roles"].(map[string]any)
	return strs(roles, "locationIds")
}

// visibleUser reports whether the token may see the user: a location token
// sees its location's users, an agency token its company's.
func (c *call) visibleUser(u record) bool {
	if u == nil || boolean(u, "deleted") {
		return false
	}
	if c.tok.agency() {
		return str(u, "companyId") == c.tok.CompanyID
	}
	return slices.Contains(userLocations(u), c.tok.LocationID)
}

func (c *call) user(id string) (record, *reply) {
	u := c.st.t("users").get(id)
	if !c.visibleUser(u) {
		// GHL answers 400 for an unknown user id on this route.
		return nil, ptr(errBadRequest("User with id " + id + " not found"))
	}
	return u, nil
}

func (c *call) userSearch() reply {
	q := c.q
	text := lower(q.Get("query"))
	ids := strings.Split(q.Get("ids"), ",")
	us := c.st.t("users").filter(func(u record) bool {
		if !c.visibleUser(u) || str(u, "companyId") != q.Get("companyId") {
			return false
		}
		roles, _ := u["roles"].(map[string]any)
		switch {
		case q.Get("locationId") != "" && !slices.Contains(userLocations(u), q.Get("locationId")),
			q.Get("type") != "" && str(roles, "type") != q.Get("type"),
			q.Get("role") != "" && str(roles, "role") != q.Get("role"),
			q.Get("ids") != "" && !slices.Contains(ids, idOf(u)),
			text != "" && !strings.Contains(lower(str(u, "name")+" "+str(u, "email")), text):
			return false
		}
		return true
	})
	sortRecords(us, firstNonEmpty(map[string]string{"firstName": "firstName", "lastName": "lastName", "email": "email", "dateAdded": "dateAdded"}[q.Get("sort")], "dateAdded"), q.Get("sortDirection") == "desc")
	page := pageOf(us, c.intQuery("skip", 0, 0), max(c.intQuery("limit", 25, 100), 1))
	out := make([]any, 0, len(page))
	for _, u := range page {
		out = append(out, userOut(u))
	}
	return ok(map[string]any{"users": out, "count": len(us)})
}

func (c *call) userFilterByEmail() reply {
	var emails []string
	for _, e := range strings.Split(str(c.body, "emails"), ",") {
		if e = lower(e); e != "" {
			emails = append(emails, e)
		}
	}
	wantDeleted := boolean(c.body, "deleted")
	us := c.st.t("users").filter(func(u record) bool {
		return str(u, "companyId") == c.tok.CompanyID && boolean(u, "deleted") == wantDeleted && slices.Contains(emails, lower(str(u, "email")))
	})
	skip, limit := 0, 25
	if v, ok := c.body["skip"].(string); ok {
		skip = atoiDefault(v, 0)
	}
	if v, ok := c.body["limit"].(string); ok {
		limit = min(max(atoiDefault(v, 25), 1), 100)
	}
	page := pageOf(us, skip, limit)
	out := make([]any, 0, len(page))
	for _, u := range page {
		out = append(out, userOut(u))
	}
	return ok(map[string]any{"users": out, "count": len(us)})
}

func (c *call) userGet() reply {
	u, rep := c.user(c.path["userId"])
	if rep != nil {
		return *rep
	}
	return ok(userOut(u))
}

func (c *call) userListByLocation() reply {
	us := c.st.t("users").filter(func(u record) bool {
		return !boolean(u, "deleted") && slices.Contains(userLocations(u), c.loc)
	})
	return ok(map[string]any{"users": recsToAnyWith(us, userOut)})
}

func recsToAnyWith(rs []record, f func(record) record) []any {
	out := make([]any, 0, len(rs))
	for _, r := range rs {
		out = append(out, f(r))
	}
	return out
}

func (c *call) applyUser(u record) *reply {
	if locs, ok := c.body["locationIds"]; ok {
		for _, l := range strsOf(locs) {
			loc := c.st.t("locations").get(l)
			if loc == nil || str(loc, "companyId") != c.companyID() || (!c.tok.agency() && l != c.tok.LocationID) {
				return ptr(errUnprocessable("locationIds: location " + l + " is not accessible"))
			}
		}
	}
	if e, ok := c.body["email"].(string); ok {
		for _, other := range c.st.t("users").all() {
			if idOf(other) != idOf(u) && !boolean(other, "deleted") && lower(str(other, "email")) == lower(e) {
				return ptr(errBadRequest("User with email " + e + " already exists"))
			}
		}
	}
	roles, _ := u["roles"].(map[string]any)
	if roles == nil {
		roles = map[string]any{}
		u["roles"] = roles
	}
	for k, v := range c.body {
		switch k {
		case "type", "role":
			roles[k] = v
		case "locationIds":
			roles[k] = clone(v)
		case "permissions":
			perms, _ := u["permissions"].(map[string]any)
			if perms == nil {
				perms = map[string]any{}
			}
			for pk, pv := range v.(map[string]any) {
				perms[pk] = pv
			}
			u["permissions"] = perms
		case "phone":
			if p, _ := v.(string); p != "" {
				if e, err := normalizePhone(p, "US"); err == nil {
					v = e
				}
			}
			u[k] = v
		default:
			u[k] = clone(v)
		}
	}
	u["name"] = strings.TrimSpace(str(u, "firstName") + " " + str(u, "lastName"))
	return nil
}

func (c *call) userCreate() reply {
	u := record{"id": c.st.newID(), "companyId": c.companyID()}
	if rep := c.applyUser(u); rep != nil {
		return *rep
	}
	normalizeUser(u, isoMillis(c.now))
	c.st.t("users").put(idOf(u), u)
	return created(userOut(u))
}

func (c *call) userUpdate() reply {
	u, rep := c.user(c.path["userId"])
	if rep != nil {
		return *rep
	}
	if rep := c.applyUser(u); rep != nil {
		return *rep
	}
	return ok(userOut(u))
}

func (c *call) userDelete() reply {
	u, rep := c.user(c.path["userId"])
	if rep != nil {
		return *rep
	}
	u["deleted"] = true
	return ok(map[string]any{"succeded": true, "message": "Queued deleting user with e-mail " + str(u, "email") + " and name " + str(u, "name") + ". Will take effect in a few minutes."})
}

func atoiDefault(s string, def int) int {
	n := 0
	if s == "" {
		return def
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return def
		}
		n = n*10 + int(r-'0')
	}
	return n
}
