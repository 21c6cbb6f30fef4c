package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/oauth2"
)

// Defaults for GoHighLevel's OAuth endpoints.
const (
	// DefaultConsentHost serves the consent ("choose location") page.
	DefaultConsentHost = "https://marketplace.gohighlevel.com"
	// WhiteLabelConsentHost is the white-label consent host.
	WhiteLabelConsentHost = "https://marketplace.leadconnectorhq.com"
	// ConsentPath is the v2 consent page path.
	ConsentPath = "/v2/oauth/chooselocation"
	// TokenPath is the token endpoint path on the API host.
	TokenPath = "/oauth/token"
	// LocationTokenPath exchanges an agency token for a location token.
	LocationTokenPath = "/oauth/locationToken"
	// defaultTokenLifetime is assumed when a token response has no expires_in.
	defaultTokenLifetime = 24 * time.Hour
)

// tokenResult is the part of a token response ghlsync keeps.
type tokenResult struct {
	Access, Refresh string
	Expiry          time.Time
	Scopes          []string
	UserType        string
	LocationID      string
	CompanyID       string
	UserID          string
}

// TokenEndpointError is a refusal from a token endpoint, with GoHighLevel's
// own words. It never includes a token or secret.
type TokenEndpointError struct {
	Status  int
	Code    string // OAuth error code ("invalid_grant", ...) when given
	Message string // GoHighLevel's message
	Body    string // the response body, shortened, secrets removed
}

func (e *TokenEndpointError) Error() string {
	msg := e.Message
	if msg == "" {
		msg = e.Body
	}
	if msg == "" {
		msg = http.StatusText(e.Status)
	}
	s := fmt.Sprintf("GoHighLevel token endpoint answered %d: %s", e.Status, msg)
	if e.Code != "" && !strings.Contains(msg, e.Code) {
		s += " (" + e.Code + ")"
	}
	return s
}

// Rejected reports whether the grant or client itself was refused, so that
// retrying cannot help: an invalid, expired or already used refresh token
// or code, or wrong client credentials.
func (e *TokenEndpointError) Rejected() bool {
	switch e.Code {
	case "invalid_grant", "invalid_client", "unauthorized_client":
		return true
	}
	low := strings.ToLower(e.Message)
	return strings.Contains(low, "invalid grant") || strings.Contains(low, "invalid client") ||
		(e.Status == http.StatusUnauthorized && e.Code == "")
}

// endpointError turns a failed token call into an error free of secrets.
func endpointError(err error, secrets ...string) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		status := 0
		if re.Response != nil {
			status = re.Response.StatusCode
		}
		return parseEndpointError(status, re.Body, secrets...)
	}
	// Network failures and malformed answers: keep the text, minus secrets.
	return errors.New(redact(err.Error(), secrets...))
}

func parseEndpointError(status int, body []byte, secrets ...string) *TokenEndpointError {
	e := &TokenEndpointError{Status: status}
	var doc struct {
		Message          json.RawMessage `json:"message"`
		Error            string          `json:"error"`
		ErrorDescription string          `json:"error_description"`
	}
	if json.Unmarshal(body, &doc) == nil {
		var one string
		var many []string
		switch {
		case json.Unmarshal(doc.Message, &one) == nil:
			e.Message = one
		case json.Unmarshal(doc.Message, &many) == nil:
			e.Message = strings.Join(many, "; ")
		}
		if e.Message == "" {
			e.Message = doc.ErrorDescription
		}
		// GHL puts the HTTP reason in "error" ("Bad Request"); only an
		// OAuth-style code (lower_snake) is a code.
		if doc.Error != "" && strings.ToLower(doc.Error) == doc.Error && !strings.Contains(doc.Error, " ") {
			e.Code = doc.Error
		} else if e.Message == "" {
			e.Message = doc.Error
		}
	}
	b := strings.TrimSpace(string(body))
	if len(b) > 512 {
		b = b[:512] + "…"
	}
	e.Body = redact(b, secrets...)
	e.Message = redact(e.Message, secrets...)
	return e
}

