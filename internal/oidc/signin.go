package oidc

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/promgate/promgate/internal/access"
	"github.com/promgate/promgate/internal/audit"
	"github.com/promgate/promgate/internal/auth"
	"github.com/promgate/promgate/internal/manage"
	"github.com/promgate/promgate/internal/store"
)

// Prefix is where the sign-in routes live: /oidc/<name>/login starts a
// sign-in, /oidc/<name>/callback is the redirect URL to register at the
// provider.
const Prefix = "/oidc/"

// flowCookie carries one sign-in's state, nonce and PKCE verifier from the
// redirect to the callback. It is HttpOnly, limited to /oidc/ and ten
// minutes, and compared in constant time; replicas need no shared memory.
const (
	flowCookie = "promgate_oidc_flow"
	flowTTL    = 10 * time.Minute
)

// SignInOptions configures the sign-in handler.
type SignInOptions struct {
	Set    *Set
	Auth   *auth.Authenticator
	Manage *manage.Manager
	Store  store.Store
	// ExternalURL is the URL people reach promgate at; empty: from each
	// request's Host (the provider only accepts registered redirect URLs).
	ExternalURL string
	Logger      *slog.Logger
}

// SignInHandler serves the authorization code flow with PKCE for every
// provider.
func SignInHandler(o SignInOptions) http.Handler {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	h := &signIn{o: o}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+Prefix+"{name}/login", h.start)
	mux.HandleFunc("GET "+Prefix+"{name}/callback", h.callback)
	return mux
}

type signIn struct{ o SignInOptions }

type flow struct {
	Provider string `json:"p"`
	State    string `json:"s"`
	Nonce    string `json:"n"`
	Verifier string `json:"v"`
}

func random(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b)
}

func (h *signIn) redirectURL(r *http.Request, name string) string {
	base := strings.TrimSuffix(h.o.ExternalURL, "/")
	if base == "" {
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		base = scheme + "://" + r.Host
	}
	return base + Prefix + url.PathEscape(name) + "/callback"
}

func (h *signIn) oauth2Config(r *http.Request, p *Provider, d *discovered) *oauth2.Config {
	return &oauth2.Config{
		ClientID:     p.cfg.ClientID,
		ClientSecret: p.cfg.ClientSecret,
		Endpoint:     d.op.Endpoint(),
		RedirectURL:  h.redirectURL(r, p.cfg.Name),
		Scopes:       p.cfg.Scopes,
	}
}

// start redirects to the provider with a fresh state, nonce and PKCE
// challenge.
func (h *signIn) start(w http.ResponseWriter, r *http.Request) {
	p := h.o.Set.Provider(r.PathValue("name"))
	if p == nil {
		h.fail(w, r, http.StatusNotFound, "Unknown sign-in provider", "There is no identity provider of that name here.")
		return
	}
	d, err := p.discover(r.Context())
	if err == nil {
		// Discovery is cached; a sign-in must not send the browser to a
		// provider that is down, so ask it once more.
		err = p.reachable(r.Context())
	}
	if err != nil {
		p.log.WarnContext(r.Context(), "sign-in unavailable", "err", err)
		h.fail(w, r, http.StatusBadGateway, "Sign-in with "+p.cfg.Name+" is unavailable",
			"promgate cannot reach "+p.cfg.Name+" right now, so nobody can sign in with it. Try again in a minute; an administrator can sign in with the break-glass password meanwhile.")
		return
	}
	f := flow{Provider: p.cfg.Name, State: random(24), Nonce: random(24), Verifier: oauth2.GenerateVerifier()}
	raw, _ := json.Marshal(f)
	http.SetCookie(w, &http.Cookie{
		Name: flowCookie, Value: base64.RawURLEncoding.EncodeToString(raw), Path: Prefix,
		MaxAge: int(flowTTL.Seconds()), HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteLaxMode,
	})
	u := h.oauth2Config(r, p, d).AuthCodeURL(f.State, gooidc.Nonce(f.Nonce), oauth2.S256ChallengeOption(f.Verifier))
	http.Redirect(w, r, u, http.StatusFound)
}

