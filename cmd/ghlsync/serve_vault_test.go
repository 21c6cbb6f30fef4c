package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestServeTokenModeReadsVaultSecrets: with one token (GHLSYNC_TOKEN) the
// connections come from the token, and secret: vault:NAME still reads the
// vault of the database; without the vault key the flow says what is
// missing instead of calling vault an unknown scheme.
func TestServeTokenModeReadsVaultSecrets(t *testing.T) {
	t.Parallel()
	const vaultFlow = "trigger: {webhook: {source: generic, secret: vault:hooksecret}}\nsteps:\n" +
		"  - id: contact\n    op: contacts.upsert\n    with:\n      email: \"{{ event.data.email }}\"\n"
	for _, withKey := range []bool{true, false} {
		dir := t.TempDir()
		writeFlows(t, dir, map[string]string{"vaulted.yaml": vaultFlow})
		o := sandboxServeOptions(t, dir, &syncBuffer{})
		if _, _, err := run(t, "s3cret-in-vault\n", "auth", "secret", "set", "hooksecret", "--db", o.db); err != nil {
			t.Fatal(err)
		}
		if !withKey {
			if err := os.Rename(o.db+".key", filepath.Join(t.TempDir(), "moved.key")); err != nil {
				t.Fatal(err)
			}
		}
		s, err := startServer(context.Background(), o)
		if err != nil {
			t.Fatal(err)
		}
		serr := s.Web.SourceError("vaulted")
		s.shutdown()
		switch {
		case withKey && serr != nil:
			t.Errorf("with the vault key: %v", serr)
		case !withKey && (serr == nil || !strings.Contains(serr.Error(), "vault secrets need the vault key")):
			t.Errorf("without the vault key: %v", serr)
		}
		if _, err := os.Stat(o.db + ".key"); !withKey && err == nil {
			t.Error("serve created a vault key file in token mode")
		}
	}
}
