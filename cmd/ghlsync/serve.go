package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"

	"github.com/ghlsync/ghlsync/internal/auth"
	"github.com/ghlsync/ghlsync/internal/engine"
	"github.com/ghlsync/ghlsync/internal/engine/redact"
	"github.com/ghlsync/ghlsync/internal/flow"
	"github.com/ghlsync/ghlsync/internal/ghl"
	"github.com/ghlsync/ghlsync/internal/source"
	"github.com/ghlsync/ghlsync/internal/store"
	"github.com/ghlsync/ghlsync/internal/web"
)

func init() { commands = append(commands, newServeCmd) }

// serveOptions are the settings of `ghlsync serve`; other commands (demo)
// fill them to run the same server in process.
type serveOptions struct {
	addr            string
	flowsDir        string
	db              string
	databaseURL     string
	baseURL         string
	token           string
	locationID      string
	keyFile         string
	companyID       string
	timezone        string
	workers         int
	maxAttempts     int
	jobTimeout      time.Duration
	retain          dayDuration
	redactFields    []string
	maxBody         int64
	rawLimit        int
	keepCaptures    int
	pollMaxPages    int
	noClientLimit   bool
	shutdownTimeout time.Duration
	logLevel        string
	logFormat       string
	config          string
	adminToken      string
	insecureNoAuth  bool
	publicMetrics   bool
	publicURL       string

	// Set by callers running the server in process.
	connections engine.Connections
	secrets     source.SecretLookup
	logOut      io.Writer
}

func newServeCmd() *cobra.Command {
	o := &serveOptions{}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the engine: webhook intake, workers, pollers, dashboard",
		Long: `Serve loads the flows in --flows, stores every accepted event durably before answering
it, and runs each flow's steps against GoHighLevel on a durable queue (River) with a
checkpoint per step. It serves:

  POST /hooks/{flow}   webhook intake (2xx only once stored; 429 + Retry-After otherwise)
  GET  /               dashboard: flows, recent runs, run details
  GET  /api/flows, /api/runs, /api/runs/{id}, POST /api/runs/{id}/replay
  GET  /healthz, /metrics (Prometheus)

Storage is a SQLite file (--db, one server per file) or Postgres (--database-url, any
number of servers). Flows act through the connections stored with ` + "`ghlsync auth`" + `
(OAuth or Private Integration Tokens, sealed in the database; GoHighLevel's OAuth
redirect can point at /oauth/callback of this server). Alternatively every flow acts
through one Private Integration Token: GHLSYNC_TOKEN (preferred over --token, which
shows in the process list) with --location-id.

On a loopback --addr (the default) the dashboard and API are open to local users. Any other
address needs an admin token (GHLSYNC_ADMIN_TOKEN, or --admin-token), sent as
Authorization: Bearer <token> or entered once at /login; /hooks and /healthz stay open.

Every flag can also be set in the environment as GHLSYNC_<FLAG> (for example
GHLSYNC_DATABASE_URL, GHLSYNC_REDACT_FIELDS=email,phone) or in a YAML config file
(--config) with the flag names as keys. Flags win over the environment, which wins over
the file. SIGTERM or Ctrl-C stops intake, lets running steps finish (up to
--shutdown-timeout) and closes the database last.`,
		Example: `  GHLSYNC_TOKEN=pit-... ghlsync serve --flows flows --location-id LOC
  ghlsync serve --flows examples/flows --base-url http://127.0.0.1:8089 --location-id sbx-location-1
  ghlsync serve --database-url postgres://ghlsync@db/ghlsync --workers 50 --retain 30d --redact-fields email,phone`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := bindEnvAndConfig(cmd.Flags(), o.config); err != nil {
				return &exitError{code: 2, err: err}
			}
			if err := checkServeSettings(o); err != nil {
				return &exitError{code: 2, err: err}
			}
			return runServe(cmd.Context(), o, cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.addr, "addr", "127.0.0.1:8080", "address to listen on")
	f.StringVar(&o.flowsDir, "flows", "flows", "folder of flow files (*.yaml)")
	addDBFlags(f, &o.db, &o.databaseURL)
	f.StringVar(&o.baseURL, "base-url", ghl.DefaultBaseURL, "GoHighLevel API base URL (the sandbox's for tests)")
	f.StringVar(&o.token, "token", "", "Private Integration Token for flows' connections (prefer GHLSYNC_TOKEN)")
	f.StringVar(&o.locationID, "location-id", "", "location (sub-account) id the token belongs to")
	f.StringVar(&o.companyID, "company-id", "", "company (agency) id, for flows that need it")
	f.StringVar(&o.keyFile, "key-file", "", "vault key file for stored connections when GHLSYNC_SECRET_KEY is unset (default beside the SQLite file)")
	f.StringVar(&o.timezone, "timezone", "", "location time zone for flows (default: read from GoHighLevel)")
	f.IntVar(&o.workers, "workers", engine.DefaultWorkers, "runs executed at once")
	f.IntVar(&o.maxAttempts, "max-attempts", engine.DefaultMaxAttempts, "attempts per run before it fails (429s do not count)")
	f.DurationVar(&o.jobTimeout, "job-timeout", engine.DefaultJobTimeout, "time limit of one attempt of one run")
	f.Var(&o.retain, "retain", "keep events and runs this long, e.g. 30d or 72h (0 = forever)")
	f.StringSliceVar(&o.redactFields, "redact-fields", nil, "personal-data fields masked in run history, e.g. email,phone")
	f.Int64Var(&o.maxBody, "max-body", source.MaxBodyBytes, "largest webhook body accepted, in bytes (larger: 413)")
	f.IntVar(&o.rawLimit, "raw-limit", engine.DefaultRawLimit, "raw bytes of each event kept in history")
	f.IntVar(&o.keepCaptures, "keep-captures", engine.DefaultKeepCaptures, "deliveries kept per capture-mode endpoint (older ones are deleted)")
	f.IntVar(&o.pollMaxPages, "poll-max-pages", engine.DefaultPollMaxPages, "pages a poll reads at most (a flow's max_pages wins)")
	f.BoolVar(&o.noClientLimit, "no-client-rate-limit", false, "do not pace requests to GoHighLevel's 100/10s (for benchmarks against an unlimited sandbox)")
	f.DurationVar(&o.shutdownTimeout, "shutdown-timeout", 30*time.Second, "on SIGTERM, how long running steps may finish before they are cancelled")
	f.StringVar(&o.logLevel, "log-level", "info", "debug, info, warn or error")
	f.StringVar(&o.logFormat, "log-format", "text", "text or json")
	f.StringVar(&o.config, "config", "", "YAML config file whose keys are flag names")
	f.StringVar(&o.adminToken, "admin-token", "", "token required for the dashboard, the JSON API and replays (prefer GHLSYNC_ADMIN_TOKEN); required when --addr is not a loopback address")
	f.BoolVar(&o.insecureNoAuth, "insecure-no-auth", false, "serve the dashboard and API without a token on a non-loopback address (only behind your own authentication)")
	f.BoolVar(&o.publicMetrics, "public-metrics", false, "serve /metrics without the admin token")
	f.StringVar(&o.publicURL, "public-url", "", "URL senders reach this server at behind a proxy, e.g. https://ghlsync.example.com (shown as each flow's webhook URL)")
	return cmd
}

