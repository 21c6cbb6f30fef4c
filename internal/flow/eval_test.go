package flow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func mustParse(t *testing.T, src string) *Flow {
	t.Helper()
	f, err := Parse("test.yaml", []byte(src))
	if err != nil {
		t.Fatalf("Parse:\n%v", err)
	}
	return f
}

// payload decodes JSON the way sources hand it over (numbers as json.Number).
func payload(t *testing.T, js string) map[string]any {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(js))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

var fixedNow = time.Date(2026, 3, 6, 15, 4, 5, 0, time.UTC)

func testEnv(t *testing.T, js string) *Env {
	env := NewEnv(Event{ID: "evt-1", Type: "contact.created", Source: "generic", Payload: payload(t, js), ReceivedAt: fixedNow},
		Connection{Name: "main", LocationID: "loc1", CompanyID: "co1", Timezone: "America/New_York"})
	env.Now = fixedNow
	env.Vars = map[string]string{"GHLSYNC_FLOW_CALENDAR": "cal-9"}
	return env
}

const contactEvent = `{"contact": {"email": " Ana@Example.com ", "first": "Ana", "last": "", "phone": "(415) 555-2671",
  "city": null, "amount": 49, "tags": ["vip", "Vip", " "], "company": "  ", "business": "Acme"}}`

func request(t *testing.T, f *Flow, step string, env *Env) *Request {
	t.Helper()
	s, ok := f.Step(step)
	if !ok {
		t.Fatalf("no step %s", step)
	}
	req, err := s.Request(context.Background(), env)
	if err != nil {
		t.Fatalf("Request: %v", err)
	}
	return req
}

func TestRequestMappingAndNeverClobber(t *testing.T) {
	t.Parallel()
	f := mustParse(t, `
trigger: {webhook: {source: generic}}
steps:
  - id: contact
    op: contacts.upsert
    with:
      email: "{{ lower(trim(event.contact.email)) }}"
      firstName: "{{ event.contact.first }}"
      lastName: "{{ event.contact.last }}"
      name: "{{ event.contact.first }} {{ event.contact.last }}"
      phone: "{{ phone(event.contact.phone) }}"
      city: "{{ event.contact.city }}"
      state: "{{ event.contact.missing.deeper }}"
      companyName: "{{ coalesce(event.contact.company, event.contact.business) }}"
      source: "literal {braces} stay"
      website: "   "
      dnd: false
      dndSettings:
        Email: {status: "{{ event.contact.dnd }}", message: ""}
        SMS: {status: active}
`)
	req := request(t, f, "contact", testEnv(t, contactEvent))
	want := map[string]any{
		"email":       "ana@example.com",
		"firstName":   "Ana",
		"name":        "Ana ",
		"phone":       "+14155552671",
		"companyName": "Acme",
		"source":      "literal {braces} stay",
		"dnd":         false,
		"dndSettings": map[string]any{"SMS": map[string]any{"status": "active"}},
		"locationId":  "loc1",
	}
	if diff := cmp.Diff(want, req.Body); diff != "" {
		t.Errorf("body (-want +got):\n%s", diff)
	}
	wantOmitted := []string{"lastName", "city", "state", "website", "dndSettings.Email.message", "dndSettings.Email.status", "dndSettings.Email"}
	if diff := cmp.Diff(wantOmitted, req.Omitted); diff != "" {
		t.Errorf("omitted (-want +got):\n%s", diff)
	}
	if req.Skipped || req.Op != "contacts.upsert" || len(req.Path) != 0 || len(req.Query) != 0 {
		t.Errorf("request = %+v", req)
	}
}

