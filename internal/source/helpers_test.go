package source

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// setNow pins a source's clock.
func setNow(t *testing.T, s Source, now time.Time) {
	t.Helper()
	switch s := s.(type) {
	case *changeTower:
		s.now = func() time.Time { return now }
	case *generic:
		s.now = func() time.Time { return now }
	case *ghlSource:
		s.now = func() time.Time { return now }
	default:
		t.Fatalf("setNow: unknown source type %T", s)
	}
}

func mustNew(t *testing.T, name string, cfg map[string]any) Source {
	t.Helper()
	s, err := New(name, cfg, DefaultSecretLookup)
	if err != nil {
		t.Fatalf("New(%s): %v", name, err)
	}
	return s
}

func request(body []byte, headers ...http.Header) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/hooks/test", strings.NewReader(string(body)))
	r.Header.Set("Content-Type", "application/json")
	for _, h := range headers {
		for k, vs := range h {
			for _, v := range vs {
				r.Header.Add(k, v)
			}
		}
	}
	return r
}

// wantStatus checks err is a *Error with the given status (0 = success) and
// that no secret leaks into its message.
func wantStatus(t *testing.T, err error, status int, secrets ...string) {
	t.Helper()
	if status == 0 {
		if err != nil {
			t.Fatalf("want success, got %v", err)
		}
		return
	}
	var se *Error
	if !errors.As(err, &se) {
		t.Fatalf("want *source.Error %d, got %v", status, err)
	}
	if se.Status != status {
		t.Fatalf("want status %d, got %d (%s)", status, se.Status, se.Msg)
	}
	for _, s := range secrets {
		if s != "" && strings.Contains(err.Error(), s) {
			t.Fatalf("error message leaks a secret: %v", err)
		}
	}
}

// flipByte returns a copy of b with one byte changed.
func flipByte(b []byte, i int) []byte {
	c := append([]byte(nil), b...)
	c[i] ^= 0x01
	return c
}

func merge(hs ...http.Header) http.Header {
	out := http.Header{}
	for _, h := range hs {
		for k, vs := range h {
			for _, v := range vs {
				out.Add(k, v)
			}
		}
	}
	return out
}

func without(h http.Header, names ...string) http.Header {
	c := h.Clone()
	for _, n := range names {
		c.Del(n)
	}
	return c
}

func with(h http.Header, name, value string) http.Header {
	c := h.Clone()
	c.Set(name, value)
	return c
}
