package redact

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestJSON(t *testing.T) {
	t.Parallel()
	r := New("email", "Phone")
	tests := []struct {
		name, in, want string
	}{
		{"secrets by key at any depth",
			`{"a":{"access_token":"at-1","refreshToken":"rt","client_secret":"cs","nested":[{"Authorization":"Bearer x"}]},"ok":1}`,
			`{"a":{"access_token":"[redacted]","client_secret":"[redacted]","nested":[{"Authorization":"[redacted]"}],"refreshToken":"[redacted]"},"ok":1}`},
		{"configured PII fields, case-insensitive",
			`{"contact":{"email":"a@b.c","PHONE":"+1555","firstName":"José"}}`,
			`{"contact":{"PHONE":"[redacted]","email":"[redacted]","firstName":"José"}}`},
		{"GHL's lower-case copies",
			`{"email":"A@B.C","emailLowerCase":"a@b.c","firstNameLowerCase":"ana"}`,
			`{"email":"[redacted]","emailLowerCase":"[redacted]","firstNameLowerCase":"ana"}`},
		{"custom field items by key",
			`{"customFields":[{"key":"contact.email","field_value":"a@b.c"},{"key":"contact.resumo","field_value":"keep"}]}`,
			`{"customFields":[{"field_value":"[redacted]","key":"contact.email"},{"field_value":"keep","key":"contact.resumo"}]}`},
		{"bearer in free text", `{"msg":"sent Bearer abc.def-ghi to server"}`, `{"msg":"sent Bearer [redacted] to server"}`},
		{"numbers kept exactly", `{"n":12345678901234567890}`, `{"n":12345678901234567890}`},
		{"null secret stays null", `{"token":null}`, `{"token":null}`},
		{"not JSON", `Bearer abc123 oops`, `Bearer [redacted] oops`},
	}
	for _, tt := range tests {
		got := string(r.JSON([]byte(tt.in)))
		if got != tt.want {
			t.Errorf("%s:\n got %s\nwant %s", tt.name, got, tt.want)
		}
	}
}

func TestZeroRedactorMasksSecretsOnly(t *testing.T) {
	t.Parallel()
	var r *Redactor
	got := string(r.JSON([]byte(`{"email":"a@b.c","password":"p"}`)))
	if got != `{"email":"a@b.c","password":"[redacted]"}` {
		t.Errorf("got %s", got)
	}
}

func TestHeadersAndQuery(t *testing.T) {
	t.Parallel()
	r := New("email")
	h := r.Headers(map[string]string{"Authorization": "Bearer pit-123456", "webhook-signature": "v1,abc", "Content-Type": "application/json", "X-Api-Key": "k"})
	want := map[string]string{"Authorization": Mask, "webhook-signature": Mask, "Content-Type": "application/json", "X-Api-Key": Mask}
	if diff := cmp.Diff(want, h); diff != "" {
		t.Errorf("headers (-want +got):\n%s", diff)
	}
	q := r.Query(url.Values{"email": {"a@b.c"}, "locationId": {"loc"}, "token": {"t"}})
	if q.Get("email") != Mask || q.Get("token") != Mask || q.Get("locationId") != "loc" {
		t.Errorf("query = %v", q)
	}
}

func TestTextMasksGivenSecrets(t *testing.T) {
	t.Parallel()
	got := New().Text("refresh failed for pit-sandbox-location with Bearer zzz", "pit-sandbox-location")
	if strings.Contains(got, "pit-sandbox-location") || strings.Contains(got, "zzz") {
		t.Errorf("secret left in %q", got)
	}
}

func FuzzJSONNeverLeaksSecretValues(f *testing.F) {
	f.Add(`{"token":"SECRETVALUE"}`)
	f.Add(`{"a":[{"Authorization":"SECRETVALUE"}]}`)
	f.Fuzz(func(t *testing.T, in string) {
		out := New("email").JSON([]byte(in))
		var v any
		if json.Valid([]byte(in)) {
			if err := json.Unmarshal(out, &v); err != nil {
				t.Fatalf("redacted valid JSON became invalid: %s", out)
			}
			var walk func(any)
			walk = func(x any) {
				switch m := x.(type) {
				case map[string]any:
					for k, val := range m {
						if IsSecretKey(k) && val != nil && val != Mask {
							t.Fatalf("secret key %q kept value %v", k, val)
						}
						walk(val)
					}
				case []any:
					for _, e := range m {
						walk(e)
					}
				}
			}
			walk(v)
		}
	})
}