func TestRequestClearEmpty(t *testing.T) {
	t.Parallel()
	f := mustParse(t, `
trigger: {webhook: {source: generic}}
steps:
  - id: c
    op: contacts.update
    clear_empty: [city, website]
    with:
      contactId: c-1
      city: "{{ event.contact.city }}"
      website: ""
      state: "{{ event.contact.city }}"
`)
	req := request(t, f, "c", testEnv(t, contactEvent))
	if diff := cmp.Diff(map[string]any{"city": "", "website": ""}, req.Body); diff != "" {
		t.Errorf("body (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]string{"contactId": "c-1"}, req.Path); diff != "" {
		t.Errorf("path (-want +got):\n%s", diff)
	}
}

func TestRequestTypedValues(t *testing.T) {
	t.Parallel()
	f := mustParse(t, `
trigger: {webhook: {source: generic}}
steps:
  - id: o
    op: opportunities.create
    with:
      name: Deal
      pipelineId: "{{ env.GHLSYNC_FLOW_CALENDAR }}"
      status: open
      contactId: "{{ event.id }}"
      monetaryValue: "{{ event.contact.amount * 2 }}"
      assignedTo: "{{ event.contact.amount }}"
`)
	req := request(t, f, "o", testEnv(t, contactEvent))
	want := map[string]any{"name": "Deal", "pipelineId": "cal-9", "status": "open", "contactId": "evt-1",
		"monetaryValue": 98, "assignedTo": 49, "locationId": "loc1"}
	if diff := cmp.Diff(want, req.Body); diff != "" {
		t.Errorf("body (-want +got):\n%s", diff)
	}
}

func TestRequestTags(t *testing.T) {
	t.Parallel()
	f := mustParse(t, `
trigger: {webhook: {source: generic}}
steps:
  - id: upsert
    op: contacts.upsert
    with:
      email: a@example.com
      tags: "{{ concat(['ghlsync'], event.contact.tags) }}"
  - id: update
    op: contacts.update
    with:
      contactId: c-7
      tags: "new, ghlsync ,New"
  - id: replace
    op: contacts.upsert
    replace_tags: true
    with:
      email: a@example.com
      tags: [only]
  - id: create
    op: contacts.create
    with:
      email: a@example.com
      tags: [fresh]
  - id: none
    op: contacts.upsert
    with:
      email: a@example.com
      tags: "{{ event.contact.nothing }}"
`)
	env := testEnv(t, contactEvent)

	up := request(t, f, "upsert", env)
	if diff := cmp.Diff([]string{"ghlsync", "vip"}, up.AddTags); diff != "" {
		t.Errorf("upsert AddTags (-want +got):\n%s", diff)
	}
	if _, ok := up.Body["tags"]; ok {
		t.Errorf("upsert body still has tags: %v", up.Body)
	}
	tr, ok, err := up.TagsRequest(json.RawMessage(`{"new": false, "contact": {"id": "c-42", "tags": ["old"]}}`))
	if err != nil || !ok {
		t.Fatalf("TagsRequest = %v %v", ok, err)
	}
	if tr.Op != "contacts.addTags" || tr.Path["contactId"] != "c-42" || !cmp.Equal(tr.Body["tags"], []string{"ghlsync", "vip"}) {
		t.Errorf("tags request = %+v", tr)
	}
	if _, _, err := up.TagsRequest(map[string]any{"contact": map[string]any{}}); err == nil {
		t.Error("TagsRequest without a contact id succeeded")
	}

	upd := request(t, f, "update", env)
	if diff := cmp.Diff([]string{"new", "ghlsync"}, upd.AddTags); diff != "" {
		t.Errorf("update AddTags (-want +got):\n%s", diff)
	}
	if upd.Body != nil {
		t.Errorf("update body = %v, want none (only tags were mapped)", upd.Body)
	}
	tr, ok, err = upd.TagsRequest(nil)
	if err != nil || !ok || tr.Path["contactId"] != "c-7" {
		t.Errorf("update tags request = %+v %v %v", tr, ok, err)
	}

	rep := request(t, f, "replace", env)
	if len(rep.AddTags) != 0 || !cmp.Equal(rep.Body["tags"], []any{"only"}) {
		t.Errorf("replace_tags request = %+v", rep)
	}
	cr := request(t, f, "create", env)
	if len(cr.AddTags) != 0 || !cmp.Equal(cr.Body["tags"], []any{"fresh"}) {
		t.Errorf("create request = %+v", cr)
	}
	none := request(t, f, "none", env)
	if _, ok, _ := none.TagsRequest(nil); ok || none.Body["tags"] != nil {
		t.Errorf("empty tags produced a tags change: %+v", none)
	}
}

func TestRequestAutoParamsAndPaths(t *testing.T) {
	t.Parallel()
	f := mustParse(t, `
trigger: {webhook: {source: generic}}
steps:
  - id: find
    op: contacts.find
    with:
      email: "{{ event.contact.email }}"
      number: "{{ phone(event.contact.phone) }}"
  - id: note
    op: contacts.createNote
    with:
      contactId: "{{ steps.find.contact.id }}"
      body: "Paid {{ event.contact.amount }} at {{ meta.received_at }}"
`)
	env := testEnv(t, contactEvent)
	find := request(t, f, "find", env)
	wantQ := url.Values{"email": {" Ana@Example.com "}, "number": {"+14155552671"}, "locationId": {"loc1"}}
	if diff := cmp.Diff(wantQ, find.Query); diff != "" {
		t.Errorf("query (-want +got):\n%s", diff)
	}
	if find.Body != nil {
		t.Errorf("GET request has a body: %v", find.Body)
	}

	// Before find has a result, the path parameter is empty: an error that
	// names the step, the field and its place in the file.
	s, _ := f.Step("note")
	_, err := s.Request(context.Background(), env)
	var ee *EvalError
	if !errors.As(err, &ee) || ee.Step != "note" || ee.Field != "with.contactId" || ee.Pos.Line != 12 {
		t.Fatalf("error = %#v", err)
	}
	if !strings.HasPrefix(err.Error(), `test.yaml:12:7: step "note": with.contactId: path parameter contactId is empty`) {
		t.Errorf("message = %q", err)
	}

	env.SetStep("find", json.RawMessage(`{"contact": {"id": "c-9", "email": "ana@example.com"}}`))
	note := request(t, f, "note", env)
	if note.Path["contactId"] != "c-9" || note.Body["body"] != "Paid 49 at 2026-03-06T15:04:05Z" {
		t.Errorf("note = %+v", note)
	}

	noLoc := testEnv(t, contactEvent)
	noLoc.Connection.LocationID = ""
	if _, err := s.Request(context.Background(), noLoc); err == nil {
		t.Error("a request needing locationId succeeded without one")
	}
	fs, _ := f.Step("find")
	if _, err := fs.Request(context.Background(), noLoc); err == nil || !strings.Contains(err.Error(), `connection "main" has no locationId`) {
		t.Errorf("missing location error = %v", err)
	}
}

func TestRequestWhen(t *testing.T) {
	t.Parallel()
	f := mustParse(t, `
trigger: {webhook: {source: generic}}
steps:
  - {id: yes, op: contacts.get, when: "event.contact.first == 'Ana'", with: {contactId: x}}
  - {id: no, op: contacts.get, when: "{{ event.contact.amount > 100 }}", with: {contactId: x}}
  - {id: missing, op: contacts.get, when: event.contact.flag, with: {contactId: x}}
  - {id: bad, op: contacts.get, when: event.contact.first, with: {contactId: x}}
`)
	env := testEnv(t, contactEvent)
	for id, skipped := range map[string]bool{"yes": false, "no": true, "missing": true} {
		if got := request(t, f, id, env).Skipped; got != skipped {
			t.Errorf("%s: Skipped = %v, want %v", id, got, skipped)
		}
	}
	s, _ := f.Step("bad")
	if _, err := s.Request(context.Background(), env); err == nil || !strings.Contains(err.Error(), "when: expected true or false, got text") {
		t.Errorf("non-boolean when: %v", err)
	}
}

func TestEventMeta(t *testing.T) {
	t.Parallel()
	f := mustParse(t, `
trigger: {webhook: {source: ghl}}
steps:
  - id: n
    op: contacts.createNote
    with:
      contactId: "{{ event.id }}"
      body: "{{ meta.id }} {{ meta.type }} {{ event.type }} {{ meta.source }} {{ meta.flow }} {{ dateOnly(event.received_at) }}"
`)
	env := testEnv(t, `{"id": "contact-1", "type": "ContactCreate"}`)
	req := request(t, f, "n", env)
	if req.Path["contactId"] != "contact-1" || req.Body["body"] != "evt-1 contact.created ContactCreate generic test 2026-03-06" {
		t.Errorf("request = %+v", req)
	}
}

type fakeResolver struct {
	fields []CustomField
	calls  []string
	err    error
}

func (r *fakeResolver) Fields(_ context.Context, loc, model string) ([]CustomField, error) {
	r.calls = append(r.calls, loc+"/"+model)
	return r.fields, r.err
}

var sandboxFields = []CustomField{
	{ID: "cf-text", Name: "Resumo", FieldKey: "contact.resumo", DataType: "TEXT", Model: "contact"},
	{ID: "cf-money", Name: "Deal Value", FieldKey: "contact.deal_value", DataType: "MONETORY", Model: "contact"},
	{ID: "cf-check", Name: "Interests", FieldKey: "contact.interests", DataType: "CHECKBOX", Model: "contact"},
	{ID: "cf-date", Name: "Renewal", FieldKey: "contact.renewal", DataType: "DATE", Model: "contact"},
	{ID: "cf-num", Name: "Seats", FieldKey: "contact.seats", DataType: "NUMERICAL", Model: "contact"},
	{ID: "cf-multi", Name: "Plans", FieldKey: "contact.plans", DataType: "MULTIPLE_OPTIONS", Model: "contact"},
}

func TestRequestCustomFields(t *testing.T) {
	t.Parallel()
	f := mustParse(t, `
trigger: {webhook: {source: generic}}
steps:
  - id: c
    op: contacts.upsert
    clear_empty: [customFields.Plans]
    with:
      email: a@example.com
      customFields:
        contact.resumo: "Changed {{ event.pct }}%"
        Deal Value: "{{ event.amount }}"
        cf-check: "{{ event.interests }}"
        renewal: "{{ event.renewal }}"
        seats: "{{ event.seats }}"
        Plans: "{{ event.none }}"
        interests: "{{ event.none }}"
`)
	env := testEnv(t, `{"pct": 12.5, "amount": "$1,234.50", "interests": ["seo", "ads"], "renewal": "2026-04-01T10:00:00-05:00", "seats": 3}`)
	r := &fakeResolver{fields: sandboxFields}
	env.Fields = r
	req := request(t, f, "c", env)
	want := []any{
		map[string]any{"id": "cf-text", "field_value": "Changed 12.5%"},
		map[string]any{"id": "cf-money", "field_value": 1234.5},
		map[string]any{"id": "cf-check", "field_value": []any{"seo", "ads"}},
		map[string]any{"id": "cf-date", "field_value": "2026-04-01"},
		map[string]any{"id": "cf-num", "field_value": 3},
		map[string]any{"id": "cf-multi", "field_value": []any{}},
	}
	if diff := cmp.Diff(want, req.Body["customFields"]); diff != "" {
		t.Errorf("customFields (-want +got):\n%s", diff)
	}
	if len(req.CustomFields) != 6 || req.CustomFields[1].Ref != "Deal Value" || req.CustomFields[1].FieldKey != "contact.deal_value" {
		t.Errorf("CustomFields = %+v", req.CustomFields)
	}
	if diff := cmp.Diff([]string{"loc1/contact"}, r.calls); diff != "" {
		t.Errorf("resolver calls (-want +got):\n%s", diff)
	}
	if !strings.Contains(strings.Join(req.Omitted, ","), "customFields.interests") {
		t.Errorf("omitted = %v", req.Omitted)
	}
}

var errBoom = errors.New("boom")

func TestCustomFieldErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, mapping, payload string
		resolver               FieldResolver
		want                   string
	}{
		{"not a number", `Deal Value: "{{ event.v }}"`, `{"v": "abc"}`, &fakeResolver{fields: sandboxFields},
			`test.yaml:9:9: step "c": customFields.Deal Value: custom field "Deal Value" (MONETORY): expected a number, got "abc"`},
		{"boolean number", `seats: "{{ event.v }}"`, `{"v": true}`, &fakeResolver{fields: sandboxFields},
			`custom field "Seats" (NUMERICAL): expected a number, got "true"`},
		{"bad date", `Renewal: "{{ event.v }}"`, `{"v": "next tuesday"}`, &fakeResolver{fields: sandboxFields},
			`custom field "Renewal" (DATE): expected a date such as 2026-03-02, got "next tuesday"`},
		{"unknown field", `Deal Valeu: "{{ event.v }}"`, `{"v": 1}`, &fakeResolver{fields: sandboxFields},
			`no custom field with name, key or id "Deal Valeu" in this location (did you mean "Deal Value"?)`},
		{"ambiguous name", `dup: x`, `{}`, &fakeResolver{fields: []CustomField{{ID: "a", Name: "Dup"}, {ID: "b", Name: "DUP"}}},
			`custom field name "dup" matches 2 fields (a, b); use the field key or id`},
		{"no resolver", `Resumo: x`, `{}`, nil, `custom fields need a field resolver`},
		{"resolver fails", `Resumo: x`, `{}`, &fakeResolver{err: errBoom}, `test.yaml:9:9: step "c": listing contact custom fields of location loc1: boom`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := mustParse(t, fmt.Sprintf(`
trigger: {webhook: {source: generic}}
steps:
  - id: c
    op: contacts.upsert
    with:
      email: a@example.com
      customFields:
        %s
`, tt.mapping))
			env := testEnv(t, tt.payload)
			env.Fields = tt.resolver
			s, _ := f.Step("c")
			_, err := s.Request(context.Background(), env)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %v\nwant it to contain %q", err, tt.want)
			}
			// Bad data is an EvalError; a failing lookup is passed through.
			var ee *EvalError
			if isEval := errors.As(err, &ee); isEval == (tt.name == "resolver fails") {
				t.Errorf("errors.As(EvalError) = %v for %q", isEval, tt.name)
			}
			if tt.name == "resolver fails" && !errors.Is(err, errBoom) {
				t.Errorf("resolver error not wrapped: %v", err)
			}
		})
	}
}

