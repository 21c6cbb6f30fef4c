// Package auth manages GoHighLevel connections: OAuth 2.0 authorization and
// rotating refresh tokens, Private Integration Tokens, agency-to-location
// token exchange, least-privilege scope checks, and the vault that seals every
// token and secret before it reaches the database.
package auth

import (
	"bufio"
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// Environment variables read by LoadVault.
const (
	// EnvSecretKey holds the active vault key: 32 bytes, base64.
	EnvSecretKey = "GHLSYNC_SECRET_KEY"
	// EnvPreviousSecretKeys holds retired keys (comma-separated, base64)
	// that may still open older values while `ghlsync auth rotate-key`
	// re-seals them.
	EnvPreviousSecretKeys = "GHLSYNC_SECRET_KEY_PREVIOUS"
	// EnvKeyFile overrides the key file path.
	EnvKeyFile = "GHLSYNC_KEY_FILE"
)

// KeySize is the length of a vault key in bytes (AES-256).
const KeySize = 32

// sealPrefix starts every sealed value; the version lets the format change.
const sealPrefix = "ghv1:"

// Errors returned by the vault.
var (
	// ErrUnknownKey means a value was sealed under a key the vault does not
	// hold (wrong GHLSYNC_SECRET_KEY, or a key file from another install).
	ErrUnknownKey = errors.New("vault: value sealed under a key this vault does not hold")
	// ErrCorrupt means a sealed value failed authentication or is malformed.
	ErrCorrupt = errors.New("vault: sealed value is corrupt or was moved from another record")
)

// vaultKey is one AES-256 key with its id.
type vaultKey struct {
	id   string
	aead cipher.AEAD
	raw  []byte
}

// KeyID returns the identifier stored beside values sealed under key: the
// first 8 bytes of a domain-separated SHA-256, hex. It reveals nothing usable
// about the key and is the same wherever the key is loaded from.
func KeyID(key []byte) string {
	h := sha256.New()
	h.Write([]byte("ghlsync vault key id\x00"))
	h.Write(key)
	return hex.EncodeToString(h.Sum(nil)[:8])
}

func newVaultKey(raw []byte) (*vaultKey, error) {
	if len(raw) != KeySize {
		return nil, fmt.Errorf("vault: key must be %d bytes, got %d", KeySize, len(raw))
	}
	block, err := aes.NewCipher(raw)
	if err != nil {
		return nil, fmt.Errorf("vault: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("vault: %w", err)
	}
	return &vaultKey{id: KeyID(raw), aead: aead, raw: bytes.Clone(raw)}, nil
}

// Vault seals and opens secrets with AES-256-GCM. Each sealed value carries
// the id of the key that sealed it, so keys can rotate: the first key is
// active (used to seal), the others only open older values.
//
// A sealed value is bound to a label (the record and field it belongs to, as
// additional authenticated data): a value copied into another record does
// not open.
//
// A Vault backed by a key file re-reads the file before sealing and when it
// meets an unknown key id, so a running process follows `ghlsync auth
// rotate-key` without a restart. Safe for concurrent use.
type Vault struct {
	mu     sync.RWMutex
	active *vaultKey
	keys   map[string]*vaultKey
	file   string // "" when keys came from the environment or the caller
	origin string // where the keys came from, for messages
}

// NewVault returns a vault over the given raw keys; keys[0] is active.
func NewVault(keys ...[]byte) (*Vault, error) {
	v := &Vault{origin: "keys given by the caller"}
	if err := v.setKeys(keys); err != nil {
		return nil, err
	}
	return v, nil
}

func (v *Vault) setKeys(raw [][]byte) error {
	if len(raw) == 0 {
		return errors.New("vault: no key")
	}
	keys := make(map[string]*vaultKey, len(raw))
	var active *vaultKey
	for i, r := range raw {
		k, err := newVaultKey(r)
		if err != nil {
			return fmt.Errorf("%w (key %d of %s)", err, i+1, v.origin)
		}
		if active == nil {
			active = k
		}
		keys[k.id] = k
	}
	v.mu.Lock()
	v.active, v.keys = active, keys
	v.mu.Unlock()
	return nil
}

// VaultOptions says where LoadVault finds its keys.
type VaultOptions struct {
	// KeyFile is the key file path used when GHLSYNC_SECRET_KEY is unset.
	// Empty means GHLSYNC_KEY_FILE, else DefaultKeyFile(DBPath).
	KeyFile string
	// DBPath is the SQLite database path (or "" for Postgres); the default
	// key file sits beside it.
	DBPath string
	// NoCreate refuses to create a missing key file.
	NoCreate bool
	// Getenv reads the environment; nil means os.Getenv.
	Getenv func(string) string
}

// DefaultKeyFile returns the key file path for a database: beside a SQLite
// file ("ghlsync.db" → "ghlsync.db.key"), else ghlsync/secret.key in the
// user's configuration directory.
func DefaultKeyFile(dbPath string) string {
	if dbPath != "" {
		return dbPath + ".key"
	}
	if dir, err := os.UserConfigDir(); err == nil {
		return filepath.Join(dir, "ghlsync", "secret.key")
	}
	return "ghlsync.key"
}

// LoadVault loads the vault keys: from GHLSYNC_SECRET_KEY (plus retired keys
// in GHLSYNC_SECRET_KEY_PREVIOUS) when set, else from the key file, which is
// created with mode 0600 and one random key on first run.
func LoadVault(o VaultOptions) (*Vault, error) {
	getenv := o.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	if s := strings.TrimSpace(getenv(EnvSecretKey)); s != "" {
		v := &Vault{origin: "environment variable " + EnvSecretKey}
		active, err := decodeKey(s)
		if err != nil {
			return nil, fmt.Errorf("vault: %s: %w", EnvSecretKey, err)
		}
		raw := [][]byte{active}
		if prev := getenv(EnvPreviousSecretKeys); prev != "" {
			for i, p := range strings.Split(prev, ",") {
				if strings.TrimSpace(p) == "" {
					continue
				}
				k, err := decodeKey(p)
				if err != nil {
					return nil, fmt.Errorf("vault: %s item %d: %w", EnvPreviousSecretKeys, i+1, err)
				}
				raw = append(raw, k)
			}
		}
		if err := v.setKeys(raw); err != nil {
			return nil, err
		}
		return v, nil
	}
	path := o.KeyFile
	if path == "" {
		path = getenv(EnvKeyFile)
	}
	if path == "" {
		path = DefaultKeyFile(o.DBPath)
	}
	v := &Vault{file: path, origin: "key file " + path}
	raw, err := readKeyFile(path)
	if errors.Is(err, os.ErrNotExist) && !o.NoCreate {
		raw, err = createKeyFile(path)
	}
	if err != nil {
		return nil, err
	}
	if err := v.setKeys(raw); err != nil {
		return nil, err
	}
	return v, nil
}

// decodeKey accepts standard or URL-safe base64, padded or not.
func decodeKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			if len(b) != KeySize {
				return nil, fmt.Errorf("key must decode to %d bytes, got %d (generate one with: head -c 32 /dev/urandom | base64)", KeySize, len(b))
			}
			return b, nil
		}
	}
	return nil, errors.New("key is not valid base64 (generate one with: head -c 32 /dev/urandom | base64)")
}

