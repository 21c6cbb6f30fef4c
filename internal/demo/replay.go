package demo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/ghlsync/ghlsync/internal/ghl"
)

// Replayer posts sample deliveries to a running ghlsync, one at a time,
// waiting for each run to finish before the next delivery: the samples
// tell one story (a contact is created, then gets a note, an appointment is
// booked, then moved), so their order matters.
type Replayer struct {
	Client *Client
	// GHL acts in the sandbox the way GoHighLevel's own users do: a sample
	// GoHighLevel webhook (source ghl) is produced by creating its contact
	// there, so that the sandbox sends the real, signed ContactCreate. Nil
	// skips such samples.
	GHL *ghl.Client
	// Flows, when not nil, lists the loaded flows; samples of other flows
	// are skipped.
	Flows []string
	// RunTimeout bounds the wait for one run (default 60s).
	RunTimeout time.Duration
	// Progress receives a line per delivery; nil is silent.
	Progress io.Writer
	// AfterDelivery, when set, is called after each delivery's run finished.
	AfterDelivery func(Outcome)
	// Now is the signing clock (default time.Now).
	Now func() time.Time
}

// Outcome is what happened to one sample delivery.
type Outcome struct {
	N        int
	Delivery Delivery
	// Result is ghlsync's answer to a posted delivery.
	Result HookResult
	// Run is the delivery's run once finished (nil for duplicates).
	Run *RunView
	// ContactID is the contact created in GoHighLevel for a sample GHL
	// webhook; Existed is true when it was there already (an earlier demo),
	// so GoHighLevel sent no ContactCreate.
	ContactID string
	Existed   bool
	// Skipped says why the delivery was not sent.
	Skipped string
	Err     error
}

func (r *Replayer) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func (r *Replayer) printf(format string, a ...any) {
	if r.Progress != nil {
		fmt.Fprintf(r.Progress, format, a...)
	}
}

// Replay sends every sample in order. It returns an error only when ghlsync
// cannot be reached or ctx ends; a rejected delivery or a failed run is
// recorded in its Outcome and the next sample is sent.
func (r *Replayer) Replay(ctx context.Context, s *Samples) ([]Outcome, error) {
	timeout := r.RunTimeout
	if timeout <= 0 {
		timeout = 60 * time.Second
	}
	var out []Outcome
	for i, d := range s.Deliveries {
		o := Outcome{N: i + 1, Delivery: d}
		label := fmt.Sprintf("%3d/%d  %-24s %-12s %-36s ", i+1, len(s.Deliveries), d.Flow, d.Source, d.File)
		switch {
		case r.Flows != nil && !slices.Contains(r.Flows, d.Flow):
			o.Skipped = "flow " + d.Flow + " is not loaded"
		case d.Source == "ghl":
			o.ContactID, o.Existed, o.Skipped, o.Err = r.createInGHL(ctx, d)
		default:
			o.Result, o.Err = r.Client.Post(ctx, d, r.now())
			if o.Err != nil {
				if ctx.Err() != nil {
					return out, ctx.Err()
				}
				// The server is unreachable: nothing else will work.
				return append(out, o), o.Err
			}
			if o.Result.RunID != "" {
				wctx, cancel := context.WithTimeout(ctx, timeout)
				run, err := r.Client.WaitRun(wctx, o.Result.RunID)
				cancel()
				o.Run = &run
				if err != nil && ctx.Err() != nil {
					return out, ctx.Err()
				}
				o.Err = err
			}
		}
		r.printf("%s%s\n", label, o.Describe())
		if r.AfterDelivery != nil {
			r.AfterDelivery(o)
		}
		out = append(out, o)
	}
	return out, nil
}

// Describe says in a few words what happened to the delivery.
func (o Outcome) Describe() string {
	switch {
	case o.Skipped != "":
		return "skipped: " + o.Skipped
	case o.Delivery.Source == "ghl" && o.Err == nil && o.Existed:
		return "contact " + o.ContactID + " was already in GoHighLevel (an earlier demo): no ContactCreate this time"
	case o.Delivery.Source == "ghl" && o.Err == nil:
		return "contact " + o.ContactID + " created in GoHighLevel → its ContactCreate webhook runs the flow"
	case o.Err != nil && o.Run == nil:
		return "error: " + o.Err.Error()
	case o.Result.Duplicate:
		return fmt.Sprintf("%d duplicate: already received, not run again", o.Result.Status)
	case o.Result.Ignored != "":
		return fmt.Sprintf("%d ignored: %s", o.Result.Status, o.Result.Ignored)
	case o.Result.Error != "":
		return fmt.Sprintf("%d rejected: %s", o.Result.Status, o.Result.Error)
	case o.Run != nil:
		s := fmt.Sprintf("%d → run %s %s", o.Result.Status, o.Run.ID, o.Run.Status)
		if o.Run.DurationMS > 0 {
			s += fmt.Sprintf(" in %dms", o.Run.DurationMS)
		}
		if o.Run.Error != "" {
			s += ": " + o.Run.Error
		}
		if o.Err != nil {
			s += " (" + o.Err.Error() + ")"
		}
		return s
	}
	return fmt.Sprintf("%d", o.Result.Status)
}

