package engine

import (
	"context"
	"fmt"
	"net/url"
	"sync"
	"time"

	"github.com/ghlsync/ghlsync/internal/flow"
	"github.com/ghlsync/ghlsync/internal/ghl"
)

// fieldCache keeps each location's custom field list for a while, so a burst
// of runs lists the fields once. Concurrent misses for one key share one
// request.
type fieldCache struct {
	ttl time.Duration
	mu  sync.Mutex
	m   map[string]*fieldEntry
}

type fieldEntry struct {
	ready   chan struct{}
	fields  []flow.CustomField
	err     error
	fetched time.Time
}

func newFieldCache(ttl time.Duration) *fieldCache {
	return &fieldCache{ttl: ttl, m: map[string]*fieldEntry{}}
}

// resolver returns a flow.FieldResolver reading through the cache with c.
func (fc *fieldCache) resolver(c *ghl.Client) flow.FieldResolver {
	return &fieldResolver{fc: fc, c: c}
}

// invalidate drops a location's cached fields (after a "field not found").
func (fc *fieldCache) invalidate(locationID, model string) {
	fc.mu.Lock()
	delete(fc.m, locationID+"\x00"+model)
	fc.mu.Unlock()
}

type fieldResolver struct {
	fc *fieldCache
	c  *ghl.Client
}

func (r *fieldResolver) Fields(ctx context.Context, locationID, model string) ([]flow.CustomField, error) {
	key := locationID + "\x00" + model
	r.fc.mu.Lock()
	e, ok := r.fc.m[key]
	if ok {
		select {
		case <-e.ready:
			if e.err != nil || time.Since(e.fetched) > r.fc.ttl {
				ok = false
			}
		default: // in flight: wait below
		}
	}
	if !ok {
		e = &fieldEntry{ready: make(chan struct{})}
		r.fc.m[key] = e
		r.fc.mu.Unlock()
		e.fields, e.err = listFields(ctx, r.c, locationID, model)
		e.fetched = time.Now()
		close(e.ready)
		return e.fields, e.err
	}
	r.fc.mu.Unlock()
	select {
	case <-e.ready:
		return e.fields, e.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func listFields(ctx context.Context, c *ghl.Client, locationID, model string) ([]flow.CustomField, error) {
	resp, err := c.Do(ctx, "customFields.list", ghl.Params{
		Path:  map[string]string{"locationId": locationID},
		Query: url.Values{"model": {model}},
	})
	if err != nil {
		return nil, fmt.Errorf("list custom fields of %s: %w", locationID, err)
	}
	var body struct {
		CustomFields []struct {
			ID       string `json:"id"`
			Name     string `json:"name"`
			FieldKey string `json:"fieldKey"`
			DataType string `json:"dataType"`
			Model    string `json:"model"`
		} `json:"customFields"`
	}
	if err := resp.Decode(&body); err != nil {
		return nil, err
	}
	out := make([]flow.CustomField, 0, len(body.CustomFields))
	for _, f := range body.CustomFields {
		out = append(out, flow.CustomField{ID: f.ID, Name: f.Name, FieldKey: f.FieldKey, DataType: f.DataType, Model: f.Model})
	}
	return out, nil
}

// CheckCustomFields resolves the custom fields each flow maps against its
// connection's location, as a server does when it starts. A flow with a
// problem (a field the location does not have, a literal value of the wrong
// type) is moved from l.Flows to l.Errors with the place in its file. When
// the fields cannot be listed (the connection, the network), the flow stays
// loaded and the failure comes back as a warning: runs will tell if it
// persists. Flows mapping no custom field cost no request.
func CheckCustomFields(ctx context.Context, l *flow.Loaded, conns Connections) (warnings []error) {
	if l == nil || conns == nil {
		return nil
	}
	cache := newFieldCache(time.Minute)
	kept := l.Flows[:0]
	for _, f := range l.Flows {
		if !mapsCustomFields(f) {
			kept = append(kept, f)
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		problems, err := checkFlowFields(cctx, f, conns, cache)
		cancel()
		switch {
		case err != nil:
			warnings = append(warnings, fmt.Errorf("%s: flow %s: custom fields not checked: %w", f.File, f.Name, err))
			kept = append(kept, f)
		case len(problems) > 0:
			l.Errors = append(l.Errors, problems...)
		default:
			kept = append(kept, f)
		}
	}
	l.Flows = kept
	l.Errors.Sort()
	return warnings
}

func checkFlowFields(ctx context.Context, f *flow.Flow, conns Connections, cache *fieldCache) (flow.ErrorList, error) {
	client, info, err := conns.Client(ctx, f.Connection)
	if err != nil {
		return nil, fmt.Errorf("connection %q: %w", f.Connection, err)
	}
	if info.LocationID == "" {
		return nil, fmt.Errorf("connection %q has no location", f.Connection)
	}
	return f.CheckCustomFields(ctx, cache.resolver(client), info.LocationID)
}

func mapsCustomFields(f *flow.Flow) bool {
	for _, s := range f.Steps {
		if s.With.Has("customFields") {
			return true
		}
	}
	return false
}
