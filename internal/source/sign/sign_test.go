package sign

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestGHLPayload(t *testing.T) {
	t.Parallel()
	ts := time.Date(2026, 11, 30, 14, 5, 12, 345e6, time.FixedZone("X", 3600))
	for in, want := range map[string]string{
		`{"type":"ContactCreate","name":"Müller 😀"}`: `{"type":"ContactCreate","name":"Müller 😀","timestamp":"2026-11-30T13:05:12.345Z","webhookId":"w\"1"}`,
		"{}\n": `{"timestamp":"2026-11-30T13:05:12.345Z","webhookId":"w\"1"}`,
	} {
		got, err := GHLPayload([]byte(in), `w"1`, ts)
		if err != nil || string(got) != want {
			t.Errorf("GHLPayload(%s) = %s, %v", in, got, err)
		}
		if !json.Valid(got) {
			t.Errorf("invalid JSON %s", got)
		}
	}
	if _, err := GHLPayload([]byte(`[1]`), "w", ts); err == nil {
		t.Error("array accepted")
	}
}

func TestStandardWebhooksRotation(t *testing.T) {
	t.Parallel()
	h, err := StandardWebhooks("msg_p5jXN8AQM9LWM0D4loKWxJek", time.Unix(1614265330, 0), []byte(`{"test": 2432232314}`),
		"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	if err != nil {
		t.Fatal(err)
	}
	sigs := strings.Fields(h.Get("webhook-signature"))
	if len(sigs) != 2 || sigs[0] != "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=" || h.Get("webhook-timestamp") != "1614265330" {
		t.Fatalf("headers %v", h)
	}
	if _, err := StandardWebhooks("x", time.Now(), nil); err == nil {
		t.Error("no secret accepted")
	}
	if _, err := StandardSignature("whsec_!!", "x", time.Now(), nil); err == nil {
		t.Error("bad whsec accepted")
	}
}

func TestGenericAndPlain(t *testing.T) {
	t.Parallel()
	// Known answer: HMAC-SHA256("key", "The quick brown fox jumps over the lazy dog").
	body := []byte("The quick brown fox jumps over the lazy dog")
	const want = "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"
	if got := Generic("key", time.Time{}, body).Get("X-Ghlsync-Signature"); got != "sha256="+want {
		t.Errorf("Generic = %s", got)
	}
	if got := Plain("X-Sig", "key", body, "hex", "").Get("X-Sig"); got != want {
		t.Errorf("Plain hex = %s", got)
	}
	if got := HMAC("key", body, "base64", "sha256="); got != "sha256=97yD9DBThCSxMpjmqm+xQ+9NWaFJRhdZl0edvC0aPNg=" {
		t.Errorf("HMAC base64 = %s", got)
	}
	h := Generic("key", time.Unix(1700000000, 0), body)
	if h.Get("X-Ghlsync-Timestamp") != "1700000000" || h.Get("X-Ghlsync-Signature") == "sha256="+want {
		t.Errorf("timestamped signature must cover the timestamp: %v", h)
	}
}
