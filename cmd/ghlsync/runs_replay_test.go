package main

import (
	"context"
	"fmt"
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

	// A run still retrying keeps its job: replay is refused, --force or not.
	st, err = store.Open(ctx, store.Options{Path: db})
	if err == nil {
		err = st.SetRunStatus(ctx, bad.ID, store.RunRetrying, "502")
		st.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, extra := range [][]string{nil, {"--force"}} {
		_, _, err = run(t, "", append([]string{"runs", "replay", bad.ID, "--db", db}, extra...)...)
		if exitCode(err) != 1 || !strings.Contains(fmt.Sprint(err), "still in progress") || !strings.Contains(fmt.Sprint(err), "cancel it first") {
			t.Errorf("replay %v of a retrying run: exit %d, %v", extra, exitCode(err), err)
		}
	}
}

// TestRunsShowFollowsTheServersRedaction: `runs show` masks the fields the
// server stored (serve --redact-fields) without repeating them on the
// command line; --redact-fields adds to them.
func TestRunsShowFollowsTheServersRedaction(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := filepath.Join(t.TempDir(), "ghlsync.db")
	st, err := store.Open(ctx, store.Options{Path: db})
	if err != nil {
		t.Fatal(err)
	}
	r := &store.Run{Flow: "f"}
	err = st.InTx(ctx, func(tx *store.Tx) error {
		ev := &store.Event{Flow: "f", Source: "generic", SourceEventID: "e1",
			Payload: []byte(`{"data":{"email":"ana@example.com","phone":"+1 212 555 0199","city":"Porto"}}`)}
		if _, _, err := tx.InsertEvent(ctx, ev); err != nil {
			return err
		}
		r.EventID = ev.ID
		return tx.InsertRun(ctx, r)
	})
	if err == nil {
		err = st.SetSetting(ctx, store.SettingRedactFields, "email,phone")
	}
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	out, _, err := run(t, "", "runs", "show", r.ID, "--db", db)
	if err != nil || strings.Contains(out, "ana@example.com") || strings.Contains(out, "555 0199") || !strings.Contains(out, "Porto") {
		t.Errorf("runs show with the server's redaction: %v\n%s", err, out)
	}
	out, _, err = run(t, "", "runs", "show", r.ID, "--db", db, "--redact-fields", "city")
	if err != nil || strings.Contains(out, "Porto") || strings.Contains(out, "ana@example.com") {
		t.Errorf("runs show --redact-fields city: %v\n%s", err, out)
	}
}
