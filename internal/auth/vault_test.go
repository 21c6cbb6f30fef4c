package auth

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func randKey(t testing.TB) []byte {
	t.Helper()
	k := make([]byte, KeySize)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return k
}

func TestVaultSealOpen(t *testing.T) {
	t.Parallel()
	v, err := NewVault(randKey(t))
	if err != nil {
		t.Fatal(err)
	}
	secret := "pit-0123456789abcdef-secret"
	sealed, err := v.SealString(secret, "connection/main/access_token")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(sealed, secret) || !strings.HasPrefix(sealed, "ghv1:"+v.ActiveKeyID()+":") {
		t.Fatalf("sealed value %q: want ghv1:<kid>: prefix and no plaintext", sealed)
	}
	again, _ := v.SealString(secret, "connection/main/access_token")
	if again == sealed {
		t.Fatal("two seals of one value are identical: nonce reused")
	}
	got, err := v.OpenString(sealed, "connection/main/access_token")
	if err != nil || got != secret {
		t.Fatalf("Open = %q, %v; want %q", got, err, secret)
	}
	// A value moved to another record does not open.
	if _, err := v.Open(sealed, "connection/other/access_token"); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Open with another label: err = %v, want ErrCorrupt", err)
	}
	// Any flipped byte is detected.
	raw := []byte(sealed)
	raw[len(raw)-3] ^= 0x01
	if _, err := v.Open(string(raw), "connection/main/access_token"); err == nil {
		t.Fatal("tampered value opened")
	}
	for _, bad := range []string{"", "plain", "ghv1:", "ghv1:abc", "ghv1:" + v.ActiveKeyID() + ":!!!", "ghv1:" + v.ActiveKeyID() + ":AAAA"} {
		if _, err := v.Open(bad, "x"); err == nil {
			t.Errorf("Open(%q) succeeded", bad)
		}
	}
	// Another key cannot open it, and says which key id is missing.
	w, _ := NewVault(randKey(t))
	if _, err := w.Open(sealed, "connection/main/access_token"); !errors.Is(err, ErrUnknownKey) || !strings.Contains(err.Error(), v.ActiveKeyID()) {
		t.Fatalf("Open under another key: %v", err)
	}
}

func TestVaultRetiredKeysOpenAndReseal(t *testing.T) {
	t.Parallel()
	oldK, newK := randKey(t), randKey(t)
	old, _ := NewVault(oldK)
	sealed, _ := old.SealString("s3cret", "l")
	v, err := NewVault(newK, oldK)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := v.OpenString(sealed, "l"); err != nil || got != "s3cret" {
		t.Fatalf("retired key: %q %v", got, err)
	}
	out, changed, err := v.Reseal(sealed, "l")
	if err != nil || !changed {
		t.Fatalf("Reseal: changed=%v err=%v", changed, err)
	}
	if id, _ := SealedKeyID(out); id != KeyID(newK) {
		t.Fatalf("resealed under %s, want %s", id, KeyID(newK))
	}
	out2, changed, err := v.Reseal(out, "l")
	if err != nil || changed || out2 != out {
		t.Fatalf("second Reseal: changed=%v err=%v", changed, err)
	}
	if _, _, err := v.Reseal(out, "other"); err == nil {
		t.Fatal("Reseal of a value with the wrong label succeeded")
	}
}

func TestLoadVaultFromEnv(t *testing.T) {
	t.Parallel()
	k, prev := randKey(t), randKey(t)
	env := map[string]string{
		EnvSecretKey:          base64.StdEncoding.EncodeToString(k),
		EnvPreviousSecretKeys: base64.RawURLEncoding.EncodeToString(prev),
	}
	dir := t.TempDir()
	v, err := LoadVault(VaultOptions{DBPath: filepath.Join(dir, "x.db"), Getenv: func(s string) string { return env[s] }})
	if err != nil {
		t.Fatal(err)
	}
	if v.ActiveKeyID() != KeyID(k) || len(v.KeyIDs()) != 2 || v.KeyFile() != "" {
		t.Fatalf("active %s ids %v file %q", v.ActiveKeyID(), v.KeyIDs(), v.KeyFile())
	}
	if _, err := os.Stat(filepath.Join(dir, "x.db.key")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a key file was created although %s is set", EnvSecretKey)
	}
	for _, bad := range []string{"not base64 at all!", base64.StdEncoding.EncodeToString([]byte("short"))} {
		env := map[string]string{EnvSecretKey: bad}
		_, err := LoadVault(VaultOptions{Getenv: func(s string) string { return env[s] }})
		if err == nil || !strings.Contains(err.Error(), EnvSecretKey) {
			t.Errorf("key %q: err = %v, want an error naming %s", bad, err, EnvSecretKey)
		}
	}
}

func TestLoadVaultKeyFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db := filepath.Join(dir, "ghlsync.db")
	noEnv := func(string) string { return "" }
	v, err := LoadVault(VaultOptions{DBPath: db, Getenv: noEnv})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "ghlsync.db.key")
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %#o, want 0600", st.Mode().Perm())
	}
	sealed, _ := v.SealString("tok", "l")
	// A second load uses the same key.
	v2, err := LoadVault(VaultOptions{DBPath: db, Getenv: noEnv})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := v2.OpenString(sealed, "l"); err != nil || got != "tok" {
		t.Fatalf("reopen: %q %v", got, err)
	}
	// NoCreate refuses a missing file.
	if _, err := LoadVault(VaultOptions{KeyFile: filepath.Join(dir, "missing.key"), NoCreate: true, Getenv: noEnv}); err == nil {
		t.Fatal("NoCreate created a key file")
	}
	// A loose mode is refused with the fix in the message.
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadVault(VaultOptions{DBPath: db, Getenv: noEnv}); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("loose key file: err = %v", err)
	}
	os.Chmod(path, 0o600)
	// A bad line is reported with its number.
	bad := filepath.Join(dir, "bad.key")
	os.WriteFile(bad, []byte("# comment\n\nnot-a-key\n"), 0o600)
	if _, err := LoadVault(VaultOptions{KeyFile: bad, Getenv: noEnv}); err == nil || !strings.Contains(err.Error(), "line 3") {
		t.Fatalf("bad key file: err = %v", err)
	}
}

func TestKeyFileCreatedOnceUnderRace(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "sub", "race.key")
	var wg sync.WaitGroup
	ids := make([]string, 8)
	errs := make([]error, 8)
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, err := LoadVault(VaultOptions{KeyFile: path, Getenv: func(string) string { return "" }})
			errs[i] = err
			if err == nil {
				ids[i] = v.ActiveKeyID()
			}
		}()
	}
	wg.Wait()
	for i := range ids {
		if errs[i] != nil || ids[i] != ids[0] {
			t.Fatalf("loader %d: id %s err %v; loader 0 id %s", i, ids[i], errs[i], ids[0])
		}
	}
}

func TestKeyFileRotationFollowedByOtherVault(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "k.key")
	noEnv := func(string) string { return "" }
	a, _ := LoadVault(VaultOptions{KeyFile: path, Getenv: noEnv})
	b, _ := LoadVault(VaultOptions{KeyFile: path, Getenv: noEnv})
	oldID := a.ActiveKeyID()
	sealedOld, _ := a.SealString("one", "l")
	newID, err := a.NewKeyInFile()
	if err != nil {
		t.Fatal(err)
	}
	if newID == oldID || a.ActiveKeyID() != newID {
		t.Fatalf("new key %s active %s old %s", newID, a.ActiveKeyID(), oldID)
	}
	// b still has only the old key in memory; it follows the file when it
	// meets the new key id, and seals under the new key.
	sealedNew, _ := a.SealString("two", "l")
	if got, err := b.OpenString(sealedNew, "l"); err != nil || got != "two" {
		t.Fatalf("b opens value under new key: %q %v", got, err)
	}
	s, _ := b.SealString("three", "l")
	if id, _ := SealedKeyID(s); id != newID {
		t.Fatalf("b sealed under %s, want %s", id, newID)
	}
	if got, _ := a.OpenString(sealedOld, "l"); got != "one" {
		t.Fatal("old value no longer opens after rotation")
	}
	removed, err := a.PruneKeyFile(map[string]bool{})
	if err != nil || len(removed) != 1 || removed[0] != oldID {
		t.Fatalf("prune: %v %v", removed, err)
	}
	if _, err := a.Open(sealedOld, "l"); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("pruned key still opens: %v", err)
	}
	data, _ := os.ReadFile(path)
	if bytes.Count(data, []byte("# retired")) != 0 || !bytes.Contains(data, []byte(newID)) {
		t.Fatalf("key file after prune:\n%s", data)
	}
}

func TestFingerprint(t *testing.T) {
	t.Parallel()
	if Fingerprint("") != "" {
		t.Fatal("fingerprint of empty")
	}
	f := Fingerprint("abc")
	if f != "…15ad" || strings.Contains(f, "abc") {
		t.Fatalf("Fingerprint(abc) = %q", f)
	}
}
