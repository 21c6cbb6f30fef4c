package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ghlsync/ghlsync/internal/store"
)

// TestRunsShowsSignaturesAndCaptures: runs show says how a run's event was
// verified (or that its endpoint is unsigned), and capture-mode samples are
// listed and shown with what their signature check found.
func TestRunsShowsSignaturesAndCaptures(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := filepath.Join(t.TempDir(), "ghlsync.db")
	st, err := store.Open(ctx, store.Options{Path: db})
	if err != nil {
		t.Fatal(err)
	}
	open := &store.Event{Flow: "open", Source: "generic", Type: "contact.created", SourceEventID: "evt-1",
		Payload: []byte(`{"id":"evt-1"}`), Unsigned: true, Verification: &store.Verification{Scheme: "none", KeyIndex: -1}}
	capture := &store.Event{Flow: "sample", Source: "changetower", SourceEventID: "msg_1", Payload: []byte(`{"type":"x"}`),
		Headers: map[string]string{"x-ct-signature": "sha256=abc"}, Captured: true,
		Verification: &store.Verification{Scheme: "standard-webhooks", KeyIndex: -1,
			Detail: `header X-Ct-Signature matches HMAC-SHA256 of the body, hex, prefix "sha256=", with secret #1 as written`}}
	r := &store.Run{Flow: "open"}
	err = st.InTx(ctx, func(tx *store.Tx) error {
		if _, _, err := tx.InsertEvent(ctx, open); err != nil {
			return err
		}
		if _, _, err := tx.InsertEvent(ctx, capture); err != nil {
			return err
		}
		r.EventID = open.ID
		return tx.InsertRun(ctx, r)
	})
	st.Close()
	if err != nil {
		t.Fatal(err)
	}

	out, _, err := run(t, "", "runs", "show", r.ID, "--db", db)
	if err != nil || !strings.Contains(out, "signature: not verified: the endpoint is configured unsigned") {
		t.Errorf("runs show of an unsigned event: %v\n%s", err, out)
	}
	out, _, err = run(t, "", "runs", "list", "--captures", "--db", db)
	if err != nil || !strings.Contains(out, capture.ID) || !strings.Contains(out, "matches HMAC-SHA256") || strings.Contains(out, open.ID) {
		t.Errorf("runs list --captures: %v\n%s", err, out)
	}
	out, _, err = run(t, "", "runs", "show", capture.ID, "--db", db)
	for _, want := range []string{"Captured delivery " + capture.ID, "captured without a matching signature (standard-webhooks checked): header X-Ct-Signature", "x-ct-signature: [redacted]"} {
		if err != nil || !strings.Contains(out, want) {
			t.Errorf("runs show of a capture lacks %q: %v\n%s", want, err, out)
		}
	}
	if _, _, err := run(t, "", "runs", "show", "ev_missing", "--db", db); exitCode(err) != 1 {
		t.Errorf("missing event: exit %d", exitCode(err))
	}
}
