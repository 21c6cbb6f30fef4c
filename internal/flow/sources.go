package flow

import (
	"regexp"
	"sort"
	"strings"
)

// SourceCheck validates a webhook trigger's source configuration without
// resolving secrets (source.Check); its error names the offending key.
type SourceCheck func(source string, cfg map[string]any) error

var (
	unknownKeyRe = regexp.MustCompile(`unknown key "([^"]+)"`)
	leadingKeyRe = regexp.MustCompile(`^([A-Za-z_][A-Za-z0-9_]*)(?:\[\d+\])?(?::| |$)`)
)

// CheckSources checks every webhook flow's source configuration with check.
// A flow whose configuration is refused is moved from Flows to Errors, with
// the position of the key the problem names (else of the webhook block), so
// a misconfigured source is a load error like any other.
func (l *Loaded) CheckSources(check SourceCheck) {
	if l == nil || check == nil {
		return
	}
	kept := l.Flows[:0]
	for _, f := range l.Flows {
		w := f.Trigger.Webhook
		if w == nil {
			kept = append(kept, f)
			continue
		}
		err := check(w.Source, w.Config)
		if err == nil {
			kept = append(kept, f)
			continue
		}
		l.Errors = append(l.Errors, &Error{Pos: w.problemPos(err), Msg: "webhook: " + err.Error()})
	}
	l.Flows = kept
	l.Errors.Sort()
}

// problemPos finds the key a source's configuration error is about.
func (w *WebhookTrigger) problemPos(err error) Position {
	msg := err.Error()
	if name, rest, ok := strings.Cut(msg, ": "); ok && strings.HasPrefix(name, "source ") {
		msg = rest
	}
	var cands []string
	if m := unknownKeyRe.FindStringSubmatch(msg); m != nil {
		cands = append(cands, m[1])
	}
	if m := leadingKeyRe.FindStringSubmatch(msg); m != nil {
		cands = append(cands, m[1])
	}
	if strings.HasPrefix(msg, "secret") {
		cands = append(cands, "secrets", "secret")
	}
	for _, c := range cands {
		if p, ok := w.KeyPos[c]; ok {
			return p
		}
	}
	// Otherwise the first key the message mentions, longest names first.
	keys := make([]string, 0, len(w.KeyPos))
	for k := range w.KeyPos {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return len(keys[i]) > len(keys[j]) })
	for _, k := range keys {
		if strings.Contains(msg, k+":") || strings.Contains(msg, k+" ") {
			return w.KeyPos[k]
		}
	}
	return w.Pos
}
