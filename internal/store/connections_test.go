package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/ghlsync/ghlsync/internal/store"
	"github.com/ghlsync/ghlsync/internal/store/storetest"
)

// eachConnDialect runs fn as a parallel subtest against every database.
func eachConnDialect(t *testing.T, fn func(t *testing.T, s *store.Store)) {
	t.Helper()
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			fn(t, storetest.Open(t, d, "storeconn"))
		})
	}
}

func oauthConn(name string) *store.Connection {
	return &store.Connection{
		Name: name, Kind: store.ConnOAuth, UserType: store.UserLocation,
		LocationID: "loc-1", CompanyID: "co-1", UserID: "u-1",
		Scopes: []string{"contacts.readonly", "contacts.write"}, ScopesKnown: true,
		BaseURL: "http://127.0.0.1:1", TokenURL: "http://127.0.0.1:1/oauth/token", ClientID: "cid",
		ClientSecretSealed: "ghv1:k:secret", AccessTokenSealed: "ghv1:k:access", RefreshTokenSealed: "ghv1:k:refresh",
		ExpiresAt: time.UnixMicro(time.Now().Add(time.Hour).UnixMicro()).UTC(),
	}
}

func TestConnectionsSaveGetList(t *testing.T) {
	t.Parallel()
	eachConnDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		c := oauthConn("main")
		if err := s.SaveConnection(ctx, c); err != nil {
			t.Fatal(err)
		}
		got, err := s.GetConnection(ctx, "main")
		if err != nil {
			t.Fatal(err)
		}
		ignore := cmpopts.IgnoreFields(store.Connection{}, "CreatedAt", "UpdatedAt")
		want := *c
		want.Status = store.ConnActive
		if d := cmp.Diff(&want, got, ignore); d != "" {
			t.Fatalf("stored connection (-want +got):\n%s", d)
		}
		if got.Generation != 1 || got.ResourceID() != "loc-1" {
			t.Fatalf("generation %d resource %s", got.Generation, got.ResourceID())
		}

		// A PIT with undeclared scopes and no expiry.
		pit := &store.Connection{Name: "agency", Kind: store.ConnPIT, UserType: store.UserCompany, CompanyID: "co-9", AccessTokenSealed: "ghv1:k:pit"}
		if err := s.SaveConnection(ctx, pit); err != nil {
			t.Fatal(err)
		}
		gp, _ := s.GetConnection(ctx, "agency")
		if gp.ScopesKnown || !gp.ExpiresAt.IsZero() || gp.RefreshTokenSealed != "" || gp.ResourceID() != "co-9" {
			t.Fatalf("pit: %+v", gp)
		}
		list, err := s.ListConnections(ctx)
		if err != nil || len(list) != 2 || list[0].Name != "agency" || list[1].Name != "main" {
			t.Fatalf("list: %v %v", list, err)
		}
		if _, err := s.GetConnection(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("missing: %v", err)
		}

		// Saving again under the same name (a new login) replaces the
		// credential, keeps created_at, bumps the generation, clears back-off
		// and drops cached location tokens.
		if err := s.RecordRefreshFailure(ctx, "main", 3, time.Now().Add(time.Hour), "boom", store.ConnReauthRequired, "rejected"); err != nil {
			t.Fatal(err)
		}
		if err := s.PutLocationToken(ctx, &store.LocationToken{Connection: "main", LocationID: "l2", AccessTokenSealed: "ghv1:k:lt", ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		c2 := oauthConn("main")
		c2.AccessTokenSealed = "ghv1:k:access2"
		if err := s.SaveConnection(ctx, c2); err != nil {
			t.Fatal(err)
		}
		got, _ = s.GetConnection(ctx, "main")
		if got.Generation != 2 || got.AccessTokenSealed != "ghv1:k:access2" || got.Status != store.ConnActive ||
			got.RefreshFailures != 0 || !got.NextRefreshAt.IsZero() || got.LastError != "" || !got.CreatedAt.Equal(c.CreatedAt.Truncate(time.Microsecond)) {
			t.Fatalf("after re-save: %+v", got)
		}
		if _, err := s.GetLocationToken(ctx, "main", "l2"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("location token survived re-login: %v", err)
		}
	})
}

