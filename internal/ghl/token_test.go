package ghl

import (
	"context"
	"errors"
	"testing"
)

// legacyKey is shaped like a v1 location API key: a JWT whose claims are
// location_id, version, iat and sub (no authClass).
const legacyKey = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJsb2NhdGlvbl9pZCI6InZlOUVQTTQyOGg4dlNobFJXMUtUIiwidmVyc2lvbiI6MSwiaWF0IjoxNjUwMDAwMDAwMDAwLCJzdWIiOiJkazJyajNrZCJ9.c2lnbmF0dXJl"

// oauthToken is shaped like an API v2 OAuth access token (authClass claim).
const oauthToken = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJhdXRoQ2xhc3MiOiJMb2NhdGlvbiIsImF1dGhDbGFzc0lkIjoidmU5RVBNNDI4aDh2U2hsUlcxS1QiLCJzb3VyY2UiOiJJTlRFR1JBVElPTiIsInNvdXJjZUlkIjoiYWJjIiwiY2hhbm5lbCI6Ik9BVVRIIiwicHJpbWFyeUF1dGhDbGFzc0lkIjoidmU5RVBNNDI4aDh2U2hsUlcxS1QiLCJvYXV0aE1ldGEiOnsic2NvcGVzIjpbImNvbnRhY3RzLnJlYWRvbmx5Il19LCJpYXQiOjE3MDAwMDAwMDAsImV4cCI6MTcwMDA4NjQwMH0.c2lnbmF0dXJl"

func TestCheckToken(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		tok  string
		want error
	}{
		{"private integration token", "pit-2f1c9a1e-1111-2222-3333-444455556666", nil},
		{"sandbox token", "pit-sandbox-location", nil},
		{"v2 oauth jwt", oauthToken, nil},
		{"v1 location key", legacyKey, ErrLegacyAPIKey},
		{"v1 agency-style key", "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJjb21wYW55X2lkIjoieCIsInZlcnNpb24iOjF9.c2ln", ErrLegacyAPIKey},
		{"empty", "", ErrNoToken},
		{"pasted with newline", "pit-abc\ndef", errBadToken},
		{"three dots but not a jwt", "a.b.c", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if err := CheckToken(tc.tok); !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Errorf("CheckToken = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestStaticToken(t *testing.T) {
	t.Parallel()
	if tok, err := StaticToken("  pit-abc \n").Token(context.Background()); err != nil || tok != "pit-abc" {
		t.Errorf("Token = %q, %v", tok, err)
	}
	if _, err := StaticToken(legacyKey).Token(context.Background()); !errors.Is(err, ErrLegacyAPIKey) {
		t.Errorf("legacy key: err = %v", err)
	}
}
