package source

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestNames(t *testing.T) {
	t.Parallel()
	if diff := cmp.Diff([]string{"changetower", "generic", "ghl"}, Names()); diff != "" {
		t.Fatal(diff)
	}
	if _, err := New("zapier", nil, nil); err == nil || !strings.Contains(err.Error(), "changetower, generic, ghl") {
		t.Fatalf("unknown source: %v", err)
	}
}

func TestConfigErrors(t *testing.T) {
	t.Setenv("GHLSYNC_TEST_CT_SECRET", "")
	const literal = "whsec_c3VwZXItc2VjcmV0LWxpdGVyYWwtdmFsdWU="
	cases := []struct {
		name, source string
		cfg          map[string]any
		want         string
	}{
		{"missing secret", "changetower", map[string]any{}, "secret: required"},
		{"misspelt key", "changetower", map[string]any{"secret": literal, "tolerence": "5m"}, `unknown key "tolerence"`},
		{"unset env", "changetower", map[string]any{"secret": "env:GHLSYNC_TEST_CT_SECRET"}, "secret #1 (env:GHLSYNC_TEST_CT_SECRET): environment variable GHLSYNC_TEST_CT_SECRET is not set"},
		{"unknown ref scheme", "generic", map[string]any{"secret": "vault:ct"}, `unknown secret reference scheme "vault"`},
		{"bad whsec", "changetower", map[string]any{"secret": "whsec_***"}, "secret #1: a whsec_ secret must be followed by base64"},
		{"bad scheme", "changetower", map[string]any{"secret": literal, "scheme": "hmac-sha1"}, "scheme: want standard-webhooks or hmac"},
		{"hmac without header", "changetower", map[string]any{"secret": "x", "scheme": "hmac"}, "needs header:"},
		{"hmac bad encoding", "changetower", map[string]any{"secret": "x", "scheme": "hmac", "header": "X-S", "encoding": "b32"}, "encoding: want hex or base64"},
		{"header without hmac", "changetower", map[string]any{"secret": literal, "header": "X-S"}, "header is only used with scheme: hmac"},
		{"unsigned with secret", "generic", map[string]any{"secret": literal, "unsigned": true}, "unsigned: true and a secret"},
		{"capture and unsigned", "changetower", map[string]any{"capture": true, "unsigned": true}, "cannot be combined"},
		{"bad tolerance", "generic", map[string]any{"secret": "x", "tolerance": "soon"}, `tolerance: "soon" is not a duration`},
		{"negative tolerance", "generic", map[string]any{"secret": "x", "tolerance": -5}, "tolerance: must be positive"},
		{"unknown generic type", "generic", map[string]any{"secret": "x", "types": []any{"contact.deleted"}}, `types[0]: unknown event type "contact.deleted"`},
		{"secret not a string", "generic", map[string]any{"secret": 42}, "secret: want a string"},
		{"ghl rsa key given as ed25519", "ghl", map[string]any{"ed25519_public_keys": GHLRSAPublicKey}, "ed25519_public_keys[0]: is a RSA key, not Ed25519"},
		{"ghl garbage key", "ghl", map[string]any{"rsa_public_keys": "hello"}, "rsa_public_keys[0]: not a PEM, base64 or hex public key"},
		{"ghl unsigned with keys", "ghl", map[string]any{"unsigned": true, "rsa_public_keys": "default"}, "unsigned: true and public keys"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.source, tc.cfg, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
			if strings.Contains(err.Error(), literal) || strings.Contains(err.Error(), strings.TrimPrefix(literal, "whsec_")) {
				t.Fatalf("error leaks the literal secret: %v", err)
			}
		})
	}
}

func TestSecretLookup(t *testing.T) {
	t.Setenv("GHLSYNC_TEST_SECRET", "from-env")
	dir := t.TempDir()
	path := filepath.Join(dir, "s")
	if err := os.WriteFile(path, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for ref, want := range map[string]string{
		"env:GHLSYNC_TEST_SECRET": "from-env",
		"file:" + path:            "from-file",
		"literal:a:b":             "a:b",
		"whsec_abc":               "whsec_abc",
	} {
		got, err := DefaultSecretLookup(ref)
		if err != nil || got != want {
			t.Errorf("%s: %q %v", ref, got, err)
		}
	}
	// A custom lookup (the vault) gets the reference as written.
	var asked []string
	lookup := func(ref string) (string, error) { asked = append(asked, ref); return "vault-value", nil }
	if _, err := New("generic", map[string]any{"secrets": []any{"vault:generic/new", "vault:generic/old"}}, lookup); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"vault:generic/new", "vault:generic/old"}, asked); diff != "" {
		t.Error(diff)
	}
}

