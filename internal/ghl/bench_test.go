package ghl

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// BenchmarkDo measures the client's overhead for one request against a
// local server: building the request, limiter, headers, reading and
// trace-id extraction. The network is loopback.
func BenchmarkDo(b *testing.B) {
	body := []byte(`{"contact":{"id":"c1","email":"ana@example.com","tags":["a","b"]},"traceId":"t1"}`)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Write(body)
	}))
	defer srv.Close()
	for _, lc := range []struct {
		name string
		opts LimiterOptions
	}{
		{"limiter=off", LimiterOptions{Disabled: true}},
		// A budget big enough never to wait, so the cost of the bookkeeping shows.
		{"limiter=on", LimiterOptions{Max: 1 << 20, Window: time.Millisecond}},
	} {
		c := New(Config{BaseURL: srv.URL, Limiter: NewLimiter(lc.opts)}, StaticToken("pit-bench"), "loc1")
		p := Params{Path: map[string]string{"contactId": "c1"}}
		up := Params{Body: map[string]any{"email": "ana@example.com", "tags": []string{"a"}}}
		ctx := context.Background()
		b.Run(lc.name+"/get", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.Do(ctx, "contacts.get", p); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(lc.name+"/upsert", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.Do(ctx, "contacts.upsert", up); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(lc.name+"/get-parallel", func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := c.Do(ctx, "contacts.get", p); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkItems pages through 1,000 contacts (10 pages of 100) of POST
// /contacts/search; ns/op is per 1,000 items.
func BenchmarkItems(b *testing.B) {
	const total, size = 1000, 100
	pages := make([][]byte, total/size+1)
	for i := range pages {
		var items []map[string]any
		for j := i * size; j < min((i+1)*size, total); j++ {
			items = append(items, map[string]any{"id": fmt.Sprintf("c%05d", j), "email": fmt.Sprintf("u%d@example.com", j), "tags": []string{"lead"}})
		}
		pages[i], _ = json.Marshal(map[string]any{"contacts": items, "total": total})
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in struct{ Page int }
		json.NewDecoder(r.Body).Decode(&in)
		w.Write(pages[min(in.Page-1, len(pages)-1)])
	}))
	defer srv.Close()
	c := New(Config{BaseURL: srv.URL, Limiter: NewLimiter(LimiterOptions{Disabled: true})}, StaticToken("pit-bench"), "loc1")
	b.ReportAllocs()
	for b.Loop() {
		n := 0
		for _, err := range c.Items(context.Background(), "contacts.search", Params{Body: map[string]any{"query": "x"}}, PageOptions{PageSize: size}) {
			if err != nil {
				b.Fatal(err)
			}
			n++
		}
		if n != total {
			b.Fatalf("%d items", n)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*total), "ns/item")
}

// BenchmarkLimiterAcquire is the limiter's bookkeeping alone, with a
// full 100-request window being rolled over by a fake clock.
func BenchmarkLimiterAcquire(b *testing.B) {
	lim := NewLimiter(LimiterOptions{Daily: 1 << 40})
	now := time.Unix(0, 0)
	lim.o.now = func() time.Time { return now }
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		now = now.Add(101 * time.Millisecond) // just over 100 per 10.1 s
		pm, err := lim.acquire(ctx, "op", "app", "loc")
		if err != nil {
			b.Fatal(err)
		}
		pm.done()
	}
}
