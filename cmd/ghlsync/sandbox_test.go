package main

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// pipeWriter hands the command's output to the test as it is printed.
type pipeWriter struct{ w *io.PipeWriter }

func (p pipeWriter) Write(b []byte) (int, error) { return p.w.Write(b) }

func TestSandboxCommandServesAndStops(t *testing.T) {
	faults := filepath.Join(t.TempDir(), "faults.yaml")
	if err := os.WriteFile(faults, []byte("seed: 3\nrules:\n  - route: GET /contacts/{contactId}\n    burst429: 1\n    latency: 1ms\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- runSandbox(ctx, &sandboxOptions{addr: "127.0.0.1:0", faults: faults, tokenTTL: time.Hour}, pipeWriter{pw})
		pw.Close()
	}()
	sc := bufio.NewScanner(pr)
	var base string
	var printed []string
	for sc.Scan() {
		line := sc.Text()
		printed = append(printed, line)
		if b, ok := strings.CutPrefix(line, "ghlsync sandbox listening on "); ok {
			base = b
		}
		if strings.HasPrefix(line, "Press Ctrl-C") {
			break
		}
	}
	go io.Copy(io.Discard, pr)
	out := strings.Join(printed, "\n")
	for _, want := range []string{"pit-sandbox-location", "pit-sandbox-agency", "client_id=sandbox-client-id client_secret=sandbox-client-secret",
		"BEGIN PUBLIC KEY", "Ed25519 public key (base64)", "/oauth/chooselocation"} {
		if !strings.Contains(out, want) {
			t.Errorf("start-up output lacks %q:\n%s", want, out)
		}
	}
	get := func() int {
		req, _ := http.NewRequest("GET", base+"/contacts/sbx-contact-1", nil)
		req.Header.Set("Authorization", "Bearer pit-sandbox-location")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if a, b := get(), get(); a != 429 || b != 200 {
		t.Errorf("with the faults file: %d then %d, want 429 then 200", a, b)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the command did not stop")
	}
}

func TestSandboxFaultsFileErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("rules:\n  - route: '*'\n    lossRate: 1\n"), 0o600)
	if _, err := loadFaults(bad); err == nil || !strings.Contains(err.Error(), "lossRate") {
		t.Errorf("unknown field: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := runSandbox(ctx, &sandboxOptions{addr: "127.0.0.1:0", faults: bad}, io.Discard); err == nil {
		t.Error("a bad faults file must stop the command")
	}
}

func TestSandboxTokenTTLMustBePositive(t *testing.T) {
	t.Parallel()
	for _, ttl := range []time.Duration{0, -5 * time.Second} {
		err := runSandbox(context.Background(), &sandboxOptions{tokenTTL: ttl}, io.Discard)
		var ee *exitError
		if !errors.As(err, &ee) || ee.code != 2 || !strings.Contains(err.Error(), "--token-ttl") {
			t.Errorf("ttl %s: %v, want exit 2 naming --token-ttl", ttl, err)
		}
	}
}
