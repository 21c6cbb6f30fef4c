package source

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ghlsync/ghlsync/internal/source/sign"
)

type ghlKeys struct {
	ed, edOld     ed25519.PrivateKey
	rsa, rsaOther *rsa.PrivateKey
}

var (
	testKeysOnce sync.Once
	testKeys     ghlKeys
)

// keys generates the test key pairs once per test binary.
func keys(t *testing.T) ghlKeys {
	t.Helper()
	testKeysOnce.Do(func() {
		_, testKeys.ed, _ = ed25519.GenerateKey(rand.Reader)
		_, testKeys.edOld, _ = ed25519.GenerateKey(rand.Reader)
		testKeys.rsa, _ = rsa.GenerateKey(rand.Reader, 2048)
		testKeys.rsaOther, _ = rsa.GenerateKey(rand.Reader, 2048)
	})
	return testKeys
}

func pemPublic(t *testing.T, pub any) string {
	t.Helper()
	return pemPublicB(t, pub)
}

func pemPublicB(t testing.TB, pub any) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

func ghlBody(t *testing.T, ts time.Time) []byte {
	t.Helper()
	b, err := sign.GHLPayload([]byte(`{"type":"ContactCreate","locationId":"sbx-location-1","id":"c_1","email":"jose@example.com","firstName":"José","lastName":"Müller 😀","customFields":[{"id":"f1","value":1234.50}]}`), "wh_01HZX", ts)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestGHLSignatures(t *testing.T) {
	t.Parallel()
	k := keys(t)
	now := time.Date(2026, 11, 30, 14, 5, 20, 0, time.UTC)
	body := ghlBody(t, now.Add(-3*time.Second))
	edPub := base64.StdEncoding.EncodeToString(k.ed.Public().(ed25519.PublicKey))
	edOldPub := pemPublic(t, k.edOld.Public())
	rsaPub := pemPublic(t, &k.rsa.PublicKey)
	rsaSig := func(key *rsa.PrivateKey, b []byte) http.Header {
		h, err := sign.GHLRSA(key, b)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	edCfg := map[string]any{"ed25519_public_keys": []any{edPub}}
	both := map[string]any{"ed25519_public_keys": []any{edPub, edOldPub}, "rsa_public_keys": []any{rsaPub}}
	cases := []struct {
		name   string
		cfg    map[string]any
		body   []byte
		header http.Header
		status int
		scheme string
		keyIdx int
	}{
		{"ed25519 valid", edCfg, body, sign.GHLEd25519(k.ed, body), 0, "ed25519", 0},
		{"ed25519 one byte changed", edCfg, flipByte(body, 20), sign.GHLEd25519(k.ed, body), 401, "", 0},
		{"ed25519 wrong key", edCfg, body, sign.GHLEd25519(k.edOld, body), 401, "", 0},
		{"ed25519 rotation: old key", both, body, sign.GHLEd25519(k.edOld, body), 0, "ed25519", 1},
		{"ed25519 garbage", edCfg, body, http.Header{"X-Ghl-Signature": {"not base64!"}}, 401, "", 0},
		{"ed25519 key as hex", map[string]any{"ed25519_public_keys": hex.EncodeToString(k.ed.Public().(ed25519.PublicKey))}, body, sign.GHLEd25519(k.ed, body), 0, "ed25519", 0},
		{"ed25519 PEM with escaped newlines", map[string]any{"ed25519_public_keys": strings.ReplaceAll(pemPublic(t, k.ed.Public()), "\n", `\n`)}, body, sign.GHLEd25519(k.ed, body), 0, "ed25519", 0},
		{"x-ghl-signature present but no Ed25519 key", map[string]any{"rsa_public_keys": rsaPub}, body, merge(sign.GHLEd25519(k.ed, body), rsaSig(k.rsa, body)), 401, "", 0},
		{"no fallback: bad x-ghl-signature, good x-wh-signature", both, body, merge(sign.GHLEd25519(k.edOld, flipByte(body, 3)), rsaSig(k.rsa, body)), 401, "", 0},
		{"rsa valid", both, body, rsaSig(k.rsa, body), 0, "rsa-sha256", 0},
		{"rsa one byte changed", both, flipByte(body, 50), rsaSig(k.rsa, body), 401, "", 0},
		{"rsa wrong key", both, body, rsaSig(k.rsaOther, body), 401, "", 0},
		{"rsa rotation", map[string]any{"rsa_public_keys": []any{"default", rsaPub}}, body, rsaSig(k.rsa, body), 0, "rsa-sha256", 1},
		{"rsa default key rejects a test signature", map[string]any{}, body, rsaSig(k.rsa, body), 401, "", 0},
		{"missing both headers", both, body, http.Header{}, 401, "", 0},
		{"stale timestamp", edCfg, ghlBody(t, now.Add(-5*time.Minute-time.Second)), sign.GHLEd25519(k.ed, ghlBody(t, now.Add(-5*time.Minute-time.Second))), 401, "", 0},
		{"future timestamp", edCfg, ghlBody(t, now.Add(5*time.Minute+time.Second)), sign.GHLEd25519(k.ed, ghlBody(t, now.Add(5*time.Minute+time.Second))), 401, "", 0},
		{"longer tolerance", map[string]any{"ed25519_public_keys": edPub, "tolerance": "15m"}, ghlBody(t, now.Add(-10*time.Minute)), sign.GHLEd25519(k.ed, ghlBody(t, now.Add(-10*time.Minute))), 0, "ed25519", 0},
		{"malformed JSON", edCfg, []byte(`{"type":"ContactCreate",`), sign.GHLEd25519(k.ed, []byte(`{"type":"ContactCreate",`)), 400, "", 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := mustNew(t, "ghl", tc.cfg)
			setNow(t, s, now)
			ev, err := s.Receive(request(tc.body, tc.header), tc.body)
			wantStatus(t, err, tc.status)
			if tc.status != 0 {
				return
			}
			if ev.Verification.Scheme != tc.scheme || !ev.Verification.Verified || ev.Verification.KeyIndex != tc.keyIdx {
				t.Errorf("verification %+v, want %s key %d", ev.Verification, tc.scheme, tc.keyIdx)
			}
			if ev.ID != "wh_01HZX" || ev.Type != "ContactCreate" {
				t.Errorf("id %q type %q", ev.ID, ev.Type)
			}
			if !bytes.Equal(ev.Raw, tc.body) || lookupString(ev.Payload, "lastName") != "Müller 😀" || lookupString(ev.Payload, "firstName") != "José" {
				t.Errorf("names not preserved")
			}
		})
	}
}

func TestGHLTypes(t *testing.T) {
	t.Parallel()
	if n := len(GHLEventTypes); n < 55 {
		t.Fatalf("only %d GHL event types", n)
	}
	seen := map[string]bool{}
	for _, typ := range GHLEventTypes {
		if seen[typ] {
			t.Errorf("duplicate type %s", typ)
		}
		seen[typ] = true
	}
	s := mustNew(t, "ghl", map[string]any{"unsigned": true, "types": []any{"ContactCreate", "ProviderOutboundMessage"}})
	for _, tc := range []struct {
		body, typ string
		ignored   bool
	}{
		{`{"type":"ContactCreate","id":"c1"}`, "ContactCreate", false},
		{`{"type":"ContactUpdate","id":"c1"}`, "ContactUpdate", true},
		{`{"type":"SMS","messageId":"m1","conversationProviderId":"p1"}`, "ProviderOutboundMessage", false},
		{`{"id":"rec_1","objectKey":"custom_objects.pets"}`, "", true},
		{`{"type":"SomethingNew2027"}`, "SomethingNew2027", true},
	} {
		ev, err := s.Receive(request([]byte(tc.body)), []byte(tc.body))
		if err != nil {
			t.Fatalf("%s: %v", tc.body, err)
		}
		if ev.Type != tc.typ || (ev.Ignore != "") != tc.ignored || !ev.Unsigned {
			t.Errorf("%s: type %q ignore %q unsigned %v", tc.body, ev.Type, ev.Ignore, ev.Unsigned)
		}
	}
	_, err := New("ghl", map[string]any{"unsigned": true, "types": []any{"ContactCreated"}}, nil)
	if err == nil || !strings.Contains(err.Error(), `did you mean "ContactCreate"`) {
		t.Errorf("typo in types: %v", err)
	}
}

func TestGHLDefaultKey(t *testing.T) {
	t.Parallel()
	k, err := ParsePublicKey(GHLRSAPublicKey)
	if err != nil {
		t.Fatal(err)
	}
	rk, ok := k.(*rsa.PublicKey)
	if !ok || rk.N.BitLen() != 4096 {
		t.Fatalf("GHL key: %T %d bits", k, rk.N.BitLen())
	}
}
