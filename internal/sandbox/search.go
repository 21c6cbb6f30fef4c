package sandbox

import (
	"fmt"
	"net/url"
	"slices"
	"sort"
	"strings"
)

// POST /contacts/search: filters, sort, and two ways to page: page +
// pageLimit (page * pageLimit may not pass 10,000, as GHL documents) or
// searchAfter, the sort values of the last contact of the previous page.

var searchFields = map[string]string{
	"id": "id", "email": "emailLowerCase", "phone": "phone", "firstName": "firstNameLowerCase",
	"lastName": "lastNameLowerCase", "firstNameLowerCase": "firstNameLowerCase", "lastNameLowerCase": "lastNameLowerCase",
	"fullNameLowerCase": "fullNameLowerCase", "companyName": "companyName", "source": "source", "assignedTo": "assignedTo",
	"businessId": "businessId", "tags": "tags", "dateAdded": "dateAdded", "dateUpdated": "dateUpdated",
	"country": "country", "city": "city", "state": "state", "postalCode": "postalCode", "type": "type", "dnd": "dnd",
	"followers": "followers", "timezone": "timezone",
}

var searchOperators = []string{"eq", "not_eq", "contains", "not_contains", "exists", "not_exists", "range"}

type contactFilter func(record) bool

func (c *call) compileFilters(list []any, group string, path string) (contactFilter, []string) {
	var fs []contactFilter
	var msgs []string
	for i, it := range list {
		p := fmt.Sprintf("%s.%d", path, i)
		m, ok := it.(map[string]any)
		if !ok {
			msgs = append(msgs, p+" must be an object")
			continue
		}
		if g, ok := m["group"].(string); ok {
			sub, _ := m["filters"].([]any)
			if g != "AND" && g != "OR" {
				msgs = append(msgs, p+".group must be one of the following values: AND, OR")
				continue
			}
			f, ms := c.compileFilters(sub, g, p+".filters")
			msgs = append(msgs, ms...)
			fs = append(fs, f)
			continue
		}
		f, msg := c.compileFilter(m, p)
		if msg != "" {
			msgs = append(msgs, msg)
			continue
		}
		fs = append(fs, f)
	}
	return func(r record) bool {
		if len(fs) == 0 {
			return true
		}
		for _, f := range fs {
			if f(r) {
				if group == "OR" {
					return true
				}
			} else if group != "OR" {
				return false
			}
		}
		return group != "OR"
	}, msgs
}

func (c *call) compileFilter(m map[string]any, p string) (contactFilter, string) {
	field, op := str(m, "field"), str(m, "operator")
	if !slices.Contains(searchOperators, op) {
		return nil, p + ".operator must be one of the following values: " + strings.Join(searchOperators, ", ")
	}
	val := m["value"]
	var get func(record) []string
	if cf, ok := strings.CutPrefix(field, "customFields."); ok {
		get = func(r record) []string {
			for _, e := range asList(r["customFields"]) {
				em, _ := e.(map[string]any)
				if str(em, "id") == cf {
					return valueStrings(em["value"])
				}
			}
			return nil
		}
	} else if key, ok := searchFields[field]; ok {
		get = func(r record) []string { return valueStrings(r[key]) }
	} else {
		return nil, p + ".field " + field + " is not a searchable field"
	}
	norm := func(s string) string { return lower(s) }
	if field == "phone" {
		norm = func(s string) string {
			if e, err := normalizePhone(s, str(c.location(), "country")); err == nil {
				return e
			}
			return s
		}
	}
	want := valueStrings(val)
	for i := range want {
		want[i] = norm(want[i])
	}
	has := func(r record, pred func(string) bool) bool {
		for _, v := range get(r) {
			if pred(norm(v)) {
				return true
			}
		}
		return false
	}
	switch op {
	case "exists":
		return func(r record) bool { return len(get(r)) > 0 }, ""
	case "not_exists":
		return func(r record) bool { return len(get(r)) == 0 }, ""
	case "eq":
		return func(r record) bool { return has(r, func(v string) bool { return slices.Contains(want, v) }) }, ""
	case "not_eq":
		return func(r record) bool { return !has(r, func(v string) bool { return slices.Contains(want, v) }) }, ""
	case "contains":
		return func(r record) bool {
			return has(r, func(v string) bool { return len(want) > 0 && strings.Contains(v, want[0]) })
		}, ""
	case "not_contains":
		return func(r record) bool {
			return !has(r, func(v string) bool { return len(want) > 0 && strings.Contains(v, want[0]) })
		}, ""
	default: // range
		rm, ok := val.(map[string]any)
		if !ok {
			return nil, p + ".value must be an object with gt, gte, lt or lte"
		}
		return func(r record) bool {
			return has(r, func(v string) bool {
				for k, bound := range rm {
					b := norm(fmt.Sprint(bound))
					switch k {
					case "gt":
						if !(v > b) {
							return false
						}
					case "gte":
						if !(v >= b) {
							return false
						}
					case "lt":
						if !(v < b) {
							return false
						}
					case "lte":
						if !(v <= b) {
							return false
						}
					}
				}
				return true
			})
		}, ""
	}
}

