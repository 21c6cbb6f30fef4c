package sandbox

import (
	"net/url"
	"strings"

	"github.com/ghlsync/ghlsync/internal/ghl/catalog"
)

// route is one catalog operation bound to its handler. Operations that share
// a method and path (the catalog has a few aliases) share the first route.
type route struct {
	op   *catalog.Operation
	segs []string
	h    handlerFunc
}

func splitPath(p string) []string {
	p = strings.Trim(p, "/")
	if p == "" {
		return nil
	}
	return strings.Split(p, "/")
}

func buildRoutes() []*route {
	var out []*route
	seen := map[string]bool{}
	for _, op := range catalog.All() {
		key := op.Method + " " + strings.TrimRight(op.Path, "/")
		if seen[key] {
			continue
		}
		seen[key] = true
		out = append(out, &route{op: op, segs: splitPath(op.Path), h: handlers[op.ID]})
	}
	return out
}

// match finds the route for a request path in its escaped form (one segment
// per "/" actually sent; each parameter value is unescaped). Literal segments beat parameters,
// earlier segments first, so /contacts/search/duplicate wins over
// /contacts/{contactId}/tasks and /calendars/events over /calendars/{id}.
func (s *Server) match(method, path string) (*route, map[string]string) {
	segs := splitPath(path)
	var best *route
	var bestScore []bool
	for _, rt := range s.routes {
		if rt.op.Method != method || len(rt.segs) != len(segs) {
			continue
		}
		score := make([]bool, len(segs))
		okk := true
		for i, ps := range rt.segs {
			if isParam(ps) {
				continue
			}
			if ps != segs[i] && ps != unescapeSeg(segs[i]) {
				okk = false
				break
			}
			score[i] = true
		}
		if !okk {
			continue
		}
		if best == nil || better(score, bestScore) {
			best, bestScore = rt, score
		}
	}
	if best == nil {
		return nil, nil
	}
	params := map[string]string{}
	for i, ps := range best.segs {
		if isParam(ps) {
			params[ps[1:len(ps)-1]] = unescapeSeg(segs[i])
		}
	}
	return best, params
}

func unescapeSeg(seg string) string {
	if v, err := url.PathUnescape(seg); err == nil {
		return v
	}
	return seg
}

func isParam(seg string) bool { return strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}") }

func better(a, b []bool) bool {
	for i := range a {
		if a[i] != b[i] {
			return a[i]
		}
	}
	return false
}

// opPattern is the "METHOD /path" form used by fault rules.
func opPattern(op *catalog.Operation) string {
	return op.Method + " " + strings.TrimRight(op.Path, "/")
}
