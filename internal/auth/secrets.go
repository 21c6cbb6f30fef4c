package auth

import (
	"context"
	"errors"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/ghlsync/ghlsync/internal/store"
)

// SecretLookup resolves a secret reference from a flow file to its value.
// It has the shape the webhook sources take.
type SecretLookup func(ref string) (string, error)

var secretNameRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_./-]{0,127}$`)

// Secrets stores named secrets (webhook signing secrets, ...) sealed in the
// database and resolves references to them.
type Secrets struct {
	st    *store.Store
	vault *Vault
	// Getenv resolves env: references (default os.Getenv).
	Getenv func(string) string
	// Timeout bounds each database read of Lookup (default 10 s).
	Timeout time.Duration
	// Fallback, when set, resolves every reference that is not vault:NAME
	// (for example the sources' env:/file:/literal: lookup); nil means only
	// env:NAME is understood besides vault:NAME.
	Fallback SecretLookup
}

// NewSecrets returns the secret store over st and v.
func NewSecrets(st *store.Store, v *Vault) *Secrets {
	return &Secrets{st: st, vault: v, Getenv: os.Getenv, Timeout: 10 * time.Second}
}

// Secrets returns the Manager's named-secret store.
func (m *Manager) Secrets() *Secrets { return NewSecrets(m.st, m.vault) }

// Put seals and stores a named secret (replacing one of the same name).
func (s *Secrets) Put(ctx context.Context, name, value string) error {
	if !secretNameRe.MatchString(name) {
		return fmt.Errorf("secret name %q: use letters, digits, '_', '.' or '-'", name)
	}
	if value == "" {
		return fmt.Errorf("secret %q: empty value", name)
	}
	sealed, err := s.vault.SealString(value, store.SecretLabel(name))
	if err != nil {
		return err
	}
	return s.st.PutSecret(ctx, name, sealed)
}

// Get opens a named secret.
func (s *Secrets) Get(ctx context.Context, name string) (string, error) {
	sec, err := s.st.GetSecret(ctx, name)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return "", fmt.Errorf("vault secret %q does not exist (store it with `ghlsync auth secret set %s`, value on stdin)", name, name)
		}
		return "", err
	}
	v, err := s.vault.OpenString(sec.ValueSealed, store.SecretLabel(name))
	if err != nil {
		return "", fmt.Errorf("vault secret %q: %w", name, err)
	}
	return v, nil
}

// Names lists the stored secret names.
func (s *Secrets) Names(ctx context.Context) ([]string, error) {
	list, err := s.st.ListSecrets(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(list))
	for _, x := range list {
		out = append(out, x.Name)
	}
	return out, nil
}

// Delete removes a named secret.
func (s *Secrets) Delete(ctx context.Context, name string) error {
	return s.st.DeleteSecret(ctx, name)
}

// Lookup resolves a reference: "vault:NAME" opens a stored secret; other
// references go to Fallback when set, else "env:NAME" reads an environment
// variable. Errors name the reference, never the value. Use it as a
// SecretLookup.
func (s *Secrets) Lookup(ref string) (string, error) {
	if s.Fallback != nil && !strings.HasPrefix(strings.TrimSpace(ref), "vault:") {
		return s.Fallback(ref)
	}
	kind, name, ok := strings.Cut(strings.TrimSpace(ref), ":")
	if !ok || name == "" {
		return "", fmt.Errorf("secret reference %q: expected vault:NAME or env:NAME", ref)
	}
	switch kind {
	case "vault":
		ctx, cancel := context.WithTimeout(context.Background(), s.Timeout)
		defer cancel()
		return s.Get(ctx, name)
	case "env":
		getenv := s.Getenv
		if getenv == nil {
			getenv = os.Getenv
		}
		v := getenv(name)
		if v == "" {
			return "", fmt.Errorf("secret reference %q: environment variable %s is not set", ref, name)
		}
		return v, nil
	default:
		return "", fmt.Errorf("secret reference %q: unknown kind %q (expected vault:NAME or env:NAME)", ref, kind)
	}
}

// RotateResult reports a key rotation.
type RotateResult struct {
	NewKeyID   string   // the active key after rotation
	Generated  bool     // a new key was written to the key file
	Values     int      // sealed values examined
	Resealed   int      // values rewritten under the new key
	PrunedKeys []string // retired keys removed from the key file
}

// RotateKey re-seals every sealed value in the database under the vault's
// active key, in one transaction: all values move or none does. With a key
// file, a new random key is first added to the file as the active key (the
// old ones stay as retired keys so running processes and a failed rotation
// can still open everything); prune then removes retired keys no value uses
// any more — do that once every process runs with the new key. With
// GHLSYNC_SECRET_KEY, set the new key there and the old one in
// GHLSYNC_SECRET_KEY_PREVIOUS before running it.
func RotateKey(ctx context.Context, st *store.Store, v *Vault, newKey, prune bool) (RotateResult, error) {
	var r RotateResult
	if newKey && v.KeyFile() != "" {
		if _, err := v.NewKeyInFile(); err != nil {
			return r, err
		}
		r.Generated = true
	}
	r.NewKeyID = v.ActiveKeyID()
	err := st.InTx(ctx, func(tx *store.Tx) error {
		var err error
		r.Values, r.Resealed, err = tx.ResealAll(ctx, v.Reseal)
		return err
	})
	if err != nil {
		return r, fmt.Errorf("rotate key: nothing changed: %w", err)
	}
	if prune && v.KeyFile() != "" {
		vals, err := st.SealedValues(ctx)
		if err != nil {
			return r, err
		}
		keep := map[string]bool{}
		for _, sv := range vals {
			if id, err := SealedKeyID(sv.Sealed); err == nil {
				keep[id] = true
			}
		}
		if r.PrunedKeys, err = v.PruneKeyFile(keep); err != nil {
			return r, err
		}
	}
	return r, nil
}

// CheckVault verifies the vault holds every key the database's sealed values
// were sealed under, so a wrong GHLSYNC_SECRET_KEY or key file is reported
// at start rather than as a failed refresh later.
func CheckVault(ctx context.Context, st *store.Store, v *Vault) error {
	vals, err := st.SealedValues(ctx)
	if err != nil {
		return err
	}
	held := map[string]bool{}
	for _, id := range v.KeyIDs() {
		held[id] = true
	}
	missing := map[string]int{}
	for _, sv := range vals {
		id, err := SealedKeyID(sv.Sealed)
		if err != nil {
			return fmt.Errorf("vault check: %s %s %s: %w", sv.Table, sv.Key, sv.Column, err)
		}
		if !held[id] {
			missing[id]++
		}
	}
	if len(missing) == 0 {
		return nil
	}
	var parts []string
	for id, n := range missing {
		parts = append(parts, fmt.Sprintf("%s (%d values)", id, n))
	}
	sort.Strings(parts)
	return fmt.Errorf("%w: the database holds values sealed under key %s, but %s holds only %s; point %s or --key-file at the key this database was created with",
		ErrUnknownKey, strings.Join(parts, ", "), v.Origin(), strings.Join(v.KeyIDs(), ", "), EnvSecretKey)
}
