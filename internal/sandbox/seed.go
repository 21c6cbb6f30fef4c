package sandbox

import (
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

//go:embed default_seed.yaml
var defaultSeedYAML []byte

// DefaultSeed returns the text of the built-in seed (a template for --seed).
func DefaultSeed() []byte { return slices.Clone(defaultSeedYAML) }

// Seed is the initial data of a sandbox, read from YAML or JSON.
type Seed struct {
	Companies []map[string]any            `yaml:"companies" json:"companies"`
	Locations []map[string]any            `yaml:"locations" json:"locations"`
	Tokens    []SeedToken                 `yaml:"tokens" json:"tokens"`
	Apps      []SeedApp                   `yaml:"apps" json:"apps"`
	Records   map[string][]map[string]any `yaml:"records" json:"records"`

	file string
}

// SeedToken is a Private Integration Token the sandbox accepts.
type SeedToken struct {
	Token      string   `yaml:"token" json:"token"`
	LocationID string   `yaml:"locationId" json:"locationId"`
	CompanyID  string   `yaml:"companyId" json:"companyId"`
	Scopes     []string `yaml:"scopes" json:"scopes"`
}

// SeedApp is an OAuth app (marketplace app) the sandbox knows.
type SeedApp struct {
	ClientID     string   `yaml:"clientId" json:"clientId"`
	ClientSecret string   `yaml:"clientSecret" json:"clientSecret"`
	Name         string   `yaml:"name" json:"name"`
	RedirectURIs []string `yaml:"redirectUris" json:"redirectUris"`
	Scopes       []string `yaml:"scopes" json:"scopes"`
}

// LoadSeed reads a seed file; path "" returns the built-in seed.
func LoadSeed(path string) (*Seed, error) {
	data, name := defaultSeedYAML, "built-in seed"
	if path != "" {
		var err error
		if data, err = os.ReadFile(path); err != nil {
			return nil, fmt.Errorf("sandbox: read seed: %w", err)
		}
		name = filepath.Base(path)
	}
	return ParseSeed(name, data)
}

// ParseSeed parses seed YAML or JSON; name is used in error messages.
func ParseSeed(name string, data []byte) (*Seed, error) {
	var s Seed
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	dec.KnownFields(true)
	if err := dec.Decode(&s); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("sandbox: seed %s is empty (print the built-in seed with `ghlsync sandbox --print-seed` for a template)", name)
		}
		return nil, fmt.Errorf("sandbox: seed %s: %w", name, seedDecodeError(err))
	}
	s.file = name
	if err := s.check(); err != nil {
		return nil, err
	}
	return &s, nil
}

var (
	seedUnknownKey = regexp.MustCompile(`^line (\d+): field (.+) not found in type \S+$`)
	seedWrongType  = regexp.MustCompile(`^line (\d+): cannot unmarshal !!(\w+) (.*?) ?into (\S+)$`)
)

// seedDecodeError rewrites the YAML decoder's type errors in the seed's
// terms: `line 3: unknown key "bogus"` rather than a Go type name.
func seedDecodeError(err error) error {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return err
	}
	msgs := make([]string, 0, len(te.Errors))
	for _, e := range te.Errors {
		switch m := seedUnknownKey.FindStringSubmatch(e); {
		case m != nil:
			msgs = append(msgs, fmt.Sprintf("line %s: unknown key %q", m[1], m[2]))
		default:
			if m := seedWrongType.FindStringSubmatch(e); m != nil {
				want := "a value of another kind"
				switch t := m[4]; {
				case strings.HasPrefix(t, "[]"):
					want = "a list"
				case strings.HasPrefix(t, "map["), strings.HasPrefix(t, "sandbox."):
					want = "a mapping (key: value)"
				case t == "string":
					want = "text"
				}
				got := map[string]string{"str": "text", "int": "a number", "float": "a number", "bool": "true/false",
					"seq": "a list", "map": "a mapping", "null": "nothing"}[m[2]]
				if got == "" {
					got = m[2]
				}
				msgs = append(msgs, fmt.Sprintf("line %s: expected %s, found %s %s", m[1], want, got, strings.TrimSpace(m[3])))
				continue
			}
			msgs = append(msgs, e)
		}
	}
	return errors.New(strings.Join(msgs, "; "))
}

func (s *Seed) errf(format string, a ...any) error {
	return fmt.Errorf("sandbox: seed %s: %s", s.file, fmt.Sprintf(format, a...))
}

