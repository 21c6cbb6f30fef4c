package auth

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Sentinel errors; match them with errors.Is.
var (
	// ErrReauthRequired: GoHighLevel rejected the connection's refresh token
	// (or client credentials). Nothing more is tried until someone connects
	// again with `ghlsync auth login`. The error is a *ConnError.
	ErrReauthRequired = errors.New("connection needs to be authorised again")
	// ErrRevoked: the connection was revoked; its tokens are deleted.
	ErrRevoked = errors.New("connection was revoked")
	// ErrRefreshBackoff: a recent refresh failed for a passing reason
	// (network, 5xx); the next attempt waits for the back-off window.
	ErrRefreshBackoff = errors.New("token refresh is backing off after a failure")
	// ErrUnknownConnection: no connection has that name.
	ErrUnknownConnection = errors.New("unknown connection")
	// ErrMissingScopes: the connection lacks scopes a flow needs.
	ErrMissingScopes = errors.New("connection lacks scopes")
)

// ConnError is a connection-level failure: what happened to which
// connection, and what to do. It never contains a token.
type ConnError struct {
	Conn   string
	Kind   error     // one of the sentinel errors above
	Reason string    // GoHighLevel's message or our diagnosis
	Next   time.Time // for ErrRefreshBackoff: the earliest next attempt
}

func (e *ConnError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "connection %q: %v", e.Conn, e.Kind)
	if e.Reason != "" {
		b.WriteString(": ")
		b.WriteString(e.Reason)
	}
	switch e.Kind {
	case ErrReauthRequired:
		fmt.Fprintf(&b, "; its flows and pollers are paused until you run `ghlsync auth login --name %s` (or add a new token)", e.Conn)
	case ErrRevoked:
		fmt.Fprintf(&b, "; connect it again with `ghlsync auth login --name %s` or `ghlsync auth add-token --name %s`", e.Conn, e.Conn)
	case ErrRefreshBackoff:
		if !e.Next.IsZero() {
			fmt.Fprintf(&b, "; next attempt after %s", e.Next.UTC().Format(time.RFC3339))
		}
	case ErrUnknownConnection:
		b.WriteString("; see `ghlsync auth list`")
	}
	return b.String()
}

// Unwrap lets errors.Is match the kind.
func (e *ConnError) Unwrap() error { return e.Kind }

// Paused reports whether err means the connection cannot be used until a
// person acts (re-authorise, reconnect) — the engine pauses the flows and
// pollers of that connection instead of retrying.
func Paused(err error) bool {
	return errors.Is(err, ErrReauthRequired) || errors.Is(err, ErrRevoked) || errors.Is(err, ErrUnknownConnection)
}

// redact removes every given secret from s.
func redact(s string, secrets ...string) string {
	for _, sec := range secrets {
		if len(sec) >= 4 {
			s = strings.ReplaceAll(s, sec, "[redacted]")
		}
	}
	return s
}
