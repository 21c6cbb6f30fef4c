package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Snapshot is what the sandbox holds, in terms people read: contacts with
// their tags and custom fields by name, notes, tasks and appointments with
// their contacts' names and times in the location's time zone.
type Snapshot struct {
	Timezone     string
	Contacts     []Contact
	Notes        []Note
	Tasks        []Task
	Appointments []Appointment
}

// Contact is a sandbox contact.
type Contact struct {
	ID, FirstName, LastName, Email, Phone, Company, Source string
	Tags                                                   []string // sorted
	CustomFields                                           []FieldValue
}

// Name is the contact's full name, else its email or phone.
func (c Contact) Name() string {
	if n := strings.TrimSpace(c.FirstName + " " + c.LastName); n != "" {
		return n
	}
	if c.Email != "" {
		return c.Email
	}
	return c.Phone
}

// FieldValue is a custom field value, the field named as the location
// names it.
type FieldValue struct {
	Name  string
	Value any
}

// Note is a contact note.
type Note struct{ ID, ContactID, Body string }

// Task is a contact task.
type Task struct {
	ID, ContactID, Title, Body string
	Due                        time.Time
	Completed                  bool
}

// Appointment is a calendar appointment with its notes.
type Appointment struct {
	ID, ContactID, CalendarID, Title, Status, Address string
	Start, End                                        time.Time
	Notes                                             []string
}

// Snapshot reads the sandbox's contacts, notes, tasks and appointments.
// Records whose "kind/id" is in skip (the seed's, or those that existed
// before) are left out.
func (c *Client) Snapshot(ctx context.Context, skip map[string]bool) (*Snapshot, error) {
	get := func(kind string) ([]Record, error) {
		recs, err := c.Records(ctx, kind)
		if err != nil {
			return nil, err
		}
		var out []Record
		for _, r := range recs {
			if !skip[kind+"/"+str(r, "id")] {
				out = append(out, r)
			}
		}
		return out, nil
	}
	s := &Snapshot{Timezone: "UTC"}
	locs, err := c.Records(ctx, "locations")
	if err != nil {
		return nil, err
	}
	for _, l := range locs {
		if str(l, "id") == SandboxLocation && str(l, "timezone") != "" {
			s.Timezone = str(l, "timezone")
		}
	}
	fields, err := c.Records(ctx, "customFields")
	if err != nil {
		return nil, err
	}
	fieldName := map[string]string{}
	for _, f := range fields {
		fieldName[str(f, "id")] = str(f, "name")
	}

	contacts, err := get("contacts")
	if err != nil {
		return nil, err
	}
	for _, r := range contacts {
		ct := Contact{ID: str(r, "id"), FirstName: str(r, "firstName"), LastName: str(r, "lastName"),
			Email: str(r, "email"), Phone: str(r, "phone"), Company: str(r, "companyName"), Source: str(r, "source")}
		for _, t := range list(r["tags"]) {
			ct.Tags = append(ct.Tags, fmt.Sprint(t))
		}
		sort.Strings(ct.Tags)
		for _, it := range list(r["customFields"]) {
			m, _ := it.(map[string]any)
			v, ok := m["value"]
			if !ok {
				v = m["field_value"]
			}
			name := fieldName[str(m, "id")]
			if name == "" {
				name = str(m, "id")
			}
			ct.CustomFields = append(ct.CustomFields, FieldValue{Name: name, Value: v})
		}
		sort.Slice(ct.CustomFields, func(i, j int) bool { return ct.CustomFields[i].Name < ct.CustomFields[j].Name })
		s.Contacts = append(s.Contacts, ct)
	}

	notes, err := get("notes")
	if err != nil {
		return nil, err
	}
	for _, r := range notes {
		s.Notes = append(s.Notes, Note{ID: str(r, "id"), ContactID: str(r, "contactId"), Body: str(r, "body")})
	}

	tasks, err := get("tasks")
	if err != nil {
		return nil, err
	}
	for _, r := range tasks {
		due, _ := time.Parse(time.RFC3339, str(r, "dueDate"))
		done, _ := r["completed"].(bool)
		s.Tasks = append(s.Tasks, Task{ID: str(r, "id"), ContactID: str(r, "contactId"), Title: str(r, "title"),
			Body: str(r, "body"), Due: due, Completed: done})
	}

	appts, err := get("appointments")
	if err != nil {
		return nil, err
	}
	apptNotes, err := c.Records(ctx, "appointmentNotes")
	if err != nil {
		return nil, err
	}
	for _, r := range appts {
		a := Appointment{ID: str(r, "id"), ContactID: str(r, "contactId"), CalendarID: str(r, "calendarId"),
			Title: str(r, "title"), Status: str(r, "appointmentStatus"), Address: str(r, "address")}
		a.Start, _ = time.Parse(time.RFC3339, str(r, "startTime"))
		a.End, _ = time.Parse(time.RFC3339, str(r, "endTime"))
		for _, n := range apptNotes {
			if str(n, "appointmentId") == a.ID {
				a.Notes = append(a.Notes, str(n, "body"))
			}
		}
		s.Appointments = append(s.Appointments, a)
	}
	return s, nil
}

// Contact returns the contact with the given id.
func (s *Snapshot) Contact(id string) (Contact, bool) {
	for _, c := range s.Contacts {
		if c.ID == id {
			return c, true
		}
	}
	return Contact{}, false
}

// ContactByEmail returns the contact with the given email.
func (s *Snapshot) ContactByEmail(email string) (Contact, bool) {
	for _, c := range s.Contacts {
		if strings.EqualFold(c.Email, email) {
			return c, true
		}
	}
	return Contact{}, false
}

func str(m map[string]any, k string) string {
	switch v := m[k].(type) {
	case string:
		return v
	case nil:
		return ""
	case json.Number:
		return v.String()
	default:
		return fmt.Sprint(v)
	}
}

func list(v any) []any {
	l, _ := v.([]any)
	return l
}
