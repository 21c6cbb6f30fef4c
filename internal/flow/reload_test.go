package flow

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestKeepPreviousAfterABadEdit(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, body string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	flowOf := func(op string) string {
		return "trigger: {webhook: {source: generic}}\nsteps:\n  - {id: c, op: " + op + ", with: {email: a@example.com}}\n"
	}
	write("a.yaml", flowOf("contacts.upsert"))
	write("b.yaml", flowOf("contacts.upsert"))
	write("c.yaml", flowOf("contacts.upsert"))
	prev, err := LoadDir(dir)
	if err != nil || len(prev.Flows) != 3 {
		t.Fatalf("%v %v", err, prev.Errors)
	}
	write("a.yaml", flowOf("contacts.upsret")) // broken: the old a stays
	write("b.yaml", "name: b\n"+flowOf("contacts.upsert")+"description: edited\n")
	if err := os.Remove(filepath.Join(dir, "c.yaml")); err != nil { // gone: c goes
		t.Fatal(err)
	}
	write("d.yaml", flowOf("contacts.upsert")) // new
	next, err := LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	kept := next.KeepPrevious(prev)
	if diff := cmp.Diff([]string{"a"}, kept); diff != "" {
		t.Errorf("kept (-want +got):\n%s", diff)
	}
	var names []string
	for _, f := range next.Flows {
		names = append(names, f.Name)
	}
	if diff := cmp.Diff([]string{"a", "b", "d"}, names); diff != "" {
		t.Errorf("flows (-want +got):\n%s", diff)
	}
	a, _ := next.Flow("a")
	b, _ := next.Flow("b")
	pa, _ := prev.Flow("a")
	if a != pa || b.Description != "edited" {
		t.Errorf("a is not the previous version, or b not the new one")
	}
	if len(next.Errors) == 0 || next.Errors[0].Pos.File != filepath.Join(dir, "a.yaml") {
		t.Errorf("the bad file's problem is not reported: %v", next.Errors)
	}
}