func TestDecodeJSON(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, body, want string
	}{
		{"trailing comma", "{\n  \"a\": 1,\n}", "line 3, column 1"},
		{"unterminated", `{"a": "José`, "ends early"},
		{"array", `[1,2]`, "the body is an array, want an object"},
		{"string", `"x"`, "the body is a string"},
		{"empty", "  \n", "the body is empty"},
		{"two values", `{"a":1} {"b":2}`, "unexpected data after the top-level value at line 1, column 9"},
		{"invalid utf-8", "{\"name\": \"Jos\xe9\"}", "invalid UTF-8 at line 1, column 14 (byte offset 13)"},
		{"column counts characters", "{\"name\": \"Müller 😀\" x}", "line 1, column 21"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := DecodeJSON([]byte(tc.body))
			wantStatus(t, err, 400)
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("%v, want %q", err, tc.want)
			}
		})
	}
	m, err := DecodeJSON([]byte("\xef\xbb\xbf{\"n\": 9007199254740993, \"s\": \"Müller 😀\\u00e9\"}"))
	if err != nil {
		t.Fatal(err)
	}
	if m["n"] != json.Number("9007199254740993") || m["s"] != "Müller 😀é" {
		t.Fatalf("decoded %#v", m)
	}
}

func TestReadBody(t *testing.T) {
	t.Parallel()
	big := bytes.Repeat([]byte("a"), 101)
	r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(big))
	_, err := ReadBody(r, 100)
	wantStatus(t, err, 413)
	// A lying (absent) Content-Length is caught while reading.
	r = httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(big))
	r.ContentLength = -1
	_, err = ReadBody(r, 100)
	wantStatus(t, err, 413)
	r = httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(big[:100]))
	b, err := ReadBody(r, 100)
	if err != nil || len(b) != 100 {
		t.Fatalf("at the limit: %d %v", len(b), err)
	}
}

func TestHeadersRedacted(t *testing.T) {
	t.Parallel()
	h := http.Header{
		"Authorization":   {"Bearer x"},
		"X-Session-Id":    {"s"},
		"Webhook-Id":      {"msg_1"},
		"X-Forwarded-For": {"10.0.0.1"},
		"X-Reflect":       {"abc super-secret-value def"},
	}
	got := recordHeaders(h, nil, secretForms([]string{"super-secret-value"}))
	want := map[string]string{"authorization": Redacted, "x-session-id": Redacted, "webhook-id": "msg_1", "x-forwarded-for": "10.0.0.1", "x-reflect": Redacted}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatal(diff)
	}
}

func TestCheck(t *testing.T) {
	t.Parallel()
	// References are not resolved: none of these variables exist.
	for _, tc := range []struct {
		name string
		cfg  map[string]any
	}{
		{"changetower", map[string]any{"secrets": []any{"env:GHLSYNC_NOT_SET_1", "vault:ct/old"}}},
		{"changetower", map[string]any{"scheme": "hmac", "header": "X-S", "secret": "file:/nonexistent"}},
		{"generic", map[string]any{"secret": "env:GHLSYNC_NOT_SET_2", "types": []any{"contact.created"}}},
		{"ghl", map[string]any{"ed25519_public_keys": "env:GHLSYNC_NOT_SET_3", "rsa_public_keys": []any{"default", "file:/nonexistent.pem"}}},
	} {
		if err := Check(tc.name, tc.cfg); err != nil {
			t.Errorf("Check(%s, %v): %v", tc.name, tc.cfg, err)
		}
	}
	// Mistakes are still found.
	for _, tc := range []struct {
		name string
		cfg  map[string]any
		want string
	}{
		{"changetower", map[string]any{"secret": "env:X", "schema": "hmac"}, `unknown key "schema"`},
		{"changetower", map[string]any{"secret": "whsec_%%%"}, "whsec_ secret must be followed by base64"},
		{"ghl", map[string]any{"types": []any{"contactcreate"}}, `did you mean "ContactCreate"`},
		{"ghl", map[string]any{"ed25519_public_keys": "not a key"}, "not a PEM"},
		{"generic", map[string]any{}, "secret: required"},
	} {
		err := Check(tc.name, tc.cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Check(%s, %v) = %v, want %q", tc.name, tc.cfg, err, tc.want)
		}
	}
}
