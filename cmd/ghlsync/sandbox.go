package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"github.com/ghlsync/ghlsync/internal/sandbox"
)

func init() { commands = append(commands, newSandboxCmd) }

type sandboxOptions struct {
	addr        string
	seed        string
	persist     string
	noRateLimit bool
	faults      string
	webhookURL  string
	tokenTTL    time.Duration
	printSeed   bool
	quiet       bool
}

func newSandboxCmd() *cobra.Command {
	o := &sandboxOptions{}
	cmd := &cobra.Command{
		Use:   "sandbox",
		Short: "Run the offline GoHighLevel API v2 simulator",
		Long: `Run the sandbox: an offline simulator of the GoHighLevel API v2 that answers every
operation of the catalog with GHL's paths, shapes, quirks and limits, plus the OAuth
endpoints, a consent page, signed outgoing webhooks and an admin API under /_sandbox/.

Point ghlsync (or any GHL client) at it with the base URL it prints and one of the
tokens it prints. State lives in memory unless --persist names a file.`,
		Example: `  ghlsync sandbox
  ghlsync sandbox --addr 127.0.0.1:8089 --persist sandbox.json --webhook-url http://127.0.0.1:8080/hooks/ghl
  ghlsync sandbox --no-rate-limit --faults faults.yaml
  ghlsync sandbox --print-seed > my-seed.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runSandbox(cmd.Context(), o, cmd.OutOrStdout()) },
	}
	f := cmd.Flags()
	f.StringVar(&o.addr, "addr", "127.0.0.1:8089", "address to listen on")
	f.StringVar(&o.seed, "seed", "", "seed file (YAML or JSON); default: the built-in seed")
	f.StringVar(&o.persist, "persist", "", "file to load state from and save it to, so a demo survives a restart")
	f.BoolVar(&o.noRateLimit, "no-rate-limit", false, "turn off GHL's 100 requests / 10 s and daily limits")
	f.StringVar(&o.faults, "faults", "", "fault rules file (YAML or JSON: {seed, rules: [...]})")
	f.StringVar(&o.webhookURL, "webhook-url", "", "send signed GHL-style webhooks here")
	f.DurationVar(&o.tokenTTL, "token-ttl", 86399*time.Second, "lifetime of OAuth access tokens")
	f.BoolVar(&o.printSeed, "print-seed", false, "print the built-in seed (a template for --seed) and exit")
	f.BoolVar(&o.quiet, "quiet", false, "print only the base URL")
	return cmd
}

// checkSandboxSettings refuses a --persist file whose folder is missing
// (every save would fail and the state be lost) and a --webhook-url that is
// not http(s).
func checkSandboxSettings(o *sandboxOptions) error {
	if o.tokenTTL <= 0 {
		return fmt.Errorf("--token-ttl %s: must be a positive duration such as 1h or 10s", o.tokenTTL)
	}
	if o.persist != "" {
		dir := filepath.Dir(o.persist)
		if st, err := os.Stat(dir); err != nil || !st.IsDir() {
			return fmt.Errorf("--persist %s: folder %s does not exist (create it first)", o.persist, dir)
		}
	}
	if o.webhookURL != "" {
		if err := checkHTTPURL("--webhook-url", o.webhookURL); err != nil {
			return err
		}
	}
	return nil
}

// loadFaults reads a fault configuration from YAML or JSON.
func loadFaults(path string) (sandbox.FaultConfig, error) {
	var fc sandbox.FaultConfig
	data, err := os.ReadFile(path)
	if err != nil {
		return fc, fmt.Errorf("faults: %w", err)
	}
	var generic any
	if err := yaml.Unmarshal(data, &generic); err != nil {
		return fc, fmt.Errorf("faults %s: %w", path, err)
	}
	js, err := json.Marshal(generic)
	if err != nil {
		return fc, fmt.Errorf("faults %s: %w", path, err)
	}
	dec := json.NewDecoder(strings.NewReader(string(js)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&fc); err != nil {
		return fc, fmt.Errorf("faults %s: %w", path, err)
	}
	return fc, nil
}

func runSandbox(ctx context.Context, o *sandboxOptions, out io.Writer) error {
	if o.printSeed {
		_, err := out.Write(sandbox.DefaultSeed())
		return err
	}
	if err := checkSandboxSettings(o); err != nil {
		return &exitError{code: 2, err: err}
	}
	opts := sandbox.Options{
		SeedFile:    o.seed,
		PersistFile: o.persist,
		RateLimit:   sandbox.RateLimitOptions{Disabled: o.noRateLimit},
		TokenTTL:    o.tokenTTL,
		Webhooks:    sandbox.WebhookOptions{URL: o.webhookURL},
		Logger:      slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
	if o.faults != "" {
		fc, err := loadFaults(o.faults)
		if err != nil {
			return &exitError{code: 2, err: err}
		}
		opts.Faults = fc
	}
	sb, err := sandbox.New(opts)
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	defer sb.Close()

	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return fmt.Errorf("sandbox: listen on %s: %w", o.addr, err)
	}
	srv := &http.Server{Handler: sb, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()

	base := "http://" + ln.Addr().String()
	printSandboxInfo(out, base, sb.Info(), o)

	select {
	case <-ctx.Done():
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("sandbox: %w", err)
		}
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	srv.Shutdown(shutdownCtx)
	if err := sb.Close(); err != nil {
		return err
	}
	fmt.Fprintln(out, "sandbox stopped")
	return nil
}

func printSandboxInfo(out io.Writer, base string, in sandbox.Info, o *sandboxOptions) {
	if o.quiet {
		fmt.Fprintln(out, base)
		return
	}
	fmt.Fprintf(out, "ghlsync sandbox listening on %s\n\n", base)
	fmt.Fprintf(out, "Base URL (use instead of %s):\n  %s\n\n", "https://services.leadconnectorhq.com", base)
	fmt.Fprintln(out, "Private Integration Tokens (Authorization: Bearer <token>):")
	for _, t := range in.Tokens {
		bound := "location " + t.LocationID
		if t.CompanyID != "" {
			bound = "agency   " + t.CompanyID
		}
		fmt.Fprintf(out, "  %-24s %s\n", t.Token, bound)
	}
	fmt.Fprintln(out, "\nOAuth apps:")
	for _, a := range in.Apps {
		fmt.Fprintf(out, "  client_id=%s client_secret=%s\n", a.ClientID, a.ClientSecret)
		fmt.Fprintf(out, "  consent page: %s/oauth/chooselocation?response_type=code&client_id=%s&redirect_uri=<your callback>\n", base, a.ClientID)
		fmt.Fprintf(out, "  token endpoint: POST %s/oauth/token (form-encoded)\n", base)
	}
	fmt.Fprintf(out, "\nLocations: %s   Companies: %s\n", strings.Join(in.Locations, ", "), strings.Join(in.Companies, ", "))
	fmt.Fprintln(out, "\nWebhook signing keys (verify x-wh-signature with the RSA key, x-ghl-signature with the Ed25519 key):")
	fmt.Fprint(out, indent(in.Keys.RSAPublicKeyPEM))
	fmt.Fprintf(out, "  Ed25519 public key (base64): %s\n", in.Keys.Ed25519PublicKeyBase64)
	fmt.Fprint(out, indent(in.Keys.Ed25519PublicKeyPEM))
	if o.webhookURL != "" {
		fmt.Fprintf(out, "Webhooks go to %s\n", o.webhookURL)
	}
	fmt.Fprintf(out, "\nAdmin API: %s/_sandbox/ (store, requests, reset, faults, tokens, keys, webhooks)\n", base)
	if o.noRateLimit {
		fmt.Fprintln(out, "Rate limits: off")
	} else {
		fmt.Fprintln(out, "Rate limits: 100 requests / 10 s and 200000 / day per (app, location)")
	}
	if o.persist != "" {
		fmt.Fprintf(out, "State is saved to %s\n", o.persist)
	}
	fmt.Fprintln(out, "Press Ctrl-C to stop.")
}

func indent(s string) string {
	var b strings.Builder
	for _, l := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		b.WriteString("  " + l + "\n")
	}
	return b.String()
}
