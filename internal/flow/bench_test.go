package flow

import (
	"context"
	"os"
	"testing"
)

// BenchmarkParse measures loading one typical flow file (YAML, catalog
// checks and compiling its expressions).
func BenchmarkParse(b *testing.B) {
	data, err := os.ReadFile("testdata/valid/sync-contacts.yaml")
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := Parse("sync-contacts.yaml", data); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRequest measures evaluating a contacts.upsert step with eight
// mapped fields, tags and two custom fields for one event.
func BenchmarkRequest(b *testing.B) {
	f, err := LoadFile("testdata/valid/sync-contacts.yaml")
	if err != nil {
		b.Fatal(err)
	}
	s, _ := f.Step("contact")
	ev := map[string]any{"contact": map[string]any{"email": "Ana@Example.com", "first_name": "Ana", "last_name": "Lima",
		"phone": "415 555 2671", "company": "Acme", "city": "Lisbon", "tags": []any{"vip"}, "summary": "s", "deal_value": "$1,200"}}
	r := &fakeResolver{fields: sandboxFields}
	b.ReportAllocs()
	for b.Loop() {
		env := NewEnv(Event{ID: "e", Payload: ev}, Connection{LocationID: "loc1"})
		env.Fields = r
		r.calls = r.calls[:0]
		if _, err := s.Request(context.Background(), env); err != nil {
			b.Fatal(err)
		}
	}
}
