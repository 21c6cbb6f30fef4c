package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/ghlsync/ghlsync/internal/flow"
	"github.com/ghlsync/ghlsync/internal/ghl"
	"github.com/ghlsync/ghlsync/internal/ghl/catalog"
	"github.com/ghlsync/ghlsync/internal/store"
)

// keyWait is how long a run waits (without spending an attempt) when
// another run is creating the object of the same key.
const keyWait = 2 * time.Second

// keyScope is the scope of a run's keys: the connection's location, so
// every flow acting on one location shares its mappings (one flow creates
// appointments, another reads them with mapped()).
func keyScope(conn ConnInfo) string {
	if conn.LocationID != "" {
		return "location:" + conn.LocationID
	}
	return "connection:" + conn.Name
}

// keyLookup answers mapped() from the store; a claim without an object
// reads as unmapped.
func (e *Engine) keyLookup(ctx context.Context, scope string) flow.KeyLookup {
	return func(key string) (string, error) {
		k, err := e.st.GetKey(ctx, scope, key)
		if errors.Is(err, store.ErrNotFound) {
			return "", nil
		}
		if err != nil {
			return "", err
		}
		return k.GHLID, nil
	}
}

// runKeyed runs a keyed step: create the object once per key value and
// record its id with the step's checkpoint; when the key already maps to an
// object, run the update on it (or reuse it). Runs needing the same key are
// serialised by a claim row: the first inserts it, the others wait until
// the object exists.
func (e *Engine) runKeyed(ctx context.Context, rc *runCtx, i int, s *flow.Step, prev, tagsPrev *store.Step) *stepFailure {
	skip, err := s.Skip(rc.env)
	if err != nil {
		return e.stepError(ctx, rc, i, s, err)
	}
	if skip {
		rc.env.SetStep(s.ID, nil)
		row := &store.Step{RunID: rc.run.ID, StepID: s.ID, Index: i * 10, Op: s.Op, Status: store.StepSkipped}
		if err := e.st.SaveStep(ctx, row); err != nil {
			return transient(err)
		}
		return nil
	}
	key, err := s.KeyFor(rc.env)
	if err != nil {
		return e.stepError(ctx, rc, i, s, err)
	}
	scope := keyScope(rc.conn)
	if prev != nil && prev.Status == store.StepSucceeded {
		// Only the tags sub-step is left: rebuild the request that ran.
		req, f := e.keyedRequestAgain(ctx, rc, s, prev, scope, key)
		if f != nil {
			return e.stepError(ctx, rc, i, s, f)
		}
		return e.addTags(ctx, rc, i, s, req, json.RawMessage(prev.Result), tagsPrev)
	}
	for range 4 { // a race lost to another run is read again
		k, won, err := e.st.ClaimKey(ctx, &store.ObjectKey{Scope: scope, Key: key, Op: s.Op, Flow: rc.flow.Name, RunID: rc.run.ID})
		if err != nil {
			return transient(err)
		}
		switch {
		case !k.Claimed() && s.Update == nil:
			return e.reuseKeyed(ctx, rc, i, s, k)
		case !k.Claimed():
			req, result, again, f := e.updateKeyed(ctx, rc, i, s, prev, k)
			if again {
				prev = nil // the update's checkpoint is not the create's
				continue
			}
			if f != nil || req == nil {
				return f
			}
			return e.addTags(ctx, rc, i, s, req, result, tagsPrev)
		case won || k.RunID == rc.run.ID:
			req, result, f := e.createKeyed(ctx, rc, i, s, prev, scope, key)
			if f != nil {
				return f
			}
			return e.addTags(ctx, rc, i, s, req, result, tagsPrev)
		default:
			holder, err := e.st.GetRun(ctx, k.RunID)
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				return transient(err)
			}
			if err == nil && !store.Terminal(holder.Status) {
				return snooze(keyWait, fmt.Errorf("step %s: run %s is creating the object of key %q; waiting for it", s.ID, k.RunID, key))
			}
			// The holder ended (or was purged) without creating it.
			if _, err := e.st.TakeOverKey(ctx, scope, key, k.RunID, rc.run.ID); err != nil {
				return transient(err)
			}
		}
	}
	return snooze(keyWait, fmt.Errorf("step %s: key %q keeps changing under other runs; trying again", s.ID, key))
}

