package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/ghlsync/ghlsync/internal/ghl"
)

// ConnInfo is what a flow may know about its connection. It holds no
// credentials.
type ConnInfo struct {
	Name       string
	LocationID string
	CompanyID  string
	// Timezone is the location's IANA time zone ("" = unknown, UTC).
	Timezone string
}

// Connections resolves a flow's connection name to a GHL client acting for
// that location (or company). The auth package implements it over stored
// OAuth and Private Integration Token connections; StaticConnections serves
// one token from configuration.
type Connections interface {
	Client(ctx context.Context, name string) (*ghl.Client, ConnInfo, error)
}

// ErrConnectionUnavailable wraps connection errors that will not pass by
// retrying soon (revoked, needs re-authorisation). Runs needing such a
// connection are snoozed for PauseFor instead of spending attempts.
var ErrConnectionUnavailable = errors.New("connection unavailable")

// ConnectionPausedError says a connection cannot be used until an operator
// acts; the engine snoozes runs and polls that need it.
type ConnectionPausedError struct {
	Name   string
	Reason string
	// PauseFor is how long the connection expects to stay unusable; runs
	// and polls look again after at most ConnectionWait regardless.
	PauseFor time.Duration
}

func (e *ConnectionPausedError) Error() string {
	return fmt.Sprintf("connection %q is paused: %s", e.Name, e.Reason)
}

// Is makes errors.Is(err, ErrConnectionUnavailable) true.
func (e *ConnectionPausedError) Is(target error) bool { return target == ErrConnectionUnavailable }

// StaticConnections serves every connection name from one configured
// credential: a Private Integration Token for one location.
type StaticConnections struct {
	// Token is the Private Integration Token.
	Token string
	// LocationID is the location the token belongs to.
	LocationID string
	// CompanyID is optional.
	CompanyID string
	// Timezone overrides the location's time zone; when empty it is read
	// once from GHL (locations.get) and cached.
	Timezone string
	// Config is the GHL client configuration (base URL, limiter, retries).
	Config ghl.Config
	// Names, when not empty, restricts the connection names served.
	Names []string

	once   sync.Once
	client *ghl.Client
	tzMu   sync.Mutex
	tzDone bool
}

// Client returns the shared client and the connection's info.
func (s *StaticConnections) Client(ctx context.Context, name string) (*ghl.Client, ConnInfo, error) {
	if len(s.Names) > 0 && !contains(s.Names, name) {
		return nil, ConnInfo{}, &ConnectionPausedError{Name: name, Reason: "no such connection is configured (known: " + strings.Join(s.Names, ", ") + ")", PauseFor: 10 * time.Minute}
	}
	if s.Token == "" {
		return nil, ConnInfo{}, &ConnectionPausedError{Name: name, Reason: "no token configured (set --token or GHLSYNC_TOKEN)", PauseFor: 10 * time.Minute}
	}
	if s.LocationID == "" {
		return nil, ConnInfo{}, &ConnectionPausedError{Name: name, Reason: "no location id configured (set --location-id or GHLSYNC_LOCATION_ID)", PauseFor: 10 * time.Minute}
	}
	s.once.Do(func() {
		cfg := s.Config
		if cfg.AppID == "" {
			cfg.AppID = "pit"
		}
		s.client = ghl.New(cfg, ghl.StaticToken(s.Token), s.LocationID)
	})
	info := ConnInfo{Name: name, LocationID: s.LocationID, CompanyID: s.CompanyID, Timezone: s.timezone(ctx)}
	return s.client, info, nil
}

// timezone reads the location's time zone once; a failure is retried on a
// later call and meanwhile reads as "" (UTC).
func (s *StaticConnections) timezone(ctx context.Context) string {
	s.tzMu.Lock()
	defer s.tzMu.Unlock()
	if s.tzDone || s.Timezone != "" {
		return s.Timezone
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	resp, err := s.client.Do(cctx, "locations.get", ghl.Params{Path: map[string]string{"locationId": s.LocationID}})
	if err != nil {
		return ""
	}
	var body struct {
		Location struct {
			Timezone string `json:"timezone"`
		} `json:"location"`
		Timezone string `json:"timezone"`
	}
	if resp.Decode(&body) == nil {
		s.Timezone = body.Location.Timezone
		if s.Timezone == "" {
			s.Timezone = body.Timezone
		}
	}
	s.tzDone = true
	return s.Timezone
}

func contains(list []string, v string) bool {
	for _, s := range list {
		if s == v {
			return true
		}
	}
	return false
}
