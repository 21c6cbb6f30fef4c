package auth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/ghlsync/ghlsync/internal/ghl"
	"github.com/ghlsync/ghlsync/internal/store"
)

// PITOptions describes a Private Integration Token to store.
type PITOptions struct {
	// Name of the connection (flows refer to it).
	Name string
	// LocationID for a sub-account token, or CompanyID for an agency token.
	LocationID string
	CompanyID  string
	// Token is the Private Integration Token itself.
	Token string
	// Scopes the token was created with, if the user declares them; nil
	// means unknown, and scope checks cannot judge the connection.
	Scopes []string
	// BaseURL of the API (default the Manager's, else GoHighLevel's).
	BaseURL string
	// SkipVerify stores the token without the check call.
	SkipVerify bool
}

// probe is a cheap read that proves GoHighLevel accepts a token.
type probe struct {
	op    string
	path  map[string]string
	query url.Values
}

func locationProbes(loc string) []probe {
	return []probe{
		{op: "locations.get", path: map[string]string{"locationId": loc}},
		{op: "customFields.list", path: map[string]string{"locationId": loc}},
		{op: "users.listByLocation", query: url.Values{"locationId": {loc}}},
		{op: "calendars.list", query: url.Values{"locationId": {loc}}},
	}
}

func companyProbes(co string) []probe {
	return []probe{
		{op: "companies.get", path: map[string]string{"companyId": co}},
		{op: "locations.list", query: url.Values{"companyId": {co}, "limit": {"1"}}},
	}
}

// VerifyToken checks with cheap v2 reads that GoHighLevel accepts tok for
// the location (or company). It returns what proved it. A legacy v1 API key
// fails with ghl.ErrLegacyAPIKey before any call; a refused token fails
// with GoHighLevel's answer. A token that is recognised but lacks the scopes
// of every check passes, saying so.
func (m *Manager) VerifyToken(ctx context.Context, baseURL, tok, locationID, companyID string) (string, error) {
	if err := ghl.CheckToken(tok); err != nil {
		return "", err
	}
	cfg := m.o.GHL
	if baseURL != "" {
		cfg.BaseURL = baseURL
	}
	cfg.AppID = "pit"
	cfg.Retry = ghl.RetryPolicy{MaxAttempts: 2, BaseDelay: 200 * time.Millisecond, MaxDelay: time.Second}
	resource, probes := locationID, locationProbes(locationID)
	if locationID == "" {
		resource, probes = companyID, companyProbes(companyID)
	}
	client := ghl.New(cfg, ghl.StaticToken(tok), resource)
	var scopeErrs []string
	for _, p := range probes {
		cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		_, err := client.Do(cctx, p.op, ghl.Params{Path: p.path, Query: p.query})
		cancel()
		if err == nil {
			return "GoHighLevel accepted the token for " + p.op, nil
		}
		var ae *ghl.APIError
		if !errors.As(err, &ae) {
			return "", fmt.Errorf("verify token with %s: %w", p.op, err)
		}
		msg := strings.ToLower(ae.Message + " " + strings.Join(ae.Messages, " "))
		switch {
		case ae.Status == http.StatusUnauthorized && (strings.Contains(msg, "scope") || strings.Contains(msg, "authclass")):
			scopeErrs = append(scopeErrs, p.op)
			continue
		case ae.Status == http.StatusUnauthorized:
			return "", fmt.Errorf("GoHighLevel refused the token (%s answered %d: %s); check you copied the whole Private Integration Token and that it was not rotated", p.op, ae.Status, ae.Message)
		case ae.Status == http.StatusForbidden:
			return "", fmt.Errorf("GoHighLevel accepted the token but not for %s (%s answered 403: %s); check --location/--company", resource, p.op, ae.Message)
		case ae.Status == http.StatusNotFound && (p.op == "locations.get" || p.op == "companies.get"):
			return "", fmt.Errorf("GoHighLevel knows no %s (%s answered 404: %s)", resource, p.op, ae.Message)
		default:
			return "", fmt.Errorf("verify token with %s: %w", p.op, err)
		}
	}
	return "GoHighLevel recognised the token, but it lacks the scopes of every check (" + strings.Join(scopeErrs, ", ") + ")", nil
}