func TestConnectionsTokenUpdateIsConditional(t *testing.T) {
	t.Parallel()
	eachConnDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		if err := s.SaveConnection(ctx, oauthConn("c")); err != nil {
			t.Fatal(err)
		}
		if err := s.RecordRefreshFailure(ctx, "c", 1, time.Now().Add(time.Minute), "timeout", "", ""); err != nil {
			t.Fatal(err)
		}
		exp := time.Now().Add(24 * time.Hour).UTC().Truncate(time.Microsecond)
		var gen int64
		err := s.InTx(ctx, func(tx *store.Tx) error {
			c, err := tx.LockConnection(ctx, "c")
			if err != nil {
				return err
			}
			if c.RefreshFailures != 1 || c.LastError != "timeout" {
				t.Errorf("failure not recorded: %+v", c)
			}
			gen, err = tx.UpdateConnectionTokens(ctx, "c", c.Generation, store.TokenUpdate{
				AccessTokenSealed: "ghv1:k:a2", RefreshTokenSealed: "ghv1:k:r2", ExpiresAt: exp,
				Scopes: []string{"contacts.write"}, RefreshedAt: time.Now(),
			})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		got, _ := s.GetConnection(ctx, "c")
		if got.Generation != gen || gen != 2 || got.AccessTokenSealed != "ghv1:k:a2" || got.RefreshTokenSealed != "ghv1:k:r2" ||
			!got.ExpiresAt.Equal(exp) || got.RefreshFailures != 0 || got.LastError != "" || got.RefreshedAt.IsZero() ||
			!cmp.Equal(got.Scopes, []string{"contacts.write"}) {
			t.Fatalf("after update: %+v", got)
		}
		// A writer holding an older generation loses.
		if _, err := s.UpdateConnectionTokens(ctx, "c", 1, store.TokenUpdate{AccessTokenSealed: "ghv1:k:stale"}); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("stale update: %v", err)
		}
		// Empty refresh token and nil scopes keep the stored ones.
		if _, err := s.UpdateConnectionTokens(ctx, "c", 2, store.TokenUpdate{AccessTokenSealed: "ghv1:k:a3"}); err != nil {
			t.Fatal(err)
		}
		got, _ = s.GetConnection(ctx, "c")
		if got.RefreshTokenSealed != "ghv1:k:r2" || len(got.Scopes) != 1 {
			t.Fatalf("kept fields: %+v", got)
		}
	})
}

func TestConnectionsRevokeAndDelete(t *testing.T) {
	t.Parallel()
	eachConnDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		s.SaveConnection(ctx, oauthConn("r"))
		s.PutLocationToken(ctx, &store.LocationToken{Connection: "r", LocationID: "l", AccessTokenSealed: "ghv1:k:lt", ExpiresAt: time.Now()})
		if err := s.RevokeConnection(ctx, "r", "revoked by admin"); err != nil {
			t.Fatal(err)
		}
		got, _ := s.GetConnection(ctx, "r")
		if got.Status != store.ConnRevoked || got.AccessTokenSealed != "" || got.RefreshTokenSealed != "" || got.ClientSecretSealed != "" || got.StatusReason != "revoked by admin" {
			t.Fatalf("revoked: %+v", got)
		}
		vals, err := s.SealedValues(ctx)
		if err != nil || len(vals) != 0 {
			t.Fatalf("sealed values after revoke: %v %v", vals, err)
		}
		if err := s.RevokeConnection(ctx, "missing", ""); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("revoke missing: %v", err)
		}
		if err := s.SetConnectionStatus(ctx, "r", store.ConnReauthRequired, "x"); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteConnection(ctx, "r"); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteConnection(ctx, "r"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("delete twice: %v", err)
		}
	})
}

