package flow

import "sort"

// KeepPrevious carries over from prev the flows whose file now has
// problems: a flow that worked before a bad edit keeps running in its
// previous version until the file is fixed. A file that is gone takes its
// flow with it; a kept flow whose name another file now uses is dropped. It
// returns the names of the flows kept, sorted.
func (l *Loaded) KeepPrevious(prev *Loaded) []string {
	if l == nil || prev == nil {
		return nil
	}
	bad := map[string]bool{}
	for _, e := range l.Errors {
		bad[e.Pos.File] = true
	}
	loaded := map[string]bool{}
	names := map[string]bool{}
	for _, f := range l.Flows {
		loaded[f.File] = true
		names[f.Name] = true
	}
	var kept []string
	for _, f := range prev.Flows {
		if !bad[f.File] || loaded[f.File] || names[f.Name] {
			continue
		}
		l.Flows = append(l.Flows, f)
		names[f.Name] = true
		kept = append(kept, f.Name)
	}
	sort.Slice(l.Flows, func(i, j int) bool { return l.Flows[i].Name < l.Flows[j].Name })
	sort.Strings(kept)
	return kept
}