func TestHTTPStep(t *testing.T) {
	t.Parallel()
	f := mustParse(t, `
trigger: {webhook: {source: generic}}
steps:
  - id: h
    op: http
    with:
      url: "https://crm.example/hooks?src=ghlsync"
      headers: {x-api-key: "{{ env.GHLSYNC_FLOW_CALENDAR }}", x-empty: "{{ event.nothing }}"}
      query: {email: "{{ event.contact.business }}", skip: "{{ event.nothing }}"}
      body:
        name: "{{ event.contact.first }}"
        tags: "{{ event.contact.tags }}"
        empty: "{{ event.nothing }}"
  - id: g
    op: http
    with:
      method: delete
      url: "https://crm.example/items/{{ event.contact.first }}"
`)
	env := testEnv(t, contactEvent)
	req := request(t, f, "h", env)
	want := &HTTPRequest{
		Method: "POST",
		URL:    "https://crm.example/hooks?email=Acme&src=ghlsync",
		Header: map[string]string{"X-Api-Key": "cal-9"},
		Body:   map[string]any{"name": "Ana", "tags": []any{"vip", "Vip"}},
	}
	if diff := cmp.Diff(want, req.HTTP); diff != "" {
		t.Errorf("http (-want +got):\n%s", diff)
	}
	g := request(t, f, "g", env)
	if g.HTTP.Method != "DELETE" || g.HTTP.URL != "https://crm.example/items/Ana" || g.HTTP.Body != nil {
		t.Errorf("http = %+v", g.HTTP)
	}
}

