package web

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// MinAdminToken is the shortest admin token accepted: long enough that
// guessing it over the network is hopeless.
const MinAdminToken = 16

// sessionCookie holds the dashboard login. Its value is derived from the
// admin token, never the token itself, so a leaked cookie does not reveal
// it, and changing the token logs everyone out.
const sessionCookie = "ghlsync_session"

// sessionTTL is how long a dashboard login lasts.
const sessionTTL = 7 * 24 * time.Hour

// adminAuth checks the admin token on the dashboard, the JSON API and
// replays. With an empty token it lets everything through (a server on a
// loopback address).
type adminAuth struct {
	token   string
	session string // hex HMAC of a fixed label under the token
}

func newAdminAuth(token string) *adminAuth {
	if token == "" {
		return nil
	}
	m := hmac.New(sha256.New, []byte(token))
	m.Write([]byte("ghlsync dashboard session v1"))
	return &adminAuth{token: token, session: hex.EncodeToString(m.Sum(nil))}
}

// equal compares secrets in constant time (hashing first, so lengths
// leak nothing either).
func equal(a, b string) bool {
	ha, hb := sha256.Sum256([]byte(a)), sha256.Sum256([]byte(b))
	return subtle.ConstantTimeCompare(ha[:], hb[:]) == 1
}

// allowed reports whether r carries the admin token (Bearer) or a valid
// login cookie.
func (a *adminAuth) allowed(r *http.Request) bool {
	if a == nil {
		return true
	}
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, tok, ok := strings.Cut(h, " ")
		if ok && strings.EqualFold(scheme, "Bearer") && equal(strings.TrimSpace(tok), a.token) {
			return true
		}
	}
	if c, err := r.Cookie(sessionCookie); err == nil && equal(c.Value, a.session) {
		return true
	}
	return false
}

// protect requires the admin token for h. API clients get 401 with a
// Bearer challenge; people on the dashboard are sent to the login page.
func (s *Server) protect(h http.Handler, api bool) http.Handler {
	if s.auth == nil {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.auth.allowed(r) {
			h.ServeHTTP(w, r)
			return
		}
		if api || r.Method != http.MethodGet {
			w.Header().Set("WWW-Authenticate", `Bearer realm="ghlsync"`)
			writeError(w, http.StatusUnauthorized, "the admin token is required: send Authorization: Bearer <token>")
			return
		}
		http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
	})
}

type loginPage struct {
	Title, Database string
	Next, Error     string
}

func (s *Server) loginForm(w http.ResponseWriter, r *http.Request) {
	if s.auth == nil {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	s.render(w, "login.html", loginPage{Title: "Sign in", Next: safeNext(r.URL.Query().Get("next"))})
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	if s.auth == nil {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 4096)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	next := safeNext(r.PostForm.Get("next"))
	if !equal(r.PostForm.Get("token"), s.auth.token) {
		s.log.Warn("dashboard sign-in refused: wrong admin token", "remote", r.RemoteAddr)
		w.WriteHeader(http.StatusUnauthorized)
		s.render(w, "login.html", loginPage{Title: "Sign in", Next: next, Error: "That is not the admin token."})
		return
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: s.auth.session, Path: "/", HttpOnly: true,
		Secure: secureRequest(r), SameSite: http.SameSiteStrictMode, MaxAge: int(sessionTTL.Seconds())})
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", HttpOnly: true,
		Secure: secureRequest(r), SameSite: http.SameSiteStrictMode, MaxAge: -1})
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// safeNext keeps a post-login redirect on this server.
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") {
		return "/"
	}
	return next
}

func secureRequest(r *http.Request) bool {
	return r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
}