func (s *Seed) check() error {
	if len(s.Locations) == 0 {
		return s.errf("locations: at least one location is required")
	}
	ids := map[string]bool{}
	for i, c := range s.Companies {
		id, _ := c["id"].(string)
		if id == "" {
			return s.errf("companies[%d].id is missing", i)
		}
		ids["company:"+id] = true
	}
	for i, l := range s.Locations {
		id, _ := l["id"].(string)
		if id == "" {
			return s.errf("locations[%d].id is missing", i)
		}
		if ids["location:"+id] {
			return s.errf("locations[%d].id %q is used twice", i, id)
		}
		ids["location:"+id] = true
		if co, _ := l["companyId"].(string); co != "" && !ids["company:"+co] {
			return s.errf("locations[%d].companyId %q is not a company of the seed", i, co)
		}
		if tz, _ := l["timezone"].(string); tz != "" {
			if _, err := time.LoadLocation(tz); err != nil {
				return s.errf("locations[%d].timezone %q is not an IANA time zone", i, tz)
			}
		}
		if r, _ := l["duplicateRule"].(string); r != "" && r != "email-then-phone" && r != "phone-then-email" {
			return s.errf("locations[%d].duplicateRule %q: want email-then-phone or phone-then-email", i, r)
		}
	}
	for i, t := range s.Tokens {
		switch {
		case t.Token == "":
			return s.errf("tokens[%d].token is missing", i)
		case (t.LocationID == "") == (t.CompanyID == ""):
			return s.errf("tokens[%d]: set exactly one of locationId and companyId", i)
		case t.LocationID != "" && !ids["location:"+t.LocationID]:
			return s.errf("tokens[%d].locationId %q is not a location of the seed", i, t.LocationID)
		case t.CompanyID != "" && !ids["company:"+t.CompanyID]:
			return s.errf("tokens[%d].companyId %q is not a company of the seed", i, t.CompanyID)
		}
	}
	for i, a := range s.Apps {
		if a.ClientID == "" || a.ClientSecret == "" {
			return s.errf("apps[%d]: clientId and clientSecret are required", i)
		}
	}
	for kind, rows := range s.Records {
		if !slices.Contains(kinds, kind) || kind == "companies" || kind == "locations" {
			return s.errf("records.%s: unknown kind (known: %s)", kind, strings.Join(kinds[2:], ", "))
		}
		for i, r := range rows {
			if id, _ := r["id"].(string); id == "" {
				return s.errf("records.%s[%d].id is missing", kind, i)
			}
			if l, _ := r["locationId"].(string); l != "" && !ids["location:"+l] {
				return s.errf("records.%s[%d].locationId %q is not a location of the seed", kind, i, l)
			}
		}
	}
	return nil
}

// seedOrder builds kinds that others refer to first.
var seedOrder = []string{"users", "customFields", "groups", "calendars", "pipelines", "workflows", "campaigns",
	"snapshots", "businesses", "contacts", "notes", "tasks", "opportunities", "conversations", "messages",
	"appointments", "blockedSlots", "appointmentNotes", "notifications", "resources", "enrolments",
	"associations", "relations", "blogs", "blogAuthors", "blogCategories", "blogPosts"}

// build turns the seed into a fresh state.
func (s *Seed) build(now time.Time) (*state, error) {
	st := newState()
	ts := isoMillis(now)
	for _, c := range s.Companies {
		r := jsonShaped(c)
		setDefault(r, "name", r["id"])
		st.t("companies").put(idOf(r), r)
	}
	for _, l := range s.Locations {
		r := normalizeLocation(jsonShaped(l))
		st.t("locations").put(idOf(r), r)
	}
	firstLoc := idOf(st.t("locations").all()[0])
	for _, t := range s.Tokens {
		tok := token{Kind: "pit", AppID: "pit", Scopes: t.Scopes}
		if t.LocationID != "" {
			tok.UserType, tok.LocationID = "Location", t.LocationID
			tok.Scopes = expandScopes(t.Scopes, "location")
		} else {
			tok.UserType, tok.CompanyID = "Company", t.CompanyID
			tok.Scopes = expandScopes(t.Scopes, "agency")
		}
		st.Tokens[hashToken(t.Token)] = &tok
	}
	for _, a := range s.Apps {
		scopes := a.Scopes
		if slices.Contains(scopes, "*") || len(scopes) == 0 {
			scopes = mergeScopes(AllScopes("location"), AllScopes("agency"))
		}
		st.Apps[a.ClientID] = &oauthApp{ClientID: a.ClientID, SecretHash: hashToken(a.ClientSecret),
			RedirectURIs: a.RedirectURIs, Scopes: scopes, Name: a.Name}
	}
	for _, kind := range seedOrder {
		rows := s.Records[kind]
		for i, in := range rows {
			r := jsonShaped(in)
			ts := ts
			if kind == "messages" || kind == "contacts" || kind == "notes" {
				// Stagger seeded items one minute apart so lists have an order.
				ts = isoMillis(now.Add(time.Duration(i-len(rows)) * time.Minute))
			}
			if kind != "users" && kind != "snapshots" {
				setDefault(r, "locationId", firstLoc)
			}
			if err := normalizeSeedRecord(st, kind, r, ts); err != nil {
				return nil, s.errf("records.%s[%d]: %v", kind, i, err)
			}
			st.t(kind).put(idOf(r), r)
		}
	}
	// Conversations show their last message.
	for _, conv := range st.t("conversations").all() {
		refreshConversation(st, conv)
	}
	return st, nil
}

func expandScopes(scopes []string, typ string) []string {
	if slices.Contains(scopes, "*") {
		return AllScopes(typ)
	}
	return slices.Clone(scopes)
}