// readKeyFile reads a key file: one base64 key per line, the first active,
// '#' starts a comment. A file readable by group or others is refused.
func readKeyFile(path string) ([][]byte, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("vault: key file: %w", err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("vault: key file %s has mode %#o; it must be readable by its owner only (chmod 600 %s)", path, st.Mode().Perm(), path)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("vault: key file: %w", err)
	}
	var keys [][]byte
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = strings.TrimSpace(line[:i])
		}
		if line == "" {
			continue
		}
		k, err := decodeKey(line)
		if err != nil {
			return nil, fmt.Errorf("vault: key file %s line %d: %w", path, n, err)
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("vault: key file %s holds no key", path)
	}
	return keys, nil
}

// createKeyFile writes a new key file with one random key. Two processes
// starting at once agree on one file: the file appears atomically (link of
// a complete temporary file) and the loser reads the winner's.
func createKeyFile(path string) ([][]byte, error) {
	key := make([]byte, KeySize)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("vault: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("vault: key file directory: %w", err)
	}
	tmp, err := writeTemp(path, keyFileText([][]byte{key}))
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmp)
	if err := os.Link(tmp, path); err != nil {
		if errors.Is(err, os.ErrExist) {
			return readKeyFile(path)
		}
		return nil, fmt.Errorf("vault: create key file: %w", err)
	}
	return [][]byte{key}, nil
}

