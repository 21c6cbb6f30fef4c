package source

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"net/http"
	"testing"
	"time"

	"github.com/ghlsync/ghlsync/internal/source/sign"
)

func benchReceive(b *testing.B, s Source, body []byte, h http.Header) {
	b.Helper()
	r := request(body, h)
	if _, err := s.Receive(r, body); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := s.Receive(r, body); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkReceiveChangeTower(b *testing.B) {
	s, _ := New("changetower", map[string]any{"secret": ctSecret}, nil)
	h, _ := sign.StandardWebhooks("msg_b", time.Now(), ctBody, ctSecret)
	benchReceive(b, s, ctBody, h)
}

func BenchmarkReceiveGeneric(b *testing.B) {
	s, _ := New("generic", map[string]any{"secret": genSecret}, nil)
	benchReceive(b, s, genBody, sign.Generic(genSecret, time.Now(), genBody))
}

func BenchmarkReceiveGHLEd25519(b *testing.B) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	s, _ := New("ghl", map[string]any{"ed25519_public_keys": base64.StdEncoding.EncodeToString(pub)}, nil)
	body, _ := sign.GHLPayload([]byte(`{"type":"ContactCreate","id":"c1","firstName":"José"}`), "w1", time.Now())
	benchReceive(b, s, body, sign.GHLEd25519(priv, body))
}

func BenchmarkReceiveGHLRSA4096(b *testing.B) {
	key, _ := rsa.GenerateKey(rand.Reader, 4096) // GHL's key size
	s, _ := New("ghl", map[string]any{"rsa_public_keys": pemPublicB(b, &key.PublicKey)}, nil)
	body, _ := sign.GHLPayload([]byte(`{"type":"ContactCreate","id":"c1","firstName":"José"}`), "w1", time.Now())
	h, _ := sign.GHLRSA(key, body)
	benchReceive(b, s, body, h)
}
