package auth

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/promgate/promgate/internal/access"
	"github.com/promgate/promgate/internal/audit"
	"github.com/promgate/promgate/internal/ratelog"
	"github.com/promgate/promgate/internal/store"
)

// CSRFHeader carries the CSRF token on state-changing session requests.
const CSRFHeader = "X-CSRF-Token"

// ErrLoginFailed is a wrong login or password, or a disabled user; the
// caller cannot tell which.
var ErrLoginFailed = errors.New("invalid login or password")

// ErrPasswordLoginDisabled refuses a password login when the deployment
// signs people in with OpenID Connect (Options.PasswordLoginOnly).
var ErrPasswordLoginDisabled = errors.New("password sign-in is turned off here: sign in with your identity provider")

// ErrRateLimited means the failure limiter refuses the attempt for a while
// (see RateLimitedError).
var ErrRateLimited = errors.New("too many failed attempts")

func randomURLToken(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("read random bytes: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// dummyPasswordHash is verified against when the login is unknown, so that
// a wrong login takes as long as a wrong password.
func (a *Authenticator) dummyPasswordHash() string {
	a.dummyOnce.Do(func() {
		h, err := HashPassword("not a real password, only for timing")
		if err == nil {
			a.dummyHash = h
		}
	})
	return a.dummyHash
}

// Login checks login and password, starts a session, sets its cookie on w
// and returns the principal and the session's CSRF token. Failures count
// against the login name and the client address (see limiter.go); a
// refused attempt returns a *RateLimitedError before any password check.
func (a *Authenticator) Login(ctx context.Context, w http.ResponseWriter, r *http.Request, login, password string) (*access.Principal, string, error) {
	if only := a.opts.PasswordLoginOnly; only != "" && !strings.EqualFold(login, only) {
		// Decided on the login alone, before any password check, so the
		// answer says nothing about the password or whether the user exists.
		return nil, "", ErrPasswordLoginDisabled
	}
	ip := a.ClientIP(r)
	now := a.now()
	subj := loginSubject(login)
	if len(login) > MaxLoginLen {
		subj = loginSubject("") // bounded bucket names
	}
	// Counted as failed before the (slow) check, so that guesses sent at
	// once cannot overshoot the limit; given back unless it fails.
	res, d := a.limit.reserve(ip, subj, now)
	if d > 0 {
		return nil, "", &RateLimitedError{RetryAfter: d}
	}
	// outcome settles the reservation: a failure stays counted.
	const (
		failedHere = iota
		failedOurs
		succeeded
	)
	outcome := failedHere
	defer func() {
		if outcome != failedHere {
			a.limit.giveBack(res, outcome == succeeded)
		}
	}()
	fail := func(target, detail string) (*access.Principal, string, error) {
		if res.counts.tripped() {
			// Keyed per address, as in Authenticator.failed.
			a.log.WarnContext(ratelog.WithKey(ctx, "auth refusal "+ip), "further failing attempts refused for a while", "client", ip)
		}
		a.audit.Write(ctx, audit.Actor{Name: "anonymous", RemoteAddr: ip}, "login.failure", target, detail)
		return nil, "", ErrLoginFailed
	}
	// errOurs is a failure on our side: the attempt is not counted.
	errOurs := func(err error) (*access.Principal, string, error) {
		outcome = failedOurs
		return nil, "", err
	}
	if login == "" || len(login) > MaxLoginLen || len(password) > MaxPasswordLen {
		return fail("", "malformed login request")
	}
	u, err := a.st.GetUserByLogin(ctx, login)
	if errors.Is(err, store.ErrNotFound) {
		_ = VerifyPassword(a.dummyPasswordHash(), password)
		// The attempted login is not recorded: people type passwords into
		// the login field.
		return fail("", "unknown login")
	}
	if err != nil {
		return errOurs(fmt.Errorf("look up user for login: %w", err))
	}
	if err := VerifyPassword(u.PasswordHash, password); err != nil {
		if !errors.Is(err, ErrPasswordMismatch) {
			a.log.ErrorContext(ctx, "unreadable password hash", "user_id", u.ID, "err", err)
		}
		return fail("user:"+u.Login, "wrong password")
	}
	if u.Disabled {
		return fail("user:"+u.Login, "user disabled")
	}
	role, err := access.ParseRole(u.Role)
	if err != nil {
		return errOurs(fmt.Errorf("user %d has an unreadable role: %w", u.ID, err))
	}
	csrf, overtaken, err := a.startSession(ctx, w, r, u)
	if err != nil {
		return errOurs(err)
	}
	if overtaken {
		a.audit.Write(ctx, audit.Actor{Name: u.Login, RemoteAddr: ip}, "login.failure", "user:"+u.Login, "password changed or user disabled during login")
		return errOurs(ErrLoginFailed) // the password was right: not a guess
	}
	outcome = succeeded
	a.audit.Write(ctx, audit.Actor{Name: u.Login, RemoteAddr: ip}, "login.success", "user:"+u.Login, "")
	return &access.Principal{Kind: access.KindSession, UserID: u.ID, Login: u.Login, Role: role, Scope: access.ScopeRead}, csrf, nil
}

// startSession creates a session for u and sets its cookie on w.
// overtaken is true (and no session made) when a password change or
// disable committed meanwhile.
func (a *Authenticator) startSession(ctx context.Context, w http.ResponseWriter, r *http.Request, u store.User) (csrf string, overtaken bool, err error) {
	now := a.now()
	sid, err := randomURLToken(32)
	if err != nil {
		return "", false, fmt.Errorf("new session id: %w", err)
	}
	csrf, err = randomURLToken(24)
	if err != nil {
		return "", false, fmt.Errorf("new csrf token: %w", err)
	}
	sess := store.Session{
		IDHash:    HashToken(sid),
		UserID:    u.ID,
		CSRFToken: csrf,
		CreatedAt: now,
		ExpiresAt: now.Add(a.opts.SessionTTL),
	}
	if err := a.st.CreateSession(ctx, sess); err != nil {
		return "", false, fmt.Errorf("create session: %w", err)
	}
	// A password change or disable that committed after the caller's checks
	// did not see this session to delete it. The store orders the two (see
	// store.Store.SetUserPassword): the session either existed before the
	// change, which deleted it, or this re-read shows the change. The cookie
	// is not sent yet, so undoing the session here means nobody holds it.
	if changed, err := a.userChanged(ctx, u); err != nil || changed {
		if derr := a.st.DeleteSession(ctx, sess.IDHash); derr != nil && !errors.Is(derr, store.ErrNotFound) {
			a.log.ErrorContext(ctx, "delete session of a login overtaken by a user change", "user_id", u.ID, "err", derr)
		}
		if err != nil {
			return "", false, fmt.Errorf("re-check user after creating session: %w", err)
		}
		return "", true, nil
	}
	http.SetCookie(w, &http.Cookie{
		Name:     a.opts.CookieName,
		Value:    sid,
		Path:     "/",
		MaxAge:   int(a.opts.SessionTTL.Seconds()),
		HttpOnly: true,
		Secure:   a.isTLS(r),
		SameSite: http.SameSiteLaxMode,
	})
	return csrf, false, nil
}

// SignIn starts a session for a user an OpenID provider vouched for (the
// caller has verified the ID token and re-evaluated the role), sets its
// cookie and audits the sign-in with how. A disabled user is refused with
// ErrLoginFailed.
func (a *Authenticator) SignIn(ctx context.Context, w http.ResponseWriter, r *http.Request, u store.User, how string) (*access.Principal, error) {
	actor := audit.Actor{Name: u.Login, RemoteAddr: a.ClientIP(r)}
	if u.Disabled {
		a.audit.Write(ctx, actor, "login.failure", "user:"+u.Login, how+": user disabled")
		return nil, ErrLoginFailed
	}
	role, err := access.ParseRole(u.Role)
	if err != nil {
		return nil, fmt.Errorf("user %d has an unreadable role: %w", u.ID, err)
	}
	_, overtaken, err := a.startSession(ctx, w, r, u)
	if err != nil {
		return nil, err
	}
	if overtaken {
		a.audit.Write(ctx, actor, "login.failure", "user:"+u.Login, how+": user disabled during sign-in")
		return nil, ErrLoginFailed
	}
	a.audit.Write(ctx, actor, "login.success", "user:"+u.Login, how)
	return &access.Principal{Kind: access.KindSession, UserID: u.ID, Login: u.Login, Role: role, Scope: access.ScopeRead}, nil
}

// userChanged re-reads u and reports whether its password changed, it was
// disabled or it is gone since u was read.
func (a *Authenticator) userChanged(ctx context.Context, u store.User) (bool, error) {
	cur, err := a.st.GetUser(ctx, u.ID)
	if errors.Is(err, store.ErrNotFound) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("look up user %d: %w", u.ID, err)
	}
	return cur.Disabled || cur.PasswordHash != u.PasswordHash, nil
}

// Logout ends r's session, if any, and clears the cookie.
func (a *Authenticator) Logout(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	if c, err := r.Cookie(a.opts.CookieName); err == nil && c.Value != "" {
		if err := a.st.DeleteSession(ctx, HashToken(c.Value)); err != nil && !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("delete session: %w", err)
		}
	}
	http.SetCookie(w, &http.Cookie{
		Name: a.opts.CookieName, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: a.isTLS(r), SameSite: http.SameSiteLaxMode,
	})
	if p := access.PrincipalFrom(ctx); p != nil {
		a.audit.Write(ctx, audit.ActorOf(p, a.ClientIP(r)), "logout", "user:"+p.Login, "")
	}
	return nil
}

