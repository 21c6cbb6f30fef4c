package sandbox

import (
	"slices"
	"strings"
	"time"
)

func init() {
	register(map[string]handlerFunc{
		"associations.list":                  (*call).assocList,
		"associations.get":                   (*call).assocGet,
		"associations.getByKeyName":          (*call).assocByKey,
		"associations.getByObjectKey":        (*call).assocByObjectKey,
		"associations.create":                (*call).assocCreate,
		"associations.update":                (*call).assocUpdate,
		"associations.delete":                (*call).assocDelete,
		"associations.listRelationsByRecord": (*call).relationList,
		"associations.createRelation":        (*call).relationCreate,
		"associations.deleteRelation":        (*call).relationDelete,
		"blogs.checkSlug":                    (*call).blogCheckSlug,
		"blogs.listAuthors":                  (*call).blogAuthors,
		"blogs.listCategories":               (*call).blogCategories,
		"blogs.listPosts":                    (*call).blogPosts,
		"blogs.listBlogs":                    (*call).blogList,
		"blogs.createPost":                   (*call).blogCreatePost,
		"blogs.updatePost":                   (*call).blogUpdatePost,
	})
}

var assocFields = []string{"id", "locationId", "key", "firstObjectLabel", "firstObjectKey", "secondObjectLabel",
	"secondObjectKey", "associationType"}

// objectKeys are the record kinds relations may join, and where to find them.
var objectKinds = map[string]string{"contact": "contacts", "opportunity": "opportunities", "business": "businesses"}

func (c *call) association(id string) (record, *reply) {
	a := c.st.t("associations").get(id)
	if a == nil {
		return nil, ptr(errNotFound("Association"))
	}
	if rep := c.owns(a); rep != nil {
		return nil, rep
	}
	return a, nil
}

func (c *call) assocList() reply {
	as := c.st.t("associations").filter(func(r record) bool { return str(r, "locationId") == c.loc })
	page := pageOf(as, c.intQuery("skip", 0, 0), max(c.intQuery("limit", 10, 100), 1))
	return ok(map[string]any{"associations": recsToAnyWith(page, func(r record) record { return pick(r, assocFields...) }),
		"total": len(as), "traceId": c.trace})
}

func (c *call) assocGet() reply {
	a, rep := c.association(c.path["associationId"])
	if rep != nil {
		return *rep
	}
	return ok(pick(a, assocFields...))
}

func (c *call) assocByKey() reply {
	for _, a := range c.st.t("associations").all() {
		if str(a, "locationId") == c.loc && str(a, "key") == c.path["key_name"] {
			return ok(pick(a, assocFields...))
		}
	}
	return errNotFound("Association")
}

func (c *call) assocByObjectKey() reply {
	k := c.path["objectKey"]
	as := c.st.t("associations").filter(func(r record) bool {
		return str(r, "locationId") == c.loc && (str(r, "firstObjectKey") == k || str(r, "secondObjectKey") == k)
	})
	return ok(map[string]any{"associations": recsToAnyWith(as, func(r record) record { return pick(r, assocFields...) }), "traceId": c.trace})
}

func validObjectKey(k string) bool {
	_, ok := objectKinds[k]
	return ok || strings.HasPrefix(k, "custom_objects.")
}

func (c *call) assocCreate() reply {
	var msgs []string
	for _, f := range []string{"firstObjectKey", "secondObjectKey"} {
		if k := str(c.body, f); !validObjectKey(k) {
			msgs = append(msgs, f+" must be contact, opportunity, business or custom_objects.<key>")
		}
	}
	if len(msgs) > 0 {
		return errUnprocessable(msgs...)
	}
	for _, a := range c.st.t("associations").all() {
		if str(a, "locationId") == c.loc && str(a, "key") == str(c.body, "key") {
			return errBadRequest("Association with key " + str(c.body, "key") + " already exists")
		}
	}
	a := record{"id": c.st.newID(), "locationId": c.loc, "associationType": "USER_DEFINED"}
	for _, f := range []string{"key", "firstObjectLabel", "firstObjectKey", "secondObjectLabel", "secondObjectKey"} {
		a[f] = c.body[f]
	}
	c.st.t("associations").put(idOf(a), a)
	c.emit("AssociationCreate", pick(a, assocFields...))
	return created(pick(a, assocFields...))
}

