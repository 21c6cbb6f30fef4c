package source

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ghlsync/ghlsync/internal/source/sign"
)

const (
	genSecret = "gen-secret-2026-new"
	genOld    = "gen-secret-2025-old"
)

var genBody = []byte(`{"id":"evt_1001","type":"contact.created","occurred_at":"2026-11-30T14:05:12Z",` +
	`"data":{"email":"jose@example.com","firstName":"José","lastName":"Müller 😀","phone":"+1 (212) 555-0147","dealValue":1234.50}}`)

func TestGenericSignatures(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 30, 14, 5, 20, 0, time.UTC)
	valid := sign.Generic(genSecret, now, genBody)
	stdSecret := "whsec_Z2VuZXJpYy1zdGFuZGFyZC13ZWJob29rcy1rZXk="
	std, _ := sign.StandardWebhooks("msg_g1", now, genBody, stdSecret)
	cases := []struct {
		name   string
		cfg    map[string]any
		body   []byte
		header http.Header
		status int
		scheme string
		keyIdx int
	}{
		{"valid with timestamp", nil, genBody, valid, 0, "hmac-sha256", 0},
		{"valid body only", nil, genBody, sign.Generic(genSecret, time.Time{}, genBody), 0, "hmac-sha256", 0},
		{"one byte changed", nil, flipByte(genBody, 30), valid, 401, "", 0},
		{"timestamp changed", nil, genBody, with(valid, HeaderGenericTimestamp, "1796047521"), 401, "", 0},
		{"timestamp dropped", nil, genBody, without(valid, HeaderGenericTimestamp), 401, "", 0},
		{"wrong secret", nil, genBody, sign.Generic("nope", now, genBody), 401, "", 0},
		{"missing header", nil, genBody, without(valid, HeaderGenericSignature), 401, "", 0},
		{"no sha256= prefix", nil, genBody, with(valid, HeaderGenericSignature, strings.TrimPrefix(valid.Get(HeaderGenericSignature), "sha256=")), 401, "", 0},
		{"stale timestamp", nil, genBody, sign.Generic(genSecret, now.Add(-6*time.Minute), genBody), 401, "", 0},
		{"future timestamp", nil, genBody, sign.Generic(genSecret, now.Add(6*time.Minute), genBody), 401, "", 0},
		{"custom tolerance", map[string]any{"tolerance": "10m"}, genBody, sign.Generic(genSecret, now.Add(-6*time.Minute), genBody), 0, "hmac-sha256", 0},
		{"require_timestamp rejects body-only", map[string]any{"require_timestamp": true}, genBody, sign.Generic(genSecret, time.Time{}, genBody), 401, "", 0},
		{"rotation: new", map[string]any{"secrets": []any{genSecret, genOld}}, genBody, valid, 0, "hmac-sha256", 0},
		{"rotation: old", map[string]any{"secrets": []any{genSecret, genOld}}, genBody, sign.Generic(genOld, now, genBody), 0, "hmac-sha256", 1},
		{"standard webhooks", map[string]any{"secret": stdSecret}, genBody, std, 0, "standard-webhooks", 0},
		{"standard webhooks, wrong secret", nil, genBody, std, 401, "", 0},
		{"malformed JSON", nil, []byte(`{"id": 1`), sign.Generic(genSecret, now, []byte(`{"id": 1`)), 400, "", 0},
		{"unknown type", nil, []byte(`{"type":"contact.create"}`), sign.Generic(genSecret, now, []byte(`{"type":"contact.create"}`)), 422, "", 0},
		{"missing type", nil, []byte(`{"id":"x"}`), sign.Generic(genSecret, now, []byte(`{"id":"x"}`)), 422, "", 0},
		{"data not an object", nil, []byte(`{"type":"note.created","data":[1]}`), sign.Generic(genSecret, now, []byte(`{"type":"note.created","data":[1]}`)), 422, "", 0},
		{"bad occurred_at", nil, []byte(`{"type":"note.created","occurred_at":"yesterday"}`), sign.Generic(genSecret, now, []byte(`{"type":"note.created","occurred_at":"yesterday"}`)), 422, "", 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := map[string]any{"secret": genSecret}
			for k, v := range tc.cfg {
				cfg[k] = v
			}
			if _, ok := tc.cfg["secrets"]; ok {
				delete(cfg, "secret")
			}
			s := mustNew(t, "generic", cfg)
			setNow(t, s, now)
			ev, err := s.Receive(request(tc.body, tc.header), tc.body)
			wantStatus(t, err, tc.status, genSecret, genOld, stdSecret)
			if tc.status != 0 {
				return
			}
			if ev.Verification.Scheme != tc.scheme || ev.Verification.KeyIndex != tc.keyIdx || !ev.Verification.Verified {
				t.Errorf("verification %+v, want %s key %d", ev.Verification, tc.scheme, tc.keyIdx)
			}
			if ev.ID != "evt_1001" || ev.Type != "contact.created" || !ev.OccurredAt.Equal(time.Date(2026, 11, 30, 14, 5, 12, 0, time.UTC)) {
				t.Errorf("event id %q type %q at %v", ev.ID, ev.Type, ev.OccurredAt)
			}
			if !bytes.Equal(ev.Raw, genBody) || lookupString(ev.Payload, "data.lastName") != "Müller 😀" || lookupString(ev.Payload, "data.firstName") != "José" {
				t.Errorf("names not preserved: %s", ev.Raw)
			}
			if v, _ := Lookup(ev.Payload, "data.dealValue"); v != json.Number("1234.50") {
				t.Errorf("dealValue = %#v, want json.Number 1234.50 (as written)", v)
			}
		})
	}
}

