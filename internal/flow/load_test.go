package flow

import (
	"testing"
)

func TestLoadDirValidExamples(t *testing.T) {
	t.Parallel()
	l, err := LoadDir("testdata/valid")
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Errors) > 0 {
		t.Fatalf("valid examples have problems:\n%v", l.Errors)
	}
	if len(l.Flows) != len(l.Files) || len(l.Flows) == 0 {
		t.Fatalf("loaded %d flows from %d files", len(l.Flows), len(l.Files))
	}
}

// TestValidExamplesEvaluate runs each example flow's steps on a sample
// event, so the examples stay runnable, not merely loadable.
func TestValidExamplesEvaluate(t *testing.T) {
	t.Parallel()
	l, err := LoadDir("testdata/valid")
	if err != nil || len(l.Errors) > 0 {
		t.Fatal(err, l.Errors)
	}
	ev := payload(t, `{
	  "contact": {"email": "ana@example.com", "first_name": "Ana", "phone": "415 555 2671", "note": "hi", "tags": ["x"]},
	  "data": {"monitor": {"name": "Acme — pricing", "url": "https://acme.example/pricing"},
	           "notification": {"summary": "Price changed", "change_percentage": 12.4}},
	  "appointment": {"attendee": {"email": "Bo@Example.com", "phone": "bad"}, "start": "2026-03-09 10:00", "end": "2026-03-09T10:30:00-04:00"},
	  "id": "c-1", "email": "poll@example.com", "firstName": "Po", "lastName": "Ll"}`)
	for _, f := range l.Flows {
		env := NewEnv(Event{ID: "e1", Type: "t", Payload: ev, ReceivedAt: fixedNow}, Connection{LocationID: "loc1", Timezone: "America/New_York"})
		env.Now = fixedNow
		env.Vars = map[string]string{"GHLSYNC_FLOW_CALENDAR_ID": "cal-1", "GHLSYNC_FLOW_CRM_TOKEN": "t"}
		env.Fields = &fakeResolver{fields: []CustomField{
			{ID: "f1", Name: "Resumo", FieldKey: "contact.resumo", DataType: "TEXT"},
			{ID: "f2", Name: "Deal Value", FieldKey: "contact.deal_value", DataType: "MONETORY"},
		}}
		for _, s := range f.Steps {
			req, err := s.Request(t.Context(), env)
			if err != nil {
				t.Errorf("%s/%s: %v", f.Name, s.ID, err)
				continue
			}
			env.SetStep(s.ID, map[string]any{"contact": map[string]any{"id": "c-9"}})
			if f.Name == "sync-appointments" && s.ID == "appointment" {
				if req.Body["startTime"] != "2026-03-09T10:00:00-04:00" || req.Body["endTime"] != "2026-03-09T10:30:00-04:00" {
					t.Errorf("appointment times = %v %v", req.Body["startTime"], req.Body["endTime"])
				}
				if req.Body["calendarId"] != "cal-1" || req.Body["locationId"] != "loc1" || req.Body["contactId"] != "c-9" {
					t.Errorf("appointment body = %v", req.Body)
				}
			}
			if f.Name == "notes-and-tasks" && s.ID == "task" {
				if req.Body["dueDate"] != "2026-03-08T09:00:00-04:00" {
					t.Errorf("due date = %v", req.Body["dueDate"])
				}
			}
		}
	}
}
