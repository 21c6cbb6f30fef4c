package store_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/ghlsync/ghlsync/internal/store"
)

func TestObjectKeysClaimCreateReclaim(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		const scope, key = "location:loc1", "apt:5501"
		if _, err := s.GetKey(ctx, scope, key); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("unknown key: err = %v, want ErrNotFound", err)
		}
		claim := &store.ObjectKey{Scope: scope, Key: key, Op: "calendars.createAppointment", Flow: "appts", RunID: "run_a"}
		cur, won, err := s.ClaimKey(ctx, claim)
		if err != nil || !won || !cur.Claimed() || cur.RunID != "run_a" || cur.ClaimedAt.IsZero() {
			t.Fatalf("first claim: %+v won=%v err=%v", cur, won, err)
		}
		// A second run finds the claim, and does not get it.
		other := *claim
		other.RunID = "run_b"
		cur, won, err = s.ClaimKey(ctx, &other)
		if err != nil || won || cur.RunID != "run_a" {
			t.Fatalf("second claim: %+v won=%v err=%v", cur, won, err)
		}
		// Only the holder records the object, once.
		if err := s.SetKeyID(ctx, scope, key, "run_b", "ghl-1", "id"); err == nil {
			t.Fatal("a run without the claim recorded an id")
		}
		err = s.InTx(ctx, func(tx *store.Tx) error { return tx.SetKeyID(ctx, scope, key, "run_a", "ghl-1", "id") })
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.GetKey(ctx, scope, key)
		if err != nil || got.GHLID != "ghl-1" || got.IDPath != "id" || got.Claimed() || !got.ClaimedAt.IsZero() {
			t.Fatalf("after create: %+v %v", got, err)
		}
		if err := s.SetKeyID(ctx, scope, key, "run_a", "ghl-2", "id"); err == nil {
			t.Fatal("an id was recorded twice")
		}
		// The object was deleted in GoHighLevel: one run reclaims it.
		if ok, err := s.ReclaimKey(ctx, scope, key, "ghl-old", "run_b"); err != nil || ok {
			t.Fatalf("reclaim with a stale id: %v %v", ok, err)
		}
		if ok, err := s.ReclaimKey(ctx, scope, key, "ghl-1", "run_b"); err != nil || !ok {
			t.Fatalf("reclaim: %v %v", ok, err)
		}
		// The holder finished without an object; another run takes over.
		if ok, err := s.TakeOverKey(ctx, scope, key, "run_a", "run_c"); err != nil || ok {
			t.Fatalf("take over from a run that does not hold it: %v %v", ok, err)
		}
		if ok, err := s.TakeOverKey(ctx, scope, key, "run_b", "run_c"); err != nil || !ok {
			t.Fatalf("take over: %v %v", ok, err)
		}
		if err := s.ReleaseKey(ctx, scope, key, "run_b"); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.GetKey(ctx, scope, key); got == nil || got.RunID != "run_c" {
			t.Fatalf("release by a former holder changed the row: %+v", got)
		}
		if err := s.ReleaseKey(ctx, scope, key, "run_c"); err != nil {
			t.Fatal(err)
		}
		if n, _ := s.CountKeys(ctx, scope); n != 0 {
			t.Fatalf("%d keys after release, want 0", n)
		}
		// Scopes are separate.
		for _, sc := range []string{"location:a", "location:b"} {
			if _, won, err := s.ClaimKey(ctx, &store.ObjectKey{Scope: sc, Key: key, RunID: "r"}); err != nil || !won {
				t.Fatalf("claim in %s: %v %v", sc, won, err)
			}
		}
	})
}

func TestObjectKeysConcurrentClaimsOneWinner(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		const n = 10
		var (
			wg   sync.WaitGroup
			mu   sync.Mutex
			wins []string
		)
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				run := fmt.Sprintf("run_%d", i)
				cur, won, err := s.ClaimKey(ctx, &store.ObjectKey{Scope: "s", Key: "k", RunID: run})
				if err != nil {
					t.Error(err)
					return
				}
				if won {
					mu.Lock()
					wins = append(wins, run)
					mu.Unlock()
					if cur.RunID != run {
						t.Errorf("winner %s reads holder %s", run, cur.RunID)
					}
				}
			}()
		}
		wg.Wait()
		if len(wins) != 1 {
			t.Fatalf("%d runs won the claim (%v), want 1", len(wins), wins)
		}
	})
}
