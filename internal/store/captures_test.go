package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ghlsync/ghlsync/internal/store"
)

func TestEventVerificationAndCaptureTrim(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		base := time.Date(2026, 11, 30, 14, 0, 0, 0, time.UTC)
		unsigned := newEvent("open", "u-1", `{}`)
		unsigned.Unsigned = true
		unsigned.Verification = &store.Verification{Scheme: "none", KeyIndex: -1, Detail: "endpoint configured unsigned"}
		if _, _, err := s.InsertEvent(ctx, unsigned); err != nil {
			t.Fatal(err)
		}
		got, err := s.GetEvent(ctx, unsigned.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !got.Unsigned || got.Captured || got.Verification == nil || *got.Verification != *unsigned.Verification {
			t.Fatalf("stored unsigned event: %+v %+v", got, got.Verification)
		}
		for i := 0; i < 5; i++ {
			ev := newEvent("cap", fmt.Sprintf("c-%d", i), `{}`)
			ev.Captured = true
			ev.ReceivedAt = base.Add(time.Duration(i) * time.Minute)
			ev.Verification = &store.Verification{Scheme: "hmac-sha256", KeyIndex: 0, Verified: true, Detail: fmt.Sprintf("sample %d", i)}
			if _, _, err := s.InsertEvent(ctx, ev); err != nil {
				t.Fatal(err)
			}
		}
		// A normal event of the same flow is not a capture and stays.
		if _, _, err := s.InsertEvent(ctx, newEvent("cap", "normal", `{}`)); err != nil {
			t.Fatal(err)
		}
		n, err := s.TrimCaptures(ctx, "cap", 2)
		if err != nil || n != 3 {
			t.Fatalf("trim: %d, %v; want 3 deleted", n, err)
		}
		caps, err := s.ListEvents(ctx, store.EventFilter{Flow: "cap", CapturedOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		var details []string
		for _, e := range caps {
			details = append(details, e.Verification.Detail)
		}
		if diff := cmp.Diff([]string{"sample 4", "sample 3"}, details); diff != "" {
			t.Errorf("kept captures (-want +got):\n%s", diff)
		}
		if all, _ := s.ListEvents(ctx, store.EventFilter{Flow: "cap"}); len(all) != 3 {
			t.Errorf("%d events of flow cap, want 2 captures and the normal one", len(all))
		}
		if all, _ := s.ListEvents(ctx, store.EventFilter{Limit: 1}); len(all) != 1 {
			t.Errorf("limit ignored: %d", len(all))
		}
	})
}