// oauthConfig is the x/oauth2 configuration of one app. GoHighLevel wants
// the client credentials in the form body.
func oauthConfig(clientID, clientSecret, tokenURL, redirectURL string) *oauth2.Config {
	return &oauth2.Config{
		ClientID:     clientID,
		ClientSecret: clientSecret,
		RedirectURL:  redirectURL,
		Endpoint:     oauth2.Endpoint{TokenURL: tokenURL, AuthStyle: oauth2.AuthStyleInParams},
	}
}

func fromOAuth2(t *oauth2.Token, now time.Time) *tokenResult {
	r := &tokenResult{Access: t.AccessToken, Refresh: t.RefreshToken, Expiry: t.Expiry}
	if r.Expiry.IsZero() {
		r.Expiry = now.Add(defaultTokenLifetime)
	}
	str := func(k string) string {
		switch v := t.Extra(k).(type) {
		case string:
			return v
		case float64:
			return fmt.Sprint(v)
		}
		return ""
	}
	r.Scopes = strings.Fields(str("scope"))
	r.UserType, r.LocationID, r.CompanyID, r.UserID = str("userType"), str("locationId"), str("companyId"), str("userId")
	return r
}

// exchangeCode trades an authorization code for tokens.
func exchangeCode(ctx context.Context, hc *http.Client, cfg *oauth2.Config, code string, now time.Time) (*tokenResult, error) {
	ctx = context.WithValue(ctx, oauth2.HTTPClient, hc)
	t, err := cfg.Exchange(ctx, code)
	if err != nil {
		return nil, endpointError(err, code, cfg.ClientSecret)
	}
	return fromOAuth2(t, now), nil
}

// refreshGrant trades a refresh token for a new pair. GoHighLevel's refresh
// tokens are single-use: after this call the old one is dead, whatever
// happens to the answer.
func refreshGrant(ctx context.Context, hc *http.Client, cfg *oauth2.Config, refresh string, now time.Time) (*tokenResult, error) {
	ctx = context.WithValue(ctx, oauth2.HTTPClient, hc)
	// An expired token with only a refresh token makes the source refresh.
	t, err := cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: refresh, Expiry: time.Unix(1, 0)}).Token()
	if err != nil {
		return nil, endpointError(err, refresh, cfg.ClientSecret)
	}
	if t.RefreshToken == refresh {
		// x/oauth2 keeps the old refresh token when the answer has none.
		t.RefreshToken = ""
	}
	return fromOAuth2(t, now), nil
}

// exchangeLocationToken asks for a location token with an agency token.
func exchangeLocationToken(ctx context.Context, hc *http.Client, baseURL, agencyToken, companyID, locationID string, now time.Time) (*tokenResult, error) {
	form := url.Values{"companyId": {companyID}, "locationId": {locationID}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(baseURL, "/")+LocationTokenPath, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, fmt.Errorf("location token: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+agencyToken)
	req.Header.Set("Version", "2021-07-28")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	res, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("location token: %s", redact(err.Error(), agencyToken))
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("location token: read answer: %w", err)
	}
	if res.StatusCode/100 != 2 {
		return nil, parseEndpointError(res.StatusCode, body, agencyToken)
	}
	var doc struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int64  `json:"expires_in"`
		Scope       string `json:"scope"`
		LocationID  string `json:"locationId"`
		UserID      string `json:"userId"`
	}
	if err := json.Unmarshal(body, &doc); err != nil || doc.AccessToken == "" {
		return nil, fmt.Errorf("location token: answer without access_token (status %d)", res.StatusCode)
	}
	r := &tokenResult{Access: doc.AccessToken, Scopes: strings.Fields(doc.Scope), UserType: "Location",
		LocationID: doc.LocationID, CompanyID: companyID, UserID: doc.UserID, Expiry: now.Add(defaultTokenLifetime)}
	if doc.ExpiresIn > 0 {
		r.Expiry = now.Add(time.Duration(doc.ExpiresIn) * time.Second)
	}
	if r.LocationID == "" {
		r.LocationID = locationID
	}
	return r, nil
}