// createInGHL produces a sample GoHighLevel webhook the way GoHighLevel
// does: a ContactCreate sample becomes a contact created in the sandbox
// (as a website form would create it), and the sandbox sends the signed
// webhook itself.
func (r *Replayer) createInGHL(ctx context.Context, d Delivery) (id string, existed bool, skipped string, err error) {
	var p map[string]any
	if err := json.Unmarshal(d.Body, &p); err != nil {
		return "", false, "", fmt.Errorf("%s: %w", d.File, err)
	}
	if p["type"] != "ContactCreate" {
		return "", false, fmt.Sprintf("a %v sample cannot be produced through the sandbox (only ContactCreate)", p["type"]), nil
	}
	if r.GHL == nil {
		return "", false, "no GoHighLevel client to create the contact with", nil
	}
	body := map[string]any{"locationId": SandboxLocation}
	for _, k := range []string{"email", "firstName", "lastName", "phone", "companyName", "source", "website", "tags", "address1", "city", "country"} {
		if v, ok := p[k]; ok {
			body[k] = v
		}
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	// An earlier demo may have created it: leave it as it is (an upsert
	// would replace its tags).
	email, _ := p["email"].(string)
	phone, _ := p["phone"].(string)
	if email != "" || phone != "" {
		found, err := r.GHL.FindContact(ctx, ghl.ContactQuery{Email: email, Phone: phone})
		if err == nil {
			return found.ID, true, "", nil
		}
		if !errors.Is(err, ghl.ErrNotFound) {
			return "", false, "", fmt.Errorf("look for the contact of %s in GoHighLevel: %w", d.File, err)
		}
	}
	resp, err := r.GHL.Do(ctx, "contacts.upsert", ghl.Params{Body: body})
	if err != nil {
		return "", false, "", fmt.Errorf("create the contact of %s in GoHighLevel: %w", d.File, err)
	}
	var up struct {
		New     bool `json:"new"`
		Contact struct {
			ID string `json:"id"`
		} `json:"contact"`
	}
	if err := resp.Decode(&up); err != nil || up.Contact.ID == "" {
		return "", false, "", fmt.Errorf("create the contact of %s in GoHighLevel: unexpected answer %.200s", d.File, resp.Body)
	}
	return up.Contact.ID, !up.New, "", nil
}

// Settle waits until the sandbox has delivered the ContactCreate webhook of
// every contact created since contactsBefore contacts existed (when its
// webhooks are on) and every run of ghlsync has finished. hooksBefore is
// the length of the sandbox's webhook log before the replay.
func (c *Client) Settle(ctx context.Context, contactsBefore, hooksBefore int) error {
	var last string
	for {
		pending, err := c.pending(ctx, contactsBefore, hooksBefore)
		if err != nil {
			return err
		}
		if pending == "" {
			return nil
		}
		last = pending
		select {
		case <-ctx.Done():
			return fmt.Errorf("still waiting: %s", last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// pending says what is not finished yet ("" when everything is).
func (c *Client) pending(ctx context.Context, contactsBefore, hooksBefore int) (string, error) {
	var hooks struct {
		URL        string            `json:"url"`
		Deliveries []WebhookDelivery `json:"deliveries"`
	}
	if err := c.getJSON(ctx, c.SandboxURL+"/_sandbox/webhooks", &hooks); err != nil {
		return "", err
	}
	if hooks.URL != "" {
		contacts, err := c.Records(ctx, "contacts")
		if err != nil {
			return "", err
		}
		created := 0
		for _, d := range hooks.Deliveries[min(hooksBefore, len(hooks.Deliveries)):] {
			if d.Type == "ContactCreate" {
				created++
			}
		}
		if want := len(contacts) - contactsBefore; created < want {
			return fmt.Sprintf("the sandbox has sent %d of %d ContactCreate webhooks", created, want), nil
		}
	}
	runs, err := c.Runs(ctx)
	if err != nil {
		return "", err
	}
	var open []string
	for _, r := range runs {
		if !r.Finished() {
			open = append(open, r.Flow+" run "+r.ID+" "+r.Status)
		}
	}
	if len(open) > 0 {
		return strings.Join(open, ", "), nil
	}
	return "", nil
}

// Counts returns how many records of each kind the sandbox holds.
func (c *Client) Counts(ctx context.Context, kinds ...string) (map[string]int, error) {
	out := map[string]int{}
	var errs []error
	for _, k := range kinds {
		recs, err := c.Records(ctx, k)
		errs = append(errs, err)
		out[k] = len(recs)
	}
	return out, errors.Join(errs...)
}