func keyFileText(keys [][]byte) []byte {
	var b bytes.Buffer
	b.WriteString("# ghlsync vault keys: the first line is the active key, later lines are retired keys\n")
	b.WriteString("# kept to open older values. Keep this file secret and backed up: without it the\n")
	b.WriteString("# tokens in the database cannot be opened.\n")
	for i, k := range keys {
		role := "active"
		if i > 0 {
			role = "retired"
		}
		fmt.Fprintf(&b, "%s # %s %s\n", base64.StdEncoding.EncodeToString(k), role, KeyID(k))
	}
	return b.Bytes()
}

func writeTemp(path string, data []byte) (string, error) {
	f, err := os.CreateTemp(filepath.Dir(path), ".ghlsync-key-*")
	if err != nil {
		return "", fmt.Errorf("vault: key file: %w", err)
	}
	name := f.Name()
	fail := func(err error) (string, error) {
		f.Close()
		os.Remove(name)
		return "", fmt.Errorf("vault: write key file: %w", err)
	}
	if err := f.Chmod(0o600); err != nil {
		return fail(err)
	}
	if _, err := f.Write(data); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		os.Remove(name)
		return "", fmt.Errorf("vault: write key file: %w", err)
	}
	return name, nil
}

// reload re-reads the key file, if any.
func (v *Vault) reload() error {
	if v.file == "" {
		return nil
	}
	raw, err := readKeyFile(v.file)
	if err != nil {
		return err
	}
	return v.setKeys(raw)
}

// Origin says where the vault's keys come from (never the keys).
func (v *Vault) Origin() string { return v.origin }

// KeyFile returns the key file path, or "" when keys come from elsewhere.
func (v *Vault) KeyFile() string { return v.file }

// ActiveKeyID returns the id of the key new values are sealed under.
func (v *Vault) ActiveKeyID() string {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.active.id
}

// KeyIDs returns the ids of every key the vault holds, active first.
func (v *Vault) KeyIDs() []string {
	v.mu.RLock()
	defer v.mu.RUnlock()
	out := []string{v.active.id}
	for id := range v.keys {
		if id != v.active.id {
			out = append(out, id)
		}
	}
	return out
}

func aad(keyID, label string) []byte {
	return []byte("ghlsync/v1\x00" + keyID + "\x00" + label)
}

// Seal encrypts plaintext under the active key, bound to label (the record
// and field the value belongs to, e.g. "connection/main/refresh_token").
// The result is printable ASCII: "ghv1:<key id>:<base64 nonce+ciphertext>".
func (v *Vault) Seal(plaintext []byte, label string) (string, error) {
	if err := v.reload(); err != nil {
		return "", err
	}
	v.mu.RLock()
	k := v.active
	v.mu.RUnlock()
	nonce := make([]byte, k.aead.NonceSize(), k.aead.NonceSize()+len(plaintext)+k.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("vault: %w", err)
	}
	out := k.aead.Seal(nonce, nonce, plaintext, aad(k.id, label))
	return sealPrefix + k.id + ":" + base64.RawStdEncoding.EncodeToString(out), nil
}

// SealString is Seal for strings.
func (v *Vault) SealString(plaintext, label string) (string, error) {
	return v.Seal([]byte(plaintext), label)
}

// SealedKeyID returns the key id recorded in a sealed value.
func SealedKeyID(sealed string) (string, error) {
	rest, ok := strings.CutPrefix(sealed, sealPrefix)
	if !ok {
		return "", ErrCorrupt
	}
	id, _, ok := strings.Cut(rest, ":")
	if !ok || id == "" {
		return "", ErrCorrupt
	}
	return id, nil
}

