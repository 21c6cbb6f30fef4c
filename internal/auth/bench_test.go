package auth

import (
	"context"
	"testing"

	"github.com/ghlsync/ghlsync/internal/store"
	"github.com/ghlsync/ghlsync/internal/store/storetest"
)

// BenchmarkTokenCached is the per-request cost of a connection's token once
// it is in memory, which every API call pays.
func BenchmarkTokenCached(b *testing.B) {
	v, err := NewVault(randKey(b))
	if err != nil {
		b.Fatal(err)
	}
	m, err := NewManager(Options{Store: storetest.Open(b, store.SQLite, "authbench"), Vault: v})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if _, _, err := m.AddPIT(ctx, PITOptions{Name: "main", LocationID: "loc-1", Token: "pit-benchmark-token", SkipVerify: true}); err != nil {
		b.Fatal(err)
	}
	ts, _ := m.TokenSource(ctx, "main")
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := ts.Token(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkVaultSealOpen is one seal and one open of a token.
func BenchmarkVaultSealOpen(b *testing.B) {
	v, err := NewVault(randKey(b))
	if err != nil {
		b.Fatal(err)
	}
	tok := "sbx-at-0123456789abcdef0123456789abcdef0123456789abcdef"
	label := store.ConnectionLabel("main", "access_token")
	b.ReportAllocs()
	for b.Loop() {
		s, err := v.SealString(tok, label)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := v.OpenString(s, label); err != nil {
			b.Fatal(err)
		}
	}
}
