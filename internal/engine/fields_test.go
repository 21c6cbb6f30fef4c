package engine

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/ghlsync/ghlsync/internal/flow"
	"github.com/ghlsync/ghlsync/internal/ghl"
	"github.com/ghlsync/ghlsync/internal/sandbox"
)

func cfFlow(name, conn, fields string) string {
	return "name: " + name + "\nconnection: " + conn + "\ntrigger: {webhook: {source: generic}}\nsteps:\n" +
		"  - id: contact\n    op: contacts.upsert\n    with:\n      email: a@example.com\n" + fields
}

// downConns fails for the connection named "down".
type downConns struct{ Connections }

func (d downConns) Client(ctx context.Context, name string) (*ghl.Client, ConnInfo, error) {
	if name == "down" {
		return nil, ConnInfo{}, errors.New("dial tcp: connection refused")
	}
	return d.Connections.Client(ctx, name)
}

func TestCheckCustomFieldsAtStart(t *testing.T) {
	t.Parallel()
	sb, err := sandbox.New(sandbox.Options{RateLimit: sandbox.RateLimitOptions{Disabled: true}})
	if err != nil {
		t.Fatal(err)
	}
	var lists atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/customFields") {
			lists.Add(1)
		}
		sb.ServeHTTP(w, r)
	}))
	t.Cleanup(func() { srv.Close(); sb.Close() })
	conns := downConns{&StaticConnections{Token: "pit-sandbox-location", LocationID: "sbx-location-1", Timezone: "UTC",
		Config: ghl.Config{BaseURL: srv.URL, Limiter: ghl.NewLimiter(ghl.LimiterOptions{Disabled: true})}}}
	parse := func(name, src string) *flow.Flow {
		f, err := flow.Parse(name+".yaml", []byte(src))
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	l := &flow.Loaded{Flows: []*flow.Flow{
		parse("good", cfFlow("good", "default", "      customFields:\n        contact.resumo: \"{{ event.summary }}\"\n        Deal Value: 12\n")),
		parse("typo", cfFlow("typo", "default", "      customFields:\n        contact.resumo: x\n        Deal Valeu: 12\n")),
		parse("wrongtype", cfFlow("wrongtype", "default", "      customFields:\n        Deal Value: lots\n")),
		parse("down", cfFlow("down", "down", "      customFields:\n        Deal Value: 1\n")),
		parse("plain", cfFlow("plain", "down", "")),
	}}
	warnings := CheckCustomFields(context.Background(), l, conns)
	var kept []string
	for _, f := range l.Flows {
		kept = append(kept, f.Name)
	}
	if strings.Join(kept, ",") != "good,down,plain" {
		t.Errorf("kept %v, want good, down (not checkable), plain (no custom field)", kept)
	}
	var problems []string
	for _, e := range l.Errors {
		problems = append(problems, e.Error())
	}
	got := strings.Join(problems, "\n")
	for _, want := range []string{`typo.yaml:11:9: step "contact": customFields: no custom field with name, key or id "Deal Valeu"`,
		`wrongtype.yaml:10:21: step "contact": custom field "Deal Value" (MONETORY): expected a number, got "lots"`} {
		if !strings.Contains(got, want) {
			t.Errorf("problems lack %q:\n%s", want, got)
		}
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0].Error(), "down.yaml: flow down: custom fields not checked") {
		t.Errorf("warnings: %v", warnings)
	}
	if n := lists.Load(); n != 1 {
		t.Errorf("custom fields listed %d times, want once (cached per location)", n)
	}
}