func TestEnvVarsOnlyPrefixed(t *testing.T) {
	t.Parallel()
	got := EnvVars([]string{"GHLSYNC_FLOW_A=1", "GHLSYNC_DATABASE_URL=postgres://secret", "HOME=/root", "GHLSYNC_FLOW_B=x=y", "BAD"})
	if diff := cmp.Diff(map[string]string{"GHLSYNC_FLOW_A": "1", "GHLSYNC_FLOW_B": "x=y"}, got); diff != "" {
		t.Errorf("EnvVars (-want +got):\n%s", diff)
	}
}

func TestCheckCustomFields(t *testing.T) {
	t.Parallel()
	f := mustParse(t, `
trigger: {webhook: {source: generic}}
steps:
  - id: c
    op: contacts.upsert
    with:
      email: a@example.com
      customFields:
        contact.resumo: "{{ event.x }}"
        Deal Value: "lots"
        Seats: 12
        Colour: red
  - id: o
    op: opportunities.update
    with:
      id: o-1
      customFields:
        Stage Notes: hi
`)
	r := &fakeResolver{fields: sandboxFields}
	problems, err := f.CheckCustomFields(context.Background(), r, "loc1")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		`test.yaml:10:21: step "c": custom field "Deal Value" (MONETORY): expected a number, got "lots"`,
		`test.yaml:12:9: step "c": customFields: no custom field with name, key or id "Colour" in this location`,
		`test.yaml:18:9: step "o": customFields: no custom field with name, key or id "Stage Notes" in this location`,
	}
	if diff := cmp.Diff(strings.Join(want, "\n"), problems.Error()); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"loc1/contact", "loc1/opportunity"}, r.calls); diff != "" {
		t.Errorf("resolver calls (-want +got):\n%s", diff)
	}
	if _, err := f.CheckCustomFields(context.Background(), &fakeResolver{err: errors.New("down")}, "loc1"); err == nil {
		t.Error("resolver failure not reported")
	}
}

