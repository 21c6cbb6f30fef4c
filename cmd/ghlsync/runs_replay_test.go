package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ghlsync/ghlsync/internal/store"
)

// TestRunsReplayRefusesSucceededWithoutForce: replaying a succeeded run
// would create its objects again, so it needs --force; a failed one does not.
func TestRunsReplayRefusesSucceededWithoutForce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := filepath.Join(t.TempDir(), "ghlsync.db")
	st, err := store.Open(ctx, store.Options{Path: db})
	if err != nil {
		t.Fatal(err)
	}
	ok := &store.Run{Flow: "f"}
	bad := &store.Run{Flow: "f"}
	err = st.InTx(ctx, func(tx *store.Tx) error {
		ev := &store.Event{Flow: "f", Source: "generic", SourceEventID: "e1", Payload: []byte(`{}`)}
		if _, _, err := tx.InsertEvent(ctx, ev); err != nil {
			return err
		}
		ok.EventID, bad.EventID = ev.ID, ev.ID
		if err := tx.InsertRun(ctx, ok); err != nil {
			return err
		}
		return tx.InsertRun(ctx, bad)
	})
	if err == nil {
		err = st.FinishRun(ctx, ok.ID, store.RunSucceeded, "")
	}
	if err == nil {
		err = st.FinishRun(ctx, bad.ID, store.RunFailed, "boom")
	}
	st.Close()
	if err != nil {
		t.Fatal(err)
	}

	_, _, err = run(t, "", "runs", "replay", ok.ID, "--db", db)
	if exitCode(err) != 1 || !strings.Contains(err.Error(), "--force") || !strings.Contains(err.Error(), "again") {
		t.Errorf("replay of a succeeded run without --force: exit %d, %v", exitCode(err), err)
	}
	out, _, err := run(t, "", "runs", "replay", ok.ID, "--force", "--db", db)
	if err != nil || !strings.Contains(out, "replay of "+ok.ID) {
		t.Errorf("replay --force: %v\n%s", err, out)
	}
	out, _, err = run(t, "", "runs", "replay", bad.ID, "--db", db)
	if err != nil || !strings.Contains(out, "replay of "+bad.ID) {
		t.Errorf("replay of a failed run: %v\n%s", err, out)
	}
}