func (c *call) assocUpdate() reply {
	a, rep := c.association(c.path["associationId"])
	if rep != nil {
		return *rep
	}
	a["firstObjectLabel"] = c.body["firstObjectLabel"]
	a["secondObjectLabel"] = c.body["secondObjectLabel"]
	c.emit("AssociationUpdate", pick(a, assocFields...))
	return ok(pick(a, assocFields...))
}

func (c *call) assocDelete() reply {
	a, rep := c.association(c.path["associationId"])
	if rep != nil {
		return *rep
	}
	if str(a, "associationType") != "USER_DEFINED" {
		return errBadRequest("Only USER_DEFINED associations can be deleted")
	}
	c.st.t("associations").del(idOf(a))
	for _, r := range c.st.t("relations").filter(func(r record) bool { return str(r, "associationId") == idOf(a) }) {
		c.st.t("relations").del(idOf(r))
	}
	c.emit("AssociationDelete", pick(a, assocFields...))
	return ok(map[string]any{"deleted": true, "id": idOf(a), "message": "Association deleted successfully"})
}

var relationFields = []string{"id", "associationId", "firstRecordId", "secondRecordId", "locationId", "firstObjectKey", "secondObjectKey", "createdAt"}

// recordOfKind checks that id is a record of the object key in this location.
func (c *call) recordOfKind(objectKey, id string) bool {
	kind, ok := objectKinds[objectKey]
	if !ok {
		return id != "" // custom objects are not simulated; any id is accepted
	}
	r := c.st.t(kind).get(id)
	return r != nil && str(r, "locationId") == c.loc
}

func (c *call) relationCreate() reply {
	a, rep := c.association(str(c.body, "associationId"))
	if rep != nil {
		return *rep
	}
	first, second := str(c.body, "firstRecordId"), str(c.body, "secondRecordId")
	var msgs []string
	if !c.recordOfKind(str(a, "firstObjectKey"), first) {
		msgs = append(msgs, "firstRecordId "+first+" is not a "+str(a, "firstObjectKey")+" of this location")
	}
	if !c.recordOfKind(str(a, "secondObjectKey"), second) {
		msgs = append(msgs, "secondRecordId "+second+" is not a "+str(a, "secondObjectKey")+" of this location")
	}
	if len(msgs) > 0 {
		return errUnprocessable(msgs...)
	}
	for _, r := range c.st.t("relations").all() {
		if str(r, "associationId") == idOf(a) && str(r, "firstRecordId") == first && str(r, "secondRecordId") == second {
			return errBadRequest("Relation already exists")
		}
	}
	r := record{"id": c.st.newID(), "associationId": idOf(a), "firstRecordId": first, "secondRecordId": second,
		"locationId": c.loc, "firstObjectKey": str(a, "firstObjectKey"), "secondObjectKey": str(a, "secondObjectKey"),
		"createdAt": isoMillis(c.now)}
	c.st.t("relations").put(idOf(r), r)
	c.emit("RelationCreate", pick(r, relationFields...))
	return created(pick(r, relationFields...))
}

func (c *call) relationDelete() reply {
	r := c.st.t("relations").get(c.path["relationId"])
	if r == nil || str(r, "locationId") != c.loc {
		return errNotFound("Relation")
	}
	c.st.t("relations").del(idOf(r))
	c.emit("RelationDelete", pick(r, relationFields...))
	return ok(pick(r, relationFields...))
}

func (c *call) relationList() reply {
	id := c.path["recordId"]
	ids := c.q["associationIds"]
	rs := c.st.t("relations").filter(func(r record) bool {
		return str(r, "locationId") == c.loc && (str(r, "firstRecordId") == id || str(r, "secondRecordId") == id) &&
			(len(ids) == 0 || slices.Contains(ids, str(r, "associationId")))
	})
	page := pageOf(rs, c.intQuery("skip", 0, 0), max(c.intQuery("limit", 10, 100), 1))
	return ok(map[string]any{"relations": recsToAnyWith(page, func(r record) record { return pick(r, relationFields...) }),
		"total": len(rs), "traceId": c.trace})
}

// --- blogs ---

var postFields = []string{"_id", "categories", "tags", "archived", "title", "description", "imageUrl", "status",
	"imageAltText", "urlSlug", "canonicalLink", "author", "publishedAt", "updatedAt", "blogId", "rawHTML"}

