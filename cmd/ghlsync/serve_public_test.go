package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/ghlsync/ghlsync/internal/web"
)

// TestServePublicURLNamesSendersURLs: with --public-url the start-up
// summary, /api/flows and the dashboard give senders the public webhook
// URLs, not the address ghlsync listens on.
func TestServePublicURLNamesSendersURLs(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFlows(t, dir, map[string]string{"good.yaml": goodFlow})
	o := sandboxServeOptions(t, dir, &syncBuffer{})
	o.publicURL = "https://ghlsync.example.com/"
	if err := checkPublicURL(o.publicURL); err != nil {
		t.Fatal(err)
	}
	s, err := startServer(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	defer s.shutdown()
	const want = "https://ghlsync.example.com/hooks/good"

	var summary strings.Builder
	printServing(&summary, s)
	if !strings.Contains(summary.String(), "POST "+want+" (generic)") || strings.Contains(summary.String(), "POST "+s.URL+"/hooks/") {
		t.Errorf("summary:\n%s", summary.String())
	}
	get := func(path string) string {
		t.Helper()
		resp, err := http.Get(s.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	var flows web.FlowsView
	if err := json.Unmarshal([]byte(get("/api/flows")), &flows); err != nil {
		t.Fatal(err)
	}
	if len(flows.Flows) != 1 || flows.Flows[0].HookURL != want {
		t.Errorf("/api/flows: %+v", flows.Flows)
	}
	for _, path := range []string{"/", "/flows/good"} {
		if page := get(path); !strings.Contains(page, `<code class="url">`+want+`</code>`) {
			t.Errorf("%s does not show %s", path, want)
		}
	}
}

func TestCheckPublicURL(t *testing.T) {
	t.Parallel()
	for raw, ok := range map[string]bool{
		"":                                    true,
		"https://ghlsync.example.com":         true,
		"http://10.0.0.5:8080":                true,
		"https://example.com/ghlsync/":        true,
		"ghlsync.example.com":                 false,
		"/hooks":                              false,
		"ftp://ghlsync.example.com":           false,
		"https://":                            false,
		"https://user:pw@ghlsync.example.com": false,
		"https://ghlsync.example.com/#x":      false,
		"https://ghlsync.example.com?":        false,
		" https://ghlsync.example.com":        false,
	} {
		if err := checkPublicURL(raw); (err == nil) != ok {
			t.Errorf("checkPublicURL(%q) = %v, want ok %v", raw, err, ok)
		}
	}
}