func TestSecretsAndReseal(t *testing.T) {
	t.Parallel()
	eachConnDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		s.SaveConnection(ctx, oauthConn("a"))
		s.PutLocationToken(ctx, &store.LocationToken{Connection: "a", LocationID: "l1", AccessTokenSealed: "ghv1:old:lt", Scopes: []string{"x"}, ExpiresAt: time.Now().Add(time.Hour)})
		if err := s.PutSecret(ctx, "ct-hook", "ghv1:old:s1"); err != nil {
			t.Fatal(err)
		}
		if err := s.PutSecret(ctx, "ct-hook", "ghv1:old:s2"); err != nil {
			t.Fatal(err)
		}
		sec, err := s.GetSecret(ctx, "ct-hook")
		if err != nil || sec.ValueSealed != "ghv1:old:s2" {
			t.Fatalf("secret: %+v %v", sec, err)
		}
		list, _ := s.ListSecrets(ctx)
		if len(list) != 1 {
			t.Fatalf("secrets: %v", list)
		}
		lt, err := s.GetLocationToken(ctx, "a", "l1")
		if err != nil || lt.AccessTokenSealed != "ghv1:old:lt" || !cmp.Equal(lt.Scopes, []string{"x"}) {
			t.Fatalf("location token: %+v %v", lt, err)
		}

		labels := map[string]bool{}
		var total, changed int
		err = s.InTx(ctx, func(tx *store.Tx) error {
			var err error
			total, changed, err = tx.ResealAll(ctx, func(sealed, label string) (string, bool, error) {
				labels[label] = true
				if sealed == "ghv1:k:secret" { // leave one value as is
					return sealed, false, nil
				}
				return "new:" + sealed, true, nil
			})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		wantLabels := map[string]bool{
			"connection/a/client_secret": true, "connection/a/access_token": true, "connection/a/refresh_token": true,
			"location-token/a/l1": true, "secret/ct-hook": true,
		}
		if d := cmp.Diff(wantLabels, labels); d != "" || total != 5 || changed != 4 {
			t.Fatalf("reseal total %d changed %d labels (-want +got):\n%s", total, changed, d)
		}
		c, _ := s.GetConnection(ctx, "a")
		lt, _ = s.GetLocationToken(ctx, "a", "l1")
		sec, _ = s.GetSecret(ctx, "ct-hook")
		if c.ClientSecretSealed != "ghv1:k:secret" || c.AccessTokenSealed != "new:ghv1:k:access" || c.RefreshTokenSealed != "new:ghv1:k:refresh" ||
			lt.AccessTokenSealed != "new:ghv1:old:lt" || sec.ValueSealed != "new:ghv1:old:s2" {
			t.Fatalf("after reseal: %+v %+v %+v", c, lt, sec)
		}
		// A failing value rolls the whole rotation back.
		err = s.InTx(ctx, func(tx *store.Tx) error {
			_, _, err := tx.ResealAll(ctx, func(sealed, label string) (string, bool, error) {
				if label == "secret/ct-hook" {
					return "", false, errors.New("corrupt")
				}
				return "newer:" + sealed, true, nil
			})
			return err
		})
		if err == nil {
			t.Fatal("failing reseal committed")
		}
		c, _ = s.GetConnection(ctx, "a")
		if c.AccessTokenSealed != "new:ghv1:k:access" {
			t.Fatalf("partial reseal kept: %s", c.AccessTokenSealed)
		}
		if err := s.DeleteSecret(ctx, "ct-hook"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.GetSecret(ctx, "ct-hook"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("deleted secret: %v", err)
		}
		if err := s.DeleteLocationToken(ctx, "a", "l1"); err != nil {
			t.Fatal(err)
		}
	})
}
