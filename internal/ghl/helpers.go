package ghl

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Typed helpers: thin wrappers over Do for the operations flows use most.
// They fill the client's locationId, normalise phones and appointment times,
// and decode GHL's envelopes into small structs.

// ErrNotFound is returned by lookups that find nothing (FindContact, or a
// 404 from a Get helper, wrapped together with the *APIError).
var ErrNotFound = errors.New("ghl: not found")

// CustomFieldInput sets one custom field on write: by ID or by key
// ("contact.resumo"), with the value in the type the field expects.
type CustomFieldInput struct {
	ID    string `json:"id,omitempty"`
	Key   string `json:"key,omitempty"`
	Value any    `json:"field_value"`
}

// CustomFieldValue is one custom field as GHL returns it on a contact.
type CustomFieldValue struct {
	ID    string `json:"id"`
	Value any    `json:"value"`
}

// ContactInput is the body of an upsert or update. Empty fields are left
// out. Tags here REPLACE all tags (GHL semantics); use AddTags to add.
type ContactInput struct {
	LocationID   string             `json:"locationId,omitempty"`
	FirstName    string             `json:"firstName,omitempty"`
	LastName     string             `json:"lastName,omitempty"`
	Name         string             `json:"name,omitempty"`
	Email        string             `json:"email,omitempty"`
	Phone        string             `json:"phone,omitempty"`
	CompanyName  string             `json:"companyName,omitempty"`
	Address1     string             `json:"address1,omitempty"`
	City         string             `json:"city,omitempty"`
	State        string             `json:"state,omitempty"`
	PostalCode   string             `json:"postalCode,omitempty"`
	Country      string             `json:"country,omitempty"`
	Website      string             `json:"website,omitempty"`
	Timezone     string             `json:"timezone,omitempty"`
	DateOfBirth  string             `json:"dateOfBirth,omitempty"`
	Source       string             `json:"source,omitempty"`
	AssignedTo   string             `json:"assignedTo,omitempty"`
	Tags         []string           `json:"tags,omitempty"`
	CustomFields []CustomFieldInput `json:"customFields,omitempty"`
	DND          *bool              `json:"dnd,omitempty"`
}

// Contact is a contact as GHL returns it.
type Contact struct {
	ID           string             `json:"id"`
	LocationID   string             `json:"locationId,omitempty"`
	FirstName    string             `json:"firstName,omitempty"`
	LastName     string             `json:"lastName,omitempty"`
	Name         string             `json:"name,omitempty"`
	ContactName  string             `json:"contactName,omitempty"` // search and upsert answers
	Email        string             `json:"email,omitempty"`
	Phone        string             `json:"phone,omitempty"`
	CompanyName  string             `json:"companyName,omitempty"`
	Timezone     string             `json:"timezone,omitempty"`
	Source       string             `json:"source,omitempty"`
	AssignedTo   string             `json:"assignedTo,omitempty"`
	Tags         []string           `json:"tags,omitempty"`
	CustomFields []CustomFieldValue `json:"customFields,omitempty"`
	DND          bool               `json:"dnd,omitempty"`
	DateAdded    string             `json:"dateAdded,omitempty"`
	DateUpdated  string             `json:"dateUpdated,omitempty"`
}

// UpsertResult is the answer of UpsertContact.
type UpsertResult struct {
	New     bool    `json:"new"`
	Contact Contact `json:"contact"`
	TraceID string  `json:"traceId,omitempty"`
}

// prepareContact normalises the phone and fills the location.
func (c *Client) prepareContact(in ContactInput, withLocation bool) (ContactInput, error) {
	if in.Phone != "" {
		e164, err := NormalizePhone(in.Phone, c.region)
		if err != nil {
			return in, err
		}
		in.Phone = e164
	}
	if withLocation && in.LocationID == "" {
		in.LocationID = c.resource
	}
	if !withLocation {
		in.LocationID = "" // PUT /contacts/{id} refuses locationId
	}
	return in, nil
}

