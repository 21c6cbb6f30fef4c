package source

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ghlsync/ghlsync/internal/source/sign"
	"github.com/google/go-cmp/cmp"
)

const (
	ctSecret    = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	ctOldSecret = "whsec_b2xkIHNlY3JldCBmb3Igcm90YXRpb24gdGVzdHM="
	ctOther     = "whsec_d3Jvbmcgc2VjcmV0IG5vdCBjb25maWd1cmVkIQ=="
)

// ctBody is a ChangeTower notification with non-ASCII names; its bytes must
// come through unchanged.
var ctBody = []byte(`{
  "type": "monitor.notification.created",
  "timestamp": "2026-11-30T14:05:12Z",
  "data": {
    "notification": {"id": "ntf_7Hq2", "created_at": "2026-11-30T14:05:10Z", "change_percentage": 12.4,
      "summary": "Preço do plano Pro mudou de R$49 para R$59"},
    "monitor": {"id": "mon_81x", "name": "José — Müller 😀 pricing", "url": "https://acme.example/pricing",
      "owner": {"first_name": "José", "last_name": "Müller 😀", "email": "jose@acme.example"}, "tags": ["competitor"]},
    "workspace": {"id": "ws_12", "name": "Agency"}
  }
}`)

// TestStandardWebhooksVector checks the published Standard Webhooks test
// vector, which is what makes our verifier agree with every other library.
func TestStandardWebhooksVector(t *testing.T) {
	t.Parallel()
	h := http.Header{}
	h.Set("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek")
	h.Set("webhook-timestamp", "1614265330")
	h.Set("webhook-signature", "v1,bm9wZQ== v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
	key, err := decodeStandardSecret(ctSecret)
	if err != nil {
		t.Fatal(err)
	}
	idx, ts, verr := verifyStandard(h, []byte(`{"test": 2432232314}`), [][]byte{key}, DefaultTolerance, time.Unix(1614265330+299, 0))
	if verr != nil || idx != 0 || ts.Unix() != 1614265330 {
		t.Fatalf("vector: idx %d ts %v err %v", idx, ts, verr)
	}
	sig, err := sign.StandardSignature(ctSecret, "msg_p5jXN8AQM9LWM0D4loKWxJek", time.Unix(1614265330, 0), []byte(`{"test": 2432232314}`))
	if err != nil || sig != "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=" {
		t.Fatalf("sign.StandardSignature = %q, %v", sig, err)
	}
	// One second beyond the tolerance, either way.
	for _, now := range []int64{1614265330 + 301, 1614265330 - 301} {
		if _, _, verr := verifyStandard(h, []byte(`{"test": 2432232314}`), [][]byte{key}, DefaultTolerance, time.Unix(now, 0)); verr == nil || verr.Status != 401 {
			t.Errorf("now %d: want 401, got %v", now, verr)
		}
	}
}

// flipSig changes one byte of a "v1,<base64>" signature.
func flipSig(t *testing.T, v string) string {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(v, "v1,"))
	if err != nil {
		t.Fatal(err)
	}
	return "v1," + base64.StdEncoding.EncodeToString(flipByte(b, 3))
}

