package web

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/ghlsync/ghlsync/internal/engine"
	"github.com/ghlsync/ghlsync/internal/flow"
	"github.com/ghlsync/ghlsync/internal/ghl"
	"github.com/ghlsync/ghlsync/internal/sandbox"
	"github.com/ghlsync/ghlsync/internal/source/sign"
	"github.com/ghlsync/ghlsync/internal/store"
	"github.com/ghlsync/ghlsync/internal/store/storetest"
)

const benchFlow = `name: bench
trigger:
  webhook:
    source: generic
    secret: literal:` + secret + `
steps:
  - id: contact
    op: contacts.upsert
    with:
      email: "{{ event.data.email }}"
      firstName: "{{ event.data.name }}"
  - id: note
    op: contacts.createNote
    with:
      contactId: "{{ steps.contact.contact.id }}"
      body: "Event {{ event.id }}"
  - id: tag
    op: contacts.addTags
    with:
      contactId: "{{ steps.contact.contact.id }}"
      tags: [bench]
`

// BenchmarkIngressToDone measures events per second from a signed POST
// /hooks/{flow} through the transactional enqueue, River and three GHL
// steps against the in-process sandbox with rate limits off. Each
// iteration is a batch of 200 events posted by 16 senders; the time ends
// when every run has succeeded.
func BenchmarkIngressToDone(b *testing.B) {
	for _, d := range storetest.Dialects {
		b.Run(d, func(b *testing.B) { benchIngress(b, d, 200) })
	}
}

func benchIngress(b *testing.B, dialect string, batch int) {
	sb, err := sandbox.New(sandbox.Options{RateLimit: sandbox.RateLimitOptions{Disabled: true}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { sb.Close() })
	ghlSrv := httptest.NewServer(sb)
	b.Cleanup(ghlSrv.Close)

	dir := b.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "bench.yaml"), []byte(benchFlow), 0o600); err != nil {
		b.Fatal(err)
	}
	loaded, err := flow.LoadDir(dir)
	if err != nil || len(loaded.Flows) != 1 {
		b.Fatalf("flows: %v %v", loaded.Errors, err)
	}
	st := storetest.Open(b, dialect, "webbench")
	conns := &engine.StaticConnections{Token: "pit-sandbox-location", LocationID: "sbx-location-1", Config: ghl.Config{
		BaseURL: ghlSrv.URL, Limiter: ghl.NewLimiter(ghl.LimiterOptions{Disabled: true})}}
	e, err := engine.New(engine.Config{Store: st, Flows: loaded, Connections: conns, Workers: 32})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if err := e.Start(ctx); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { e.Stop(context.Background()) })
	ws, err := New(Config{Engine: e})
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(ws)
	b.Cleanup(srv.Close)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 32}, Timeout: 30 * time.Second}

	next := 0
	b.ResetTimer()
	start := time.Now()
	for n := 0; n < b.N; n++ {
		var wg sync.WaitGroup
		ch := make(chan int)
		for w := 0; w < 16; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range ch {
					body := []byte(fmt.Sprintf(`{"id":"b-%d","type":"contact.created","data":{"email":"b%d@bench.example","name":"B"}}`, i, i))
					req, _ := http.NewRequest("POST", srv.URL+"/hooks/bench", bytes.NewReader(body))
					for k, v := range sign.Generic(secret, time.Now(), body) {
						req.Header[k] = v
					}
					resp, err := client.Do(req)
					if err != nil {
						b.Error(err)
						continue
					}
					resp.Body.Close()
					if resp.StatusCode != http.StatusAccepted {
						b.Errorf("event %d: %d", i, resp.StatusCode)
					}
				}
			}()
		}
		for i := 0; i < batch; i++ {
			ch <- next
			next++
		}
		close(ch)
		wg.Wait()
		for {
			counts, err := st.CountRunsByStatus(ctx)
			if err != nil {
				b.Fatal(err)
			}
			if counts[store.RunSucceeded] == next {
				break
			}
			if counts[store.RunFailed] > 0 {
				b.Fatalf("runs failed: %v", counts)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(next)/elapsed.Seconds(), "events/s")
	b.ReportMetric(0, "ns/op")
}
