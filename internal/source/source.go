// Package source turns webhook deliveries into verified, normalised events.
//
// A Source is built from a flow's trigger.webhook configuration by New. Its
// Receive method checks the delivery's signature over the exact bytes
// received (never over re-serialised JSON), decodes the JSON body, and
// returns an Event carrying the source's event id for de-duplication.
//
// Three sources are registered: "changetower" (Standard Webhooks by default,
// or a configurable plain HMAC scheme, plus a capture mode), "generic"
// (signed JSON events for contacts, notes, tasks and appointments) and "ghl"
// (GoHighLevel's own webhooks, Ed25519 or RSA signed).
//
// Errors returned by Receive are *Error values whose Status is the HTTP
// status the ingress should answer with. No error message ever contains a
// secret.
package source

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"time"
)

// Event is what a source hands to ingress after verification.
type Event struct {
	// ID is the source's event id (webhook-id header, payload id,
	// webhookId, ...) or "" when the delivery carries none; ingress then
	// de-duplicates by the SHA-256 of Raw.
	ID string
	// Type is the event type, e.g. "monitor.notification.created",
	// "contact.created" or "ContactCreate".
	Type string
	// Payload is the decoded JSON object, numbers as json.Number. It is nil
	// only for a capture-mode delivery whose body is not a JSON object.
	Payload map[string]any
	// Raw holds the exact bytes received. Only in capture mode, any
	// configured secret found in the body is replaced by "[redacted]".
	Raw []byte
	// Headers holds selected request headers (all of them in capture mode),
	// names in lower case, with credentials redacted.
	Headers map[string]string
	// OccurredAt comes from the payload (or a signed timestamp header) when
	// known, else it is the time of receipt. Always UTC.
	OccurredAt time.Time

	// Verification records how the delivery's authenticity was checked.
	Verification Verification
	// Unsigned is true when the endpoint is configured `unsigned: true` and
	// the delivery was accepted without any signature check. Dashboards and
	// logs should flag such events.
	Unsigned bool
	// Capture is true for a capture-mode endpoint (`capture: true`): ingress
	// stores Headers and Raw with Verification for an operator to inspect
	// and runs nothing. A capture-mode source never rejects a delivery for
	// its signature or its JSON; the result is recorded instead.
	Capture bool
	// Ignore, when not empty, says why the event must be acknowledged (2xx)
	// without running the flow, e.g. its type is not among the flow's
	// `types:`. Ingress should not store it as a run.
	Ignore string
}

// Verification describes the outcome of a signature check.
type Verification struct {
	// Scheme is the scheme that was checked: "standard-webhooks",
	// "hmac-sha256", "ed25519", "rsa-sha256" or "none" (unsigned endpoint).
	Scheme string
	// Verified is true when the signature matched one configured key.
	Verified bool
	// KeyIndex is the position (0-based) of the matching secret or key in
	// the configuration, so operators can tell when an old secret stops
	// being used during a rotation. -1 when nothing matched.
	KeyIndex int
	// Detail is a human-readable summary. It never contains a secret.
	Detail string
}

// Source verifies and normalises deliveries from one kind of sender.
type Source interface {
	// Name returns the registered source name ("changetower", ...).
	Name() string
	// Receive verifies r's signature over the raw body and normalises it.
	// body is the complete request body, already read and size-limited by
	// the caller (see ReadBody); r.Body is not read. Errors are *Error.
	Receive(r *http.Request, body []byte) (Event, error)
}

// Error is a rejected delivery; Status is the HTTP status to answer with
// (400 malformed, 401 signature, 413 too large, 422 valid JSON with wrong
// content). Msg names the problem and never contains a secret.
type Error struct {
	Status int
	Msg    string
}

func (e *Error) Error() string {
	return fmt.Sprintf("%d %s: %s", e.Status, http.StatusText(e.Status), e.Msg)
}

func errorf(status int, format string, args ...any) *Error {
	return &Error{Status: status, Msg: fmt.Sprintf(format, args...)}
}

// MaxBodyBytes is the default size limit of a delivery body (1 MiB). GHL and
// ChangeTower deliveries are a few kilobytes.
const MaxBodyBytes int64 = 1 << 20