// createKeyed sends the step's create operation under this run's claim and
// records the new object's id in the transaction of the step's checkpoint.
func (e *Engine) createKeyed(ctx context.Context, rc *runCtx, i int, s *flow.Step, prev *store.Step, scope, key string) (*flow.Request, json.RawMessage, *stepFailure) {
	req, err := s.Request(ctx, rc.env)
	if err != nil {
		e.releaseKey(ctx, scope, key, rc.run.ID, err)
		return nil, nil, e.stepError(ctx, rc, i, s, err)
	}
	req.Key = key
	if prev != nil && prev.Op != req.Op {
		// An earlier attempt updated (then met a 404): nothing of the create
		// is unknown.
		prev = &store.Step{Status: store.StepPending, Attempts: prev.Attempts}
	}
	noID := false
	commit := func(ctx context.Context, tx *store.Tx, result json.RawMessage) error {
		id, path := createdID(req.Operation, result)
		if id == "" {
			noID = true
			return tx.ReleaseKey(ctx, scope, key, rc.run.ID)
		}
		return tx.SetKeyID(ctx, scope, key, rc.run.ID, id, path)
	}
	result, f := e.send(ctx, rc, s.ID, i*10, req, prev, sendOpts{commit: commit})
	if f != nil {
		if f.kind == failPermanent && !f.human {
			e.releaseKey(ctx, scope, key, rc.run.ID, f.err)
			return nil, nil, e.onError(ctx, rc, s, f)
		}
		return nil, nil, f
	}
	rc.env.SetStep(s.ID, result)
	if noID {
		return nil, nil, e.onError(ctx, rc, s, permanent(fmt.Errorf(
			"%s succeeded, but its answer holds no object id, so key %q is not mapped and a later event would create another", req.Op, key)))
	}
	return req, result, nil
}

// updateKeyed sends the step's update to the object the key maps to. again
// is true when the object was gone and the key is now this run's claim, so
// the caller creates it.
func (e *Engine) updateKeyed(ctx context.Context, rc *runCtx, i int, s *flow.Step, prev *store.Step, k *store.ObjectKey) (req *flow.Request, result json.RawMessage, again bool, f *stepFailure) {
	req, err := s.UpdateRequest(ctx, rc.env, k.GHLID)
	if err != nil {
		return nil, nil, false, e.stepError(ctx, rc, i, s, err)
	}
	req.Key = k.Key
	if prev != nil && prev.Op != req.Op {
		prev = &store.Step{Status: store.StepPending, Attempts: prev.Attempts}
	}
	opts := sendOpts{}
	if s.OnMissing != flow.OnMissingFail {
		opts.pendingIf = isNotFound
	}
	result, f = e.send(ctx, rc, s.ID, i*10, req, prev, opts)
	if f == nil {
		rc.env.SetStep(s.ID, result)
		return req, result, false, nil
	}
	if !isNotFound(f.err) || f.kind != failPermanent {
		if f.kind == failPermanent && !f.human {
			return nil, nil, false, e.onError(ctx, rc, s, f)
		}
		return nil, nil, false, f
	}
	gone := fmt.Errorf("%s: object %s of key %q no longer exists in GoHighLevel (404)", req.Op, k.GHLID, k.Key)
	switch s.OnMissing {
	case flow.OnMissingCreate:
		if _, err := e.st.ReclaimKey(ctx, k.Scope, k.Key, k.GHLID, rc.run.ID); err != nil {
			return nil, nil, false, transient(err)
		}
		e.log.Info("object of a key was deleted in GoHighLevel; creating it again", "run", rc.run.ID, "step", s.ID, "key", k.Key, "id", k.GHLID)
		return nil, nil, true, nil
	case flow.OnMissingSkip:
		rc.env.SetStep(s.ID, nil)
		row := &store.Step{RunID: rc.run.ID, StepID: s.ID, Index: i * 10, Op: req.Op, Status: store.StepSkipped,
			HTTPStatus: http.StatusNotFound, Error: gone.Error() + "; skipped (on_missing: skip)"}
		if err := e.st.SaveStep(ctx, row); err != nil {
			return nil, nil, false, transient(err)
		}
		return nil, nil, false, nil
	}
	return nil, nil, false, e.onError(ctx, rc, s, permanent(fmt.Errorf("%w; on_missing: create would create it again", gone)))
}

