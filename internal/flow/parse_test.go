package flow

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

// TestInvalidGolden parses each testdata/invalid/*.yaml and compares every
// reported problem, position and message with the golden
// testdata/invalid/*.errors file (go test -update rewrites them).
func TestInvalidGolden(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("testdata/invalid/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no invalid fixtures: %v", err)
	}
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			t.Parallel()
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			f, err := Parse(path, data)
			if err == nil {
				t.Fatalf("Parse accepted an invalid flow: %+v", f)
			}
			var list ErrorList
			if !errors.As(err, &list) {
				t.Fatalf("error is %T, want ErrorList", err)
			}
			for _, e := range list {
				if e.Pos.File != path || e.Pos.Line < 1 || e.Pos.Column < 1 {
					t.Errorf("problem without a usable position: %+v", e)
				}
			}
			got := list.Error() + "\n"
			golden := strings.TrimSuffix(path, ".yaml") + ".errors"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if diff := cmp.Diff(string(want), got); diff != "" {
				t.Errorf("problems differ from %s (-want +got):\n%s", golden, diff)
			}
		})
	}
}

func TestParseValidModel(t *testing.T) {
	t.Parallel()
	src := `
description: contacts from the CRM
trigger:
  webhook:
    source: ghl
    types: ContactCreate
    secret: env:GHLSYNC_GHL_KEY
    public_key_file: /etc/ghl.pem
steps:
  - id: contact
    name: Upsert the contact
    op: contacts.upsert
    when: event.email != ""
    on_error: continue
    clear_empty: [city]
    replace_tags: true
    with:
      email: "{{ event.email }}"
      city: "{{ event.city }}"
      tags: [a, b]
`
	f, err := Parse("flows/crm-contacts.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if f.Name != "crm-contacts" || f.Connection != DefaultConnection || f.Description != "contacts from the CRM" {
		t.Errorf("flow header = %q %q %q", f.Name, f.Connection, f.Description)
	}
	w := f.Trigger.Webhook
	if w == nil || f.Trigger.Poll != nil {
		t.Fatalf("trigger = %+v", f.Trigger)
	}
	if w.Source != SourceGHL || w.Secret != "env:GHLSYNC_GHL_KEY" || !w.Accepts("ContactCreate") || w.Accepts("ContactDelete") {
		t.Errorf("webhook = %+v", w)
	}
	if w.Config["public_key_file"] != "/etc/ghl.pem" || w.Config["source"] != "ghl" {
		t.Errorf("webhook config = %v", w.Config)
	}
	s, ok := f.Step("contact")
	if !ok || s.Operation == nil || s.Operation.ID != "contacts.upsert" {
		t.Fatalf("step = %+v", s)
	}
	if s.Name != "Upsert the contact" || s.OnError != OnErrorContinue || !s.ReplaceTags || s.When != `event.email != ""` {
		t.Errorf("step fields = %+v", s)
	}
	if diff := cmp.Diff([]string{"email", "city", "tags"}, s.With.Keys()); diff != "" {
		t.Errorf("with keys (-want +got):\n%s", diff)
	}
	if p := s.With.Pos("city"); p.Line != 19 || p.Column != 7 {
		t.Errorf("city position = %v, want line 19 column 7", p)
	}
	if len(f.Hash) != 64 || f.File != "flows/crm-contacts.yaml" {
		t.Errorf("file/hash = %q %q", f.File, f.Hash)
	}
}

func TestParsePoll(t *testing.T) {
	t.Parallel()
	src := `
name: poll
connection: agency
trigger:
  poll:
    op: opportunities.search
    every: 2m
    updated: true
    max_pages: 4
    params:
      status: open
      pipeline_id: "{{ env.GHLSYNC_FLOW_PIPELINE }}"
steps:
  - id: t
    op: contacts.addTags
    with: {contactId: "{{ event.contact.id }}", tags: [deal]}
`
	f, err := Parse("poll.yml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	p := f.Trigger.Poll
	if p == nil || p.Operation == nil || p.Every != 2*time.Minute || !p.Updated || p.MaxPages != 4 || f.Connection != "agency" {
		t.Fatalf("poll = %+v", p)
	}
	env := &Env{Connection: Connection{LocationID: "loc1"}, Vars: map[string]string{"GHLSYNC_FLOW_PIPELINE": "pipe1"}}
	req, err := p.Request(env)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{"status": {"open"}, "pipeline_id": {"pipe1"}, "location_id": {"loc1"}}
	if diff := cmp.Diff(want, map[string][]string(req.Query)); diff != "" {
		t.Errorf("poll query (-want +got):\n%s", diff)
	}
}

func TestLoadDirKeepsGoodFlows(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	good := "trigger: {webhook: {source: generic}}\nsteps:\n  - {id: a, op: contacts.get, with: {contactId: x}}\n"
	write("a-good.yaml", good)
	write("b-bad.yaml", "trigger: {webhook: {source: generic}}\nsteps:\n  - {id: a, op: nope}\n")
	write("c-syntax.yml", "name: [unclosed\n")
	write("d-dup.yaml", "name: a-good\n"+good)
	write("notes.txt", "not a flow")
	write(".hidden.yaml", "garbage: [")
	write("_draft.yaml", "garbage: [")
	if err := os.Mkdir(filepath.Join(dir, "sub.yaml"), 0o755); err != nil {
		t.Fatal(err)
	}
	l, err := LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Flows) != 1 || l.Flows[0].Name != "a-good" {
		t.Fatalf("flows = %v", l.Flows)
	}
	if len(l.Files) != 4 {
		t.Errorf("files = %v", l.Files)
	}
	for _, name := range []string{"b-bad.yaml", "c-syntax.yml", "d-dup.yaml"} {
		if errs := l.Errors.ForFile(filepath.Join(dir, name)); len(errs) == 0 {
			t.Errorf("%s: no problem reported", name)
		}
	}
	if got := l.Errors.ForFile(filepath.Join(dir, "d-dup.yaml")).Error(); !strings.Contains(got, `flow name "a-good" is already used`) {
		t.Errorf("duplicate name problem = %q", got)
	}
	if _, err := LoadDir(filepath.Join(dir, "missing")); err == nil {
		t.Error("LoadDir of a missing folder succeeded")
	}
}