// Open decrypts a value sealed with the same label.
func (v *Vault) Open(sealed, label string) ([]byte, error) {
	rest, ok := strings.CutPrefix(sealed, sealPrefix)
	if !ok {
		return nil, ErrCorrupt
	}
	id, b64, ok := strings.Cut(rest, ":")
	if !ok {
		return nil, ErrCorrupt
	}
	data, err := base64.RawStdEncoding.DecodeString(b64)
	if err != nil {
		return nil, ErrCorrupt
	}
	v.mu.RLock()
	k := v.keys[id]
	v.mu.RUnlock()
	if k == nil {
		// The key file may have been rotated by another process.
		if err := v.reload(); err != nil {
			return nil, err
		}
		v.mu.RLock()
		k = v.keys[id]
		v.mu.RUnlock()
		if k == nil {
			return nil, fmt.Errorf("%w: key id %s is not in %s (active key id %s)", ErrUnknownKey, id, v.origin, v.ActiveKeyID())
		}
	}
	ns := k.aead.NonceSize()
	if len(data) < ns+k.aead.Overhead() {
		return nil, ErrCorrupt
	}
	plain, err := k.aead.Open(nil, data[:ns], data[ns:], aad(id, label))
	if err != nil {
		return nil, ErrCorrupt
	}
	return plain, nil
}

// OpenString is Open for strings.
func (v *Vault) OpenString(sealed, label string) (string, error) {
	b, err := v.Open(sealed, label)
	return string(b), err
}

// Reseal opens a value and seals it again under the active key. A value
// already under the active key is returned unchanged with changed=false.
func (v *Vault) Reseal(sealed, label string) (out string, changed bool, err error) {
	id, err := SealedKeyID(sealed)
	if err != nil {
		return "", false, err
	}
	if id == v.ActiveKeyID() {
		// Still prove the value opens: a rotation must not carry corrupt data silently.
		if _, err := v.Open(sealed, label); err != nil {
			return "", false, err
		}
		return sealed, false, nil
	}
	plain, err := v.Open(sealed, label)
	if err != nil {
		return "", false, err
	}
	out, err = v.Seal(plain, label)
	clear(plain)
	return out, err == nil, err
}

// NewKeyInFile generates a fresh key and makes it the active key of the key
// file, keeping the previous keys as retired so values sealed under them
// still open. It returns the new key id. Only for file-backed vaults.
func (v *Vault) NewKeyInFile() (string, error) {
	if v.file == "" {
		return "", fmt.Errorf("vault: keys come from %s; set a new %s (and the old key in %s) to rotate", v.origin, EnvSecretKey, EnvPreviousSecretKeys)
	}
	old, err := readKeyFile(v.file)
	if err != nil {
		return "", err
	}
	key := make([]byte, KeySize)
	if _, err := rand.Read(key); err != nil {
		return "", fmt.Errorf("vault: %w", err)
	}
	if err := v.writeKeyFile(append([][]byte{key}, old...)); err != nil {
		return "", err
	}
	return KeyID(key), v.reload()
}

// PruneKeyFile removes retired keys whose ids are not in keep from the key
// file. The active key always stays. It returns the removed ids.
func (v *Vault) PruneKeyFile(keep map[string]bool) ([]string, error) {
	if v.file == "" {
		return nil, nil
	}
	keys, err := readKeyFile(v.file)
	if err != nil {
		return nil, err
	}
	out := keys[:1]
	var removed []string
	for _, k := range keys[1:] {
		if keep[KeyID(k)] {
			out = append(out, k)
		} else {
			removed = append(removed, KeyID(k))
		}
	}
	if len(removed) == 0 {
		return nil, nil
	}
	if err := v.writeKeyFile(out); err != nil {
		return nil, err
	}
	return removed, v.reload()
}

func (v *Vault) writeKeyFile(keys [][]byte) error {
	tmp, err := writeTemp(v.file, keyFileText(keys))
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, v.file); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("vault: replace key file: %w", err)
	}
	// The directory entry must reach the disk before anything is sealed
	// under the new key.
	if d, err := os.Open(filepath.Dir(v.file)); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// Fingerprint identifies a secret without revealing it: the last 4 hex
// digits of its SHA-256, as shown by `ghlsync auth list`.
func Fingerprint(secret string) string {
	if secret == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(secret))
	return "…" + hex.EncodeToString(sum[:])[60:]
}
