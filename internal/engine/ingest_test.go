package engine

import (
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/ghlsync/ghlsync/internal/engine/redact"
	"github.com/ghlsync/ghlsync/internal/store"
	"github.com/ghlsync/ghlsync/internal/store/storetest"
	"github.com/ghlsync/ghlsync/internal/testutil"
)

type syncBuffer = testutil.SyncBuffer

// TestIngestRefusesWhatCannotBeStored: a NUL character anywhere, or an id of
// only whitespace, is refused the same way on both databases (a permanent
// InvalidEventError, never a StorageError that asks the sender to retry),
// and nothing is stored.
func TestIngestRefusesWhatCannotBeStored(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, d, map[string]string{"three": threeSteps})
			for _, tt := range []struct {
				name string
				in   Incoming
				want string
			}{
				{"NUL in the id", Incoming{ID: "pg\x00id"}, `NUL character (\u0000)`},
				{"NUL in the type", Incoming{ID: "e1", Type: "contact.\x00created"}, `NUL character (\u0000)`},
				{"NUL in a nested value", Incoming{ID: "e2", Payload: map[string]any{"data": map[string]any{"notes": []any{"ok", "a\x00b"}}}}, `NUL character (\u0000)`},
				{"NUL in a key", Incoming{ID: "e3", Payload: map[string]any{"k\x00": 1}}, `NUL character (\u0000)`},
				{"NUL in a header", Incoming{ID: "e4", Headers: map[string]string{"x-a": "\x00"}}, `NUL character (\u0000)`},
				{"whitespace id", Incoming{ID: " \t "}, "only whitespace"},
			} {
				in := tt.in
				in.Flow, in.Source = "three", "generic"
				if in.Type == "" {
					in.Type = "contact.created"
				}
				_, err := h.e.Ingest(h.ctx, in)
				var ie *InvalidEventError
				var se *StorageError
				if !errors.As(err, &ie) || errors.As(err, &se) || !strings.Contains(err.Error(), tt.want) {
					t.Errorf("%s: %v, want an InvalidEventError saying %q", tt.name, err, tt.want)
				}
			}
			if n, _ := h.st.CountEvents(h.ctx, ""); n != 0 {
				t.Errorf("%d events stored, want none", n)
			}
			// A literal backslash-u0000 in text is no NUL and is stored.
			if res := h.ingest("three", "e5", map[string]any{"note": `\u0000`}); res.RunID == "" {
				t.Errorf("text with an escaped NUL: %+v", res)
			}
		})
	}
}

// TestDuplicateWithADifferentBodyIsLogged: the same source id with another
// body is still a duplicate (the sender's retries must not run twice), but
// it is logged at WARN with both body hashes; an identical repeat is not.
func TestDuplicateWithADifferentBodyIsLogged(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			logs := &syncBuffer{}
			h := newHarness(t, d, map[string]string{"three": threeSteps}, func(c *Config) {
				c.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
			})
			first := h.ingest("three", "evt-1", map[string]any{"email": "a@example.com"})
			if again := h.ingest("three", "evt-1", map[string]any{"email": "a@example.com"}); !again.Duplicate {
				t.Fatalf("identical repeat: %+v", again)
			}
			if strings.Contains(logs.String(), "different body") {
				t.Errorf("an identical repeat was logged as different:\n%s", logs)
			}
			other := h.ingest("three", "evt-1", map[string]any{"email": "b@example.com"})
			if !other.Duplicate || other.EventID != first.EventID {
				t.Fatalf("same id, different body: %+v, want a duplicate of %s", other, first.EventID)
			}
			ev, err := h.st.GetEvent(h.ctx, first.EventID)
			if err != nil {
				t.Fatal(err)
			}
			newHash := store.HashBody([]byte(`{"email":"b@example.com"}`))
			out := logs.String()
			for _, want := range []string{"level=WARN", "different body", "storedBodyHash=" + ev.BodyHash, "newBodyHash=" + newHash, "sourceEventId=evt-1"} {
				if !strings.Contains(out, want) {
					t.Errorf("log lacks %q:\n%s", want, out)
				}
			}
		})
	}
}

// TestStoredRedactionAppliesToHistory: the server's stored redaction masks
// history shown by any reader of the database, on top of the reader's own
// fields, while the stored event keeps the raw bytes.
func TestStoredRedactionAppliesToHistory(t *testing.T) {
	t.Parallel()
	h := newHarness(t, store.SQLite, map[string]string{"three": threeSteps})
	res := h.ingest("three", "e1", map[string]any{"email": "ana@example.com", "phone": "+351 912 345 678", "city": "Porto"})
	show := func(fields ...string) string {
		d, err := RunDetailOf(h.ctx, h.st, redact.New(fields...), res.RunID)
		if err != nil {
			t.Fatal(err)
		}
		return string(d.Event.Payload)
	}
	if out := show(); !strings.Contains(out, "ana@example.com") {
		t.Fatalf("nothing stored yet, the e-mail should show: %s", out)
	}
	if err := SaveRedaction(h.ctx, h.st, redact.New("Email", "phone")); err != nil {
		t.Fatal(err)
	}
	if v, _, _ := h.st.Setting(h.ctx, store.SettingRedactFields); v != "email,phone" {
		t.Errorf("stored setting = %q", v)
	}
	out := show("city")
	for _, leak := range []string{"ana@example.com", "912 345", "Porto"} {
		if strings.Contains(out, leak) {
			t.Errorf("%q shown despite the stored and the reader's redaction: %s", leak, out)
		}
	}
	ev, err := EventDetailOf(h.ctx, h.st, nil, res.EventID)
	if err != nil || strings.Contains(string(ev.Payload), "ana@example.com") {
		t.Errorf("event detail: %v %s", err, ev.Payload)
	}
	if raw, _ := h.st.GetEvent(h.ctx, res.EventID); !strings.Contains(string(raw.Payload), "ana@example.com") {
		t.Errorf("the stored event should keep its data for verification and replay: %s", raw.Payload)
	}
}