// ReadBody reads r.Body up to limit bytes (MaxBodyBytes when limit <= 0).
// A larger body yields *Error{Status: 413}; nothing beyond limit+1 bytes is
// read into memory.
func ReadBody(r *http.Request, limit int64) ([]byte, error) {
	if limit <= 0 {
		limit = MaxBodyBytes
	}
	if r.ContentLength > limit {
		return nil, errorf(http.StatusRequestEntityTooLarge, "body of %d bytes exceeds the limit of %d bytes", r.ContentLength, limit)
	}
	if r.Body == nil {
		return nil, nil
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return nil, errorf(http.StatusBadRequest, "reading body: %v", err)
	}
	if int64(len(b)) > limit {
		return nil, errorf(http.StatusRequestEntityTooLarge, "body exceeds the limit of %d bytes", limit)
	}
	return b, nil
}

// SecretLookup resolves a secret reference from configuration (for example
// "env:CHANGETOWER_SECRET") to the secret value. Errors must not contain
// the value.
type SecretLookup func(ref string) (string, error)

// DefaultSecretLookup resolves "env:NAME" from the environment,
// "file:PATH" from a file (surrounding white space trimmed) and
// "literal:VALUE" as VALUE. A value with no "scheme:" prefix (such as
// "whsec_...") is taken literally; literal secrets are meant for tests and
// demos only. Any other scheme ("vault:...") is an error here: it needs the
// lookup of the component that knows it.
func DefaultSecretLookup(ref string) (string, error) {
	switch {
	case strings.HasPrefix(ref, "env:"):
		name := strings.TrimPrefix(ref, "env:")
		v, ok := os.LookupEnv(name)
		if !ok || v == "" {
			return "", fmt.Errorf("environment variable %s is not set", name)
		}
		return v, nil
	case strings.HasPrefix(ref, "file:"):
		b, err := os.ReadFile(strings.TrimPrefix(ref, "file:"))
		if err != nil {
			return "", fmt.Errorf("reading secret file: %w", err)
		}
		v := strings.TrimSpace(string(b))
		if v == "" {
			return "", fmt.Errorf("secret file %s is empty", strings.TrimPrefix(ref, "file:"))
		}
		return v, nil
	case strings.HasPrefix(ref, "literal:"):
		return strings.TrimPrefix(ref, "literal:"), nil
	case isRef(ref):
		scheme, _, _ := strings.Cut(ref, ":")
		return "", fmt.Errorf("unknown secret reference scheme %q (use env:NAME, file:PATH or literal:VALUE)", scheme)
	}
	return ref, nil
}

// Factory builds a Source from its configuration.
type Factory func(cfg map[string]any, secrets SecretLookup) (Source, error)

var (
	registryMu sync.RWMutex
	registry   = map[string]Factory{}
)

// Register makes a source available to New under name. It panics on a
// duplicate name, which is a programming error caught at start-up.
func Register(name string, f Factory) {
	registryMu.Lock()
	defer registryMu.Unlock()
	if _, dup := registry[name]; dup {
		panic("source: Register called twice for " + name)
	}
	registry[name] = f
}

// Names lists the registered source names, sorted.
func Names() []string {
	registryMu.RLock()
	defer registryMu.RUnlock()
	names := make([]string, 0, len(registry))
	for n := range registry {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// New builds the source called name from cfg, the flow's trigger.webhook
// mapping (its "source" key, if present, is ignored). Secret references in
// cfg are resolved with secrets (DefaultSecretLookup when nil). Errors name
// the offending key and never contain a secret.
func New(name string, cfg map[string]any, secrets SecretLookup) (Source, error) {
	registryMu.RLock()
	f, ok := registry[name]
	registryMu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("unknown source %q (known: %s)", name, strings.Join(Names(), ", "))
	}
	if secrets == nil {
		secrets = DefaultSecretLookup
	}
	s, err := f(cfg, secrets)
	if err != nil {
		return nil, fmt.Errorf("source %s: %w", name, err)
	}
	return s, nil
}

// checkPlaceholder stands in for a referenced secret or key during Check.
const checkPlaceholder = "whsec_Y2hlY2stb25seS1wbGFjZWhvbGRlcg=="

// checkLookup resolves every reference to checkPlaceholder and keeps
// literal values, so Check sees literal mistakes without needing the
// environment, files or the vault.
func checkLookup(ref string) (string, error) {
	if isRef(ref) {
		return checkPlaceholder, nil
	}
	return DefaultSecretLookup(ref)
}

// Check validates a source configuration without resolving secret or key
// references (env:, file:, vault:), for load-time validation of flow files
// on a machine that does not hold the secrets. It reports the same
// configuration mistakes as New: unknown keys, bad values, unknown types,
// missing secrets, malformed literal secrets and keys.
func Check(name string, cfg map[string]any) error {
	_, err := New(name, cfg, checkLookup)
	return err
}
