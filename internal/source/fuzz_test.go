package source

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/ghlsync/ghlsync/internal/source/sign"
)

// fuzzReceive feeds arbitrary bodies and header values to a source: it must
// never panic, and every rejection must be a *Error with a 4xx status.
func fuzzReceive(f *testing.F, s Source, header string, seeds ...[]byte) {
	for _, b := range seeds {
		f.Add(b, "")
	}
	f.Add([]byte(`{"type":`), "v1,AAAA")
	f.Add([]byte("\xff\xfe{}"), "sha256=zz")
	f.Add([]byte(`[]`), "")
	f.Fuzz(func(t *testing.T, body []byte, sig string) {
		r := request(body, http.Header{header: {sig}, "Webhook-Id": {"x"}, "Webhook-Timestamp": {"1796047512"}})
		ev, err := s.Receive(r, body)
		if err != nil {
			var se *Error
			if !errors.As(err, &se) || se.Status < 400 || se.Status > 499 {
				t.Fatalf("error %v is not a 4xx *Error", err)
			}
			return
		}
		if ev.Payload == nil && !ev.Capture {
			t.Fatal("accepted event without payload")
		}
	})
}

func FuzzReceiveChangeTower(f *testing.F) {
	s, _ := New("changetower", map[string]any{"unsigned": true}, nil)
	fuzzReceive(f, s, "Webhook-Signature", ctBody, []byte(`{"type":"monitor.notification.created","timestamp":1796047512,"data":{"notification":{"id":7}}}`))
}

func FuzzReceiveChangeTowerCapture(f *testing.F) {
	s, _ := New("changetower", map[string]any{"capture": true, "secret": ctSecret}, nil)
	fuzzReceive(f, s, "X-Signature", ctBody)
}

func FuzzReceiveChangeTowerSigned(f *testing.F) {
	s, _ := New("changetower", map[string]any{"secret": ctSecret}, nil)
	setNowF(s, time.Unix(1796047512, 0))
	h, _ := sign.StandardWebhooks("x", time.Unix(1796047512, 0), ctBody, ctSecret)
	f.Add(ctBody, h.Get("webhook-signature"))
	fuzzReceive(f, s, "Webhook-Signature", ctBody)
}

func FuzzReceiveGeneric(f *testing.F) {
	s, _ := New("generic", map[string]any{"unsigned": true}, nil)
	fuzzReceive(f, s, "X-Ghlsync-Signature", genBody, []byte(`{"id":null,"type":"note.created","occurred_at":-1,"data":{}}`))
}

func FuzzReceiveGenericSigned(f *testing.F) {
	s, _ := New("generic", map[string]any{"secret": genSecret}, nil)
	f.Add(genBody, sign.Generic(genSecret, time.Time{}, genBody).Get("X-Ghlsync-Signature"))
	fuzzReceive(f, s, "X-Ghlsync-Signature", genBody)
}

func FuzzReceiveGHL(f *testing.F) {
	pub, priv, _ := ed25519.GenerateKey(nil)
	s, _ := New("ghl", map[string]any{"ed25519_public_keys": base64.StdEncoding.EncodeToString(pub)}, nil)
	body := []byte(`{"type":"ContactCreate","timestamp":"2026-11-30T14:05:12.000Z","webhookId":"w1"}`)
	f.Add(body, sign.GHLEd25519(priv, body).Get("x-ghl-signature"))
	fuzzReceive(f, s, "X-Ghl-Signature", body)
}

func FuzzReceiveGHLUnsigned(f *testing.F) {
	s, _ := New("ghl", map[string]any{"unsigned": true, "types": []any{"ContactCreate"}}, nil)
	fuzzReceive(f, s, "X-Wh-Signature", []byte(`{"type":"SMS","timestamp":99999999999999999999}`), []byte(`{"timestamp":"x"}`))
}

func setNowF(s Source, now time.Time) {
	if c, ok := s.(*changeTower); ok {
		c.now = func() time.Time { return now }
	}
}
