package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sync/singleflight"
	"golang.org/x/term"

	"github.com/ghlsync/ghlsync/internal/auth"
	"github.com/ghlsync/ghlsync/internal/engine"
	"github.com/ghlsync/ghlsync/internal/flow"
	"github.com/ghlsync/ghlsync/internal/ghl"
	"github.com/ghlsync/ghlsync/internal/ghl/catalog"
	"github.com/ghlsync/ghlsync/internal/source"
	"github.com/ghlsync/ghlsync/internal/store"
	"github.com/ghlsync/ghlsync/internal/textdist"
)

func init() { commands = append(commands, newAuthCmd) }

// authGlobals are the flags every auth subcommand shares: where the
// database and the vault key live, and which API host to talk to.
type authGlobals struct {
	dbPath  string
	dbURL   string
	keyFile string
	baseURL string
	verbose bool
}

func authEnv(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func newAuthCmd() *cobra.Command {
	g := &authGlobals{}
	cmd := &cobra.Command{
		Use:   "auth",
		Short: "Manage GoHighLevel connections: OAuth logins, Private Integration Tokens, the token vault",
		Long: `Connections are GoHighLevel credentials flows refer to by name: an OAuth app
authorised on a location or agency (tokens refresh by themselves), or a Private
Integration Token. Every token is sealed with AES-256-GCM before it reaches the
database; the key comes from GHLSYNC_SECRET_KEY or a key file (mode 0600) created
beside the database on first use.`,
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&g.dbPath, "db", authEnv("GHLSYNC_DB", store.DefaultPath), "SQLite database file (env GHLSYNC_DB)")
	pf.StringVar(&g.dbURL, "database-url", os.Getenv("GHLSYNC_DATABASE_URL"), "database URL, postgres://... (env GHLSYNC_DATABASE_URL); wins over --db")
	pf.StringVar(&g.keyFile, "key-file", os.Getenv(auth.EnvKeyFile), "vault key file when GHLSYNC_SECRET_KEY is unset (env GHLSYNC_KEY_FILE; default beside the SQLite file)")
	pf.StringVar(&g.baseURL, "base-url", authEnv("GHLSYNC_BASE_URL", ghl.DefaultBaseURL), "GoHighLevel API base URL (env GHLSYNC_BASE_URL), e.g. the sandbox's")
	pf.BoolVarP(&g.verbose, "verbose", "v", false, "log connection events to stderr")
	cmd.AddCommand(
		newAuthLoginCmd(g), newAuthAddTokenCmd(g), newAuthListCmd(g), newAuthShowCmd(g), newAuthTestCmd(g),
		newAuthRevokeCmd(g), newAuthRotateKeyCmd(g), newAuthCheckCmd(g), newAuthSecretCmd(g),
	)
	return groupCommand(cmd)
}

// authOpen opens an existing store, its vault and a Manager; it creates
// nothing (see authOpenCreate).
func authOpen(ctx context.Context, g *authGlobals, stderr io.Writer) (*auth.Manager, func(), error) {
	return authOpenMode(ctx, g, stderr, false)
}

// authOpenCreate is authOpen for the commands that store a connection or a
// secret: it creates the database and the vault key file when missing.
func authOpenCreate(ctx context.Context, g *authGlobals, stderr io.Writer) (*auth.Manager, func(), error) {
	return authOpenMode(ctx, g, stderr, true)
}

func authOpenMode(ctx context.Context, g *authGlobals, stderr io.Writer, create bool) (*auth.Manager, func(), error) {
	opts := store.Options{Path: g.dbPath, URL: g.dbURL}
	var (
		st  *store.Store
		err error
	)
	if create {
		st, err = store.Open(ctx, opts)
	} else {
		st, err = openExisting(ctx, opts)
	}
	if err != nil {
		return nil, nil, err
	}
	dbPath := ""
	if st.Dialect() == store.SQLite {
		dbPath = g.dbPath
		if strings.HasPrefix(g.dbURL, "sqlite:") {
			dbPath = strings.TrimPrefix(strings.TrimPrefix(g.dbURL, "sqlite:"), "//")
		}
	}
	v, err := auth.LoadVault(auth.VaultOptions{KeyFile: g.keyFile, DBPath: dbPath, NoCreate: !create})
	if err != nil {
		st.Close()
		if !create && errors.Is(err, os.ErrNotExist) {
			return nil, nil, &exitError{code: 1, err: fmt.Errorf("%w: nothing has been stored in the vault of this database yet "+
				"(store a connection with `ghlsync auth add-token` or `ghlsync auth login`; or set GHLSYNC_SECRET_KEY or --key-file)", err)}
		}
		return nil, nil, err
	}
	if err := auth.CheckVault(ctx, st, v); err != nil {
		st.Close()
		return nil, nil, err
	}
	logger := slog.New(slog.DiscardHandler)
	if g.verbose {
		logger = slog.New(slog.NewTextHandler(stderr, nil))
	}
	m, err := auth.NewManager(auth.Options{Store: st, Vault: v, Logger: logger,
		GHL: ghl.Config{BaseURL: g.baseURL, UserAgent: "ghlsync/" + version, Logger: logger}})
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	return m, func() { st.Close() }, nil
}

// documentedScopes are GoHighLevel's OAuth scopes beyond those the catalog's
// operations name (the API v2 reference lists these too): a token may be
// granted them for endpoints or webhook events outside the catalog.
var documentedScopes = []string{
	"adPublishing.readonly", "adPublishing.write", "affiliate-manager.readonly", "agent-studio.readonly",
	"agent-studio.write", "associations.readonly", "associations.write", "associations/relation.readonly",
	"associations/relation.write", "blogs/author.readonly", "blogs/category.readonly", "blogs/check-slug.readonly",
	"blogs/list.readonly", "blogs/post-update.write", "blogs/post.write", "blogs/posts.readonly",
	"brand-boards/design-kit.readonly", "brand-boards/design-kit.write", "businesses.readonly", "businesses.write",
	"calendars.readonly", "calendars.write", "calendars/events.readonly", "calendars/events.write",
	"calendars/groups.readonly", "calendars/groups.write", "calendars/resources.readonly", "calendars/resources.write",
	"campaigns.readonly", "charges.readonly", "charges.write", "companies.readonly", "contacts.readonly",
	"contacts.write", "conversation-ai.readonly", "conversation-ai.write", "conversations.readonly",
	"conversations.write", "conversations/livechat.write", "conversations/message.readonly",
	"conversations/message.write", "custom-menu-link.readonly", "custom-menu-link.write", "emails/builder.readonly",
	"emails/builder.write", "emails/schedule.readonly", "forms.readonly", "forms.write", "funnels/funnel.readonly",
	"funnels/page.readonly", "funnels/pagecount.readonly", "funnels/redirect.readonly", "funnels/redirect.write",
	"invoices.readonly", "invoices.write", "invoices/estimate.readonly", "invoices/estimate.write",
	"invoices/schedule.readonly", "invoices/schedule.write", "invoices/template.readonly", "invoices/template.write",
	"links.readonly", "links.write", "locations.internal-access-only", "locations.readonly", "locations.write",
	"locations/customFields.readonly", "locations/customFields.write", "locations/customValues.readonly",
	"locations/customValues.write", "locations/tags.readonly", "locations/tags.write", "locations/tasks.readonly",
	"locations/templates.readonly", "marketplace-external-auth-migration.write", "marketplace-installer-details.readonly",
	"medias.readonly", "medias.write", "numberpools.read", "oauth.readonly", "oauth.write", "objects/record.readonly",
	"objects/record.write", "objects/schema.readonly", "objects/schema.write", "opportunities.readonly",
	"opportunities.write", "payments/coupons.readonly", "payments/coupons.write", "payments/custom-provider.readonly",
	"payments/custom-provider.write", "payments/integration.readonly", "payments/integration.write",
	"payments/orders.collectPayment", "payments/orders.readonly", "payments/orders.write",
	"payments/subscriptions.readonly", "payments/transactions.readonly", "phonenumbers.read", "phonenumbers.write",
	"products.readonly", "products.write", "products/collection.readonly", "products/collection.write",
	"products/prices.readonly", "products/prices.write", "saas/company.read", "saas/company.write", "saas/location.read",
	"saas/location.write", "snapshots.readonly", "socialplanner/account.readonly", "socialplanner/account.write",
	"socialplanner/category.readonly", "socialplanner/category.write", "socialplanner/csv.readonly",
	"socialplanner/csv.write", "socialplanner/oauth.readonly", "socialplanner/oauth.write", "socialplanner/post.readonly",
	"socialplanner/post.write", "socialplanner/statistics.readonly", "socialplanner/tag.readonly",
	"socialplanner/tag.write", "surveys.readonly", "users.readonly", "users.write", "voice-ai-agent-goals.readonly",
	"voice-ai-agent-goals.write", "voice-ai-agents.readonly", "voice-ai-agents.write", "voice-ai-dashboard.readonly",
	"workflows.readonly",
}

// knownScopes is the union of the catalog's scopes and documentedScopes.
var knownScopes = sync.OnceValue(func() []string {
	seen := map[string]bool{}
	var out []string
	add := func(s string) {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	for _, op := range catalog.All() {
		for _, s := range op.Scopes {
			add(s)
		}
	}
	for _, s := range documentedScopes {
		add(s)
	}
	slices.Sort(out)
	return out
})

// checkScopes refuses a scope GoHighLevel does not have, suggesting the
// nearest one: a typo would otherwise be recorded as granted.
func checkScopes(scopes []string) error {
	known := knownScopes()
	var errs []error
	for _, s := range scopes {
		if slices.Contains(known, s) {
			continue
		}
		msg := fmt.Sprintf("--scope %q: not a GoHighLevel scope", s)
		if near := textdist.Closest(s, known, 4); near != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", near)
		} else {
			msg += " (see `ghlsync ops list` for each operation's scopes)"
		}
		errs = append(errs, errors.New(msg))
	}
	return errors.Join(errs...)
}

// authScopes splits repeated or space/comma separated --scope values.
func authScopes(in []string) []string {
	var out []string
	for _, s := range in {
		for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == ',' }) {
			if !slices.Contains(out, f) {
				out = append(out, f)
			}
		}
	}
	return out
}