func TestChangeTowerStandardWebhooks(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 30, 14, 5, 20, 0, time.UTC)
	sgn := func(body []byte, ts time.Time, secrets ...string) http.Header {
		h, err := sign.StandardWebhooks("msg_2Xk9", ts, body, secrets...)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	valid := sgn(ctBody, now, ctSecret)
	cases := []struct {
		name    string
		secrets []any
		body    []byte
		header  http.Header
		status  int
		keyIdx  int
	}{
		{"valid", []any{ctSecret}, ctBody, valid, 0, 0},
		{"one body byte changed", []any{ctSecret}, flipByte(ctBody, 40), valid, 401, 0},
		{"one signature byte changed", []any{ctSecret}, ctBody, with(valid, "webhook-signature", flipSig(t, valid.Get("webhook-signature"))), 401, 0},
		{"id changed", []any{ctSecret}, ctBody, with(valid, "webhook-id", "msg_other"), 401, 0},
		{"wrong secret", []any{ctSecret}, ctBody, sgn(ctBody, now, ctOther), 401, 0},
		{"missing signature header", []any{ctSecret}, ctBody, without(valid, "webhook-signature"), 401, 0},
		{"missing timestamp header", []any{ctSecret}, ctBody, without(valid, "webhook-timestamp"), 401, 0},
		{"missing id header", []any{ctSecret}, ctBody, without(valid, "webhook-id"), 401, 0},
		{"no headers at all", []any{ctSecret}, ctBody, http.Header{}, 401, 0},
		{"stale timestamp", []any{ctSecret}, ctBody, sgn(ctBody, now.Add(-5*time.Minute-time.Second), ctSecret), 401, 0},
		{"future timestamp", []any{ctSecret}, ctBody, sgn(ctBody, now.Add(5*time.Minute+time.Second), ctSecret), 401, 0},
		{"just inside tolerance (past)", []any{ctSecret}, ctBody, sgn(ctBody, now.Add(-5*time.Minute), ctSecret), 0, 0},
		{"just inside tolerance (future)", []any{ctSecret}, ctBody, sgn(ctBody, now.Add(5*time.Minute), ctSecret), 0, 0},
		{"rotation: new secret", []any{ctSecret, ctOldSecret}, ctBody, sgn(ctBody, now, ctSecret), 0, 0},
		{"rotation: old secret", []any{ctSecret, ctOldSecret}, ctBody, sgn(ctBody, now, ctOldSecret), 0, 1},
		{"rotation: sender signs with both", []any{ctOldSecret}, ctBody, sgn(ctBody, now, ctSecret, ctOldSecret), 0, 0},
		{"svix header names", []any{ctSecret}, ctBody, http.Header{"Svix-Id": valid["Webhook-Id"], "Svix-Timestamp": valid["Webhook-Timestamp"], "Svix-Signature": valid["Webhook-Signature"]}, 0, 0},
		{"malformed JSON, validly signed", []any{ctSecret}, []byte(`{"type": "x",}`), sgn([]byte(`{"type": "x",}`), now, ctSecret), 400, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := mustNew(t, "changetower", map[string]any{"source": "changetower", "secrets": tc.secrets})
			setNow(t, s, now)
			ev, err := s.Receive(request(tc.body, tc.header), tc.body)
			wantStatus(t, err, tc.status, ctSecret, ctOldSecret, strings.TrimPrefix(ctSecret, "whsec_"))
			if tc.status != 0 {
				return
			}
			if !ev.Verification.Verified || ev.Verification.KeyIndex != tc.keyIdx || ev.Verification.Scheme != "standard-webhooks" {
				t.Errorf("verification = %+v, want verified with key %d", ev.Verification, tc.keyIdx)
			}
			if ev.ID != "msg_2Xk9" || ev.Type != ChangeTowerEventType || ev.Unsigned || ev.Capture || ev.Ignore != "" {
				t.Errorf("event = id %q type %q unsigned %v capture %v ignore %q", ev.ID, ev.Type, ev.Unsigned, ev.Capture, ev.Ignore)
			}
			if !ev.OccurredAt.Equal(time.Date(2026, 11, 30, 14, 5, 12, 0, time.UTC)) {
				t.Errorf("OccurredAt = %v", ev.OccurredAt)
			}
		})
	}
}

// TestChangeTowerUnicode checks non-ASCII names pass byte for byte, in Raw
// and in the decoded payload.
func TestChangeTowerUnicode(t *testing.T) {
	t.Parallel()
	now := time.Now()
	s := mustNew(t, "changetower", map[string]any{"secret": ctSecret})
	h, _ := sign.StandardWebhooks("msg_u", now, ctBody, ctSecret)
	ev, err := s.Receive(request(ctBody, h), ctBody)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(ev.Raw, ctBody) {
		t.Fatal("Raw differs from the bytes received")
	}
	for path, want := range map[string]string{
		"data.monitor.owner.first_name": "José",
		"data.monitor.owner.last_name":  "Müller 😀",
		"data.monitor.name":             "José — Müller 😀 pricing",
	} {
		if got := lookupString(ev.Payload, path); got != want {
			t.Errorf("%s = %q, want %q", path, got, want)
		}
	}
	if !bytes.Contains(ev.Raw, []byte("Müller 😀")) {
		t.Error("Raw lost the UTF-8 bytes of Müller 😀")
	}
	n, _ := Lookup(ev.Payload, "data.notification.change_percentage")
	if n != json.Number("12.4") {
		t.Errorf("number decoded as %#v, want json.Number 12.4", n)
	}
}