// reuseKeyed records a keyed step without update whose key already maps to
// an object: nothing is sent, and steps.<id> reads the object's id in the
// shape of the create operation's answer.
func (e *Engine) reuseKeyed(ctx context.Context, rc *runCtx, i int, s *flow.Step, k *store.ObjectKey) *stepFailure {
	result := reusedResult(k)
	reqRec, _ := json.Marshal(map[string]string{"op": s.Op, "key": k.Key, "reused": k.GHLID})
	row := &store.Step{RunID: rc.run.ID, StepID: s.ID, Index: i * 10, Op: s.Op, Status: store.StepSucceeded,
		Request: string(reqRec), Response: string(result), Result: string(result)}
	if err := e.st.SaveStep(ctx, row); err != nil {
		return transient(err)
	}
	e.metrics.StepDuration.WithLabelValues(s.Op, "reused").Observe(0)
	rc.env.SetStep(s.ID, result)
	return nil
}

// keyedRequestAgain rebuilds the request a finished keyed step sent, for
// its pending tags sub-step.
func (e *Engine) keyedRequestAgain(ctx context.Context, rc *runCtx, s *flow.Step, prev *store.Step, scope, key string) (*flow.Request, error) {
	if s.Update != nil && prev.Op == s.Update.Op {
		k, err := e.st.GetKey(ctx, scope, key)
		if err != nil {
			return nil, err
		}
		return s.UpdateRequest(ctx, rc.env, k.GHLID)
	}
	return s.Request(ctx, rc.env)
}

// releaseKey drops this run's claim after the create failed for good, so
// another run may create the object.
func (e *Engine) releaseKey(ctx context.Context, scope, key, runID string, cause error) {
	if err := e.st.ReleaseKey(context.WithoutCancel(ctx), scope, key, runID); err != nil {
		e.log.Warn("release key claim", "key", key, "run", runID, "error", err, "cause", cause)
	}
}

func isNotFound(err error) bool {
	var api *ghl.APIError
	return errors.As(err, &api) && api.Status == http.StatusNotFound
}

// createdID finds the new object's id in a create operation's answer: where
// the operation's lookup says the object is (its list's item id under the
// answer's wrapper), else a top-level "id", else the "id" of the one object
// the answer wraps ({"contact": {"id": ...}}). path says where it was.
func createdID(op *catalog.Operation, body []byte) (id, path string) {
	var m map[string]any
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.UseNumber()
	if dec.Decode(&m) != nil {
		return "", ""
	}
	if op != nil {
		if lk, ok := lookups[op.ID]; ok {
			item := "id"
			if lop, ok := catalog.Get(lk.list); ok && lop.Pagination != nil && lop.Pagination.ItemID != "" {
				item = lop.Pagination.ItemID
			}
			obj, p := m, item
			if lk.wrap != "" {
				obj, _ = m[lk.wrap].(map[string]any)
				p = lk.wrap + "." + item
			}
			if v := idText(obj[item]); v != "" {
				return v, p
			}
		}
	}
	for _, k := range []string{"id", "_id"} {
		if v := idText(m[k]); v != "" {
			return v, k
		}
	}
	var found, at string
	for k, v := range m {
		obj, ok := v.(map[string]any)
		if !ok {
			continue
		}
		if v := idText(obj["id"]); v != "" {
			if found != "" {
				return "", "" // two candidates: do not guess
			}
			found, at = v, k+".id"
		}
	}
	return found, at
}

func idText(v any) string {
	switch x := v.(type) {
	case string:
		return strings.TrimSpace(x)
	case json.Number:
		return x.String()
	}
	return ""
}

// reusedResult is the answer a keyed step without update reads when its
// object exists: the id at the path the create's answer held it.
func reusedResult(k *store.ObjectKey) json.RawMessage {
	path := k.IDPath
	if path == "" {
		path = "id"
	}
	parts := strings.Split(path, ".")
	var v any = k.GHLID
	for j := len(parts) - 1; j >= 0; j-- {
		v = map[string]any{parts[j]: v}
	}
	b, _ := json.Marshal(v)
	return b
}