func asList(v any) []any {
	l, _ := v.([]any)
	return l
}

func valueStrings(v any) []string {
	switch x := v.(type) {
	case nil:
		return nil
	case string:
		if x == "" {
			return nil
		}
		return []string{x}
	case []any:
		var out []string
		for _, e := range x {
			out = append(out, valueStrings(e)...)
		}
		return out
	case float64:
		return []string{strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%f", x), "0"), ".")}
	default:
		return []string{fmt.Sprint(x)}
	}
}

func (c *call) contactSearch() reply {
	pageLimit, _ := num(c.body, "pageLimit")
	if pageLimit < 1 || pageLimit > 500 {
		return errUnprocessable("pageLimit must not be less than 1 and not greater than 500")
	}
	page := 1.0
	if p, ok := num(c.body, "page"); ok {
		page = p
	}
	if page < 1 || page != float64(int(page)) {
		return errUnprocessable("page must be a positive integer")
	}
	after := asList(c.body["searchAfter"])
	if after != nil && page != 1 {
		return errUnprocessable("page cannot be used together with searchAfter")
	}
	if after == nil && page*pageLimit > 10000 {
		return errUnprocessable("page * pageLimit must not exceed 10000; use searchAfter to read further")
	}
	filter, msgs := c.compileFilters(asList(c.body["filters"]), "AND", "filters")
	sortField, desc := "dateAdded", true
	for i, s := range asList(c.body["sort"]) {
		m, _ := s.(map[string]any)
		f := str(m, "field")
		key, ok := searchFields[f]
		if !ok {
			msgs = append(msgs, fmt.Sprintf("sort.%d.field %s is not sortable", i, f))
			continue
		}
		sortField = key
		desc = str(m, "direction") != "asc"
	}
	if len(msgs) > 0 {
		return errUnprocessable(msgs...)
	}
	q, _ := c.body["query"].(string)
	var items []record
	for _, r := range c.st.t("contacts").all() {
		if str(r, "locationId") == c.loc && matchesQuery(r, q) && filter(r) {
			items = append(items, r)
		}
	}
	sortKey := func(r record) string {
		if sortField == "dateAdded" || sortField == "dateUpdated" {
			return fmt.Sprintf("%020d", millisOf(str(r, sortField)))
		}
		return lower(strings.Join(valueStrings(r[sortField]), ","))
	}
	sort.SliceStable(items, func(i, j int) bool {
		a, b := sortKey(items[i]), sortKey(items[j])
		if a == b {
			a, b = idOf(items[i]), idOf(items[j])
		}
		return (a > b) == desc
	})
	start := int(page-1) * int(pageLimit)
	if after != nil {
		if len(after) != 2 {
			return errUnprocessable("searchAfter must hold the two sort values of the last contact")
		}
		ak, aid := fmt.Sprint(after[0]), fmt.Sprint(after[1])
		if f, ok := after[0].(float64); ok && (sortField == "dateAdded" || sortField == "dateUpdated") {
			ak = fmt.Sprintf("%020d", int64(f))
		}
		start = len(items)
		for i, r := range items {
			cmp := strings.Compare(sortKey(r), ak)
			if cmp == 0 {
				cmp = strings.Compare(idOf(r), aid)
			}
			if (desc && cmp < 0) || (!desc && cmp > 0) {
				start = i
				break
			}
		}
	}
	out := pageOf(items, start, int(pageLimit))
	list := make([]any, 0, len(out))
	for _, r := range out {
		o := contactOut(r)
		var sv any = lower(strings.Join(valueStrings(r[sortField]), ","))
		if sortField == "dateAdded" || sortField == "dateUpdated" {
			sv = millisOf(str(r, sortField))
		}
		o["searchAfter"] = []any{sv, idOf(r)}
		list = append(list, o)
	}
	return ok(map[string]any{"contacts": list, "total": len(items), "traceId": c.trace})
}

func encodeQuery(v url.Values) string { return v.Encode() }
