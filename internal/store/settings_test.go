package store_test

import (
	"context"
	"testing"

	"github.com/ghlsync/ghlsync/internal/store"
)

func TestSettings(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		if v, ok, err := s.Setting(ctx, store.SettingRedactFields); err != nil || ok || v != "" {
			t.Fatalf("unset setting = %q, %v, %v", v, ok, err)
		}
		for _, want := range []string{"email,phone", ""} {
			if err := s.SetSetting(ctx, store.SettingRedactFields, want); err != nil {
				t.Fatal(err)
			}
			if v, ok, err := s.Setting(ctx, store.SettingRedactFields); err != nil || !ok || v != want {
				t.Errorf("setting = %q, %v, %v; want %q", v, ok, err, want)
			}
		}
	})
}
