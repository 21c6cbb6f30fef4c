package ghl

import (
	"regexp"
	"strings"
	"sync"

	"github.com/ghlsync/ghlsync/internal/ghl/catalog"
)

type opPattern struct {
	op *catalog.Operation
	re *regexp.Regexp
	// literal counts fixed segments, so /contacts/search beats /contacts/{id}.
	literal int
}

var (
	patternsOnce sync.Once
	patterns     []opPattern
)

// matchOp finds the catalog operation whose method and path template match
// a concrete path, preferring templates with more fixed segments.
func matchOp(method, path string) *catalog.Operation {
	patternsOnce.Do(func() {
		for _, op := range catalog.All() {
			var b strings.Builder
			b.WriteString("^")
			lit := 0
			for i, seg := range strings.Split(strings.Trim(op.Path, "/"), "/") {
				if i > 0 || seg != "" {
					b.WriteString("/")
				}
				if strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}") {
					b.WriteString(`[^/]+`)
				} else {
					b.WriteString(regexp.QuoteMeta(seg))
					lit++
				}
			}
			b.WriteString("/?$")
			patterns = append(patterns, opPattern{op: op, re: regexp.MustCompile(b.String()), literal: lit})
		}
	})
	var best *opPattern
	for i := range patterns {
		p := &patterns[i]
		if p.op.Method != method || !p.re.MatchString(path) {
			continue
		}
		if best == nil || p.literal > best.literal {
			best = p
		}
	}
	if best == nil {
		return nil
	}
	return best.op
}
