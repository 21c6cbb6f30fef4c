package flow

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// FuzzParse feeds arbitrary bytes to the flow parser: it must never panic,
// every problem must carry a usable position, and a flow it accepts must
// evaluate without panicking.
func FuzzParse(f *testing.F) {
	for _, pattern := range []string{"testdata/valid/*.yaml", "testdata/invalid/*.yaml"} {
		files, _ := filepath.Glob(pattern)
		for _, file := range files {
			if data, err := os.ReadFile(file); err == nil {
				f.Add(data)
			}
		}
	}
	f.Add([]byte("trigger: {webhook: {source: generic}}\nsteps:\n  - {id: a, op: contacts.get, with: {contactId: \"{{ event.x }}\"}}\n"))
	f.Add([]byte("a: &x [*x]\n"))
	f.Add([]byte("\t\x00\xff: {{"))
	f.Fuzz(func(t *testing.T, data []byte) {
		flow, err := Parse("fuzz.yaml", data)
		if err != nil {
			var list ErrorList
			if !errors.As(err, &list) || len(list) == 0 {
				t.Fatalf("error is %T %v, want a non-empty ErrorList", err, err)
			}
			for _, e := range list {
				if e.Pos.File != "fuzz.yaml" || e.Pos.Line < 1 || e.Pos.Column < 1 || e.Msg == "" {
					t.Fatalf("problem without position or message: %#v", e)
				}
			}
			return
		}
		if flow == nil || len(flow.Steps) == 0 || (flow.Trigger.Webhook == nil) == (flow.Trigger.Poll == nil) {
			t.Fatalf("accepted an incomplete flow: %+v", flow)
		}
		env := NewEnv(Event{ID: "e", Payload: map[string]any{"x": "1"}, ReceivedAt: time.Unix(0, 0)}, Connection{LocationID: "l"})
		env.Fields = &fakeResolver{fields: sandboxFields}
		for _, s := range flow.Steps {
			_, _ = s.Request(context.Background(), env)
			env.SetStep(s.ID, map[string]any{"id": "x"})
		}
		if flow.Trigger.Poll != nil {
			_, _ = flow.Trigger.Poll.Request(env)
		}
	})
}

// FuzzExpr feeds arbitrary expressions and payloads to the expression layer,
// both as a bare expression and as a mapping string with {{ }} parts: it
// must never panic.
func FuzzExpr(f *testing.F) {
	seeds := []string{
		`phone(event.phone)`, `default(event.a, "x")`, `join(split(event.csv), "|")`,
		`rfc3339(atTime(addDays(inZone(now, connection.timezone), 2), "09:00"))`,
		`lookup(event.map, event.key, "d")`, `event.list[10]`, `event.a.b.c.d`, `1/0`, `"a" + 1`,
		`number(event.n) * 2`, `first(last(event.list))`, `steps.a.b ?? event.x`, `{{ event.a }} and {{`,
		`addDuration(now, "99999999999d")`, `formatTime(now, event.layout)`, `epochMillis(1e300)`,
		`map(1..1000000, #)`, `toJSON(event)`, `fromJSON(event.csv)`, `int("9999999999999999999999")`,
		`validNumber(event.n) ? number(event.n) : nil`, `validNumber(1/0)`, `validNumber(event.list)`,
	}
	for _, s := range seeds {
		f.Add(s, `{"phone": "+1 415 555 2671", "csv": "a,b", "list": [1, [2]], "map": {"k": "v"}, "n": "1,5"}`)
	}
	f.Add(`event.a`, `{"a": 1e400}`)
	f.Fuzz(func(t *testing.T, src, payloadJSON string) {
		var payload map[string]any
		dec := json.NewDecoder(strings.NewReader(payloadJSON))
		dec.UseNumber()
		_ = dec.Decode(&payload)
		env := NewEnv(Event{ID: "e", Type: "t", Payload: payload, ReceivedAt: time.Unix(1700000000, 0)},
			Connection{LocationID: "l", Timezone: "America/New_York"})
		env.SetStep("a", payload)
		view := env.view("fuzz")
		if c, err := compileExpr(src, Position{File: "f", Line: 1, Column: 1}); err == nil {
			_, _ = c.run(view)
		} else if err.Pos.Line < 1 || err.Pos.Column < 1 {
			t.Fatalf("compile error without position: %#v", err)
		}
		p := &parser{file: "f"}
		v := p.compileString(src, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: src, Line: 3, Column: 5})
		for _, e := range p.errs {
			if e.Pos.Line < 1 || e.Pos.Column < 1 {
				t.Fatalf("template error without position: %#v", e)
			}
		}
		if len(p.errs) == 0 {
			if out, fail := v.eval(view); fail == nil {
				b := &builder{env: env}
				b.prune("x", out)
				_, _ = toString(out)
			}
		}
	})
}
