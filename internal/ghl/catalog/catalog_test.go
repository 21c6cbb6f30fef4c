package catalog_test

import (
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/ghlsync/ghlsync/internal/ghl/catalog"
)

func TestCatalogShape(t *testing.T) {
	t.Parallel()
	ops := catalog.All()
	if len(ops) != 126 {
		t.Errorf("catalog has %d operations, want 126", len(ops))
	}
	idRe := regexp.MustCompile(`^[a-z][A-Za-z]*\.[a-z][A-Za-z]*$`)
	scopeRe := regexp.MustCompile(`^[a-z][a-zA-Z-]*(/[a-zA-Z-]+)?\.(readonly|write|read)$`)
	paramRe := regexp.MustCompile(`\{([^}]+)\}`)
	seen := map[string]bool{}
	for _, op := range ops {
		if seen[op.ID] {
			t.Errorf("duplicate id %s", op.ID)
		}
		seen[op.ID] = true
		if !idRe.MatchString(op.ID) {
			t.Errorf("%s: id is not category.camelCase", op.ID)
		}
		if op.Name == "" || op.Category == "" || op.OperationID == "" {
			t.Errorf("%s: name, category or operationId missing", op.ID)
		}
		if op.Kind != catalog.Trigger && op.Kind != catalog.Action {
			t.Errorf("%s: kind %q", op.ID, op.Kind)
		}
		if !slices.Contains([]string{"GET", "POST", "PUT", "DELETE", "PATCH"}, op.Method) {
			t.Errorf("%s: method %q", op.ID, op.Method)
		}
		if op.Version != "2021-07-28" && op.Version != "2021-04-15" {
			t.Errorf("%s: Version %q", op.ID, op.Version)
		}
		if !slices.Contains([]string{catalog.TokenLocation, catalog.TokenAgency, catalog.TokenAny}, op.Token) {
			t.Errorf("%s: token %q", op.ID, op.Token)
		}
		if len(op.Scopes) == 0 {
			t.Errorf("%s: no scopes", op.ID)
		}
		for _, s := range op.Scopes {
			if !scopeRe.MatchString(s) {
				t.Errorf("%s: scope %q is not a scope name", op.ID, s)
			}
		}
		if !strings.HasPrefix(op.Path, "/") {
			t.Errorf("%s: path %q", op.ID, op.Path)
		}
		var tmpl []string
		for _, m := range paramRe.FindAllStringSubmatch(op.Path, -1) {
			tmpl = append(tmpl, m[1])
		}
		if !slices.Equal(tmpl, op.PathParams) {
			t.Errorf("%s: pathParams %v, path has %v", op.ID, op.PathParams, tmpl)
		}

		// Idempotency: every op has a class and a reason; reconcile needs a
		// natural key to look the effect up by; reads are safe.
		switch op.Idempotency {
		case catalog.Safe, catalog.Unsafe:
		case catalog.Reconcile:
			if len(op.NaturalKey) == 0 {
				t.Errorf("%s: reconcile without a natural key", op.ID)
			}
		default:
			t.Errorf("%s: idempotency class %q", op.ID, op.Idempotency)
		}
		if op.IdempotencyReason == "" {
			t.Errorf("%s: idempotency without a reason", op.ID)
		}
		if (op.Method == "GET" || op.Kind == catalog.Trigger) && op.Idempotency != catalog.Safe {
			t.Errorf("%s: a read must be safe, is %s", op.ID, op.Idempotency)
		}

		checkPagination(t, op)
	}
}

// checkPagination: every list op says how it pages, with what parameters.
func checkPagination(t *testing.T, op *catalog.Operation) {
	t.Helper()
	looksLikeList := op.Kind == catalog.Trigger && op.Method == "GET" &&
		(strings.Contains(op.ID, ".list") || strings.Contains(op.ID, ".search") || strings.HasSuffix(op.ID, "ByBusiness"))
	p := op.Pagination
	if p == nil {
		if looksLikeList {
			t.Errorf("%s: a list operation without a pagination description", op.ID)
		}
		return
	}
	has := func(name string) bool {
		return name != "" && (op.HasQuery(name) || op.HasBodyField(name) || p.In == "body" || op.Method == "POST")
	}
	switch p.Style {
	case catalog.PageNone:
	case catalog.PagePage:
		if p.PageParam == "" || p.LimitParam == "" || p.In != "body" {
			t.Errorf("%s: page style needs pageParam, limitParam and in=body: %+v", op.ID, *p)
		}
	case catalog.PageStartAfter:
		if !op.HasQuery("startAfter") || !op.HasQuery("startAfterId") || !has(p.LimitParam) {
			t.Errorf("%s: startAfter style needs startAfter, startAfterId and a limit: %+v", op.ID, *p)
		}
	case catalog.PageSkip, catalog.PageOffset, catalog.PageLastID, catalog.PageStartAfterDate:
		if !has(p.CursorParam) || !has(p.LimitParam) {
			t.Errorf("%s: %s style needs its cursor and limit parameters declared: %+v", op.ID, p.Style, *p)
		}
	case catalog.PageWindow:
		if !op.HasQuery(p.StartParam) || !op.HasQuery(p.EndParam) {
			t.Errorf("%s: window style needs start/end query parameters: %+v", op.ID, *p)
		}
	default:
		t.Errorf("%s: unknown pagination style %q", op.ID, p.Style)
	}
	if op.Paged() && p.MaxLimit <= 0 {
		t.Errorf("%s: paged list without maxLimit (the page size that ends paging on a short page)", op.ID)
	}
	if p.ItemID == "" && !(p.Style == catalog.PageWindow && p.List == "") {
		t.Errorf("%s: list without itemId", op.ID)
	}
}

func TestLookupAndExpand(t *testing.T) {
	t.Parallel()
	if _, err := catalog.Lookup("contacts.upsrt"); err == nil || !strings.Contains(err.Error(), "did you mean contacts.upsert") {
		t.Errorf("Lookup typo: %v", err)
	}
	op, err := catalog.Lookup("contacts.getTask")
	if err != nil {
		t.Fatal(err)
	}
	got, err := op.Expand(map[string]string{"contactId": "a/b", "taskId": "t 1"}, url.PathEscape)
	if err != nil || got != "/contacts/a%2Fb/tasks/t%201" {
		t.Errorf("Expand = %q, %v", got, err)
	}
	if _, err := op.Expand(map[string]string{"contactId": "a"}, url.PathEscape); err == nil || !strings.Contains(err.Error(), "taskId") {
		t.Errorf("missing param: %v", err)
	}
}
