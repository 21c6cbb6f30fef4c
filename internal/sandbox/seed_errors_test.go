package sandbox

import (
	"strings"
	"testing"
)

// TestSeedErrorsSpeakYAML: seed errors name the file and line and the key
// or value in the seed's own terms, never a Go type.
func TestSeedErrorsSpeakYAML(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, data, want string }{
		{"empty", "", "seed s.yaml is empty"},
		{"blank", "  \n\n", "seed s.yaml is empty"},
		{"unknown key", "bogus: 1\n", `seed s.yaml: line 1: unknown key "bogus"`},
		{"unknown nested key", "tokens:\n  - token: x\n    bogus: 2\n", `seed s.yaml: line 3: unknown key "bogus"`},
		{"wrong kind", "tokens: abc\n", "seed s.yaml: line 1: expected a list, found text `abc`"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := ParseSeed("s.yaml", []byte(tc.data))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v; want %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "sandbox.") || strings.Contains(err.Error(), "EOF") {
				t.Errorf("error speaks Go: %v", err)
			}
		})
	}
}