func TestRequestJSON(t *testing.T) {
	t.Parallel()
	f := mustParse(t, `
trigger: {webhook: {source: generic}}
steps:
  - id: c
    op: contacts.update
    with: {contactId: c-1, city: Lisbon, tags: [a]}
`)
	req := request(t, f, "c", testEnv(t, `{}`))
	b, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"op":"contacts.update","path":{"contactId":"c-1"},"body":{"city":"Lisbon"},"addTags":["a"]}`; string(b) != want {
		t.Errorf("json = %s\nwant   %s", b, want)
	}
}

// TestRequestConcurrent evaluates one loaded flow from many goroutines, as
// the engine's workers do; run with -race to check the model is read-only.
func TestRequestConcurrent(t *testing.T) {
	t.Parallel()
	f := mustParse(t, `
trigger: {webhook: {source: generic}}
steps:
  - id: c
    op: contacts.upsert
    with:
      email: "{{ event.email }}"
      phone: "{{ phone(event.phone) }}"
      tags: [a]
      customFields: {Resumo: "{{ event.email }}"}
  - id: n
    op: contacts.createNote
    with: {contactId: "{{ steps.c.contact.id }}", body: "{{ rfc3339(addDays(now, 1), connection.timezone) }}"}
`)
	errs := make(chan error, 8)
	for g := range 8 {
		go func() {
			var err error
			defer func() { errs <- err }()
			for i := range 50 {
				env := testEnv(t, fmt.Sprintf(`{"email": "u%d-%d@example.com", "phone": "+1 415 555 2671"}`, g, i))
				env.Fields = &fakeResolver{fields: sandboxFields}
				c, _ := f.Step("c")
				var req *Request
				if req, err = c.Request(context.Background(), env); err != nil {
					return
				}
				want := fmt.Sprintf("u%d-%d@example.com", g, i)
				if req.Body["email"] != want {
					err = fmt.Errorf("email = %v, want %s", req.Body["email"], want)
					return
				}
				env.SetStep("c", map[string]any{"contact": map[string]any{"id": want}})
				n, _ := f.Step("n")
				if req, err = n.Request(context.Background(), env); err != nil {
					return
				}
				if req.Path["contactId"] != want {
					err = fmt.Errorf("contactId = %v, want %s", req.Path["contactId"], want)
					return
				}
			}
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

// A poll's params are built like a step's with:, but errors must name the
// section the user actually writes.
func TestPollRequestErrorsNameParams(t *testing.T) {
	t.Parallel()
	f := mustParse(t, `
trigger: {poll: {op: contacts.search, every: 5m}}
steps:
  - {id: tag, op: contacts.addTags, with: {contactId: "{{ event.id }}", tags: [x]}}
`)
	env := testEnv(t, `{}`)
	env.Connection.LocationID = ""
	_, err := f.Trigger.Poll.Request(env)
	var ee *EvalError
	if !errors.As(err, &ee) || ee.Field != "params.locationId" {
		t.Fatalf("error = %#v, want field params.locationId", err)
	}
	if !strings.Contains(err.Error(), "map it under params:") || strings.Contains(err.Error(), "with") {
		t.Errorf("message = %q, want it to point at params: only", err)
	}
}