func mergeScopes(a, b []string) []string {
	out := slices.Clone(a)
	for _, s := range b {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	slices.Sort(out)
	return out
}

func setDefault(r record, k string, v any) {
	if cur, ok := r[k]; !ok || cur == nil {
		r[k] = v
	}
}

// normalizeLocation gives a location GHL's shape; the sandbox's own settings
// (duplicateRule) stay on the record and are stripped from responses.
func normalizeLocation(r record) record {
	for _, k := range []string{"name", "address", "city", "state", "country", "postalCode", "website", "email", "phone"} {
		setDefault(r, k, "")
	}
	setDefault(r, "timezone", "America/New_York")
	setDefault(r, "duplicateRule", "email-then-phone")
	settings, _ := r["settings"].(map[string]any)
	if settings == nil {
		settings = map[string]any{}
	}
	for _, k := range []string{"allowDuplicateContact", "allowDuplicateOpportunity"} {
		if v, ok := r[k]; ok {
			settings[k] = v
			delete(r, k)
		}
		setDefault(settings, k, false)
	}
	setDefault(settings, "allowFacebookNameMerge", false)
	setDefault(settings, "disableContactTimezone", false)
	r["settings"] = settings
	setDefault(r, "social", map[string]any{})
	return r
}

func normalizeSeedRecord(st *state, kind string, r record, ts string) error {
	loc := str(r, "locationId")
	switch kind {
	case "users":
		normalizeUser(r, ts)
	case "customFields":
		if str(r, "name") == "" || str(r, "dataType") == "" {
			return fmt.Errorf("name and dataType are required")
		}
		if !slices.Contains(customFieldTypes, str(r, "dataType")) {
			return fmt.Errorf("dataType %q: want one of %s", str(r, "dataType"), strings.Join(customFieldTypes, ", "))
		}
		setDefault(r, "model", "contact")
		setDefault(r, "fieldKey", str(r, "model")+"."+strings.ReplaceAll(lower(str(r, "name")), " ", "_"))
		setDefault(r, "placeholder", "")
		setDefault(r, "picklistOptions", []any{})
		setDefault(r, "position", float64(st.t("customFields").count()*50))
	case "groups":
		setDefault(r, "description", "")
		setDefault(r, "slug", idOf(r))
		setDefault(r, "isActive", true)
	case "calendars":
		normalizeCalendar(st, r)
		if _, err := time.LoadLocation(str(r, "timezone")); err != nil {
			return fmt.Errorf("timezone %q is not an IANA time zone", str(r, "timezone"))
		}
	case "pipelines":
		stages, _ := r["stages"].([]any)
		for i, s := range stages {
			m, ok := s.(map[string]any)
			if !ok || str(m, "id") == "" {
				return fmt.Errorf("stages[%d] needs an id", i)
			}
			setDefault(m, "position", float64(i))
		}
		setDefault(r, "stages", []any{})
		setDefault(r, "showInFunnel", true)
		setDefault(r, "showInPieChart", true)
	case "workflows":
		setDefault(r, "status", "published")
		setDefault(r, "version", float64(1))
		setDefault(r, "createdAt", ts)
		setDefault(r, "updatedAt", ts)
	case "campaigns":
		setDefault(r, "status", "published")
	case "snapshots":
		setDefault(r, "type", "own")
	case "contacts":
		c := record{"id": idOf(r), "locationId": loc}
		body := cloneRec(r)
		delete(body, "id")
		delete(body, "locationId")
		if msgs := applyContact(st, c, body, true); len(msgs) > 0 {
			return fmt.Errorf("%s", strings.Join(msgs, "; "))
		}
		stampContact(c, ts, true)
		for k := range r {
			delete(r, k)
		}
		for k, v := range c {
			r[k] = v
		}
	case "conversations":
		contact := st.t("contacts").get(str(r, "contactId"))
		if contact == nil {
			return fmt.Errorf("contactId %q is not a seeded contact", str(r, "contactId"))
		}
		newConversation(r, contact, ts)
	case "messages":
		conv := st.t("conversations").get(str(r, "conversationId"))
		if conv == nil {
			return fmt.Errorf("conversationId %q is not a seeded conversation", str(r, "conversationId"))
		}
		newMessage(r, conv, ts)
	case "blogs", "blogAuthors", "blogCategories", "blogPosts":
		r["_id"] = r["id"]
		delete(r, "id")
		setDefault(r, "updatedAt", ts)
		if kind == "blogAuthors" || kind == "blogCategories" {
			setDefault(r, "canonicalLink", "")
		}
		if kind == "blogCategories" {
			setDefault(r, "urlSlug", strings.ReplaceAll(lower(str(r, "label")), " ", "-"))
		}
	}
	return nil
}

func (t *table) count() int { return len(t.order) }

// jsonShaped converts YAML-decoded values (ints, nested maps) to the types
// encoding/json produces (float64, map[string]any), which handlers expect.
func jsonShaped(m map[string]any) record {
	b, err := json.Marshal(m)
	if err != nil {
		return cloneRec(m)
	}
	var out record
	if err := json.Unmarshal(b, &out); err != nil {
		return cloneRec(m)
	}
	return out
}
