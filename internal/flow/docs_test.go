package flow

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestDocsExamples parses every complete flow (a yaml block with name: and
// steps:) in docs/flows.md, so the reference never shows a flow that does
// not load.
func TestDocsExamples(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("../../docs/flows.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllStringSubmatch(string(data), -1)
	n := 0
	const step = "steps:\n  - {id: contact, op: contacts.upsert, with: {email: a@example.com}}\n"
	for _, b := range blocks {
		src := b[1]
		switch {
		case strings.Contains(src, "\nsteps:") && strings.Contains(src, "trigger:"):
		case strings.HasPrefix(src, "trigger:"): // a trigger alone
			src += step
		case strings.HasPrefix(src, "  - id:"): // a step alone
			src = "trigger: {webhook: {source: generic}}\n" + step + src
		default:
			continue
		}
		n++
		if _, err := Parse("docs/flows.md", []byte(src)); err != nil {
			t.Errorf("example does not load:\n%s\n%v", src, err)
		}
	}
	if n == 0 {
		t.Error("no complete flow found in docs/flows.md")
	}
}