func (a *Authenticator) isTLS(r *http.Request) bool {
	return r.TLS != nil || (a.opts.TrustForwardedProto && equalFoldASCII(r.Header.Get("X-Forwarded-Proto"), "https"))
}

// verifySession resolves a session cookie value. Sessions are not cached:
// they are browser traffic, and a lookup per request makes demotion and
// disabling apply at once without any bound. A password change or disable
// deletes the user's sessions in the store (on every replica at once); the
// Disabled check below is a second line for sessions created otherwise.
func (a *Authenticator) verifySession(ctx context.Context, sid string) (*access.Principal, string, error) {
	if len(sid) > 128 {
		return nil, "", ErrSessionInvalid
	}
	s, err := a.st.GetSession(ctx, HashToken(sid))
	if errors.Is(err, store.ErrNotFound) {
		return nil, "", ErrSessionInvalid
	}
	if err != nil {
		return nil, "", fmt.Errorf("look up session: %w", err)
	}
	if !a.now().Before(s.ExpiresAt) {
		return nil, "", ErrSessionInvalid
	}
	u, err := a.st.GetUser(ctx, s.UserID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, "", ErrSessionInvalid
	}
	if err != nil {
		return nil, "", fmt.Errorf("look up session's user: %w", err)
	}
	if u.Disabled {
		return nil, "", ErrSessionInvalid
	}
	role, err := access.ParseRole(u.Role)
	if err != nil {
		return nil, "", ErrSessionInvalid
	}
	return &access.Principal{Kind: access.KindSession, UserID: u.ID, Login: u.Login, Role: role, Scope: access.ScopeRead}, s.CSRFToken, nil
}

type csrfKey struct{}

// CSRFTokenFrom returns the CSRF token of the session in ctx, or "".
func CSRFTokenFrom(ctx context.Context) string {
	s, _ := ctx.Value(csrfKey{}).(string)
	return s
}

// WithCSRFToken returns ctx carrying a session's CSRF token (for handlers
// that log in and answer in the same request).
func WithCSRFToken(ctx context.Context, token string) context.Context {
	return context.WithValue(ctx, csrfKey{}, token)
}

func csrfOK(r *http.Request, want string) bool {
	got := r.Header.Get(CSRFHeader)
	return want != "" && got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}
