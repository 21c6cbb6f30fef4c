package sandbox

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"
)

// record is one stored object, kept in the shape GHL returns it so handlers
// can answer with it directly.
type record = map[string]any

// table keeps records of one kind in insertion order.
type table struct {
	order []string
	rows  map[string]record
}

func newTable() *table { return &table{rows: map[string]record{}} }

func (t *table) get(id string) record { return t.rows[id] }

func (t *table) put(id string, r record) {
	if _, ok := t.rows[id]; !ok {
		t.order = append(t.order, id)
	}
	t.rows[id] = r
}

func (t *table) del(id string) bool {
	if _, ok := t.rows[id]; !ok {
		return false
	}
	delete(t.rows, id)
	if i := slices.Index(t.order, id); i >= 0 {
		t.order = slices.Delete(t.order, i, i+1)
	}
	return true
}

// all returns the records in insertion order.
func (t *table) all() []record {
	out := make([]record, 0, len(t.order))
	for _, id := range t.order {
		out = append(out, t.rows[id])
	}
	return out
}

// filter returns the records for which keep is true, in insertion order.
func (t *table) filter(keep func(record) bool) []record {
	var out []record
	for _, id := range t.order {
		if r := t.rows[id]; keep(r) {
			out = append(out, r)
		}
	}
	return out
}

// Kinds of records the store holds. The admin API lists them by these names.
var kinds = []string{
	"companies", "locations", "users", "customFields",
	"contacts", "notes", "tasks", "enrolments",
	"calendars", "groups", "appointments", "blockedSlots", "appointmentNotes", "notifications", "resources",
	"pipelines", "opportunities",
	"businesses", "workflows", "campaigns", "snapshots",
	"conversations", "messages",
	"associations", "relations",
	"blogs", "blogAuthors", "blogCategories", "blogPosts",
}

// state is everything the sandbox remembers; it is what the persist file holds.
type state struct {
	Seq    int64             `json:"seq"`
	Tables map[string]*table `json:"-"`
	// Tokens and refresh tokens are keyed by the SHA-256 of the token, so the
	// persist file never holds a usable credential issued at run time.
	Tokens  map[string]*token        `json:"tokens"`
	Refresh map[string]*refreshGrant `json:"refresh"`
	Codes   map[string]*authCode     `json:"codes"`
	Apps    map[string]*oauthApp     `json:"apps"`

	// contactKeys indexes contacts by "location|email:<lower-case>" and
	// "location|phone:<E.164>" for upserts and duplicate searches.
	contactKeys map[string][]string
}

func contactIndexKeys(r record) []string {
	var keys []string
	if e := str(r, "emailLowerCase"); e != "" {
		keys = append(keys, str(r, "locationId")+"|email:"+e)
	}
	if p := str(r, "phone"); p != "" {
		keys = append(keys, str(r, "locationId")+"|phone:"+p)
	}
	return keys
}

// reindexContact moves a contact's index entries from its old record to its
// new one (either may be nil).
func (s *state) reindexContact(old, cur record) {
	if s.contactKeys == nil {
		s.rebuildContactIndex()
		return
	}
	id := idOf(old)
	if id == "" {
		id = idOf(cur)
	}
	for _, k := range contactIndexKeys(old) {
		s.contactKeys[k] = slices.DeleteFunc(s.contactKeys[k], func(x string) bool { return x == id })
		if len(s.contactKeys[k]) == 0 {
			delete(s.contactKeys, k)
		}
	}
	for _, k := range contactIndexKeys(cur) {
		if !slices.Contains(s.contactKeys[k], id) {
			s.contactKeys[k] = append(s.contactKeys[k], id)
			// keep insertion order so the oldest contact matches first
			t := s.t("contacts")
			sort.SliceStable(s.contactKeys[k], func(i, j int) bool {
				return slices.Index(t.order, s.contactKeys[k][i]) < slices.Index(t.order, s.contactKeys[k][j])
			})
		}
	}
}

func (s *state) rebuildContactIndex() {
	s.contactKeys = map[string][]string{}
	for _, r := range s.t("contacts").all() {
		for _, k := range contactIndexKeys(r) {
			s.contactKeys[k] = append(s.contactKeys[k], idOf(r))
		}
	}
}

// contactsBy returns the ids of the location's contacts with that key.
func (s *state) contactsBy(loc, field, value string) []string {
	if s.contactKeys == nil {
		s.rebuildContactIndex()
	}
	return s.contactKeys[loc+"|"+field+":"+value]
}

func newState() *state {
	s := &state{
		Tables:  map[string]*table{},
		Tokens:  map[string]*token{},
		Refresh: map[string]*refreshGrant{},
		Codes:   map[string]*authCode{},
		Apps:    map[string]*oauthApp{},
	}
	for _, k := range kinds {
		s.Tables[k] = newTable()
	}
	return s
}

func (s *state) t(kind string) *table {
	t, ok := s.Tables[kind]
	if !ok {
		panic("sandbox: unknown kind " + kind) // a programming error, caught by tests
	}
	return t
}

const idAlphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// newID returns the next id: 20 base-62 characters like GHL's, derived from
// a counter so the same sequence of requests yields the same ids.
func (s *state) newID() string {
	s.Seq++
	sum := sha256.Sum256(fmt.Appendf(nil, "ghlsync-sandbox/%d", s.Seq))
	n := new(big.Int).SetBytes(sum[:])
	b := make([]byte, 20)
	base := big.NewInt(62)
	mod := new(big.Int)
	for i := range b {
		n.DivMod(n, base, mod)
		b[i] = idAlphabet[mod.Int64()]
	}
	return string(b)
}

// persisted is the JSON layout of the persist file.
type persisted struct {
	Version int                 `json:"version"`
	SavedAt string              `json:"savedAt"`
	State   *state              `json:"state"`
	Tables  map[string][]record `json:"tables"`
	Keys    *persistedKeys      `json:"keys,omitempty"`
	Faults  *FaultConfig        `json:"faults,omitempty"`
}

type persistedKeys struct {
	RSAPrivatePEM     string `json:"rsaPrivateKeyPem"`
	Ed25519PrivateB64 string `json:"ed25519PrivateKey"`
}

func (s *state) snapshot() map[string][]record {
	out := make(map[string][]record, len(s.Tables))
	for k, t := range s.Tables {
		if len(t.order) > 0 {
			out[k] = t.all()
		}
	}
	return out
}

// writeFileAtomic writes data through a temp file and a rename, so a crash
// never leaves a half-written persist file.
func writeFileAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".sandbox-*.json")
	if err != nil {
		return fmt.Errorf("sandbox: write persist file %s: %w", path, err)
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("sandbox: write persist file %s: %w", path, err)
	}
	return nil
}

// loadPersist reads a persist file; a missing file is not an error (nil, nil).
func loadPersist(path string) (*persisted, error) {
	data, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("sandbox: read persist file: %w", err)
	}
	var p persisted
	if err := json.Unmarshal(data, &p); err != nil {
		return nil, fmt.Errorf("sandbox: persist file %s is not valid JSON: %w", path, err)
	}
	if p.State == nil {
		return nil, fmt.Errorf("sandbox: persist file %s has no state", path)
	}
	st := p.State
	if st.Tokens == nil {
		st.Tokens = map[string]*token{}
	}
	if st.Refresh == nil {
		st.Refresh = map[string]*refreshGrant{}
	}
	if st.Codes == nil {
		st.Codes = map[string]*authCode{}
	}
	if st.Apps == nil {
		st.Apps = map[string]*oauthApp{}
	}
	st.Tables = map[string]*table{}
	for _, k := range kinds {
		st.Tables[k] = newTable()
	}
	for k, rows := range p.Tables {
		t, ok := st.Tables[k]
		if !ok {
			return nil, fmt.Errorf("sandbox: persist file %s: unknown kind %q", path, k)
		}
		for i, r := range rows {
			id := idOf(r)
			if id == "" {
				return nil, fmt.Errorf("sandbox: persist file %s: %s[%d] has no id", path, k, i)
			}
			t.put(id, r)
		}
	}
	return &p, nil
}

// idOf returns a record's id ("id", or "_id" for kinds GHL names that way).
func idOf(r record) string {
	if v, ok := r["id"].(string); ok && v != "" {
		return v
	}
	if v, ok := r["_id"].(string); ok {
		return v
	}
	return ""
}

// --- small typed accessors over records ---

func str(r record, k string) string {
	v, _ := r[k].(string)
	return v
}

func boolean(r record, k string) bool {
	v, _ := r[k].(bool)
	return v
}

func num(r record, k string) (float64, bool) {
	switch v := r[k].(type) {
	case float64:
		return v, true
	case int:
		return float64(v), true
	case int64:
		return float64(v), true
	case json.Number:
		f, err := v.Float64()
		return f, err == nil
	}
	return 0, false
}

func strs(r record, k string) []string {
	switch v := r[k].(type) {
	case []string:
		return slices.Clone(v)
	case []any:
		out := make([]string, 0, len(v))
		for _, x := range v {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// toAnySlice turns strings into []any so records stay JSON-shaped.
func toAnySlice(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// clone deep-copies a JSON-shaped value so callers cannot alias the store.
func clone(v any) any {
	switch x := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = clone(e)
		}
		return m
	case []any:
		s := make([]any, len(x))
		for i, e := range x {
			s[i] = clone(e)
		}
		return s
	case []string:
		return toAnySlice(x)
	case []record:
		s := make([]any, len(x))
		for i, e := range x {
			s[i] = clone(e)
		}
		return s
	default:
		return v
	}
}

func cloneRec(r record) record {
	if r == nil {
		return nil
	}
	return clone(r).(map[string]any)
}

// pick returns a copy of r with only the named keys.
func pick(r record, keys ...string) record {
	out := record{}
	for _, k := range keys {
		if v, ok := r[k]; ok {
			out[k] = clone(v)
		}
	}
	return out
}

// isoMillis formats t like GHL's dateAdded fields: UTC with milliseconds.
func isoMillis(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// sortRecords sorts by a string key then id, for stable listings.
func sortRecords(rs []record, key string, desc bool) {
	sort.SliceStable(rs, func(i, j int) bool {
		a, b := str(rs[i], key), str(rs[j], key)
		if a == b {
			a, b = idOf(rs[i]), idOf(rs[j])
		}
		if desc {
			return a > b
		}
		return a < b
	})
}

func lower(s string) string { return strings.ToLower(strings.TrimSpace(s)) }
