package sandbox

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// The benchmarks measure raw throughput with rate limits off, over real
// HTTP on loopback (what a client sees) and straight into the handler (the
// sandbox's own cost). Results are recorded in docs/sandbox.md.

func benchServer(b *testing.B) (*Server, *httptest.Server) {
	b.Helper()
	sb, err := New(Options{RateLimit: RateLimitOptions{Disabled: true}})
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(sb)
	b.Cleanup(func() {
		srv.Close()
		sb.Close()
	})
	return sb, srv
}

func benchDo(b *testing.B, hc *http.Client, method, url, body string) {
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+locTok)
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode >= 300 {
		b.Fatalf("%s %s: %d", method, url, resp.StatusCode)
	}
}

var benchSeq atomic.Int64

// BenchmarkUpsert upserts distinct contacts over HTTP, in parallel.
func BenchmarkUpsert(b *testing.B) {
	_, srv := benchServer(b)
	hc := srv.Client()
	hc.Transport.(*http.Transport).MaxIdleConnsPerHost = 64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			n := benchSeq.Add(1)
			benchDo(b, hc, "POST", srv.URL+"/contacts/upsert",
				fmt.Sprintf(`{"locationId":"sbx-location-1","email":"bench%d@example.com","tags":["bench"]}`, n))
		}
	})
}

// BenchmarkUpsertRepeat upserts the same contact (the update path).
func BenchmarkUpsertRepeat(b *testing.B) {
	_, srv := benchServer(b)
	hc := srv.Client()
	b.ReportAllocs()
	for b.Loop() {
		benchDo(b, hc, "POST", srv.URL+"/contacts/upsert", `{"locationId":"sbx-location-1","email":"same@example.com","tags":["bench"]}`)
	}
}

// BenchmarkGetContact reads one contact over HTTP, in parallel.
func BenchmarkGetContact(b *testing.B) {
	_, srv := benchServer(b)
	hc := srv.Client()
	hc.Transport.(*http.Transport).MaxIdleConnsPerHost = 64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			benchDo(b, hc, "GET", srv.URL+"/contacts/sbx-contact-1", "")
		}
	})
}

// BenchmarkFreeSlots computes a week of free slots.
func BenchmarkFreeSlots(b *testing.B) {
	_, srv := benchServer(b)
	hc := srv.Client()
	b.ReportAllocs()
	// 2030-01-07 to 2030-01-14 (a future week).
	for b.Loop() {
		benchDo(b, hc, "GET", srv.URL+"/calendars/sbx-calendar-1/free-slots?startDate=1894002000000&endDate=1894606800000", "")
	}
}

// BenchmarkHandlerUpsert calls the handler directly (no network).
func BenchmarkHandlerUpsert(b *testing.B) {
	sb, _ := benchServer(b)
	b.ReportAllocs()
	for b.Loop() {
		n := benchSeq.Add(1)
		req := httptest.NewRequest("POST", "/contacts/upsert",
			strings.NewReader(fmt.Sprintf(`{"locationId":"sbx-location-1","email":"h%d@example.com"}`, n)))
		req.Header.Set("Authorization", "Bearer "+locTok)
		req.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		sb.ServeHTTP(w, req)
		if w.Code != 200 {
			b.Fatalf("%d %s", w.Code, w.Body)
		}
	}
}

// BenchmarkNew measures building a sandbox from the built-in seed (key
// generation included), the in-process part of `ghlsync sandbox` start-up.
func BenchmarkNew(b *testing.B) {
	for b.Loop() {
		sb, err := New(Options{})
		if err != nil {
			b.Fatal(err)
		}
		sb.Close()
	}
}
