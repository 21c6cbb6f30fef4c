package sandbox

import (
	"time"
)

func init() {
	register(map[string]handlerFunc{
		"contacts.listNotes":    (*call).noteList,
		"contacts.getNote":      (*call).noteGet,
		"contacts.createNote":   (*call).noteCreate,
		"contacts.updateNote":   (*call).noteUpdate,
		"contacts.deleteNote":   (*call).noteDelete,
		"contacts.listTasks":    (*call).taskList,
		"contacts.getTask":      (*call).taskGet,
		"contacts.createTask":   (*call).taskCreate,
		"contacts.updateTask":   (*call).taskUpdate,
		"contacts.completeTask": (*call).taskComplete,
		"contacts.deleteTask":   (*call).taskDelete,
	})
}

var noteFields = []string{"id", "body", "userId", "dateAdded", "contactId", "title", "color", "pinned"}

func noteOut(n record) record { return pick(n, noteFields...) }

// child finds a note or task of the contact in the path.
func (c *call) child(kind, idParam, what string) (record, record, *reply) {
	ct, rep := c.contact(c.path["contactId"])
	if rep != nil {
		return nil, nil, rep
	}
	r := c.st.t(kind).get(c.path[idParam])
	if r == nil || str(r, "contactId") != idOf(ct) {
		return nil, nil, ptr(errNotFound(what))
	}
	return ct, r, nil
}

func (c *call) noteList() reply {
	ct, rep := c.contact(c.path["contactId"])
	if rep != nil {
		return *rep
	}
	ns := c.st.t("notes").filter(func(r record) bool { return str(r, "contactId") == idOf(ct) })
	sortByDateID(ns, "dateAdded", true)
	out := make([]any, 0, len(ns))
	for _, n := range ns {
		out = append(out, noteOut(n))
	}
	return ok(map[string]any{"notes": out})
}

func (c *call) noteGet() reply {
	_, n, rep := c.child("notes", "id", "Note")
	if rep != nil {
		return *rep
	}
	return ok(map[string]any{"note": noteOut(n)})
}

func (c *call) checkUser(id string) *reply {
	if id == "" {
		return nil
	}
	if c.st.t("users").get(id) == nil {
		return ptr(errUnprocessable("userId " + id + " is not a user of this location"))
	}
	return nil
}

func (c *call) noteCreate() reply {
	ct, rep := c.contact(c.path["contactId"])
	if rep != nil {
		return *rep
	}
	if rep := c.checkUser(str(c.body, "userId")); rep != nil {
		return *rep
	}
	n := record{"id": c.st.newID(), "contactId": idOf(ct), "locationId": str(ct, "locationId"),
		"dateAdded": isoMillis(c.now), "pinned": false}
	for _, f := range []string{"body", "userId", "title", "color", "pinned"} {
		if v, ok := c.body[f]; ok && v != nil {
			n[f] = v
		}
	}
	c.st.t("notes").put(idOf(n), n)
	c.emit("NoteCreate", pick(n, "id", "locationId", "body", "contactId", "dateAdded", "userId"))
	return created(map[string]any{"note": noteOut(n)})
}

func (c *call) noteUpdate() reply {
	_, n, rep := c.child("notes", "id", "Note")
	if rep != nil {
		return *rep
	}
	if rep := c.checkUser(str(c.body, "userId")); rep != nil {
		return *rep
	}
	for _, f := range []string{"body", "userId", "title", "color", "pinned"} {
		if v, ok := c.body[f]; ok && v != nil {
			n[f] = v
		}
	}
	c.emit("NoteUpdate", pick(n, "id", "locationId", "body", "contactId", "dateAdded", "userId"))
	return ok(map[string]any{"note": noteOut(n)})
}

func (c *call) noteDelete() reply {
	_, n, rep := c.child("notes", "id", "Note")
	if rep != nil {
		return *rep
	}
	c.st.t("notes").del(idOf(n))
	c.emit("NoteDelete", pick(n, "id", "locationId", "body", "contactId", "dateAdded"))
	return ok(map[string]any{"succeded": true})
}