func (c *call) offsetPage(kind string, keep func(record) bool, fields ...string) []any {
	rs := c.st.t(kind).filter(func(r record) bool { return str(r, "locationId") == c.loc && (keep == nil || keep(r)) })
	skip := c.intQuery("offset", c.intQuery("skip", 0, 0), 0)
	page := pageOf(rs, skip, max(c.intQuery("limit", 10, 100), 1))
	return recsToAnyWith(page, func(r record) record {
		if len(fields) == 0 {
			return cloneRec(r)
		}
		return pick(r, fields...)
	})
}

func (c *call) blogCheckSlug() reply {
	slug, post := c.q.Get("urlSlug"), c.q.Get("postId")
	for _, p := range c.st.t("blogPosts").all() {
		if str(p, "locationId") == c.loc && str(p, "urlSlug") == slug && idOf(p) != post {
			return ok(map[string]any{"exists": true})
		}
	}
	return ok(map[string]any{"exists": false})
}

func (c *call) blogAuthors() reply {
	return ok(map[string]any{"authors": c.offsetPage("blogAuthors", nil, "_id", "name", "locationId", "updatedAt", "canonicalLink")})
}

func (c *call) blogCategories() reply {
	return ok(map[string]any{"categories": c.offsetPage("blogCategories", nil, "_id", "label", "locationId", "updatedAt", "canonicalLink", "urlSlug")})
}

func (c *call) blogPosts() reply {
	blog, status, term := c.q.Get("blogId"), c.q.Get("status"), lower(c.q.Get("searchTerm"))
	return ok(map[string]any{"blogs": c.offsetPage("blogPosts", func(r record) bool {
		return str(r, "blogId") == blog && (status == "" || str(r, "status") == status) &&
			(term == "" || strings.Contains(lower(str(r, "title")), term))
	}, postFields...)})
}

func (c *call) blogList() reply {
	term := lower(c.q.Get("searchTerm"))
	return ok(map[string]any{"data": c.offsetPage("blogs", func(r record) bool {
		return term == "" || strings.Contains(lower(str(r, "name")), term)
	}, "_id", "name")})
}

// applyPost validates references (blog, author, categories) and writes a post.
func (c *call) applyPost(p record) *reply {
	var msgs []string
	if b := c.st.t("blogs").get(str(c.body, "blogId")); b == nil || str(b, "locationId") != c.loc {
		msgs = append(msgs, "blogId "+str(c.body, "blogId")+" is not a blog of this location")
	}
	if a := c.st.t("blogAuthors").get(str(c.body, "author")); a == nil {
		msgs = append(msgs, "author "+str(c.body, "author")+" is not an author of this location")
	}
	for _, cat := range strs(c.body, "categories") {
		if c.st.t("blogCategories").get(cat) == nil {
			msgs = append(msgs, "categories: "+cat+" is not a category of this location")
		}
	}
	if _, err := time.Parse(time.RFC3339, str(c.body, "publishedAt")); err != nil {
		msgs = append(msgs, "publishedAt must be a valid ISO 8601 date string")
	}
	for _, p2 := range c.st.t("blogPosts").all() {
		if str(p2, "locationId") == c.loc && str(p2, "urlSlug") == str(c.body, "urlSlug") && idOf(p2) != idOf(p) {
			msgs = append(msgs, "urlSlug "+str(c.body, "urlSlug")+" already exists")
		}
	}
	if len(msgs) > 0 {
		return ptr(errUnprocessable(msgs...))
	}
	for k, v := range c.body {
		if k != "locationId" {
			p[k] = clone(v)
		}
	}
	p["archived"] = str(p, "status") == "ARCHIVED"
	setDefault(p, "tags", []any{})
	setDefault(p, "canonicalLink", "")
	p["updatedAt"] = isoMillis(c.now)
	return nil
}

func (c *call) blogCreatePost() reply {
	p := record{"_id": c.st.newID(), "locationId": c.loc}
	if rep := c.applyPost(p); rep != nil {
		return *rep
	}
	c.st.t("blogPosts").put(idOf(p), p)
	return ok(map[string]any{"data": pick(p, postFields...)})
}

func (c *call) blogUpdatePost() reply {
	p := c.st.t("blogPosts").get(c.path["postId"])
	if p == nil {
		return errNotFound("Blog post")
	}
	if rep := c.owns(p); rep != nil {
		return *rep
	}
	next := cloneRec(p)
	if rep := c.applyPost(next); rep != nil {
		return *rep
	}
	for k, v := range next {
		p[k] = v
	}
	return ok(map[string]any{"updatedBlogPost": pick(p, postFields...)})
}