// checkServeSettings refuses settings that would be replaced silently or
// fail only later (a time zone at the first dated step, a base URL at the
// first call).
func checkServeSettings(o *serveOptions) error {
	var errs []error
	if o.workers < 1 {
		errs = append(errs, fmt.Errorf("--workers %d: expected at least 1", o.workers))
	}
	if o.maxAttempts < 1 {
		errs = append(errs, fmt.Errorf("--max-attempts %d: expected at least 1", o.maxAttempts))
	}
	if o.maxBody <= 0 {
		errs = append(errs, fmt.Errorf("--max-body %d: expected a positive number of bytes", o.maxBody))
	}
	if o.jobTimeout <= 0 {
		errs = append(errs, fmt.Errorf("--job-timeout %s: expected a positive duration such as 5m", o.jobTimeout))
	}
	if o.shutdownTimeout <= 0 {
		errs = append(errs, fmt.Errorf("--shutdown-timeout %s: expected a positive duration such as 30s", o.shutdownTimeout))
	}
	if err := checkTimezone(o.timezone); err != nil {
		errs = append(errs, err)
	}
	if err := checkHTTPURL("--base-url", o.baseURL); err != nil {
		errs = append(errs, err)
	}
	if err := checkPublicURL(o.publicURL); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// checkPublicURL accepts "" (webhook URLs are built from each request) or
// an absolute http(s) URL with a host and optionally a path prefix the
// proxy serves ghlsync under; not credentials, a query or a fragment, which
// would make every webhook URL built from it wrong.
func checkPublicURL(raw string) error {
	if raw == "" {
		return nil
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
		u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.TrimSpace(raw) != raw {
		return fmt.Errorf("--public-url %q: expected the http:// or https:// URL senders reach this server at, "+
			"such as https://ghlsync.example.com (no user, query or fragment)", raw)
	}
	return nil
}

// checkTimezone accepts "" (read from GoHighLevel) or an IANA zone.
func checkTimezone(tz string) error {
	if tz == "" {
		return nil
	}
	if _, err := time.LoadLocation(tz); err != nil || strings.TrimSpace(tz) != tz {
		return fmt.Errorf("--timezone %q: not a known IANA time zone such as Europe/Paris or America/New_York", tz)
	}
	return nil
}

// checkHTTPURL accepts an absolute http:// or https:// URL with a host.
func checkHTTPURL(flag, raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%s %q: expected an http:// or https:// URL with a host", flag, raw)
	}
	return nil
}

// loopbackAddr reports whether a listen address accepts local connections
// only: 127.0.0.0/8, ::1 or localhost. ":8080" and "0.0.0.0:8080" listen on
// every interface.
func loopbackAddr(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// checkAccess refuses to expose the dashboard and API beyond this machine
// without an admin token.
func checkAccess(o *serveOptions) error {
	switch {
	case o.adminToken != "" && len(o.adminToken) < web.MinAdminToken:
		return fmt.Errorf("--admin-token: the token must be at least %d characters long (for example: openssl rand -hex 24)", web.MinAdminToken)
	case o.adminToken != "", loopbackAddr(o.addr):
		return nil
	case o.insecureNoAuth:
		return nil
	}
	return fmt.Errorf("--addr %s is reachable from other machines: set an admin token for the dashboard and API "+
		"(GHLSYNC_ADMIN_TOKEN, or --admin-token; for example: openssl rand -hex 24), "+
		"or listen on a loopback address such as 127.0.0.1:8080, "+
		"or pass --insecure-no-auth if something in front of ghlsync authenticates", o.addr)
}

// sqlitePath is the SQLite file a --db / --database-url pair names ("" for
// Postgres), for the vault key file beside it.
func sqlitePath(db, databaseURL string) string {
	switch u := strings.TrimSpace(databaseURL); {
	case u == "":
		return db
	case strings.HasPrefix(u, "sqlite:"):
		return strings.TrimPrefix(strings.TrimPrefix(u, "sqlite:"), "//")
	}
	return ""
}

// addDBFlags adds --db and --database-url.
func addDBFlags(f *pflag.FlagSet, db, url *string) {
	f.StringVar(db, "db", store.DefaultPath, "SQLite database file")
	f.StringVar(url, "database-url", "", "Postgres URL (postgres://...); wins over --db")
}

// dayDuration is a flag value that also accepts days ("30d").
type dayDuration time.Duration

func (d *dayDuration) String() string { return time.Duration(*d).String() }
func (d *dayDuration) Type() string   { return "duration" }
func (d *dayDuration) Set(s string) error {
	s = strings.TrimSpace(s)
	if strings.HasSuffix(s, "d") {
		n, err := strconv.ParseFloat(strings.TrimSuffix(s, "d"), 64)
		if err != nil || n < 0 {
			return fmt.Errorf("%q: expected a number of days like 30d", s)
		}
		*d = dayDuration(time.Duration(n * float64(24*time.Hour)))
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil || v < 0 {
		return fmt.Errorf("%q: expected a duration like 30d, 72h or 0", s)
	}
	*d = dayDuration(v)
	return nil
}

// envName is the environment variable of a flag: GHLSYNC_ + upper snake case.
func envName(flag string) string {
	return "GHLSYNC_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// bindEnvAndConfig fills flags not given on the command line from the
// environment (GHLSYNC_<FLAG>), then from the YAML config file.
func bindEnvAndConfig(fs *pflag.FlagSet, configPath string) error {
	if configPath == "" {
		configPath = os.Getenv(envName("config"))
	}
	file := map[string]any{}
	if configPath != "" {
		data, err := os.ReadFile(configPath)
		if err != nil {
			return fmt.Errorf("config: %w", err)
		}
		var node yaml.Node
		if err := yaml.Unmarshal(data, &node); err != nil {
			return fmt.Errorf("config %s: %w", configPath, err)
		}
		if err := node.Decode(&file); err != nil {
			return fmt.Errorf("config %s: expected a mapping of flag names to values: %w", configPath, err)
		}
		var unknown []string
		for k := range file {
			if fs.Lookup(k) == nil {
				unknown = append(unknown, k)
			}
		}
		if len(unknown) > 0 {
			sort.Strings(unknown)
			return fmt.Errorf("config %s: unknown setting %s (settings are the flag names of --help)", configPath, strings.Join(unknown, ", "))
		}
	}
	var errs []error
	fs.VisitAll(func(fl *pflag.Flag) {
		if fl.Changed || fl.Name == "config" || fl.Name == "help" {
			return
		}
		if v, ok := os.LookupEnv(envName(fl.Name)); ok {
			if err := fs.Set(fl.Name, v); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", envName(fl.Name), err))
			}
			return
		}
		v, ok := file[fl.Name]
		if !ok || v == nil {
			return
		}
		var s string
		switch x := v.(type) {
		case []any:
			parts := make([]string, len(x))
			for i, p := range x {
				parts[i] = fmt.Sprint(p)
			}
			s = strings.Join(parts, ",")
		default:
			s = fmt.Sprint(x)
		}
		if err := fs.Set(fl.Name, s); err != nil {
			errs = append(errs, fmt.Errorf("config %s: %s: %w", configPath, fl.Name, err))
		}
	})
	return errors.Join(errs...)
}

func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: expected debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: expected text or json", format)
}

// server is a running ghlsync server.
type server struct {
	URL     string // http://host:port
	Engine  *engine.Engine
	Store   *store.Store
	Web     *web.Server
	http    *http.Server
	errc    chan error
	log     *slog.Logger
	timeout time.Duration
	// adminToken says the dashboard and API ask for a token.
	adminToken bool
	// publicURL is where senders reach the server ("" when not set).
	publicURL string

	// For reloads: where the flows are and what checks them.
	flowsDir string
	conns    engine.Connections
	manager  *auth.Manager // nil with a single token
	reloadMu sync.Mutex
}

// loadFlows reads the flows folder with the checks that need no
// connection (files, expressions, source options) and logs the problems.
func loadFlows(dir string, log *slog.Logger) (*flow.Loaded, error) {
	loaded, err := flow.LoadDir(dir)
	if err != nil {
		return nil, err
	}
	loaded.CheckSources(source.Check)
	for _, p := range loaded.Errors {
		log.Error("flow not loaded", "problem", p.Error())
	}
	return loaded, nil
}

// checkFlows applies the checks that need the connections: scopes of stored
// connections, and custom fields against each flow's location. A flow that
// fails them does not load (logged with file:line); custom fields that
// cannot be listed only warn. It returns the webhook flows to hold (see
// engine.Engine.SetHeld) because their connection lacks a scope: they stay
// loaded, answer 429 and their runs wait until it is fixed.
func (s *server) checkFlows(ctx context.Context, loaded *flow.Loaded) map[string]error {
	held := map[string]error{}
	if s.manager != nil {
		for name, err := range authCheckFlows(ctx, s.manager, loaded, s.log) {
			held[name] = fmt.Errorf("%w; check with `ghlsync auth check --flows %s`", err, s.flowsDir)
		}
	}
	logged := map[*flow.Error]bool{}
	for _, p := range loaded.Errors {
		logged[p] = true
	}
	for _, w := range engine.CheckCustomFields(ctx, loaded, s.conns) {
		s.log.Warn("custom fields could not be checked; the flow stays loaded", "problem", w.Error())
	}
	for _, p := range loaded.Errors {
		if !logged[p] {
			s.log.Error("flow not loaded", "problem", p.Error())
		}
	}
	return held
}

// reload reads the flows folder again and swaps in what loads, with every
// check serve applies at start. A file with problems is reported, and the
// flow it held before keeps running in its previous version; a removed file
// stops its flow. When the folder cannot be read, nothing changes.
func (s *server) reload(ctx context.Context) (web.ReloadResult, error) {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	s.log.Info("reloading flows", "folder", s.flowsDir)
	loaded, err := loadFlows(s.flowsDir, s.log)
	if err != nil {
		s.log.Error("flows not reloaded; the running ones stay", "error", err)
		return web.ReloadResult{}, fmt.Errorf("reload: %w", err)
	}
	held := s.checkFlows(ctx, loaded)
	kept := loaded.KeepPrevious(s.Engine.Flows())
	for _, name := range kept {
		s.log.Warn("flow file has problems; its previous version stays active", "flow", name)
		// The previous version was checked when it loaded: it stays held
		// if it was.
		if err := s.Engine.Held(name); err != nil {
			held[name] = err
		}
	}
	s.Engine.SetFlows(loaded)
	s.Engine.SetHeld(held)
	s.Web.ReloadSources()
	res := web.ReloadResult{Flows: []string{}, Problems: []web.FlowProblem{}, KeptPrevious: []string{}, Unavailable: map[string]string{}}
	res.KeptPrevious = append(res.KeptPrevious, kept...)
	for _, f := range loaded.Flows {
		res.Flows = append(res.Flows, f.Name)
		if err := s.Web.Unavailable(f.Name); err != nil {
			res.Unavailable[f.Name] = err.Error()
		}
	}
	for _, p := range loaded.Errors {
		res.Problems = append(res.Problems, web.FlowProblem{Where: p.Pos.String(), Message: p.Msg})
	}
	s.log.Info("flows reloaded", "flows", len(res.Flows), "problems", len(res.Problems), "kept_previous", len(kept))
	return res, nil
}

// startServer opens the database, loads the flows, starts the engine and
// listens. Stop it with shutdown.
func startServer(ctx context.Context, o *serveOptions) (*server, error) {
	logOut := o.logOut
	if logOut == nil {
		logOut = os.Stderr
	}
	log, err := newLogger(logOut, o.logLevel, o.logFormat)
	if err != nil {
		return nil, &exitError{code: 2, err: err}
	}
	if err := checkAccess(o); err != nil {
		return nil, &exitError{code: 2, err: err}
	}
	if o.insecureNoAuth && o.adminToken == "" && !loopbackAddr(o.addr) {
		log.Warn("the dashboard and JSON API are served without authentication on a non-loopback address (--insecure-no-auth)", "addr", o.addr)
	}
	loaded, err := loadFlows(o.flowsDir, log)
	if err != nil {
		return nil, &exitError{code: 2, err: fmt.Errorf("%w (set --flows to the folder of your flow files)", err)}
	}
	st, err := store.Open(ctx, store.Options{Path: o.db, URL: o.databaseURL, Logger: log})
	if err != nil {
		return nil, err
	}
	conns := o.connections
	secrets := o.secrets
	var (
		callback http.Handler
		manager  *auth.Manager
	)
	if conns == nil {
		ghlCfg := ghl.Config{BaseURL: o.baseURL, Logger: log, UserAgent: "ghlsync/" + version,
			Limiter: ghl.NewLimiter(ghl.LimiterOptions{Disabled: o.noClientLimit}),
			// Quick retries in process; River retries longer outages.
			Retry: ghl.RetryPolicy{MaxAttempts: 3, BaseDelay: 200 * time.Millisecond, MaxDelay: 5 * time.Second}}
		if o.token != "" {
			conns = &engine.StaticConnections{Token: o.token, LocationID: o.locationID, CompanyID: o.companyID,
				Timezone: o.timezone, Config: ghlCfg}
			if secrets == nil {
				// Connections come from the token, but secret: vault:NAME
				// still reads the vault.
				secrets = tokenModeSecretLookup(st, sqlitePath(o.db, o.databaseURL), o.keyFile)
			}
		} else {
			m, ac, err := authForServe(ctx, st, o.db, o.keyFile, ghlCfg, log)
			if err != nil {
				st.Close()
				return nil, fmt.Errorf("stored connections: %w (or set GHLSYNC_TOKEN to act through one Private Integration Token)", err)
			}
			manager, conns = m, ac
			if secrets == nil {
				secrets = authSecretLookup(m)
			}
			callback = m.CallbackHandler()
		}
	}
	s := &server{flowsDir: o.flowsDir, conns: conns, manager: manager, log: log}
	held := s.checkFlows(ctx, loaded)
	eng, err := engine.New(engine.Config{
		Store: st, Flows: loaded, Connections: conns, Logger: log, Workers: o.workers,
		MaxAttempts: o.maxAttempts, JobTimeout: o.jobTimeout, Redactor: redact.New(o.redactFields...),
		Retain: time.Duration(o.retain), RawLimit: o.rawLimit, PollMaxPages: o.pollMaxPages, KeepCaptures: o.keepCaptures,
	})
	if err != nil {
		st.Close()
		return nil, err
	}
	eng.SetHeld(held)
	s.Engine = eng
	ws, err := web.New(web.Config{Engine: eng, Logger: log, MaxBody: o.maxBody, Secrets: secrets,
		AdminToken: o.adminToken, PublicMetrics: o.publicMetrics, PublicURL: o.publicURL, Reload: s.reload})
	if err != nil {
		st.Close()
		return nil, err
	}
	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("listen on %s: %w", o.addr, err)
	}
	if err := eng.Start(ctx); err != nil {
		ln.Close()
		st.Close()
		return nil, err
	}
	var handler http.Handler = ws
	if callback != nil {
		mux := http.NewServeMux()
		mux.Handle("/oauth/callback", callback)
		mux.Handle("/", handler)
		handler = mux
	}
	s.URL, s.Store, s.Web, s.adminToken = "http://"+ln.Addr().String(), st, ws, o.adminToken != ""
	s.publicURL = strings.TrimRight(o.publicURL, "/")
	s.timeout, s.errc = o.shutdownTimeout, make(chan error, 1)
	s.http = &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute,
		WriteTimeout: time.Minute, IdleTimeout: 2 * time.Minute}
	go func() { s.errc <- s.http.Serve(ln) }()
	log.Info("serving", "url", s.URL, "flows", len(loaded.Flows), "database", st.String())
	if runtime.GOOS != "windows" {
		log.Info("send SIGHUP (or POST /api/reload) to reload the flows folder")
	}
	return s, nil
}

