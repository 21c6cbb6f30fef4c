package demo

import (
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ghlsync/ghlsync/internal/store"
)

// Report is the outcome of a demo replay, printed as the summary.
type Report struct {
	Outcomes []Outcome
	// Runs are the runs this replay started: the posted deliveries' and
	// those started by the sandbox's GoHighLevel webhooks.
	Runs []RunView
	// TotalRuns counts every run the database holds, by status.
	TotalRuns map[string]int
	// SettleErr says what had not finished when the wait ended.
	SettleErr error
	// Again is the second posting of every delivery.
	Again *AgainResult
	// Snapshot is what the sandbox holds, seed data left out.
	Snapshot *Snapshot
	// Appointments lists the appointments the deliveries created or moved.
	Appointments []AppointmentChange
}

// AgainResult is the result of posting every delivery a second time.
type AgainResult struct {
	Posted, Duplicates, NewRuns int
	Before, After               map[string]int // sandbox record counts
}

// Duplicates counts the first-pass deliveries acknowledged as already
// received (a database used by an earlier demo).
func (r *Report) Duplicates() (dup, posted int) {
	for _, o := range r.Outcomes {
		if o.Skipped == "" && o.Delivery.Source != "ghl" && o.Err == nil {
			posted++
			if o.Result.Duplicate {
				dup++
			}
		}
	}
	return dup, posted
}

// Problems lists what went wrong: deliveries not accepted, runs that did
// not succeed or did not finish, a second posting that was not recognised.
func (r *Report) Problems() []string {
	var out []string
	for _, o := range r.Outcomes {
		switch {
		case o.Skipped != "":
			out = append(out, fmt.Sprintf("%s: %s", o.Delivery.File, o.Describe()))
		case o.Err != nil:
			out = append(out, fmt.Sprintf("%s: %v", o.Delivery.File, o.Err))
		case o.Delivery.Source != "ghl" && (!o.Result.Accepted() || o.Result.Error != ""):
			out = append(out, fmt.Sprintf("%s: %s", o.Delivery.File, o.Describe()))
		}
	}
	for _, run := range r.Runs {
		if run.Status != store.RunSucceeded {
			out = append(out, fmt.Sprintf("%s run %s %s %s", run.Flow, run.ID, run.Status, run.Error))
		}
	}
	if r.SettleErr != nil {
		out = append(out, r.SettleErr.Error())
	}
	if a := r.Again; a != nil && (a.Duplicates != a.Posted || a.NewRuns != 0 || !equalCounts(a.Before, a.After)) {
		out = append(out, fmt.Sprintf("posted again: %d of %d duplicates, %d new runs", a.Duplicates, a.Posted, a.NewRuns))
	}
	return out
}

// PrintSummary writes the runs and the sandbox's contents for people.
func (r *Report) PrintSummary(w io.Writer) {
	fmt.Fprintln(w, "\n== Summary ==")
	byStatus := map[string]int{}
	byFlow := map[string]map[string]int{}
	for _, run := range r.Runs {
		byStatus[run.Status]++
		if byFlow[run.Flow] == nil {
			byFlow[run.Flow] = map[string]int{}
		}
		byFlow[run.Flow][run.Status]++
	}
	fmt.Fprintf(w, "\nRuns started by this demo: %d (%s)\n", len(r.Runs), statusLine(byStatus))
	flows := make([]string, 0, len(byFlow))
	for f := range byFlow {
		flows = append(flows, f)
	}
	sort.Strings(flows)
	for _, f := range flows {
		fmt.Fprintf(w, "  %-24s %s\n", f, statusLine(byFlow[f]))
	}
	if hooks := r.webhookRuns(); hooks > 0 {
		fmt.Fprintf(w, "  (%d of them started by the sandbox's own GoHighLevel webhooks, not by a sample)\n", hooks)
	}
	for _, run := range r.Runs {
		if run.Status == store.RunFailed || run.Error != "" {
			fmt.Fprintf(w, "  ! %s run %s %s: %s\n", run.Flow, run.ID, run.Status, run.Error)
		}
	}
	if total := sum(r.TotalRuns); total != len(r.Runs) {
		fmt.Fprintf(w, "All runs in the database: %d (%s)\n", total, statusLine(r.TotalRuns))
	}
	if dup, posted := r.Duplicates(); dup > 0 {
		fmt.Fprintf(w, "\n%d of %d deliveries were already in this database from an earlier demo: acknowledged as\n"+
			"duplicates and not run again, so nothing was sent to GoHighLevel twice (--fresh starts over).\n", dup, posted)
	}
	if a := r.Again; a != nil {
		if a.Duplicates == a.Posted && a.NewRuns == 0 && equalCounts(a.Before, a.After) {
			fmt.Fprintf(w, "\nEvery delivery posted a second time (signed again, same event ids): %d of %d acknowledged\n"+
				"as duplicates, no new run, nothing new in GoHighLevel.\n", a.Duplicates, a.Posted)
		} else {
			fmt.Fprintf(w, "\n! Posting every delivery a second time: %d of %d duplicates, %d new runs, sandbox %v → %v\n",
				a.Duplicates, a.Posted, a.NewRuns, a.Before, a.After)
		}
	}
	if r.SettleErr != nil {
		fmt.Fprintf(w, "\n! Not everything finished in time: %v\n", r.SettleErr)
	}
	if r.Snapshot != nil {
		r.Snapshot.Print(w)
	}
	if len(r.Appointments) > 0 {
		fmt.Fprintln(w, "\nAppointment history during the replay:")
		for _, c := range r.Appointments {
			fmt.Fprintf(w, "  %s\n", c)
		}
	}
}