func TestGenericIDFallbackAndTypes(t *testing.T) {
	t.Parallel()
	body := []byte(`{"type":"appointment.updated","data":{"id":"apt_9"}}`)
	s := mustNew(t, "generic", map[string]any{"secret": genSecret, "types": []any{"appointment.created", "appointment.updated"}})
	ev, err := s.Receive(request(body, sign.Generic(genSecret, time.Now(), body)), body)
	if err != nil || ev.ID != "" || ev.Ignore != "" {
		t.Fatalf("no id: want ID \"\" (ingress hashes the body), got %q, ignore %q, %v", ev.ID, ev.Ignore, err)
	}
	h, _ := sign.StandardWebhooks("msg_std", time.Now(), body, genSecret)
	ev, err = s.Receive(request(body, h), body)
	if err != nil || ev.ID != "msg_std" {
		t.Fatalf("standard webhooks id fallback: %q %v", ev.ID, err)
	}
	note := []byte(`{"id":"n1","type":"note.created","data":{}}`)
	ev, err = s.Receive(request(note, sign.Generic(genSecret, time.Now(), note)), note)
	if err != nil || ev.Ignore == "" {
		t.Fatalf("note.created should be acknowledged and ignored by an appointments flow: %+v %v", ev, err)
	}
	num := []byte(`{"id":12345678901234567890,"type":"task.created","occurred_at":1796047512}`)
	ev, err = s.Receive(request(num, sign.Generic(genSecret, time.Time{}, num)), num)
	if err != nil {
		t.Fatal(err)
	}
	if ev.ID != "12345678901234567890" || ev.OccurredAt.Unix() != 1796047512 {
		t.Errorf("numeric id %q / unix occurred_at %v", ev.ID, ev.OccurredAt)
	}
}