var taskFields = []string{"id", "title", "body", "assignedTo", "dueDate", "completed", "contactId"}

func taskOut(t record) record { return pick(t, taskFields...) }

func webhookTask(t record) record {
	return pick(t, "id", "locationId", "assignedTo", "body", "contactId", "title", "dateAdded", "dueDate", "completed")
}

// dueDate accepts ISO 8601 and is stored in UTC with milliseconds.
func parseDue(v any) (string, bool) {
	s, ok := v.(string)
	if !ok {
		return "", false
	}
	for _, l := range []string{time.RFC3339Nano, "2006-01-02T15:04:05Z07:00", "2006-01-02"} {
		if t, err := time.Parse(l, s); err == nil {
			return isoMillis(t), true
		}
	}
	return "", false
}

func (c *call) taskList() reply {
	ct, rep := c.contact(c.path["contactId"])
	if rep != nil {
		return *rep
	}
	ts := c.st.t("tasks").filter(func(r record) bool { return str(r, "contactId") == idOf(ct) })
	sortByDateID(ts, "dueDate", false)
	out := make([]any, 0, len(ts))
	for _, t := range ts {
		out = append(out, taskOut(t))
	}
	return ok(map[string]any{"tasks": out})
}

func (c *call) taskGet() reply {
	_, t, rep := c.child("tasks", "taskId", "Task")
	if rep != nil {
		return *rep
	}
	return ok(map[string]any{"task": taskOut(t)})
}

func (c *call) applyTask(t record) *reply {
	if v, ok := c.body["dueDate"]; ok {
		d, good := parseDue(v)
		if !good {
			return ptr(errUnprocessable("dueDate must be a valid ISO 8601 date string"))
		}
		t["dueDate"] = d
	}
	if rep := c.checkUser(str(c.body, "assignedTo")); rep != nil {
		return rep
	}
	for _, f := range []string{"title", "body", "assignedTo", "completed"} {
		if v, ok := c.body[f]; ok && v != nil {
			t[f] = v
		}
	}
	return nil
}

func (c *call) taskCreate() reply {
	ct, rep := c.contact(c.path["contactId"])
	if rep != nil {
		return *rep
	}
	t := record{"id": c.st.newID(), "contactId": idOf(ct), "locationId": str(ct, "locationId"), "dateAdded": isoMillis(c.now)}
	if rep := c.applyTask(t); rep != nil {
		return *rep
	}
	c.st.t("tasks").put(idOf(t), t)
	c.emit("TaskCreate", webhookTask(t))
	if boolean(t, "completed") {
		c.emit("TaskComplete", webhookTask(t))
	}
	return created(map[string]any{"task": taskOut(t)})
}

func (c *call) taskUpdate() reply {
	_, t, rep := c.child("tasks", "taskId", "Task")
	if rep != nil {
		return *rep
	}
	was := boolean(t, "completed")
	if rep := c.applyTask(t); rep != nil {
		return *rep
	}
	if !was && boolean(t, "completed") {
		c.emit("TaskComplete", webhookTask(t))
	}
	return ok(map[string]any{"task": taskOut(t)})
}

func (c *call) taskComplete() reply {
	_, t, rep := c.child("tasks", "taskId", "Task")
	if rep != nil {
		return *rep
	}
	was := boolean(t, "completed")
	t["completed"] = boolean(c.body, "completed")
	if !was && boolean(t, "completed") {
		c.emit("TaskComplete", webhookTask(t))
	}
	return ok(map[string]any{"task": taskOut(t)})
}

func (c *call) taskDelete() reply {
	_, t, rep := c.child("tasks", "taskId", "Task")
	if rep != nil {
		return *rep
	}
	c.st.t("tasks").del(idOf(t))
	c.emit("TaskDelete", webhookTask(t))
	return ok(map[string]any{"succeded": true})
}