func readFlow(r *http.Request) (flow, bool) {
	c, err := r.Cookie(flowCookie)
	if err != nil || len(c.Value) > 1024 {
		return flow{}, false
	}
	raw, err := base64.RawURLEncoding.DecodeString(c.Value)
	if err != nil {
		return flow{}, false
	}
	var f flow
	if json.Unmarshal(raw, &f) != nil || f.State == "" || f.Nonce == "" || f.Verifier == "" {
		return flow{}, false
	}
	return f, true
}

// callback checks state, exchanges the code with the PKCE verifier,
// verifies the ID token and its nonce, finds or creates the user with the
// role the rules give now, and starts a session.
func (h *signIn) callback(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	p := h.o.Set.Provider(name)
	if p == nil {
		h.fail(w, r, http.StatusNotFound, "Unknown sign-in provider", "There is no identity provider of that name here.")
		return
	}
	// One use: the flow cookie goes whatever happens next.
	http.SetCookie(w, &http.Cookie{Name: flowCookie, Value: "", Path: Prefix, MaxAge: -1, HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteLaxMode})
	q := r.URL.Query()
	f, ok := readFlow(r)
	if !ok || f.Provider != p.cfg.Name || subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(f.State)) != 1 {
		h.fail(w, r, http.StatusBadRequest, "Sign-in expired", "This sign-in was not started here or took too long. Start again.")
		return
	}
	if e := q.Get("error"); e != "" {
		desc := q.Get("error_description")
		if len(desc) > 200 {
			desc = desc[:200]
		}
		h.fail(w, r, http.StatusForbidden, p.cfg.Name+" did not sign you in", p.cfg.Name+" answered: "+e+" "+desc)
		return
	}
	d, err := p.discover(r.Context())
	if err != nil {
		h.fail(w, r, http.StatusBadGateway, "Sign-in with "+p.cfg.Name+" is unavailable", "promgate cannot reach "+p.cfg.Name+" right now. Try again in a minute.")
		return
	}
	ctx, cancel := context.WithTimeout(gooidc.ClientContext(r.Context(), p.client), 15*time.Second)
	defer cancel()
	tok, err := h.oauth2Config(r, p, d).Exchange(ctx, q.Get("code"), oauth2.VerifierOption(f.Verifier))
	if err != nil {
		p.log.WarnContext(r.Context(), "sign-in: code exchange failed", "err", err)
		h.fail(w, r, http.StatusBadGateway, "Sign-in with "+p.cfg.Name+" failed", "promgate could not complete the sign-in with "+p.cfg.Name+". Start again.")
		return
	}
	rawID, _ := tok.Extra("id_token").(string)
	claims, _, err := p.verify(ctx, d.idToken, rawID)
	if err == nil {
		if n, _ := claims.String("nonce"); subtle.ConstantTimeCompare([]byte(n), []byte(f.Nonce)) != 1 {
			err = errors.New("ID token nonce does not match this sign-in")
		}
	}
	if err != nil {
		p.log.WarnContext(r.Context(), "sign-in: ID token refused", "err", err)
		h.fail(w, r, http.StatusUnauthorized, "Sign-in with "+p.cfg.Name+" failed", "The identity token did not verify. Start again.")
		return
	}
	u, status, msg := h.user(r, p, claims)
	if msg != "" {
		h.fail(w, r, status, "You cannot sign in to promgate", msg)
		return
	}
	if _, err := h.o.Auth.SignIn(r.Context(), w, r, u, "oidc:"+p.cfg.Name); err != nil {
		if errors.Is(err, auth.ErrLoginFailed) {
			h.fail(w, r, http.StatusForbidden, "You cannot sign in to promgate", "Your promgate user is disabled.")
			return
		}
		p.log.ErrorContext(r.Context(), "sign-in: start session", "err", err)
		h.fail(w, r, http.StatusServiceUnavailable, "Sign-in failed", "promgate could not start your session. Try again.")
		return
	}
	http.Redirect(w, r, "/explore", http.StatusFound)
}

