package flow

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestCheckSourcesMovesRefusedFlowsToErrors(t *testing.T) {
	t.Parallel()
	src := func(name, webhook string) *Flow {
		f, err := Parse(name+".yaml", []byte("name: "+name+"\ntrigger:\n  webhook:\n"+webhook+"steps:\n  - {id: c, op: contacts.upsert, with: {email: a@example.com}}\n"))
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	poll, err := Parse("p.yaml", []byte("name: p\ntrigger: {poll: {op: contacts.search, every: 5m}}\nsteps:\n  - {id: c, op: contacts.upsert, with: {email: a@example.com}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	l := &Loaded{Flows: []*Flow{
		src("ok", "    source: generic\n    secret: env:X\n"),
		src("badkey", "    source: generic\n    secret: env:X\n    tolerence: 5m\n"),
		src("badval", "    source: changetower\n    secret: env:X\n    scheme: hmac\n    encoding: base32\n"),
		src("nosecret", "    source: generic\n    types: [contact.created]\n"),
		src("secret", "    source: generic\n    secrets: [env:A, whsec_!!]\n"),
		poll,
	}}
	var asked []string
	// A stand-in for source.Check with its message shapes.
	l.CheckSources(func(source string, cfg map[string]any) error {
		asked = append(asked, source)
		switch {
		case cfg["tolerence"] != nil:
			return errors.New(`source generic: unknown key "tolerence" (known keys: secret, tolerance)`)
		case cfg["encoding"] == "base32":
			return errors.New(`source changetower: encoding: want hex or base64, got "base32"`)
		case cfg["secrets"] != nil:
			return errors.New(`source generic: secret #2: a whsec_ secret must be followed by base64 key bytes`)
		case cfg["secret"] == nil:
			return errors.New(`source generic: secret: required (for example secret: env:GHLSYNC_GENERIC_SECRET), unless the endpoint is explicitly unsigned: true`)
		}
		return nil
	})
	var names []string
	for _, f := range l.Flows {
		names = append(names, f.Name)
	}
	if diff := cmp.Diff([]string{"ok", "p"}, names); diff != "" {
		t.Errorf("flows kept (-want +got):\n%s", diff)
	}
	if len(asked) != 5 {
		t.Errorf("checked %d webhook flows, want 5", len(asked))
	}
	var got []string
	for _, e := range l.Errors {
		got = append(got, e.Pos.String())
	}
	want := []string{
		"badkey.yaml:6:5",   // the unknown key
		"badval.yaml:7:5",   // encoding:
		"nosecret.yaml:4:5", // no secret key at all: the webhook block
		"secret.yaml:5:5",   // secrets:
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("positions (-want +got):\n%s\n%v", diff, l.Errors)
	}
	if l.Errors[0].Msg != `webhook: source generic: unknown key "tolerence" (known keys: secret, tolerance)` {
		t.Errorf("message: %s", l.Errors[0].Msg)
	}
}
