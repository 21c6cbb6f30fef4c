package flow

import (
	"testing"
)

func TestLoadDirValidExamples(t *testing.T) {
	t.Parallel()
	l, err := LoadDir("testdata/valid")
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Errors) > 0 {
		t.Fatalf("valid examples have problems:\n%v", l.Errors)
	}
	if len(l.Flows) != len(l.Files) || len(l.Flows) == 0 {
		t.Fatalf("loaded %d flows from %d files", len(l.Flows), len(l.Files))
	}
}