// --- login ---

type authLoginOptions struct {
	name, clientID, clientSecret, redirectURL string
	scopes                                    []string
	flowsDir                                  string
	consentHost, tokenURL, listen             string
	manual                                    bool
	timeout                                   time.Duration
}

func newAuthLoginCmd(g *authGlobals) *cobra.Command {
	o := &authLoginOptions{}
	cmd := &cobra.Command{
		Use:   "login",
		Short: "Connect a location or agency with OAuth 2.0 (authorization code)",
		Long: `login opens GoHighLevel's consent page for your Marketplace app, receives the
redirect on a local listener (when --redirect-url points at this machine), checks
the state, exchanges the code and stores the connection with the location or
company id, user type and scopes GoHighLevel granted.

Scopes: by default exactly those the flows in --flows need (for the flows naming
this connection); --scope overrides. With a redirect URL that is not on this
machine, or with --manual, paste the URL the browser was sent to.

The client secret is best given through GHLSYNC_OAUTH_CLIENT_SECRET.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runAuthLogin(cmd.Context(), g, o, cmd.InOrStdin(), cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.name, "name", auth.DefaultConnection, "connection name flows refer to (flows without connection: use \""+auth.DefaultConnection+"\")")
	f.StringVar(&o.clientID, "client-id", os.Getenv("GHLSYNC_OAUTH_CLIENT_ID"), "Marketplace app client id (env GHLSYNC_OAUTH_CLIENT_ID)")
	f.StringVar(&o.clientSecret, "client-secret", os.Getenv("GHLSYNC_OAUTH_CLIENT_SECRET"), "Marketplace app client secret (env GHLSYNC_OAUTH_CLIENT_SECRET, preferred)")
	f.StringVar(&o.redirectURL, "redirect-url", authEnv("GHLSYNC_OAUTH_REDIRECT_URL", "http://localhost:8787/oauth/callback"), "redirect URL registered on the app (env GHLSYNC_OAUTH_REDIRECT_URL)")
	f.StringSliceVar(&o.scopes, "scope", nil, "scopes to request (repeat or separate by spaces/commas); default: what the flows need")
	f.StringVar(&o.flowsDir, "flows", authEnv("GHLSYNC_FLOWS", "flows"), "folder of flow files whose scopes to request (env GHLSYNC_FLOWS)")
	f.StringVar(&o.consentHost, "consent-host", auth.DefaultConsentHost, "consent page host (white-label: "+auth.WhiteLabelConsentHost+")")
	f.StringVar(&o.tokenURL, "token-url", "", "token endpoint (default <base-url>/oauth/token)")
	f.StringVar(&o.listen, "listen", "", "address for the local callback listener (default the redirect URL's host:port)")
	f.BoolVar(&o.manual, "manual", false, "do not listen; paste the redirected URL instead")
	f.DurationVar(&o.timeout, "timeout", 15*time.Minute, "how long to wait for the consent")
	return cmd
}

// loginScopes works out which scopes to request.
func loginScopes(o *authLoginOptions, flagSet bool, stderr io.Writer) ([]string, error) {
	if flagSet {
		s := authScopes(o.scopes)
		if len(s) == 0 {
			return nil, errors.New("--scope is empty")
		}
		if err := checkScopes(s); err != nil {
			return nil, &exitError{code: 2, err: err}
		}
		return s, nil
	}
	loaded, err := flow.LoadDir(o.flowsDir)
	if err != nil {
		return nil, fmt.Errorf("no --scope given and the flows folder cannot be read (%w); pass --scope or --flows DIR", err)
	}
	if len(loaded.Errors) > 0 {
		fmt.Fprintf(stderr, "warning: some flow files have problems and were skipped:\n%v\n", loaded.Errors)
	}
	var mine []*flow.Flow
	for _, f := range loaded.Flows {
		if auth.FlowConnection(f) == o.name {
			mine = append(mine, f)
		}
	}
	scopes := auth.FlowScopes(mine)
	if len(scopes) == 0 {
		return nil, fmt.Errorf("no flow in %s uses connection %q, so no scopes are needed; pass --scope to choose them", o.flowsDir, o.name)
	}
	fmt.Fprintf(stderr, "Requesting the scopes the %d flow(s) using connection %q need.\n", len(mine), o.name)
	return scopes, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func runAuthLogin(ctx context.Context, g *authGlobals, o *authLoginOptions, stdin io.Reader, stdout, stderr io.Writer) error {
	scopes, err := loginScopes(o, len(o.scopes) > 0, stderr)
	if err != nil {
		return err
	}
	m, closeFn, err := authOpenCreate(ctx, g, stderr)
	if err != nil {
		return err
	}
	defer closeFn()
	login, err := m.StartLogin(auth.LoginConfig{Name: o.name, ClientID: o.clientID, ClientSecret: o.clientSecret,
		RedirectURL: o.redirectURL, Scopes: scopes, ConsentHost: o.consentHost, BaseURL: g.baseURL, TokenURL: o.tokenURL})
	if err != nil {
		return err
	}
	ru, _ := url.Parse(o.redirectURL)
	listen := o.listen
	if listen == "" && !o.manual && isLoopback(ru.Hostname()) {
		listen = ru.Host
		if ru.Port() == "" {
			listen = net.JoinHostPort(ru.Hostname(), map[string]string{"http": "80", "https": "443"}[ru.Scheme])
		}
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	fmt.Fprintf(stderr, "Open this URL in a browser and approve the app:\n\n  %s\n\n", login.URL)

	var info auth.ConnInfo
	if listen != "" && !o.manual {
		path := ru.Path
		if path == "" {
			path = "/"
		}
		mux := http.NewServeMux()
		mux.Handle(path, m.CallbackHandler())
		ln, err := net.Listen("tcp", listen)
		if err != nil {
			return fmt.Errorf("listen for the OAuth callback on %s: %w (use --listen or --manual)", listen, err)
		}
		srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		go srv.Serve(ln)
		defer func() {
			sctx, scancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer scancel()
			srv.Shutdown(sctx)
		}()
		fmt.Fprintf(stderr, "Waiting for GoHighLevel to redirect to %s ...\n", o.redirectURL)
		info, err = login.Wait(ctx)
		if err != nil {
			return err
		}
	} else {
		fmt.Fprint(stderr, "After approving, paste the full URL your browser was sent to and press Enter:\n> ")
		line, err := bufio.NewReader(stdin).ReadString('\n')
		if err != nil && line == "" {
			return fmt.Errorf("read the redirected URL: %w", err)
		}
		state, code, err := auth.ParseCallbackURL(line)
		if err != nil {
			return err
		}
		if info, err = m.CompleteLogin(ctx, state, code); err != nil {
			return err
		}
	}
	fmt.Fprintf(stdout, "Connected %q: %s %s, scopes: %s\n", info.Name, info.UserType, orDash(info.ResourceID()), strings.Join(info.Scopes, " "))
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// --- add-token ---

func newAuthAddTokenCmd(g *authGlobals) *cobra.Command {
	var (
		name, location, company, tokenFlag string
		scopes                             []string
		noVerify                           bool
	)
	cmd := &cobra.Command{
		Use:   "add-token",
		Short: "Store a Private Integration Token (read from stdin)",
		Long: `add-token reads a Private Integration Token from standard input (typed without
echo on a terminal, or piped), checks it with a cheap API v2 call, and stores it
sealed as a static connection. Legacy v1 API keys are refused.

  ghlsync auth add-token --name main --location LOCATION_ID < token.txt

--scope records the scopes you gave the token in GoHighLevel, so flows can be
checked against them; without it scope checks cannot judge this connection.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkScopes(authScopes(scopes)); err != nil {
				return &exitError{code: 2, err: err}
			}
			tok := tokenFlag
			if tok == "" {
				var err error
				if tok, err = readSecret(cmd.InOrStdin(), cmd.ErrOrStderr(), "Private Integration Token: ",
					"token", "ghlsync auth add-token ... < token.txt"); err != nil {
					return err
				}
			}
			m, closeFn, err := authOpenCreate(cmd.Context(), g, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			defer closeFn()
			var sc []string
			if len(scopes) > 0 {
				sc = authScopes(scopes)
			}
			info, verified, err := m.AddPIT(cmd.Context(), auth.PITOptions{Name: name, LocationID: location, CompanyID: company,
				Token: tok, Scopes: sc, BaseURL: g.baseURL, SkipVerify: noVerify})
			if err != nil {
				if errors.Is(err, ghl.ErrLegacyAPIKey) {
					return &exitError{code: 2, err: err}
				}
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Stored %q: Private Integration Token %s for %s %s (%s)\n", info.Name, info.AccessFingerprint,
				strings.ToLower(info.UserType), info.ResourceID(), verified)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&name, "name", auth.DefaultConnection, "connection name flows refer to (flows without connection: use \""+auth.DefaultConnection+"\")")
	f.StringVar(&location, "location", "", "sub-account (location) id the token belongs to")
	f.StringVar(&company, "company", "", "agency (company) id, for an agency token")
	f.StringSliceVar(&scopes, "scope", nil, "scopes the token was created with (optional)")
	f.StringVar(&tokenFlag, "token", "", "the token (prefer stdin: argv is visible to other users)")
	f.BoolVar(&noVerify, "no-verify", false, "store without the check call")
	return cmd
}

// readSecret reads one line from stdin; on a terminal it prompts and does
// not echo. what names the value and example the command to pipe it into,
// for the error when stdin is empty.
func readSecret(stdin io.Reader, stderr io.Writer, prompt, what, example string) (string, error) {
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(stderr, prompt)
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(stderr)
		if err != nil {
			return "", fmt.Errorf("read %s: %w", what, err)
		}
		return strings.TrimSpace(string(b)), nil
	}
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read %s from stdin: %w", what, err)
	}
	s := strings.TrimSpace(line)
	if s == "" {
		return "", fmt.Errorf("no %s on stdin (pipe it in: %s)", what, example)
	}
	return s, nil
}

