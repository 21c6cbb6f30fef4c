package browsertest

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/ghlsync/ghlsync/internal/demo"
	"github.com/ghlsync/ghlsync/internal/engine"
	"github.com/ghlsync/ghlsync/internal/flow"
	"github.com/ghlsync/ghlsync/internal/ghl"
	"github.com/ghlsync/ghlsync/internal/sandbox"
	"github.com/ghlsync/ghlsync/internal/source"
	"github.com/ghlsync/ghlsync/internal/store"
	"github.com/ghlsync/ghlsync/internal/store/storetest"
	"github.com/ghlsync/ghlsync/internal/web"
)

// Where the example flows and their sample deliveries live, from this
// package's folder.
var (
	flowsDir  = filepath.Join("..", "..", "examples", "flows")
	eventsDir = filepath.Join("..", "..", "testdata", "events")
)

// stack is what `ghlsync demo` runs, in this process: the sandbox, the
// engine on SQLite with the example flows, and the web server (dashboard,
// API, webhook intake). The sandbox sends its signed GoHighLevel webhooks
// to the auto-tag flow.
type stack struct {
	flows  *flow.Loaded
	sb     *sandbox.Server
	web    *httptest.Server
	client *demo.Client
}

func newStack(t *testing.T) *stack {
	t.Helper()
	loaded, err := flow.LoadDir(flowsDir)
	if err != nil {
		t.Fatal(err)
	}
	if len(loaded.Errors) > 0 || len(loaded.Flows) == 0 {
		t.Fatalf("example flows: %d loaded, problems: %v", len(loaded.Flows), loaded.Errors)
	}

	sb, err := sandbox.New(sandbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	sbSrv := httptest.NewServer(sb)
	t.Cleanup(func() { sbSrv.Close(); sb.Close() })

	st := storetest.Open(t, store.SQLite, "browsertest")
	conns := &engine.StaticConnections{Token: demo.SandboxToken, LocationID: demo.SandboxLocation,
		Config: ghl.Config{BaseURL: sbSrv.URL}}
	eng, err := engine.New(engine.Config{Store: st, Flows: loaded, Connections: conns, Workers: 4})
	if err != nil {
		t.Fatal(err)
	}
	ghlKey := sb.Keys().Ed25519PublicKeyPEM
	ws, err := web.New(web.Config{Engine: eng, Secrets: func(ref string) (string, error) {
		switch ref {
		case "env:GHLSYNC_CHANGETOWER_SECRET":
			return demo.ChangeTowerSecret, nil
		case "env:GHLSYNC_GENERIC_SECRET":
			return demo.GenericSecret, nil
		case "env:GHLSYNC_GHL_WEBHOOK_KEY":
			return ghlKey, nil
		}
		return source.DefaultSecretLookup(ref)
	}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := eng.Start(ctx); err != nil {
		cancel()
		t.Fatal(err)
	}
	webSrv := httptest.NewServer(ws)
	t.Cleanup(func() {
		webSrv.Close()
		sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer scancel()
		if err := eng.Stop(sctx); err != nil {
			t.Errorf("stop engine: %v", err)
		}
		cancel()
	})
	sb.SetWebhookURL(webSrv.URL + "/hooks/auto-tag")
	return &stack{flows: loaded, sb: sb, web: webSrv,
		client: &demo.Client{URL: webSrv.URL, SandboxURL: sbSrv.URL}}
}

// post signs and posts deliveries one at a time, waits for each run to
// finish, then for the runs the sandbox's webhooks start, and returns the
// runs of the deliveries in order.
func (s *stack) post(t *testing.T, ctx context.Context, ds ...demo.Delivery) []demo.RunView {
	t.Helper()
	contacts, err := s.client.Records(ctx, "contacts")
	if err != nil {
		t.Fatal(err)
	}
	hooks, err := s.client.Webhooks(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var runs []demo.RunView
	for _, d := range ds {
		res, err := s.client.Post(ctx, d, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if res.Status != http.StatusAccepted || res.RunID == "" {
			t.Fatalf("post %s to %s: %d %+v", d.File, d.Flow, res.Status, res)
		}
		run, err := s.client.WaitRun(ctx, res.RunID)
		if err != nil {
			t.Fatal(err)
		}
		runs = append(runs, run)
	}
	if err := s.client.Settle(ctx, len(contacts), len(hooks)); err != nil {
		t.Fatalf("runs started by the sandbox's webhooks: %v", err)
	}
	return runs
}

// samples returns the sample deliveries of testdata/events by file name.
func samples(t *testing.T, files ...string) []demo.Delivery {
	t.Helper()
	all, err := demo.LoadSamples(eventsDir)
	if err != nil {
		t.Fatal(err)
	}
	var out []demo.Delivery
	for _, f := range files {
		found := false
		for _, d := range all.Deliveries {
			if d.File == f {
				out = append(out, d)
				found = true
				break
			}
		}
		if !found {
			t.Fatal(errors.New("no sample delivery " + f + " in " + eventsDir))
		}
	}
	return out
}
