package auth

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ghlsync/ghlsync/internal/store"
)

// refresh replaces the connection's token pair, holding the connection's
// lock across every process for the whole exchange:
//
//  1. lock the row (Postgres SELECT ... FOR UPDATE; SQLite write lock) and
//     read it again;
//  2. if someone else already refreshed (the stored token is fresh and is
//     not the rejected one), return theirs;
//  3. otherwise call the token endpoint once and store the new access and
//     refresh tokens in the same transaction before anyone uses them.
//
// rejected is the token GoHighLevel answered 401 to, or "" for a refresh
// before expiry. ctx must not
// be cancelled by a caller giving up (see flight): once the refresh token is
// spent the new pair must be saved.
func (m *Manager) refresh(ctx context.Context, name string, rejected string) (string, error) {
	var (
		out     string
		outErr  error
		pending *pendingTokens
	)
	lockCtx, cancel := context.WithTimeout(ctx, m.o.LockTimeout)
	defer cancel()
	err := m.lockedTx(lockCtx, ctx, name, func(tx *store.Tx, c *store.Connection) error {
		r := m.refreshLocked(ctx, tx, c, rejected)
		out, outErr, pending = r.token, r.err, r.pending
		if pending == nil {
			return nil
		}
		newGen, err := tx.UpdateConnectionTokens(ctx, name, c.Generation, pending.update)
		pending.newGen = newGen
		return err
	})
	if err != nil && pending != nil {
		// GoHighLevel already rotated the refresh token: the new pair must
		// not be lost. Save it outside the failed transaction, still only if
		// nobody changed the row meanwhile.
		newGen, err2 := m.st.UpdateConnectionTokens(ctx, name, pending.fromGen, pending.update)
		if err2 != nil {
			m.log.Error("token refresh succeeded but the new tokens could not be saved; the connection must be authorised again",
				"connection", name, "error", err, "retry_error", err2)
			return "", fmt.Errorf("connection %q: save refreshed tokens: %w", name, err)
		}
		pending.newGen, err = newGen, nil
	}
	if err != nil {
		return "", &ConnError{Conn: name, Kind: ErrRefreshBackoff, Reason: "refresh: " + err.Error()}
	}
	if pending != nil {
		m.cachePut(name, out, pending.newGen, pending.update.ExpiresAt)
		m.log.Info("connection token refreshed", "connection", name, "expires_at", pending.update.ExpiresAt.UTC().Format(time.RFC3339), "generation", pending.newGen)
	}
	return out, outErr
}

// outcome is the result of refreshLocked: a token to use or an error for the
// callers, and new tokens to store in the transaction (pending).
type outcome struct {
	token   string
	err     error
	pending *pendingTokens
}

func fail(err error) outcome { return outcome{err: err} }

type pendingTokens struct {
	fromGen int64
	newGen  int64
	update  store.TokenUpdate
}

// lockedTx runs fn in a transaction holding the connection's lock. lockCtx
// bounds the wait for the lock; the transaction itself runs under txCtx so
// a lock timeout cannot roll back a refresh already done.
func (m *Manager) lockedTx(lockCtx, txCtx context.Context, name string, fn func(tx *store.Tx, c *store.Connection) error) error {
	delay := 20 * time.Millisecond
	for {
		locked := false
		err := m.st.InTx(txCtx, func(tx *store.Tx) error {
			if m.st.Dialect() == store.Postgres {
				ms := time.Until(deadlineOr(lockCtx, time.Now().Add(m.o.LockTimeout))).Milliseconds()
				if _, err := tx.Tx.ExecContext(txCtx, fmt.Sprintf("SET LOCAL lock_timeout = %d", max(ms, 1))); err != nil {
					return err
				}
			}
			c, err := tx.LockConnection(txCtx, name)
			if err != nil {
				return err
			}
			locked = true
			return fn(tx, c)
		})
		if err == nil || locked {
			// Never run fn twice: it may have spent the refresh token.
			return err
		}
		if errors.Is(err, store.ErrNotFound) {
			return &ConnError{Conn: name, Kind: ErrUnknownConnection}
		}
		// SQLite answers "database is locked" once its busy timeout passes
		// while another process holds the write lock; keep waiting up to
		// lockCtx.
		if !isBusy(err) || lockCtx.Err() != nil {
			return fmt.Errorf("lock connection %q: %w", name, err)
		}
		select {
		case <-lockCtx.Done():
			return fmt.Errorf("lock connection %q: %w", name, err)
		case <-time.After(delay):
		}
		delay = min(delay*2, time.Second)
	}
}

func isBusy(err error) bool {
	s := err.Error()
	return strings.Contains(s, "database is locked") || strings.Contains(s, "SQLITE_BUSY")
}

func deadlineOr(ctx context.Context, def time.Time) time.Time {
	if d, ok := ctx.Deadline(); ok {
		return d
	}
	return def
}