// user finds the user of the token's subject, re-evaluating their role, or
// creates them; a non-empty msg refuses the sign-in with status.
func (h *signIn) user(r *http.Request, p *Provider, c Claims) (store.User, int, string) {
	ctx := r.Context()
	sub, _ := c.String("sub")
	actor := audit.Actor{Name: "oidc:" + p.cfg.Name, RemoteAddr: h.o.Auth.ClientIP(r)}
	role := p.rules.Role(c)
	u, err := h.o.Store.GetUserBySubject(ctx, p.cfg.Name, sub)
	switch {
	case err == nil:
		if role == access.RoleNone {
			return u, http.StatusForbidden, "No role rule of " + p.cfg.Name + " gives you a role in promgate any more."
		}
		if role.String() != u.Role {
			if err := h.o.Manage.SetUserRole(ctx, actor, u.ID, role); err != nil {
				p.log.ErrorContext(ctx, "sign-in: update role", "user", u.Login, "err", err)
				return u, http.StatusConflict, "Your role could not be updated: " + err.Error()
			}
			u.Role = role.String()
		}
		return u, 0, ""
	case !errors.Is(err, store.ErrNotFound):
		p.log.ErrorContext(ctx, "sign-in: look up user", "err", err)
		return u, http.StatusServiceUnavailable, "promgate cannot reach its user store. Try again."
	}
	if !p.cfg.SignUpAllowed() {
		return u, http.StatusForbidden, "You have no promgate user, and " + p.cfg.Name + " sign-ins do not create users here. Ask an administrator."
	}
	if role == access.RoleNone {
		return u, http.StatusForbidden, "No role rule of " + p.cfg.Name + " gives you a role in promgate. Ask an administrator."
	}
	login, ok := c.String(p.cfg.LoginClaim)
	if !ok || login == "" {
		return u, http.StatusForbidden, fmt.Sprintf("%s did not send the %q claim promgate names users by.", p.cfg.Name, p.cfg.LoginClaim)
	}
	if v, ok := c.Lookup("email_verified"); ok && v == false && p.cfg.LoginClaim == "email" {
		// An address nobody proved to own must not name a user.
		return u, http.StatusForbidden, p.cfg.Name + " says your email address is not verified."
	}
	u, err = h.o.Manage.CreateProviderUser(ctx, actor, login, role, p.cfg.Name, sub)
	switch {
	case errors.Is(err, store.ErrConflict):
		return u, http.StatusConflict, "Another promgate user already has the login " + login + ". Ask an administrator."
	case err != nil:
		p.log.WarnContext(ctx, "sign-in: create user", "err", err)
		return u, http.StatusForbidden, "Your user could not be created: " + err.Error()
	}
	return u, 0, ""
}

var errorPage = template.Must(template.New("e").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Title}} - promgate</title></head>
<body><main><h1>{{.Title}}</h1><p id="signin-error">{{.Message}}</p><p><a href="/login">Back to the login page</a></p></main></body></html>
`))

// fail shows a plain page that says what went wrong and links back to the
// login page.
func (h *signIn) fail(w http.ResponseWriter, r *http.Request, status int, title, msg string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; base-uri 'none'; frame-ancestors 'none'")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if err := errorPage.Execute(w, struct{ Title, Message string }{title, msg}); err != nil {
		h.o.Logger.DebugContext(r.Context(), "write sign-in error page", "err", err)
	}
}

// EndSessionURL is the provider's end-session URL (OpenID Connect
// RP-initiated logout) for a user it signed in, offered as a link after
// promgate's sign-out; empty when the provider has none or is unknown. It
// names the client only: without the ID token as id_token_hint, which
// promgate does not keep, providers may refuse a post-logout redirect.
func (s *Set) EndSessionURL(ctx context.Context, provider string) string {
	p := s.Provider(provider)
	if p == nil {
		return ""
	}
	d, err := p.discover(ctx)
	if err != nil || d.endSession == "" {
		return ""
	}
	u, err := url.Parse(d.endSession)
	if err != nil {
		return ""
	}
	q := u.Query()
	q.Set("client_id", p.cfg.ClientID)
	u.RawQuery = q.Encode()
	return u.String()
}

// LoginOption is a "Sign in with <Name>" button of the login page.
type LoginOption struct{ Name, URL string }

// LoginOptions lists the providers' sign-in links, in configured order.
func (s *Set) LoginOptions() []LoginOption {
	out := make([]LoginOption, 0, len(s.providers))
	for _, p := range s.providers {
		out = append(out, LoginOption{Name: p.cfg.Name, URL: Prefix + url.PathEscape(p.cfg.Name) + "/login"})
	}
	return out
}