func TestChangeTowerPlainScheme(t *testing.T) {
	t.Parallel()
	const secret = "ct-plain-secret-1"
	const old = "ct-plain-secret-0"
	cases := []struct {
		name     string
		cfg      map[string]any
		header   http.Header
		body     []byte
		status   int
		keyIndex int
	}{
		{"hex default", map[string]any{"header": "X-Signature"}, sign.Plain("X-Signature", secret, ctBody, "hex", ""), ctBody, 0, 0},
		{"hex upper case header name in config", map[string]any{"header": "x-changetower-signature"}, sign.Plain("X-Changetower-Signature", secret, ctBody, "hex", ""), ctBody, 0, 0},
		{"base64", map[string]any{"header": "X-Signature", "encoding": "base64"}, sign.Plain("X-Signature", secret, ctBody, "base64", ""), ctBody, 0, 0},
		{"hex with prefix", map[string]any{"header": "X-Signature", "prefix": "sha256="}, sign.Plain("X-Signature", secret, ctBody, "hex", "sha256="), ctBody, 0, 0},
		{"base64 with prefix", map[string]any{"header": "X-Sig", "encoding": "base64", "prefix": "sha256="}, sign.Plain("X-Sig", secret, ctBody, "base64", "sha256="), ctBody, 0, 0},
		{"prefix missing", map[string]any{"header": "X-Signature", "prefix": "sha256="}, sign.Plain("X-Signature", secret, ctBody, "hex", ""), ctBody, 401, 0},
		{"hex sent, base64 configured", map[string]any{"header": "X-Signature", "encoding": "base64"}, sign.Plain("X-Signature", secret, ctBody, "hex", ""), ctBody, 401, 0},
		{"one byte changed", map[string]any{"header": "X-Signature"}, sign.Plain("X-Signature", secret, ctBody, "hex", ""), flipByte(ctBody, 100), 401, 0},
		{"wrong secret", map[string]any{"header": "X-Signature"}, sign.Plain("X-Signature", "not-the-secret", ctBody, "hex", ""), ctBody, 401, 0},
		{"missing header", map[string]any{"header": "X-Signature"}, sign.Plain("X-Other", secret, ctBody, "hex", ""), ctBody, 401, 0},
		{"rotation: old secret", map[string]any{"header": "X-Signature", "secrets": []any{secret, old}}, sign.Plain("X-Signature", old, ctBody, "hex", ""), ctBody, 0, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := map[string]any{"scheme": "hmac", "secret": secret}
			for k, v := range tc.cfg {
				cfg[k] = v
			}
			if _, ok := tc.cfg["secrets"]; ok {
				delete(cfg, "secret")
			}
			s := mustNew(t, "changetower", cfg)
			ev, err := s.Receive(request(tc.body, tc.header), tc.body)
			wantStatus(t, err, tc.status, secret, old)
			if tc.status != 0 {
				return
			}
			if ev.Verification.Scheme != "hmac-sha256" || ev.Verification.KeyIndex != tc.keyIndex {
				t.Errorf("verification %+v", ev.Verification)
			}
			// Under the plain scheme the signed payload id wins.
			if ev.ID != "ntf_7Hq2" {
				t.Errorf("ID = %q, want the payload's notification id", ev.ID)
			}
		})
	}
}

