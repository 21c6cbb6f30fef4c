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