// docExample returns the curl + openssl example from docs/sources.md.
func docExample(t *testing.T) string {
	t.Helper()
	doc, err := os.ReadFile("../../docs/sources.md")
	if err != nil {
		t.Fatalf("reading docs/sources.md: %v", err)
	}
	start := bytes.Index(doc, []byte("<!-- generic-example:start -->"))
	end := bytes.Index(doc, []byte("<!-- generic-example:end -->"))
	if start < 0 || end < start {
		t.Fatal("docs/sources.md lacks the generic-example markers")
	}
	block := string(doc[start:end])
	i := strings.Index(block, "```sh\n")
	j := strings.LastIndex(block, "```")
	if i < 0 || j <= i {
		t.Fatal("generic example is not a ```sh block")
	}
	return block[i+len("```sh\n") : j]
}

// TestGenericDocExample runs the documented curl + openssl commands, as
// written, against a server backed by the generic source.
func TestGenericDocExample(t *testing.T) {
	t.Parallel()
	script := docExample(t)
	const docSecret = "change-me-generic-secret"
	if !strings.Contains(script, "SECRET='"+docSecret+"'") {
		t.Fatalf("the example's secret changed; update this test:\n%s", script)
	}
	s := mustNew(t, "generic", map[string]any{"secret": docSecret, "require_timestamp": true})
	var mu sync.Mutex
	var got []Event
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := ReadBody(r, 0)
		if err == nil {
			var ev Event
			ev, err = s.Receive(r, body)
			if err == nil {
				mu.Lock()
				got = append(got, ev)
				mu.Unlock()
				w.WriteHeader(http.StatusAccepted)
				return
			}
		}
		http.Error(w, err.Error(), err.(*Error).Status)
	}))
	defer srv.Close()
	script = strings.ReplaceAll(script, "http://localhost:8080", srv.URL)

	_, errSSL := exec.LookPath("openssl")
	_, errCurl := exec.LookPath("curl")
	if errSSL != nil || errCurl != nil {
		// Without the tools, do what the commands do, in Go.
		t.Logf("openssl or curl not installed; computing the example's signature in Go")
		body := []byte(extractVar(t, script, "BODY"))
		req, _ := sign.Request(context.Background(), srv.URL, body, sign.Generic(docSecret, time.Now(), body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	} else {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, "sh", "-eu", "-c", script)
		cmd.Env = append(os.Environ(), "LC_ALL=C.UTF-8")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("example failed: %v\n%s", err, out)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 1 {
		t.Fatalf("server accepted %d events, want 1", len(got))
	}
	ev := got[0]
	if ev.Type != "contact.created" || ev.ID == "" || !ev.Verification.Verified || ev.Verification.Scheme != "hmac-sha256" {
		t.Fatalf("event %+v", ev)
	}
	if lookupString(ev.Payload, "data.first_name") != "José" || lookupString(ev.Payload, "data.last_name") != "Müller 😀" {
		t.Errorf("names changed in transit: %s", ev.Raw)
	}
}

// extractVar reads NAME='value' from the example script.
func extractVar(t *testing.T, script, name string) string {
	t.Helper()
	for _, line := range strings.Split(script, "\n") {
		if v, ok := strings.CutPrefix(line, name+"='"); ok {
			if i := strings.Index(v, "'"); i >= 0 {
				return v[:i]
			}
		}
	}
	t.Fatalf("example has no %s='...' line", name)
	return ""
}

// TestOpenSSLAgrees checks the openssl pipeline computes what sign.Generic
// computes, byte for byte, for a body with non-ASCII text.
func TestOpenSSLAgrees(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("openssl not installed; TestGenericDocExample covered the Go computation")
	}
	ts := time.Unix(1796047512, 0)
	cmd := exec.Command("sh", "-c", `printf '%s.%s' "$TS" "$BODY" | openssl dgst -sha256 -hmac "$SECRET" -r | cut -d' ' -f1`)
	cmd.Env = append(os.Environ(), "TS=1796047512", "BODY="+string(genBody), "SECRET="+genSecret)
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	want := sign.Generic(genSecret, ts, genBody).Get(HeaderGenericSignature)
	if got := "sha256=" + strings.TrimSpace(string(out)); got != want {
		t.Fatalf("openssl %s, Go %s", got, want)
	}
}
