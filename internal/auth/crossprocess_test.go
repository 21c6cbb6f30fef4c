package auth

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ghlsync/ghlsync/internal/ghl"
	"github.com/ghlsync/ghlsync/internal/store"
)

// TestMain lets the test binary act as a separate ghlsync process (see
// helperProcess) when GHLSYNC_AUTH_HELPER is set.
func TestMain(m *testing.M) {
	if os.Getenv("GHLSYNC_AUTH_HELPER") == "token" {
		if err := helperProcess(); err != nil {
			fmt.Fprintln(os.Stderr, "helper:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// helperProcess opens the database named by the environment, waits for the
// start file, asks for the connection's token from several goroutines and
// prints the fingerprints it got, one per line.
func helperProcess() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st, err := store.Open(ctx, store.Options{Path: os.Getenv("H_DB_PATH"), URL: os.Getenv("H_DB_URL"), Schema: os.Getenv("H_DB_SCHEMA"), MaxConns: 4})
	if err != nil {
		return err
	}
	defer st.Close()
	v, err := LoadVault(VaultOptions{NoCreate: true})
	if err != nil {
		return err
	}
	m, err := NewManager(Options{Store: st, Vault: v, GHL: ghl.Config{BaseURL: os.Getenv("H_BASE_URL")}})
	if err != nil {
		return err
	}
	for deadline := time.Now().Add(30 * time.Second); ; {
		if _, err := os.Stat(os.Getenv("H_START")); err == nil {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("start file never appeared")
		}
		time.Sleep(5 * time.Millisecond)
	}
	n, _ := strconv.Atoi(os.Getenv("H_N"))
	var wg sync.WaitGroup
	out := make([]string, n)
	errs := make([]error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tok, err := m.Token(ctx, os.Getenv("H_CONN"))
			out[i], errs[i] = Fingerprint(tok), err
		}()
	}
	wg.Wait()
	for i := range out {
		if errs[i] != nil {
			return errs[i]
		}
		fmt.Println(out[i])
	}
	return nil
}

// Three real processes on one database: one refresh.
func TestRefreshAcrossProcesses(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		e, s := newEnv(t, dialect), newSandbox(t)
		ctx := context.Background()
		m := sandboxManager(t, e, s)
		sandboxLogin(t, m, s, "main", "location:sbx-location-1", "contacts.write")
		expire(t, m.Store(), "main")
		base := s.tokenCalls(0)
		s.tokenDelay.Store(int64(300 * time.Millisecond)) // the others arrive while the first holds the lock

		start := filepath.Join(t.TempDir(), "go")
		const procs, perProc = 3, 7
		var (
			wg      sync.WaitGroup
			outputs = make([]bytes.Buffer, procs)
			errs    = make([]error, procs)
		)
		for i := 0; i < procs; i++ {
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(),
				"GHLSYNC_AUTH_HELPER=token",
				EnvSecretKey+"="+base64.StdEncoding.EncodeToString(e.key),
				"H_DB_PATH="+e.opts.Path, "H_DB_URL="+e.opts.URL, "H_DB_SCHEMA="+e.opts.Schema,
				"H_BASE_URL="+s.ts.URL, "H_START="+start, "H_CONN=main", "H_N="+strconv.Itoa(perProc))
			var stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &outputs[i], &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := cmd.Wait(); err != nil {
					errs[i] = fmt.Errorf("%v: %s", err, stderr.String())
				}
			}()
		}
		// Let the processes open the database, then release them together.
		time.Sleep(300 * time.Millisecond)
		if err := os.WriteFile(start, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("process %d: %v", i, err)
			}
		}
		if n := s.tokenCalls(0) - base; n != 1 {
			t.Fatalf("%d processes × %d callers made %d /oauth/token calls, want 1", procs, perProc, n)
		}
		m.Forget("main")
		tok, err := m.Token(ctx, "main")
		if err != nil {
			t.Fatal(err)
		}
		lines := 0
		for i := range outputs {
			for _, fp := range strings.Fields(outputs[i].String()) {
				lines++
				if fp != Fingerprint(tok) {
					t.Fatalf("process %d got token %s, stored token is %s", i, fp, Fingerprint(tok))
				}
			}
		}
		if lines != procs*perProc {
			t.Fatalf("%d answers, want %d", lines, procs*perProc)
		}
	})
}
