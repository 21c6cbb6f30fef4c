package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ghlsync/ghlsync/internal/ghl/catalog"
)

// run executes the CLI in-process with injected IO.
func run(t *testing.T, stdin string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	root := newRootCmd()
	var out, errb bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errb)
	root.SetIn(strings.NewReader(stdin))
	root.SetArgs(args)
	err = root.Execute()
	return out.String(), errb.String(), err
}

func exitCode(err error) int {
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	if err != nil {
		return 1
	}
	return 0
}

func TestOpsList(t *testing.T) {
	t.Parallel()
	out, _, err := run(t, "", "ops", "list")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 127 || !strings.HasPrefix(lines[0], "ID") {
		t.Fatalf("%d lines (want header + 126)", len(lines))
	}
	for _, op := range catalog.All() {
		if !strings.Contains(out, op.ID+" ") {
			t.Errorf("%s missing", op.ID)
		}
	}
	if !strings.Contains(out, "contacts.upsert") || !strings.Contains(out, "/contacts/upsert") {
		t.Error("row content missing")
	}

	cases := []struct {
		args []string
		want int
	}{
		{[]string{"--kind", "action"}, countOps(func(o *catalog.Operation) bool { return o.Kind == catalog.Action })},
		{[]string{"--kind", "trigger"}, countOps(func(o *catalog.Operation) bool { return o.Kind == catalog.Trigger })},
		{[]string{"--category", "calendars"}, 34},
		{[]string{"--category", "Conversations"}, 10},
		{[]string{"--category", "conversations", "--kind", "action"}, 2},
	}
	for _, tc := range cases {
		out, _, err := run(t, "", append([]string{"ops", "list", "-o", "json"}, tc.args...)...)
		if err != nil {
			t.Fatalf("%v: %v", tc.args, err)
		}
		var ops []catalog.Operation
		if err := json.Unmarshal([]byte(out), &ops); err != nil {
			t.Fatalf("%v: json: %v", tc.args, err)
		}
		if len(ops) != tc.want {
			t.Errorf("%v: %d ops, want %d", tc.args, len(ops), tc.want)
		}
	}
	for _, bad := range [][]string{{"--kind", "both"}, {"--category", "nope"}, {"-o", "xml"}} {
		_, _, err := run(t, "", append([]string{"ops", "list"}, bad...)...)
		if exitCode(err) != 2 {
			t.Errorf("%v: err %v, want exit 2", bad, err)
		}
	}
}

func countOps(f func(*catalog.Operation) bool) int {
	n := 0
	for _, op := range catalog.All() {
		if f(op) {
			n++
		}
	}
	return n
}

func TestOpsShow(t *testing.T) {
	t.Parallel()
	out, _, err := run(t, "", "ops", "show", "contacts.upsert")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"contacts.upsert — Upsert Contact",
		"method:", "POST",
		"path:", "/contacts/upsert",
		"version:", "2021-07-28",
		"scopes:", "contacts.write",
		"token:", "location (sub-account",
		"body fields:",
		"idempotency:", "safe: safe to repeat (upsert by email/phone)",
		"pagination:", "single object",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	out, _, _ = run(t, "", "ops", "show", "contacts.search")
	if !strings.Contains(out, "page: page (searchAfter past 10,000) + pageLimit (max 500) in the body; list contacts, item id id") {
		t.Errorf("pagination line:\n%s", out)
	}
	out, _, _ = run(t, "", "ops", "show", "contacts.create")
	if !strings.Contains(out, "natural key:") || !strings.Contains(out, "reconcile: repeat only after looking") {
		t.Errorf("reconcile op:\n%s", out)
	}
	_, _, err = run(t, "", "ops", "show", "contacts.upsrt")
	if exitCode(err) != 2 || !strings.Contains(err.Error(), "did you mean contacts.upsert") {
		t.Errorf("typo: %v", err)
	}
	out, _, err = run(t, "", "ops", "show", "calendars.getFreeSlots", "-o", "json")
	var op catalog.Operation
	if err != nil || json.Unmarshal([]byte(out), &op) != nil || op.Pagination.MaxWindowDays != 31 {
		t.Errorf("json show: %v %s", err, out)
	}
}

func TestOpsShowBodyFieldTypes(t *testing.T) {
	t.Parallel()
	out, _, err := run(t, "", "ops", "show", "opportunities.create")
	if err != nil {
		t.Fatal(err)
	}
	var status, value string
	for _, l := range strings.Split(out, "\n") {
		switch f := strings.Fields(l); {
		case len(f) > 0 && f[0] == "status":
			status = strings.Join(f, " ")
		case len(f) > 0 && f[0] == "monetaryValue":
			value = strings.Join(f, " ")
		}
	}
	if want := "status string required one of: open, won, lost, abandoned, all"; status != want {
		t.Errorf("status line = %q, want %q\n%s", status, want, out)
	}
	if want := "monetaryValue number"; value != want {
		t.Errorf("monetaryValue line = %q, want %q", value, want)
	}

	out, _, err = run(t, "", "ops", "show", "opportunities.create", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		ID         string `json:"id"`
		BodyFields []struct {
			Name     string   `json:"name"`
			Type     string   `json:"type"`
			Enum     []string `json:"enum"`
			Required bool     `json:"required"`
		} `json:"bodyFields"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatal(err)
	}
	if got.ID != "opportunities.create" {
		t.Errorf("id = %q: the catalog entry is no longer embedded", got.ID)
	}
	found := false
	for _, f := range got.BodyFields {
		if f.Name == "status" {
			found = true
			if diff := cmp.Diff([]string{"open", "won", "lost", "abandoned", "all"}, f.Enum); diff != "" || f.Type != "string" || !f.Required {
				t.Errorf("status field %+v %s", f, diff)
			}
		}
	}
	if !found {
		t.Errorf("no status in bodyFields: %s", out)
	}
}