// UpsertContact creates or updates a contact following the location's
// duplicate rule (email and/or phone).
func (c *Client) UpsertContact(ctx context.Context, in ContactInput) (*UpsertResult, error) {
	in, err := c.prepareContact(in, true)
	if err != nil {
		return nil, fmt.Errorf("ghl contacts.upsert: %w", err)
	}
	var out UpsertResult
	if err := c.doDecode(ctx, "contacts.upsert", Params{Body: in}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// GetContact reads one contact. A missing contact is an error matching both
// ErrNotFound and *APIError.
func (c *Client) GetContact(ctx context.Context, id string) (*Contact, error) {
	var out struct {
		Contact Contact `json:"contact"`
	}
	if err := c.doDecode(ctx, "contacts.get", Params{Path: map[string]string{"contactId": id}}, &out); err != nil {
		return nil, err
	}
	return &out.Contact, nil
}

// UpdateContact changes the given fields of a contact.
func (c *Client) UpdateContact(ctx context.Context, id string, in ContactInput) (*Contact, error) {
	in, err := c.prepareContact(in, false)
	if err != nil {
		return nil, fmt.Errorf("ghl contacts.update: %w", err)
	}
	var out struct {
		Contact Contact `json:"contact"`
	}
	if err := c.doDecode(ctx, "contacts.update", Params{Path: map[string]string{"contactId": id}, Body: in}, &out); err != nil {
		return nil, err
	}
	return &out.Contact, nil
}

// DeleteContact deletes a contact.
func (c *Client) DeleteContact(ctx context.Context, id string) error {
	_, err := c.Do(ctx, "contacts.delete", Params{Path: map[string]string{"contactId": id}})
	return notFound(err)
}

// ContactQuery says how to find a contact; the first non-empty of ID,
// Email, Phone is used (Email then Phone when both are set and the email
// finds nothing).
type ContactQuery struct {
	ID    string
	Email string
	Phone string
}

// FindContact finds one contact by id, email or phone. By id it reads the
// contact; by email or phone it asks GHL's duplicate search, which follows
// the location's duplicate rule. Nothing found is ErrNotFound.
func (c *Client) FindContact(ctx context.Context, q ContactQuery) (*Contact, error) {
	if q.ID != "" {
		return c.GetContact(ctx, q.ID)
	}
	if q.Email == "" && q.Phone == "" {
		return nil, errors.New("ghl contacts.find: give an id, email or phone")
	}
	var tries []url.Values
	if q.Email != "" {
		tries = append(tries, url.Values{"email": {strings.TrimSpace(q.Email)}})
	}
	if q.Phone != "" {
		e164, err := NormalizePhone(q.Phone, c.region)
		if err != nil {
			return nil, fmt.Errorf("ghl contacts.find: %w", err)
		}
		tries = append(tries, url.Values{"number": {e164}})
	}
	for _, query := range tries {
		var out struct {
			Contact *Contact `json:"contact"`
		}
		if err := c.doDecode(ctx, "contacts.getDuplicate", Params{Query: query}, &out); err != nil {
			return nil, err
		}
		if out.Contact != nil && out.Contact.ID != "" {
			return out.Contact, nil
		}
	}
	return nil, fmt.Errorf("ghl contacts.find: no contact with %s: %w", describeQuery(q), ErrNotFound)
}

func describeQuery(q ContactQuery) string {
	var parts []string
	if q.Email != "" {
		parts = append(parts, "email "+q.Email)
	}
	if q.Phone != "" {
		parts = append(parts, "phone "+q.Phone)
	}
	return strings.Join(parts, " or ")
}

// AddTags adds tags to a contact (keeping the others) and returns the
// contact's tags.
func (c *Client) AddTags(ctx context.Context, contactID string, tags ...string) ([]string, error) {
	return c.tags(ctx, "contacts.addTags", contactID, tags)
}

// RemoveTags removes tags from a contact and returns the remaining ones.
func (c *Client) RemoveTags(ctx context.Context, contactID string, tags ...string) ([]string, error) {
	return c.tags(ctx, "contacts.removeTags", contactID, tags)
}

func (c *Client) tags(ctx context.Context, op, contactID string, tags []string) ([]string, error) {
	if len(tags) == 0 {
		return nil, fmt.Errorf("ghl %s: no tags given", op)
	}
	var out struct {
		Tags []string `json:"tags"`
	}
	err := c.doDecode(ctx, op, Params{Path: map[string]string{"contactId": contactID}, Body: map[string]any{"tags": tags}}, &out)
	if err != nil {
		return nil, err
	}
	return out.Tags, nil
}

// Note is a contact note.
type Note struct {
	ID        string `json:"id"`
	Body      string `json:"body"`
	UserID    string `json:"userId,omitempty"`
	ContactID string `json:"contactId,omitempty"`
	DateAdded string `json:"dateAdded,omitempty"`
}

// CreateNote adds a note to a contact. userID may be empty.
func (c *Client) CreateNote(ctx context.Context, contactID, body, userID string) (*Note, error) {
	in := map[string]any{"body": body}
	if userID != "" {
		in["userId"] = userID
	}
	var out struct {
		Note Note `json:"note"`
	}
	if err := c.doDecode(ctx, "contacts.createNote", Params{Path: map[string]string{"contactId": contactID}, Body: in}, &out); err != nil {
		return nil, err
	}
	return &out.Note, nil
}

// ListNotes returns a contact's notes.
func (c *Client) ListNotes(ctx context.Context, contactID string) ([]Note, error) {
	var out struct {
		Notes []Note `json:"notes"`
	}
	if err := c.doDecode(ctx, "contacts.listNotes", Params{Path: map[string]string{"contactId": contactID}}, &out); err != nil {
		return nil, err
	}
	return out.Notes, nil
}

// TaskInput is a new contact task.
type TaskInput struct {
	Title      string    `json:"title"`
	Body       string    `json:"body,omitempty"`
	DueDate    time.Time `json:"-"`
	Completed  bool      `json:"completed"`
	AssignedTo string    `json:"assignedTo,omitempty"`
}

// Task is a contact task.
type Task struct {
	ID         string `json:"id"`
	Title      string `json:"title"`
	Body       string `json:"body,omitempty"`
	DueDate    string `json:"dueDate,omitempty"`
	Completed  bool   `json:"completed"`
	AssignedTo string `json:"assignedTo,omitempty"`
	ContactID  string `json:"contactId,omitempty"`
}

// CreateTask adds a task to a contact. A zero DueDate is an error: GHL
// requires one.
func (c *Client) CreateTask(ctx context.Context, contactID string, in TaskInput) (*Task, error) {
	if in.DueDate.IsZero() {
		return nil, fmt.Errorf("ghl contacts.createTask: %w", &ValidationError{Field: "dueDate", Value: "", Reason: "required"})
	}
	body := map[string]any{"title": in.Title, "dueDate": in.DueDate.UTC().Format(time.RFC3339), "completed": in.Completed}
	if in.Body != "" {
		body["body"] = in.Body
	}
	if in.AssignedTo != "" {
		body["assignedTo"] = in.AssignedTo
	}
	var out struct {
		Task Task `json:"task"`
	}
	if err := c.doDecode(ctx, "contacts.createTask", Params{Path: map[string]string{"contactId": contactID}, Body: body}, &out); err != nil {
		return nil, err
	}
	return &out.Task, nil
}

// ListTasks returns a contact's tasks.
func (c *Client) ListTasks(ctx context.Context, contactID string) ([]Task, error) {
	var out struct {
		Tasks []Task `json:"tasks"`
	}
	if err := c.doDecode(ctx, "contacts.listTasks", Params{Path: map[string]string{"contactId": contactID}}, &out); err != nil {
		return nil, err
	}
	return out.Tasks, nil
}

// AppointmentInput is a new or changed appointment. StartTime and EndTime
// are RFC 3339 instants or wall-clock times ("2026-03-09 10:00") in
// TimeZone, the calendar's IANA zone; they are sent as RFC 3339 with the
// zone's offset at that date.
type AppointmentInput struct {
	CalendarID               string
	ContactID                string
	StartTime                string
	EndTime                  string
	TimeZone                 string
	Title                    string
	AppointmentStatus        string // new|confirmed|cancelled|showed|noshow|invalid
	AssignedUserID           string
	Address                  string
	MeetingLocationType      string
	IgnoreFreeSlotValidation bool
	// ToNotify false stops GHL automations from running for this booking.
	ToNotify *bool
}

// Appointment is a calendar appointment.
type Appointment struct {
	ID                string `json:"id"`
	CalendarID        string `json:"calendarId"`
	LocationID        string `json:"locationId,omitempty"`
	ContactID         string `json:"contactId,omitempty"`
	Title             string `json:"title,omitempty"`
	StartTime         string `json:"startTime"`
	EndTime           string `json:"endTime,omitempty"`
	AppointmentStatus string `json:"appointmentStatus,omitempty"`
	AssignedUserID    string `json:"assignedUserId,omitempty"`
	Address           string `json:"address,omitempty"`
}

func (c *Client) appointmentBody(op string, in AppointmentInput, create bool) (map[string]any, error) {
	b := map[string]any{}
	put := func(k, v string) {
		if v != "" {
			b[k] = v
		}
	}
	for _, f := range []struct{ name, v string }{{"startTime", in.StartTime}, {"endTime", in.EndTime}} {
		if f.v == "" {
			continue
		}
		t, err := appointmentTimeField(f.name, f.v, in.TimeZone)
		if err != nil {
			return nil, fmt.Errorf("ghl %s: %w", op, err)
		}
		b[f.name] = t
	}
	if create {
		if in.CalendarID == "" || in.ContactID == "" || in.StartTime == "" {
			return nil, fmt.Errorf("ghl %s: calendarId, contactId and startTime are required", op)
		}
		b["locationId"] = c.resource
		put("contactId", in.ContactID)
	}
	put("calendarId", in.CalendarID)
	put("title", in.Title)
	put("appointmentStatus", in.AppointmentStatus)
	put("assignedUserId", in.AssignedUserID)
	put("address", in.Address)
	put("meetingLocationType", in.MeetingLocationType)
	if in.IgnoreFreeSlotValidation {
		b["ignoreFreeSlotValidation"] = true
	}
	if in.ToNotify != nil {
		b["toNotify"] = *in.ToNotify
	}
	return b, nil
}

// appointmentTimeField converts one time field, naming it in errors. A value
// with an offset needs no zone.
func appointmentTimeField(field, v, tz string) (string, error) {
	if tz == "" {
		if t, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(v)); err == nil {
			return t.Format(time.RFC3339), nil
		}
		return "", &ValidationError{Field: field, Value: v, Reason: "a local time needs the calendar's time zone (AppointmentInput.TimeZone)"}
	}
	s, err := AppointmentTime(v, tz)
	var ve *ValidationError
	if errors.As(err, &ve) && ve.Field == "startTime" {
		ve.Field = field
	}
	return s, err
}

// CreateAppointment books an appointment.
func (c *Client) CreateAppointment(ctx context.Context, in AppointmentInput) (*Appointment, error) {
	body, err := c.appointmentBody("calendars.createAppointment", in, true)
	if err != nil {
		return nil, err
	}
	var out Appointment
	if err := c.doDecode(ctx, "calendars.createAppointment", Params{Body: body}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// UpdateAppointment changes an appointment (for a recurring series pass the
// masterEventId).
func (c *Client) UpdateAppointment(ctx context.Context, eventID string, in AppointmentInput) (*Appointment, error) {
	body, err := c.appointmentBody("calendars.updateAppointment", in, false)
	if err != nil {
		return nil, err
	}
	var out Appointment
	if err := c.doDecode(ctx, "calendars.updateAppointment", Params{Path: map[string]string{"eventId": eventID}, Body: body}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// GetAppointment reads an appointment.
func (c *Client) GetAppointment(ctx context.Context, eventID string) (*Appointment, error) {
	var out struct {
		Event Appointment `json:"event"`
	}
	if err := c.doDecode(ctx, "calendars.getAppointment", Params{Path: map[string]string{"eventId": eventID}}, &out); err != nil {
		return nil, err
	}
	return &out.Event, nil
}

// CustomField is a custom field definition of the location.
type CustomField struct {
	ID          string   `json:"id"`
	Name        string   `json:"name"`
	FieldKey    string   `json:"fieldKey"`
	DataType    string   `json:"dataType"`
	Model       string   `json:"model,omitempty"`
	Options     []string `json:"picklistOptions,omitempty"`
	Placeholder string   `json:"placeholder,omitempty"`
}

// ListCustomFields returns the location's custom fields; model is
// "contact", "opportunity" or "" for all.
func (c *Client) ListCustomFields(ctx context.Context, model string) ([]CustomField, error) {
	q := url.Values{}
	if model != "" {
		q.Set("model", model)
	}
	var out struct {
		CustomFields []CustomField `json:"customFields"`
	}
	if err := c.doDecode(ctx, "customFields.list", Params{Path: map[string]string{"locationId": c.resource}, Query: q}, &out); err != nil {
		return nil, err
	}
	return out.CustomFields, nil
}

func (c *Client) doDecode(ctx context.Context, op string, p Params, v any) error {
	resp, err := c.Do(ctx, op, p)
	if err != nil {
		return notFound(err)
	}
	if len(resp.Body) == 0 {
		return nil
	}
	return resp.Decode(v)
}

// notFound adds ErrNotFound to a 404 *APIError so errors.Is works while
// errors.As still finds the APIError.
func notFound(err error) error {
	var ae *APIError
	if errors.As(err, &ae) && ae.Status == http.StatusNotFound {
		return &notFoundError{err}
	}
	return err
}

type notFoundError struct{ error }

func (e *notFoundError) Unwrap() []error { return []error{e.error, ErrNotFound} }
