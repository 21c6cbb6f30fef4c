package auth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/ghlsync/ghlsync/internal/ghl"
	"github.com/ghlsync/ghlsync/internal/store"
)

// LocationToken returns a location access token obtained with the agency
// (Company) connection name: from memory, else from the database (sealed),
// else by POST /oauth/locationToken. Location tokens have no refresh token;
// when one nears expiry a new one is exchanged.
func (m *Manager) LocationToken(ctx context.Context, name, locationID string) (string, error) {
	key := name + "\x00" + locationID
	if c := m.cacheGet(key); c != nil && m.o.Now().Before(c.useUntil) {
		return c.token, nil
	}
	return m.flight(ctx, key, func(ctx context.Context) (string, error) {
		return m.loadLocationToken(ctx, name, locationID, "")
	})
}

// RefreshLocationToken replaces a location token GoHighLevel refused.
func (m *Manager) RefreshLocationToken(ctx context.Context, name, locationID, rejected string) (string, error) {
	key := name + "\x00" + locationID
	if c := m.cacheGet(key); c != nil && c.token != rejected && m.o.Now().Before(c.useUntil) {
		return c.token, nil
	}
	m.cacheDrop(key, rejected)
	return m.flight(ctx, key+"\x00refresh\x00"+rejected, func(ctx context.Context) (string, error) {
		return m.loadLocationToken(ctx, name, locationID, rejected)
	})
}

func (m *Manager) loadLocationToken(ctx context.Context, name, locationID, rejected string) (string, error) {
	if locationID == "" {
		return "", fmt.Errorf("connection %q: a location token needs a location id", name)
	}
	c, err := m.get(ctx, name)
	if err != nil {
		return "", err
	}
	if err := infoOf(c).Err(); err != nil {
		return "", err
	}
	if c.UserType != store.UserCompany {
		return "", fmt.Errorf("connection %q is a location connection; only an agency (Company) connection exchanges location tokens", name)
	}
	if c.Kind == store.ConnPIT {
		return "", fmt.Errorf("connection %q is a Private Integration Token; GoHighLevel exchanges location tokens only for an agency OAuth connection (connect with `ghlsync auth login` as an agency, or add the location's own token)", name)
	}
	key := name + "\x00" + locationID
	label := store.LocationTokenLabel(name, locationID)
	now := m.o.Now()
	if lt, err := m.st.GetLocationToken(ctx, name, locationID); err == nil {
		tok, err := m.vault.OpenString(lt.AccessTokenSealed, label)
		if err == nil && tok != rejected && now.Add(m.skew(lt.CreatedAt, lt.ExpiresAt)).Before(lt.ExpiresAt) {
			m.cachePut(key, tok, 0, lt.ExpiresAt)
			return tok, nil
		}
	} else if !errors.Is(err, store.ErrNotFound) {
		return "", err
	}

	// Exchange with the agency token; one retry with a refreshed agency
	// token if GoHighLevel refuses it.
	agency, err := m.Token(ctx, name)
	if err != nil {
		return "", err
	}
	res, err := m.exchange(ctx, c, agency, locationID, now)
	var te *TokenEndpointError
	if errors.As(err, &te) && te.Status == http.StatusUnauthorized {
		if agency, err = m.Refresh(ctx, name, agency); err != nil {
			return "", err
		}
		res, err = m.exchange(ctx, c, agency, locationID, now)
	}
	if err != nil {
		return "", fmt.Errorf("connection %q: location token for %s: %w", name, locationID, err)
	}
	sealed, err := m.vault.SealString(res.Access, label)
	if err != nil {
		return "", err
	}
	if err := m.st.PutLocationToken(ctx, &store.LocationToken{Connection: name, LocationID: locationID,
		AccessTokenSealed: sealed, Scopes: res.Scopes, ExpiresAt: res.Expiry}); err != nil {
		// The token still works; only the cache is lost.
		m.log.Warn("could not cache a location token", "connection", name, "location", locationID, "error", err)
	}
	m.cachePut(key, res.Access, 0, res.Expiry)
	m.log.Info("location token obtained", "connection", name, "location", locationID, "expires_at", res.Expiry.UTC().Format(time.RFC3339))
	return res.Access, nil
}

func (m *Manager) exchange(ctx context.Context, c *store.Connection, agency, locationID string, now time.Time) (*tokenResult, error) {
	callCtx, cancel := context.WithTimeout(ctx, m.o.TokenTimeout)
	defer cancel()
	return exchangeLocationToken(callCtx, m.o.HTTPClient, m.baseURL(c), agency, c.CompanyID, locationID, now)
}

// LocationTokenSource returns a ghl.TokenSource (and ghl.Refresher) for a
// location reached through the agency connection name.
func (m *Manager) LocationTokenSource(ctx context.Context, name, locationID string) (ghl.TokenSource, error) {
	c, err := m.get(ctx, name)
	if err != nil {
		return nil, err
	}
	if c.UserType != store.UserCompany {
		return nil, fmt.Errorf("connection %q is a location connection; only an agency (Company) connection exchanges location tokens", name)
	}
	return &locSource{m: m, name: name, loc: locationID}, nil
}

type locSource struct {
	m         *Manager
	name, loc string
}

func (s *locSource) Token(ctx context.Context) (string, error) {
	tok, err := s.m.LocationToken(ctx, s.name, s.loc)
	return tok, s.m.mapErr(s.name, err)
}

func (s *locSource) Refresh(ctx context.Context, rejected string) (string, error) {
	tok, err := s.m.RefreshLocationToken(ctx, s.name, s.loc, rejected)
	return tok, s.m.mapErr(s.name, err)
}