// refreshLocked decides, with the connection locked, whether to reuse the
// stored token or call the token endpoint. A non-nil pending means new
// tokens to store in this transaction.
func (m *Manager) refreshLocked(ctx context.Context, tx *store.Tx, c *store.Connection, rejected string) outcome {
	name := c.Name
	if err := infoOf(c).Err(); err != nil {
		m.cacheDrop(name, "")
		return fail(err)
	}
	now := m.o.Now()
	access, err := m.open(c.AccessTokenSealed, name, "access_token")
	if err != nil {
		return fail(fmt.Errorf("connection %q: %w", name, err))
	}
	// Someone else refreshed while we waited for the lock?
	if access != "" && access != rejected {
		fresh := c.ExpiresAt.IsZero() || now.Add(m.skew(c.RefreshedAt, c.ExpiresAt)).Before(c.ExpiresAt)
		if rejected != "" {
			fresh = c.ExpiresAt.IsZero() || now.Before(c.ExpiresAt)
		}
		if fresh {
			m.cachePut(name, access, c.Generation, c.ExpiresAt)
			return outcome{token: access}
		}
	}
	if c.Kind == store.ConnPIT {
		// Static tokens cannot refresh; GoHighLevel's 401 stands.
		return fail(fmt.Errorf("connection %q: GoHighLevel refused the Private Integration Token; if it was rotated or deleted in GoHighLevel, store the new one with `ghlsync auth add-token --name %s`", name, name))
	}
	if rejected != "" && !c.RefreshedAt.IsZero() && now.Sub(c.RefreshedAt) < m.o.MinRefreshInterval && access == rejected {
		// A token minted moments ago was refused: a new one would be too
		// (most likely a scope the connection lacks). Do not spend the
		// refresh token.
		return fail(fmt.Errorf("connection %q: GoHighLevel refused a token refreshed %s ago; the connection probably lacks the scope this call needs", name, now.Sub(c.RefreshedAt).Round(time.Second)))
	}
	if now.Before(c.NextRefreshAt) {
		if rejected == "" && access != "" && now.Before(c.ExpiresAt) {
			return outcome{token: access}
		}
		return fail(&ConnError{Conn: name, Kind: ErrRefreshBackoff, Reason: c.LastError, Next: c.NextRefreshAt})
	}
	refreshTok, err := m.open(c.RefreshTokenSealed, name, "refresh_token")
	if err != nil {
		return fail(fmt.Errorf("connection %q: %w", name, err))
	}
	secret, err := m.open(c.ClientSecretSealed, name, "client_secret")
	if err != nil {
		return fail(fmt.Errorf("connection %q: %w", name, err))
	}
	if refreshTok == "" || secret == "" || c.TokenURL == "" {
		reason := "no refresh token or client credentials stored"
		if err := tx.RecordRefreshFailure(ctx, name, c.RefreshFailures+1, time.Time{}, reason, store.ConnReauthRequired, reason); err != nil {
			return fail(err)
		}
		return fail(&ConnError{Conn: name, Kind: ErrReauthRequired, Reason: reason})
	}

	callCtx, cancel := context.WithTimeout(ctx, m.o.TokenTimeout)
	defer cancel()
	m.log.Info("refreshing connection token", "connection", name, "reason", refreshReason(rejected), "generation", c.Generation)
	res, err := refreshGrant(callCtx, m.o.HTTPClient, oauthConfig(c.ClientID, secret, c.TokenURL, ""), refreshTok, now)
	if err != nil {
		return m.refreshFailed(ctx, tx, c, access, rejected, err, now)
	}
	if res.Access == "" {
		return m.refreshFailed(ctx, tx, c, access, rejected, errors.New("token endpoint answered without an access token"), now)
	}
	u := store.TokenUpdate{ExpiresAt: res.Expiry, RefreshedAt: now}
	if u.AccessTokenSealed, err = m.seal(res.Access, name, "access_token"); err == nil {
		u.RefreshTokenSealed, err = m.seal(res.Refresh, name, "refresh_token")
	}
	if err != nil {
		return fail(fmt.Errorf("connection %q: seal refreshed tokens: %w", name, err))
	}
	if len(res.Scopes) > 0 {
		u.Scopes = res.Scopes
	}
	return outcome{token: res.Access, pending: &pendingTokens{fromGen: c.Generation, update: u}}
}

func refreshReason(rejected string) string {
	if rejected != "" {
		return "401 from GoHighLevel"
	}
	return "expiring"
}

// refreshFailed records a failed refresh. A refused grant marks the
// connection reauth_required (no retry: the refresh token is dead); any
// other failure backs off, doubling per failure.
func (m *Manager) refreshFailed(ctx context.Context, tx *store.Tx, c *store.Connection, access, rejected string, err error, now time.Time) outcome {
	name := c.Name
	msg := err.Error()
	var te *TokenEndpointError
	if errors.As(err, &te) && te.Rejected() {
		reason := fmt.Sprintf("GoHighLevel refused the refresh (%s) at %s", msg, now.UTC().Format(time.RFC3339))
		if rerr := tx.RecordRefreshFailure(ctx, name, c.RefreshFailures+1, time.Time{}, msg, store.ConnReauthRequired, reason); rerr != nil {
			return fail(rerr)
		}
		m.cacheDrop(name, "")
		m.log.Warn("connection needs to be authorised again", "connection", name, "error", msg)
		return fail(&ConnError{Conn: name, Kind: ErrReauthRequired, Reason: reason})
	}
	wait := m.o.BackoffMin << min(c.RefreshFailures, 16)
	if wait > m.o.BackoffMax || wait <= 0 {
		wait = m.o.BackoffMax
	}
	next := now.Add(wait)
	if rerr := tx.RecordRefreshFailure(ctx, name, c.RefreshFailures+1, next, msg, "", ""); rerr != nil {
		return fail(rerr)
	}
	m.log.Warn("connection token refresh failed; backing off", "connection", name, "error", msg, "next_attempt", next.UTC().Format(time.RFC3339))
	if rejected == "" && access != "" && now.Before(c.ExpiresAt) {
		m.cachePutUntil(name, access, c.Generation, c.ExpiresAt, minTime(next, c.ExpiresAt))
		return outcome{token: access}
	}
	return fail(&ConnError{Conn: name, Kind: ErrRefreshBackoff, Reason: msg, Next: next})
}