// shutdown stops intake, then the engine (running steps get the shutdown
// timeout), and closes the database last.
func (s *server) shutdown() error {
	hctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	herr := s.http.Shutdown(hctx)
	ectx, cancel2 := context.WithTimeout(context.Background(), s.timeout)
	defer cancel2()
	eerr := s.Engine.Stop(ectx)
	cerr := s.Store.Close()
	s.log.Info("stopped")
	return errors.Join(herr, eerr, cerr)
}

func runServe(ctx context.Context, o *serveOptions, out io.Writer) error {
	// SIGHUP reloads the flows folder (listened for before the server
	// answers, so a reload asked for once it is up is never lost).
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	s, err := startServer(ctx, o)
	if err != nil {
		return err
	}
	printServing(out, s)
	for {
		select {
		case <-ctx.Done():
			return s.shutdown()
		case <-hup:
			rctx, cancel := context.WithTimeout(ctx, time.Minute)
			_, _ = s.reload(rctx) // logged
			cancel()
		case err := <-s.errc:
			if err != nil && !errors.Is(err, http.ErrServerClosed) {
				s.shutdown()
				return fmt.Errorf("serve: %w", err)
			}
			return s.shutdown()
		}
	}
}

func printServing(out io.Writer, s *server) {
	fmt.Fprintf(out, "ghlsync serving on %s (dashboard: %s/)\n", s.URL, s.URL)
	if s.adminToken {
		fmt.Fprintln(out, "  the dashboard, /api and /metrics ask for the admin token; /hooks and /healthz are open")
	}
	hooks := s.URL
	if s.publicURL != "" {
		hooks = s.publicURL
		fmt.Fprintf(out, "  senders reach it at %s (--public-url)\n", s.publicURL)
	}
	loaded := s.Engine.Flows()
	heldN := 0
	for _, f := range loaded.Flows {
		switch {
		case f.Trigger.Webhook != nil:
			fmt.Fprintf(out, "  %-24s POST %s/hooks/%s (%s)\n", f.Name, hooks, f.Name, f.Trigger.Webhook.Source)
			if err := s.Web.SourceError(f.Name); err != nil {
				fmt.Fprintf(out, "  %-24s   not taking deliveries: %v\n", "", err)
			}
			if err := s.Engine.Held(f.Name); err != nil {
				fmt.Fprintf(out, "  %-24s   not taking deliveries (429) until its connection has the scopes: %v\n", "", err)
				heldN++
			}
		case f.Trigger.Poll != nil:
			fmt.Fprintf(out, "  %-24s polls %s every %s\n", f.Name, f.Trigger.Poll.Op, f.Trigger.Poll.Every)
		}
	}
	if n := len(loaded.Errors); n > 0 {
		fmt.Fprintf(out, "  %d problem(s) kept some flow files from loading; see the log, `ghlsync flows validate %s`"+
			" and `ghlsync auth check --flows %s`\n", n, s.flowsDir, s.flowsDir)
	}
	if heldN > 0 {
		fmt.Fprintf(out, "  %d flow(s) lack a scope on their connection; see `ghlsync auth check --flows %s`, then re-authorise (auth login or add-token --scope)\n",
			heldN, s.flowsDir)
	}
}