// AppointmentChange is an appointment created or moved by a delivery.
type AppointmentChange struct {
	File     string // the sample delivery
	ID       string
	Moved    bool // false: created
	Start    time.Time
	Timezone string
}

func (c AppointmentChange) String() string {
	when := c.Start.Format(time.RFC3339)
	if loc, err := time.LoadLocation(c.Timezone); err == nil {
		when = c.Start.In(loc).Format("Mon 2 Jan 2006 15:04 MST")
	}
	if c.Moved {
		return fmt.Sprintf("%-30s moved the same appointment %s to %s (no second appointment)", c.File, c.ID, when)
	}
	return fmt.Sprintf("%-30s created appointment %s for %s", c.File, c.ID, when)
}

// webhookRuns counts runs not started by a posted sample.
func (r *Report) webhookRuns() int {
	posted := map[string]bool{}
	for _, o := range r.Outcomes {
		if o.Result.RunID != "" {
			posted[o.Result.RunID] = true
		}
	}
	n := 0
	for _, run := range r.Runs {
		if !posted[run.ID] && run.ReplayOf == "" {
			n++
		}
	}
	return n
}

func statusLine(m map[string]int) string {
	var parts []string
	for _, s := range store.RunStatuses {
		if m[s] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", m[s], s))
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

func equalCounts(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// Print writes the snapshot for people, times in the location's zone.
func (s *Snapshot) Print(w io.Writer) {
	loc, err := time.LoadLocation(s.Timezone)
	if err != nil {
		loc = time.UTC
	}
	name := func(id string) string {
		if c, ok := s.Contact(id); ok {
			return c.Name()
		}
		return "contact " + id
	}
	fmt.Fprintf(w, "\nThe GoHighLevel sandbox now holds (its seed data left out; times in %s):\n", s.Timezone)

	fmt.Fprintf(w, "\n%s\n", count(len(s.Contacts), "contact"))
	for _, c := range s.Contacts {
		line := "  " + c.Name()
		if c.Email != "" && c.Email != c.Name() {
			line += " <" + c.Email + ">"
		}
		for _, v := range []string{c.Phone, c.Company} {
			if v != "" && v != c.Name() {
				line += ", " + v
			}
		}
		if c.Source != "" {
			line += ", source " + strconv.Quote(c.Source)
		}
		fmt.Fprintln(w, line)
		if len(c.Tags) > 0 {
			fmt.Fprintf(w, "      tags: %s\n", strings.Join(c.Tags, ", "))
		}
		for _, f := range c.CustomFields {
			fmt.Fprintf(w, "      %s: %s\n", f.Name, value(f.Value))
		}
	}

	fmt.Fprintf(w, "\n%s\n", count(len(s.Notes), "note"))
	for _, n := range s.Notes {
		fmt.Fprintf(w, "  on %s: %s\n", name(n.ContactID), excerpt(n.Body, 110))
	}

	fmt.Fprintf(w, "\n%s\n", count(len(s.Tasks), "task"))
	for _, t := range s.Tasks {
		due := "no due date"
		if !t.Due.IsZero() {
			due = "due " + t.Due.In(loc).Format("Mon 2 Jan 2006 15:04 MST")
		}
		done := ""
		if t.Completed {
			done = ", completed"
		}
		fmt.Fprintf(w, "  for %s: %s — %s%s\n", name(t.ContactID), excerpt(t.Title, 70), due, done)
	}

	fmt.Fprintf(w, "\n%s\n", count(len(s.Appointments), "appointment"))
	for _, a := range s.Appointments {
		when := a.Start.In(loc).Format("Mon 2 Jan 2006 15:04")
		if !a.End.IsZero() {
			when += "–" + a.End.In(loc).Format("15:04")
		}
		when += " " + a.Start.In(loc).Format("MST")
		fmt.Fprintf(w, "  %s with %s, %s, %s, calendar %s (id %s)\n", a.Title, name(a.ContactID), when, a.Status, a.CalendarID, a.ID)
		for _, n := range a.Notes {
			fmt.Fprintf(w, "      note: %s\n", excerpt(n, 100))
		}
	}
}

func count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// excerpt puts s on one line (lines joined with " · ") and cuts it to at
// most n characters.
func excerpt(s string, n int) string {
	var lines []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	r := []rune(strings.Join(lines, " · "))
	if len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return string(r)
}

func value(v any) string {
	switch x := v.(type) {
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case string:
		return strconv.Quote(x)
	case nil:
		return "(empty)"
	}
	return fmt.Sprint(v)
}
