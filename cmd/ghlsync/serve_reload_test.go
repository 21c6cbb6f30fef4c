package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ghlsync/ghlsync/internal/web"
)

func flowNames(s *server) []string {
	var out []string
	for _, f := range s.Engine.Flows().Flows {
		out = append(out, f.Name)
	}
	return out
}

// TestReloadKeepsThePreviousVersionOfABrokenFlow: POST /api/reload (with
// the admin token) reads the folder again; a broken file is reported and
// its flow keeps running as it was, a removed file stops its flow, a new
// one starts taking deliveries.
func TestReloadKeepsThePreviousVersionOfABrokenFlow(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFlows(t, dir, map[string]string{"a.yaml": goodFlow, "b.yaml": goodFlow, "c.yaml": goodFlow})
	o := sandboxServeOptions(t, dir, &syncBuffer{})
	o.adminToken = "reload-admin-token-0123456789"
	s, err := startServer(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	defer s.shutdown()
	prevA, _ := s.Engine.Flow("a")

	writeFlows(t, dir, map[string]string{
		"a.yaml": strings.Replace(goodFlow, "contacts.upsert", "contacts.upsret", 1), // broken
		"b.yaml": strings.Replace(goodFlow, "Deal Value", "Deal Valeu", 1),           // a field the location lacks
		"d.yaml": goodFlow,                                                           // new
		"e.yaml": strings.Replace(goodFlow, "literal:s3cret-generic", "env:GHLSYNC_TEST_UNSET_SECRET_E", 1),
	})
	if err := os.Remove(filepath.Join(dir, "c.yaml")); err != nil {
		t.Fatal(err)
	}
	post := func(token string) (int, string) {
		req, _ := http.NewRequest("POST", s.URL+"/api/reload", nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := post(""); code != http.StatusUnauthorized {
		t.Fatalf("reload without the token: %d", code)
	}
	code, body := post(o.adminToken)
	if code != http.StatusOK {
		t.Fatalf("reload: %d %s", code, body)
	}
	var res web.ReloadResult
	if err := json.Unmarshal([]byte(body), &res); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"a", "b", "d", "e"}, res.Flows); diff != "" {
		t.Errorf("active flows (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"a", "b"}, res.KeptPrevious); diff != "" {
		t.Errorf("kept previous (-want +got):\n%s", diff)
	}
	if len(res.Unavailable) != 1 || !strings.Contains(res.Unavailable["e"], "GHLSYNC_TEST_UNSET_SECRET_E") {
		t.Errorf("unavailable: %+v, want only flow e, naming its missing secret", res.Unavailable)
	}
	if len(res.Problems) != 2 || !strings.Contains(res.Problems[0].Where, "a.yaml:") || !strings.Contains(res.Problems[1].Message, "Deal Valeu") {
		t.Errorf("problems: %+v", res.Problems)
	}
	if a, _ := s.Engine.Flow("a"); a != prevA {
		t.Error("flow a is not its previous version")
	}
	// The new flow takes deliveries; the removed one no longer does.
	for flowName, want := range map[string]int{"d": http.StatusUnauthorized, "c": http.StatusNotFound} {
		resp, err := http.Post(s.URL+"/hooks/"+flowName, "application/json", strings.NewReader(`{}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want { // d: its source answers (unsigned → 401)
			t.Errorf("/hooks/%s after reload: %d, want %d", flowName, resp.StatusCode, want)
		}
	}
}

// TestSIGHUPReloadsFlows sends the process SIGHUP while serve runs.
func TestSIGHUPReloadsFlows(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no SIGHUP on Windows; POST /api/reload is tested above")
	}
	dir := t.TempDir()
	writeFlows(t, dir, map[string]string{"a.yaml": goodFlow})
	o := sandboxServeOptions(t, dir, &syncBuffer{})
	ctx, cancel := context.WithCancel(context.Background())
	var out syncBuffer
	done := make(chan error, 1)
	go func() { done <- runServe(ctx, o, &out) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	}()
	url := waitServing(t, &out)
	writeFlows(t, dir, map[string]string{"b.yaml": goodFlow})
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(url + "/api/flows")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.Contains(string(b), `"name": "b"`) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("flow b not loaded after SIGHUP:\n%s", b)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitServing returns the URL serve prints once it answers.
func waitServing(t *testing.T, out *syncBuffer) string {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if line, _, ok := strings.Cut(out.String(), " (dashboard"); ok {
			return strings.TrimPrefix(line, "ghlsync serving on ")
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("serve did not start:\n%s", out.String())
	return ""
}