// AddPIT verifies a Private Integration Token and stores it, sealed, as a
// static connection (never refreshed). An existing connection of that name
// is replaced. It returns the stored connection and what the check found.
func (m *Manager) AddPIT(ctx context.Context, o PITOptions) (ConnInfo, string, error) {
	if err := ValidName(o.Name); err != nil {
		return ConnInfo{}, "", err
	}
	o.Token = strings.TrimSpace(o.Token)
	if (o.LocationID == "") == (o.CompanyID == "") {
		return ConnInfo{}, "", errors.New("give exactly one of --location (sub-account token) or --company (agency token)")
	}
	if err := ghl.CheckToken(o.Token); err != nil {
		return ConnInfo{}, "", err
	}
	base := o.BaseURL
	if base == "" {
		base = m.o.GHL.BaseURL
	}
	if base == "" {
		base = ghl.DefaultBaseURL
	}
	verified := "not verified (--no-verify)"
	if !o.SkipVerify {
		var err error
		if verified, err = m.VerifyToken(ctx, base, o.Token, o.LocationID, o.CompanyID); err != nil {
			return ConnInfo{}, "", err
		}
	}
	c := &store.Connection{
		Name: o.Name, Kind: store.ConnPIT, UserType: store.UserLocation, LocationID: o.LocationID,
		CompanyID: o.CompanyID, Scopes: o.Scopes, ScopesKnown: o.Scopes != nil, Status: store.ConnActive, BaseURL: base,
	}
	if o.LocationID == "" {
		c.UserType = store.UserCompany
	}
	var err error
	if c.AccessTokenSealed, err = m.seal(o.Token, o.Name, "access_token"); err != nil {
		return ConnInfo{}, "", err
	}
	if err := m.st.SaveConnection(ctx, c); err != nil {
		return ConnInfo{}, "", err
	}
	m.Forget(o.Name)
	m.log.Info("connection stored", "connection", o.Name, "kind", c.Kind, "resource", c.ResourceID())
	info, err := m.Describe(ctx, o.Name)
	return info, verified, err
}

// Test checks a connection end to end: a token (refreshed if due) and a
// cheap read GoHighLevel must accept.
func (m *Manager) Test(ctx context.Context, name string) (string, error) {
	c, err := m.get(ctx, name)
	if err != nil {
		return "", err
	}
	if err := infoOf(c).Err(); err != nil {
		return "", err
	}
	tok, err := m.Token(ctx, name)
	if err != nil {
		return "", err
	}
	loc, co := c.LocationID, ""
	if c.UserType == store.UserCompany {
		loc, co = "", c.CompanyID
	}
	res, err := m.VerifyToken(ctx, m.baseURL(c), tok, loc, co)
	if err != nil && c.Kind == store.ConnOAuth {
		// An access token refused before its expiry: refresh once, like the client.
		if tok2, rerr := m.Refresh(ctx, name, tok); rerr == nil && tok2 != tok {
			return m.VerifyToken(ctx, m.baseURL(c), tok2, loc, co)
		}
	}
	return res, err
}

// Revoke deletes a connection's tokens and marks it revoked.
func (m *Manager) Revoke(ctx context.Context, name string) error {
	if err := m.st.RevokeConnection(ctx, name, "revoked with `ghlsync auth revoke` at "+m.o.Now().UTC().Format(time.RFC3339)); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return &ConnError{Conn: name, Kind: ErrUnknownConnection}
		}
		return err
	}
	m.Forget(name)
	m.log.Info("connection revoked", "connection", name)
	return nil
}
