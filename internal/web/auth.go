package web

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// MinAdminToken is the shortest admin token accepted: long enough that
// guessing it over the network is hopeless.
const MinAdminToken = 16

// sessionCookie holds the dashboard login: a random id issued per sign-in,
// never derived from the admin token. The server keeps only an HMAC of it
// (under the token, so changing the token logs everyone out), with its
// expiry; POST /logout forgets it.
const sessionCookie = "ghlsync_session"

// sessionTTL is how long a dashboard login lasts.
const sessionTTL = 12 * time.Hour

// adminAuth checks the admin token on the dashboard, the JSON API and
// replays. With an empty token it lets everything through (a server on a
// loopback address).
type adminAuth struct {
	token string
	now   func() time.Time

	mu       sync.Mutex
	sessions map[string]time.Time // HMAC of a session id → expiry
}

func newAdminAuth(token string) *adminAuth {
	if token == "" {
		return nil
	}
	return &adminAuth{token: token, now: time.Now, sessions: map[string]time.Time{}}
}

// sessionKey is what the server stores for a session id.
func (a *adminAuth) sessionKey(id string) string {
	m := hmac.New(sha256.New, []byte(a.token))
	m.Write([]byte("ghlsync dashboard session v2\x00" + id))
	return hex.EncodeToString(m.Sum(nil))
}

// newSession starts a login and returns its cookie value.
func (a *adminAuth) newSession() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails (crypto/rand panics rather than return an error)
	id := hex.EncodeToString(b)
	now := a.now()
	a.mu.Lock()
	defer a.mu.Unlock()
	for k, exp := range a.sessions { // drop expired logins as new ones come
		if !now.Before(exp) {
			delete(a.sessions, k)
		}
	}
	a.sessions[a.sessionKey(id)] = now.Add(sessionTTL)
	return id
}

// validSession reports whether id is a live login.
func (a *adminAuth) validSession(id string) bool {
	if id == "" {
		return false
	}
	k := a.sessionKey(id)
	a.mu.Lock()
	defer a.mu.Unlock()
	exp, ok := a.sessions[k]
	if ok && !a.now().Before(exp) {
		delete(a.sessions, k)
		return false
	}
	return ok
}

// endSession forgets a login.
func (a *adminAuth) endSession(id string) {
	k := a.sessionKey(id)
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.sessions, k)
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
	if c, err := r.Cookie(sessionCookie); err == nil && a.validSession(c.Value) {
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
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: s.auth.newSession(), Path: "/", HttpOnly: true,
		Secure: secureRequest(r), SameSite: http.SameSiteStrictMode, MaxAge: int(sessionTTL.Seconds())})
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(sessionCookie); err == nil && s.auth != nil {
		s.auth.endSession(c.Value)
	}
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