// --- list / show ---

func newAuthListCmd(g *authGlobals) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List connections (tokens shown only as fingerprints)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			m, closeFn, err := authOpen(cmd.Context(), g, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			defer closeFn()
			list, err := m.List(cmd.Context())
			if err != nil {
				return err
			}
			if output == "json" {
				return authJSON(cmd.OutOrStdout(), list)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tKIND\tTYPE\tRESOURCE\tSTATUS\tEXPIRES\tTOKEN\tSCOPES")
			for _, i := range list {
				exp := "never"
				if !i.ExpiresAt.IsZero() {
					exp = i.ExpiresAt.Local().Format("2006-01-02 15:04")
				}
				sc := fmt.Sprint(len(i.Scopes))
				if !i.ScopesKnown {
					sc = "unknown"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", i.Name, i.Kind, i.UserType, orDash(i.ResourceID()), i.Status, exp, orDash(i.AccessFingerprint), sc)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output format: table|json")
	return cmd
}

func authJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func newAuthShowCmd(g *authGlobals) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "show NAME",
		Short: "Show one connection (tokens shown only as fingerprints)",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			m, closeFn, err := authOpen(cmd.Context(), g, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			defer closeFn()
			i, err := m.Describe(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if output == "json" {
				return authJSON(cmd.OutOrStdout(), i)
			}
			w := cmd.OutOrStdout()
			row := func(k, v string) {
				if v != "" {
					fmt.Fprintf(w, "%-15s %s\n", k+":", v)
				}
			}
			ts := func(t time.Time) string {
				if t.IsZero() {
					return ""
				}
				return t.Local().Format(time.RFC3339)
			}
			row("name", i.Name)
			row("kind", map[string]string{store.ConnOAuth: "oauth (refreshing)", store.ConnPIT: "private integration token (static)"}[i.Kind])
			row("user type", i.UserType)
			row("location", i.LocationID)
			row("company", i.CompanyID)
			row("user", i.UserID)
			row("status", i.Status)
			row("reason", i.StatusReason)
			if i.ScopesKnown {
				row("scopes", strings.Join(i.Scopes, " "))
			} else {
				row("scopes", "unknown (declare them with add-token --scope)")
			}
			row("api", i.BaseURL)
			row("client id", i.ClientID)
			row("access token", i.AccessFingerprint)
			row("refresh token", i.RefreshFingerprint)
			if i.Kind == store.ConnPIT {
				row("expires", "never")
			} else {
				row("expires", ts(i.ExpiresAt))
			}
			row("refreshed", ts(i.RefreshedAt))
			row("created", ts(i.CreatedAt))
			row("last error", i.LastError)
			row("next attempt", ts(i.NextRefreshAt))
			return nil
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text|json")
	return cmd
}

// --- test / revoke ---

func newAuthTestCmd(g *authGlobals) *cobra.Command {
	return &cobra.Command{
		Use:   "test NAME",
		Short: "Check a connection works: get a token (refreshing if due) and make a cheap API call",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			m, closeFn, err := authOpen(cmd.Context(), g, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			defer closeFn()
			ctx, cancel := context.WithTimeout(cmd.Context(), 2*time.Minute)
			defer cancel()
			res, err := m.Test(ctx, args[0])
			if err != nil {
				return &exitError{code: 1, err: err}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: OK (%s)\n", args[0], res)
			return nil
		},
	}
}

func newAuthRevokeCmd(g *authGlobals) *cobra.Command {
	return &cobra.Command{
		Use:   "revoke NAME",
		Short: "Delete a connection's tokens and mark it revoked (its flows pause)",
		Long: `revoke deletes the connection's stored tokens and client secret and marks it
revoked; flows using it pause until it is connected again. It does not uninstall
the app in GoHighLevel: do that there to invalidate tokens already issued.`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			m, closeFn, err := authOpen(cmd.Context(), g, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			defer closeFn()
			if err := m.Revoke(cmd.Context(), args[0]); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Revoked %q: its tokens are deleted.\n", args[0])
			return nil
		},
	}
}

// --- rotate-key ---

func newAuthRotateKeyCmd(g *authGlobals) *cobra.Command {
	var prune bool
	cmd := &cobra.Command{
		Use:   "rotate-key",
		Short: "Re-seal every token and secret under a new vault key, in one transaction",
		Long: `With a key file: a new random key becomes the file's active key (the old one
stays as a retired key), then every sealed value in the database is re-sealed
under it in one transaction. Run again with --prune once every ghlsync process
has restarted, to drop retired keys no value uses.

With GHLSYNC_SECRET_KEY: put the new key in GHLSYNC_SECRET_KEY and the old one in
GHLSYNC_SECRET_KEY_PREVIOUS, run rotate-key, then restart the servers with only
the new key.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			m, closeFn, err := authOpen(cmd.Context(), g, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			defer closeFn()
			v := m.Vault()
			old := v.ActiveKeyID()
			res, err := auth.RotateKey(cmd.Context(), m.Store(), v, !prune, prune)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if res.Generated {
				fmt.Fprintf(w, "New key %s written to %s (previous key %s kept as retired).\n", res.NewKeyID, v.KeyFile(), old)
			}
			fmt.Fprintf(w, "Re-sealed %d of %d stored values under key %s.\n", res.Resealed, res.Values, res.NewKeyID)
			if len(res.PrunedKeys) > 0 {
				fmt.Fprintf(w, "Removed retired keys: %s\n", strings.Join(res.PrunedKeys, ", "))
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&prune, "prune", false, "do not generate a key; re-seal under the active key and drop retired keys no value uses")
	return cmd
}

// --- check ---

func newAuthCheckCmd(g *authGlobals) *cobra.Command {
	var flowsDir string
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Check that each flow's connection exists, is active and has the scopes the flow needs",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			loaded, err := flow.LoadDir(flowsDir)
			if err != nil {
				return err
			}
			m, closeFn, err := authOpen(cmd.Context(), g, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			defer closeFn()
			w := cmd.OutOrStdout()
			bad := 0
			for _, e := range loaded.Errors {
				bad++
				fmt.Fprintf(w, "FAIL %s\n", e)
			}
			for _, f := range loaded.Flows {
				if err := m.CheckFlow(cmd.Context(), f); err != nil {
					bad++
					fmt.Fprintf(w, "FAIL %s\n", err)
					continue
				}
				info, _ := m.Status(cmd.Context(), auth.FlowConnection(f))
				if err := info.Err(); err != nil {
					bad++
					fmt.Fprintf(w, "FAIL flow %s: %s\n", f.Name, err)
					continue
				}
				fmt.Fprintf(w, "ok   flow %s (connection %s)\n", f.Name, auth.FlowConnection(f))
			}
			if bad > 0 {
				return &exitError{code: 1, err: fmt.Errorf("%d flow(s) cannot run with their connection", bad)}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&flowsDir, "flows", authEnv("GHLSYNC_FLOWS", "flows"), "folder of flow files (env GHLSYNC_FLOWS)")
	return cmd
}

// --- secret ---

func newAuthSecretCmd(g *authGlobals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "secret",
		Short: "Store named secrets (webhook signing secrets) in the vault, for `secret: vault:NAME` in flows",
	}
	set := &cobra.Command{
		Use:   "set NAME",
		Short: "Store a secret read from stdin",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			val, err := readSecret(cmd.InOrStdin(), cmd.ErrOrStderr(), "Secret value: ",
				"secret", "ghlsync auth secret set "+args[0]+" < secret.txt")
			if err != nil {
				return err
			}
			m, closeFn, err := authOpenCreate(cmd.Context(), g, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			defer closeFn()
			if err := m.Secrets().Put(cmd.Context(), args[0], val); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Stored secret %q (%s); refer to it as vault:%s\n", args[0], auth.Fingerprint(val), args[0])
			return nil
		},
	}
	list := &cobra.Command{
		Use:   "list",
		Short: "List secret names",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			m, closeFn, err := authOpen(cmd.Context(), g, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			defer closeFn()
			names, err := m.Secrets().Names(cmd.Context())
			if err != nil {
				return err
			}
			for _, n := range names {
				fmt.Fprintln(cmd.OutOrStdout(), n)
			}
			return nil
		},
	}
	del := &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete a secret",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			m, closeFn, err := authOpen(cmd.Context(), g, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			defer closeFn()
			return m.Secrets().Delete(cmd.Context(), args[0])
		},
	}
	cmd.AddCommand(set, list, del)
	return groupCommand(cmd)
}

// --- serving flows through stored connections ---

// authConnections serves flows' connections from the database through an
// auth.Manager, as the engine's Connections. A flow without connection:
// uses auth.DefaultConnection.
type authConnections struct {
	m   *auth.Manager
	log *slog.Logger
	mu  sync.Mutex
	tz  map[string]authTZ // by connection + location
	sf  singleflight.Group
	// noScope marks the locations whose missing scope was reported.
	noScope map[string]bool
}

type authTZ struct {
	zone    string
	retryAt time.Time // zero once known
}

func newAuthConnections(m *auth.Manager, log *slog.Logger) *authConnections {
	return &authConnections{m: m, log: log, tz: map[string]authTZ{}, noScope: map[string]bool{}}
}

// Client returns the connection's client; a connection that needs a person
// (re-authorise, revoked, unknown) or is backing off after a failed refresh
// comes back as *engine.ConnectionPausedError.
func (a *authConnections) Client(ctx context.Context, name string) (*ghl.Client, engine.ConnInfo, error) {
	if name == "" {
		name = auth.DefaultConnection
	}
	c, info, err := a.m.Client(ctx, name)
	if err != nil {
		return nil, engine.ConnInfo{Name: name}, err
	}
	return c, engine.ConnInfo{Name: name, LocationID: info.LocationID, CompanyID: info.CompanyID, Timezone: a.timezone(ctx, name, c, info)}, nil
}

// timezone reads a location's zone once (locations.get); a failure is
// retried after five minutes and reads as "" (UTC) meanwhile. A connection
// known to lack locations.readonly is not asked: GoHighLevel would answer
// 401, and the client would spend a token refresh on it.
func (a *authConnections) timezone(ctx context.Context, name string, c *ghl.Client, info auth.ConnInfo) string {
	if info.LocationID == "" {
		return ""
	}
	key := name + "\x00" + info.LocationID
	a.mu.Lock()
	cached, ok := a.tz[key]
	a.mu.Unlock()
	if ok && (cached.retryAt.IsZero() || time.Now().Before(cached.retryAt)) {
		return cached.zone
	}
	if info.ScopesKnown && !slices.Contains(info.Scopes, "locations.readonly") {
		a.mu.Lock()
		warned := a.noScope[key]
		a.noScope[key] = true
		a.mu.Unlock()
		if warned {
			return ""
		}
		a.log.Warn("connection lacks locations.readonly, so its location's time zone cannot be read; flows use UTC for its dates",
			"connection", name, "location", info.LocationID)
		return ""
	}
	// Runs starting together share one lookup.
	zone, _, _ := a.sf.Do(key, func() (any, error) { return a.lookupTimezone(ctx, key, c, info), nil })
	return zone.(string)
}

func (a *authConnections) lookupTimezone(ctx context.Context, key string, c *ghl.Client, info auth.ConnInfo) string {
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var body struct {
		Location struct {
			Timezone string `json:"timezone"`
		} `json:"location"`
	}
	res, err := c.Do(cctx, "locations.get", ghl.Params{Path: map[string]string{"locationId": info.LocationID}})
	if err == nil {
		err = res.Decode(&body)
	}
	entry := authTZ{zone: body.Location.Timezone}
	if err != nil {
		entry = authTZ{retryAt: time.Now().Add(5 * time.Minute)}
	}
	a.mu.Lock()
	a.tz[key] = entry
	a.mu.Unlock()
	return entry.zone
}

// authPauseError turns connection errors that wait for a person, or for a
// refresh back-off, into the engine's paused-connection error, so runs are
// snoozed instead of spending attempts.
func authPauseError(conn string, err error) error {
	var ce *auth.ConnError
	if !errors.As(err, &ce) {
		return err
	}
	pause := 5 * time.Minute
	if errors.Is(err, auth.ErrRefreshBackoff) {
		pause = time.Minute
		if !ce.Next.IsZero() {
			pause = max(time.Until(ce.Next), time.Second)
		}
	}
	return &engine.ConnectionPausedError{Name: conn, Reason: err.Error(), PauseFor: pause}
}

// authForServe loads the vault for the store (GHLSYNC_SECRET_KEY or the key
// file beside a SQLite database), checks it opens the stored values, and
// returns a Manager whose clients report paused connections to the engine.
func authForServe(ctx context.Context, st *store.Store, dbPath, keyFile string, cfg ghl.Config, log *slog.Logger) (*auth.Manager, *authConnections, error) {
	if st.Dialect() != store.SQLite {
		dbPath = ""
	}
	v, err := auth.LoadVault(auth.VaultOptions{KeyFile: keyFile, DBPath: dbPath})
	if err != nil {
		return nil, nil, err
	}
	if err := auth.CheckVault(ctx, st, v); err != nil {
		return nil, nil, err
	}
	m, err := auth.NewManager(auth.Options{Store: st, Vault: v, GHL: cfg, Logger: log, MapError: authPauseError})
	if err != nil {
		return nil, nil, err
	}
	return m, newAuthConnections(m, log), nil
}

// authCheckFlows checks each flow's connection holds the scopes the flow
// needs. A webhook flow lacking one stays loaded but held: the returned map
// (flow name → the scope error) lists them, and serve answers their
// deliveries 429 until the connection is re-authorised, so senders retry
// instead of taking a 404 as permanent. A polling flow lacking one moves
// from loaded.Flows to loaded.Errors. Flows whose connection does not exist
// yet stay: their runs wait, paused, until it is added.
func authCheckFlows(ctx context.Context, m *auth.Manager, loaded *flow.Loaded, log *slog.Logger) map[string]error {
	held := map[string]error{}
	kept := loaded.Flows[:0]
	for _, f := range loaded.Flows {
		err := m.CheckFlow(ctx, f)
		var se *auth.ScopeError
		switch {
		case errors.As(err, &se) && f.Trigger.Webhook != nil:
			held[f.Name] = err
			log.Error("webhook flow cannot take deliveries until its connection has the scopes it needs "+
				"(deliveries are answered 429; check with `ghlsync auth check --flows DIR`)", "flow", f.Name, "problem", err.Error())
		case errors.As(err, &se):
			msg := strings.TrimPrefix(err.Error(), f.File+": ")
			// Logged by the caller with the other problems.
			loaded.Errors = append(loaded.Errors, &flow.Error{Pos: f.Pos, Msg: msg + " (check with `ghlsync auth check --flows DIR`)"})
			continue
		case err != nil:
			log.Warn("flow's connection is not usable yet; its runs wait", "flow", f.Name, "problem", err.Error())
		}
		kept = append(kept, f)
	}
	loaded.Flows = kept
	return held
}

// tokenModeSecretLookup resolves webhook secret references when flows act
// through one token (GHLSYNC_TOKEN) and the connections' vault is not open:
// vault:NAME opens the vault of st on first use (never creating a key
// file; a failed open is tried again on the next lookup, such as a reload),
// everything else resolves as the sources do by default.
func tokenModeSecretLookup(st *store.Store, dbPath, keyFile string) source.SecretLookup {
	if st.Dialect() != store.SQLite {
		dbPath = ""
	}
	var (
		mu  sync.Mutex
		sec *auth.Secrets
	)
	return func(ref string) (string, error) {
		if !strings.HasPrefix(strings.TrimSpace(ref), "vault:") {
			return source.DefaultSecretLookup(ref)
		}
		mu.Lock()
		defer mu.Unlock()
		if sec == nil {
			v, err := auth.LoadVault(auth.VaultOptions{KeyFile: keyFile, DBPath: dbPath, NoCreate: true})
			if err != nil {
				return "", fmt.Errorf("secret %s: vault secrets need the vault key that `ghlsync auth secret set` used "+
					"(GHLSYNC_SECRET_KEY, --key-file, or the key file beside the database): %w", strings.TrimSpace(ref), err)
			}
			sec = auth.NewSecrets(st, v)
		}
		return sec.Lookup(ref)
	}
}

// authSecretLookup resolves webhook secret references for the sources:
// vault:NAME from the vault, everything else (env:, file:, literal:) as the
// sources do by default.
func authSecretLookup(m *auth.Manager) source.SecretLookup {
	s := m.Secrets()
	s.Fallback = auth.SecretLookup(source.DefaultSecretLookup)
	return source.SecretLookup(s.Lookup)
}