func TestChangeTowerCapture(t *testing.T) {
	t.Parallel()
	const secret = "capture-plain-secret"
	s := mustNew(t, "changetower", map[string]any{"capture": true, "secret": secret})
	body := append([]byte(nil), ctBody...)
	h := merge(sign.Plain("X-CT-Signature", secret, body, "hex", "sha256="), http.Header{
		"Authorization": {"Bearer abc.def"},
		"X-Api-Token":   {"tok"},
		"X-Echo":        {"echo " + secret},
		"User-Agent":    {"ChangeTower-Webhooks/1.0"},
	})
	ev, err := s.Receive(request(body, h), body)
	if err != nil {
		t.Fatalf("capture mode must not reject: %v", err)
	}
	if !ev.Capture || ev.Verification.Verified {
		t.Fatalf("capture %v verified %v; want capture, unverified (configured standard-webhooks does not match)", ev.Capture, ev.Verification.Verified)
	}
	d := ev.Verification.Detail
	for _, want := range []string{"missing webhook-signature", `header X-Ct-Signature matches HMAC-SHA256 of the body, hex, prefix "sha256="`, "secret #1 as written"} {
		if !strings.Contains(d, want) {
			t.Errorf("detail %q lacks %q", d, want)
		}
	}
	wantHeaders := map[string]string{
		"authorization":  Redacted,
		"x-api-token":    Redacted,
		"x-echo":         Redacted,
		"user-agent":     "ChangeTower-Webhooks/1.0",
		"x-ct-signature": h.Get("X-Ct-Signature"),
		"content-type":   "application/json",
	}
	if diff := cmp.Diff(wantHeaders, ev.Headers); diff != "" {
		t.Errorf("captured headers (-want +got):\n%s", diff)
	}
	if strings.Contains(d, secret) {
		t.Error("detail leaks the secret")
	}
	if ev.Payload == nil || lookupString(ev.Payload, "data.monitor.owner.last_name") != "Müller 😀" {
		t.Error("capture lost the payload")
	}

	// Malformed, unsigned bodies are recorded too, with the problem named.
	bad := []byte("{\"a\": 1,\n \"b\": }")
	ev, err = s.Receive(request(bad), bad)
	if err != nil || !ev.Capture || ev.Payload != nil || !bytes.Equal(ev.Raw, bad) {
		t.Fatalf("malformed capture: %+v, %v", ev, err)
	}
	if !strings.Contains(ev.Verification.Detail, "line 2, column 7") {
		t.Errorf("detail %q does not locate the JSON error", ev.Verification.Detail)
	}

	// A configured secret that shows up in a captured body is redacted.
	leak := []byte(`{"echo": "` + secret + `"}`)
	ev, _ = s.Receive(request(leak), leak)
	if bytes.Contains(ev.Raw, []byte(secret)) || !bytes.Contains(ev.Raw, []byte(Redacted)) {
		t.Errorf("captured body not redacted: %s", ev.Raw)
	}
}

func TestChangeTowerCaptureStandard(t *testing.T) {
	t.Parallel()
	s := mustNew(t, "changetower", map[string]any{"capture": true, "secret": ctSecret})
	h, _ := sign.StandardWebhooks("msg_cap", time.Now(), ctBody, ctSecret)
	ev, err := s.Receive(request(ctBody, h), ctBody)
	if err != nil || !ev.Capture || !ev.Verification.Verified || ev.ID != "msg_cap" {
		t.Fatalf("ev %+v err %v", ev.Verification, err)
	}
	if !strings.Contains(ev.Verification.Detail, "standard-webhooks matches with secret #1 base64-decoded") {
		t.Errorf("detail %q", ev.Verification.Detail)
	}
}

func TestChangeTowerUnsignedAndTypes(t *testing.T) {
	t.Parallel()
	s := mustNew(t, "changetower", map[string]any{"unsigned": true})
	ev, err := s.Receive(request(ctBody), ctBody)
	if err != nil || !ev.Unsigned || ev.Verification.Scheme != "none" || ev.ID != "ntf_7Hq2" {
		t.Fatalf("unsigned: %+v %v", ev, err)
	}
	other := []byte(`{"type": "monitor.paused", "data": {}}`)
	s = mustNew(t, "changetower", map[string]any{"unsigned": true, "types": []any{ChangeTowerEventType}})
	ev, err = s.Receive(request(other), other)
	if err != nil || ev.Ignore == "" || ev.Type != "monitor.paused" {
		t.Fatalf("filtered: %+v %v", ev, err)
	}
	ev, _ = s.Receive(request(ctBody), ctBody)
	if ev.Ignore != "" {
		t.Fatalf("wanted type not run: %q", ev.Ignore)
	}
}
