// Package mgmtapi is the JSON management API under /api-server/v1/: login,
// logout and me; own and global API credentials; users; and the query
// endpoint URLs of each data source. Successful responses are
// {"status":"success","data":...}; errors are Prometheus-style
// {"status":"error","errorType":...,"error":...}.
//
// Sessions (browser) and API credentials may both call it, within their
// role (access.Principal.Can). State-changing session requests need the
// X-CSRF-Token header (enforced by auth.Require).
package mgmtapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/promgate/promgate/internal/access"
	"github.com/promgate/promgate/internal/audit"
	"github.com/promgate/promgate/internal/auth"
	"github.com/promgate/promgate/internal/promapi"
	"github.com/promgate/promgate/internal/store"
)

// Prefix is the path prefix this handler serves, kept intact when mounted.
const Prefix = "/api-server/v1/"

const maxBodyBytes = 64 << 10

// DataSourceInfo describes a data source for the endpoints listing.
type DataSourceInfo struct {
	ID                         int64
	UID, Name, Type, Env, Site string
}

// Options configures the API.
type Options struct {
	Store store.Store
	Auth  *auth.Authenticator
	// DataSources lists the configured data sources; nil means none are
	// known (then data source limits on new credentials cannot be checked
	// for existence and are refused).
	DataSources func(ctx context.Context) ([]DataSourceInfo, error)
	// ExternalURL, when set, is the base of the endpoint URLs shown
	// (e.g. https://promgate.example.com or https://example.com/promgate).
	ExternalURL string
	// TrustForwardedProto makes X-Forwarded-Proto decide the scheme of
	// endpoint URLs when ExternalURL is unset; only behind a proxy you run.
	TrustForwardedProto bool
	Logger              *slog.Logger
	Now                 func() time.Time
}

type api struct {
	o   Options
	st  store.Store
	a   *auth.Authenticator
	log *slog.Logger
	now func() time.Time
}

// New returns the handler for paths under /api-server/v1/ (except
// /api-server/v1/grafana/, which the server routes elsewhere).
func New(o Options) http.Handler {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	h := &api{o: o, st: o.Store, a: o.Auth, log: o.Logger, now: o.Now}
	authed := o.Auth.Require(true)
	need := func(act access.Action, fn http.HandlerFunc) http.Handler {
		return authed(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !access.PrincipalFrom(r.Context()).Can(act) {
				writeError(w, http.StatusForbidden, "forbidden", "your role or credential does not allow this ("+act.String()+")")
				return
			}
			fn(w, r)
		}))
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api-server/v1/login", h.login)
	mux.Handle("POST /api-server/v1/logout", authed(http.HandlerFunc(h.logout)))
	mux.Handle("GET /api-server/v1/me", authed(http.HandlerFunc(h.me)))

	mux.Handle("GET /api-server/v1/credentials", need(access.ActionListOwnCredentials, h.listOwnCredentials))
	mux.Handle("POST /api-server/v1/credentials", need(access.ActionManageOwnCredentials, h.createOwnCredential))
	mux.Handle("DELETE /api-server/v1/credentials/{id}", need(access.ActionManageOwnCredentials, h.revokeOwnCredential))

	mux.Handle("GET /api-server/v1/global-credentials", need(access.ActionListGlobalCredentials, h.listGlobalCredentials))
	mux.Handle("POST /api-server/v1/global-credentials", need(access.ActionManageGlobalCredentials, h.createGlobalCredential))
	mux.Handle("DELETE /api-server/v1/global-credentials/{id}", need(access.ActionManageGlobalCredentials, h.revokeGlobalCredential))

	mux.Handle("GET /api-server/v1/users", need(access.ActionListUsers, h.listUsers))
	mux.Handle("POST /api-server/v1/users", need(access.ActionManageUsers, h.createUser))
	mux.Handle("PATCH /api-server/v1/users/{id}", need(access.ActionManageUsers, h.patchUser))
	mux.Handle("DELETE /api-server/v1/users/{id}", need(access.ActionManageUsers, h.deleteUser))

	mux.Handle("GET /api-server/v1/endpoints", need(access.ActionViewEndpoints, h.endpoints))
	mux.Handle("GET /api-server/v1/audit", need(access.ActionViewAudit, h.listAudit))

	mux.HandleFunc(Prefix, func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not_found", "no such management endpoint or method")
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Responses may carry a fresh token or a CSRF token.
		w.Header().Set("Cache-Control", "no-store")
		mux.ServeHTTP(w, r)
	})
}

func writeError(w http.ResponseWriter, status int, errorType, msg string) {
	auth.WriteError(w, status, errorType, msg)
}

func writeData(w http.ResponseWriter, status int, data any) {
	promapi.WriteData(w, status, data)
}

// fail maps an error from auth or the store to a response. Store messages
// are not echoed: they may name internals.
func (h *api) fail(w http.ResponseWriter, r *http.Request, err error) {
	var ae *apiError
	switch {
	case errors.As(err, &ae):
		writeError(w, ae.status, ae.typ, ae.msg)
	case errors.Is(err, auth.ErrInvalid):
		writeError(w, http.StatusBadRequest, "bad_data", err.Error())
	case errors.Is(err, auth.ErrLastOwner):
		writeError(w, http.StatusConflict, "conflict", err.Error())
	case errors.Is(err, store.ErrConflict):
		writeError(w, http.StatusConflict, "conflict", "already exists")
	case errors.Is(err, store.ErrNotFound):
		writeError(w, http.StatusNotFound, "not_found", "not found")
	case errors.Is(err, context.Canceled):
		writeError(w, 499, "canceled", "request canceled")
	default:
		if !promapi.WriteServerError(w, err, "internal error") {
			h.log.ErrorContext(r.Context(), "management request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		}
	}
}

// apiError is an error with its own status, for checks in this package.
type apiError struct {
	status int
	typ    string
	msg    string
}

func (e *apiError) Error() string { return e.msg }

func badData(format string, args ...any) error {
	return &apiError{http.StatusBadRequest, "bad_data", fmt.Sprintf(format, args...)}
}

func forbidden(format string, args ...any) error {
	return &apiError{http.StatusForbidden, "forbidden", fmt.Sprintf(format, args...)}
}

// decode reads a JSON body strictly: unknown fields are errors, so a typo
// such as "expires_in" is not silently ignored.
func decode(w http.ResponseWriter, r *http.Request, v any) error {
	if err := promapi.DecodeJSON(w, r, v, maxBodyBytes); err != nil {
		return badData("%v", err)
	}
	return nil
}

func pathID(r *http.Request) (int64, error) {
	id, err := promapi.PathID(r)
	if err != nil {
		return 0, badData("%v", err)
	}
	return id, nil
}

func (h *api) actor(r *http.Request) audit.Actor {
	return audit.ActorOf(access.PrincipalFrom(r.Context()), h.a.ClientIP(r))
}

// --- login, logout, me ---

type loginRequest struct {
	Login    string `json:"login"`
	Password string `json:"password"`
}

type meResponse struct {
	Kind           string   `json:"kind"`
	Login          string   `json:"login,omitempty"`
	UserID         int64    `json:"userId,omitempty"`
	Role           string   `json:"role"`
	CSRFToken      string   `json:"csrfToken,omitempty"`
	CredentialID   int64    `json:"credentialId,omitempty"`
	CredentialKey  string   `json:"credentialKey,omitempty"`
	CredentialName string   `json:"credentialName,omitempty"`
	Scope          string   `json:"scope"`
	DataSourceIDs  []int64  `json:"dataSourceIds"`
	Selector       string   `json:"selector,omitempty"`
	Permissions    []string `json:"permissions"`
}

func meOf(p *access.Principal, csrf string) meResponse {
	m := meResponse{
		Kind: p.Kind.String(), Login: p.Login, UserID: p.UserID, Role: p.Role.String(), CSRFToken: csrf,
		CredentialID: p.CredentialID, CredentialKey: p.CredentialKey, CredentialName: p.CredentialName,
		Scope: p.Scope.String(), DataSourceIDs: p.DataSourceIDs, Selector: p.Selector, Permissions: []string{},
	}
	for _, act := range access.Actions() {
		if p.Can(act) {
			m.Permissions = append(m.Permissions, act.String())
		}
	}
	return m
}

func (h *api) login(w http.ResponseWriter, r *http.Request) {
	// A JSON content type cannot be sent cross-site without a CORS
	// preflight, which blocks login CSRF from plain HTML forms.
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		writeError(w, http.StatusUnsupportedMediaType, "bad_data", "Content-Type must be application/json")
		return
	}
	var req loginRequest
	if err := decode(w, r, &req); err != nil {
		h.fail(w, r, err)
		return
	}
	p, csrf, err := h.a.Login(r.Context(), w, r, req.Login, req.Password)
	switch {
	case errors.Is(err, auth.ErrRateLimited):
		auth.WriteTooManyRequests(w, auth.RetryAfterOf(err))
		return
	case errors.Is(err, auth.ErrLoginFailed):
		// No WWW-Authenticate: this is a form login, not basic auth.
		writeError(w, http.StatusUnauthorized, "unauthorized", "invalid login or password")
		return
	case err != nil:
		h.fail(w, r, err)
		return
	}
	writeData(w, http.StatusOK, meOf(p, csrf))
}

func (h *api) logout(w http.ResponseWriter, r *http.Request) {
	if access.PrincipalFrom(r.Context()).IsCredential() {
		// A credential has no session to end, and it must not end one whose
		// cookie came along with it.
		writeError(w, http.StatusBadRequest, "bad_data", "logout ends a browser session; an API credential has none (revoke it instead)")
		return
	}
	if err := h.a.Logout(r.Context(), w, r); err != nil {
		h.fail(w, r, err)
		return
	}
	writeData(w, http.StatusOK, struct{}{})
}

func (h *api) me(w http.ResponseWriter, r *http.Request) {
	writeData(w, http.StatusOK, meOf(access.PrincipalFrom(r.Context()), auth.CSRFTokenFrom(r.Context())))
}

// --- users ---

type userJSON struct {
	ID        int64     `json:"id"`
	Login     string    `json:"login"`
	Role      string    `json:"role"`
	Disabled  bool      `json:"disabled"`
	CreatedAt time.Time `json:"createdAt"`
}

func userOf(u store.User) userJSON {
	return userJSON{ID: u.ID, Login: u.Login, Role: u.Role, Disabled: u.Disabled, CreatedAt: u.CreatedAt}
}

func (h *api) listUsers(w http.ResponseWriter, r *http.Request) {
	users, err := h.st.ListUsers(r.Context())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out := make([]userJSON, 0, len(users))
	for _, u := range users {
		out = append(out, userOf(u))
	}
	writeData(w, http.StatusOK, out)
}

func (h *api) createUser(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Login    string `json:"login"`
		Password string `json:"password"`
		Role     string `json:"role"`
	}
	if err := decode(w, r, &req); err != nil {
		h.fail(w, r, err)
		return
	}
	role := access.RoleViewer // later users are VIEWERs unless told otherwise
	if req.Role != "" {
		var err error
		if role, err = access.ParseRole(req.Role); err != nil {
			h.fail(w, r, badData("%v", err))
			return
		}
	}
	u, err := h.a.CreateUser(r.Context(), h.actor(r), req.Login, req.Password, role)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeData(w, http.StatusCreated, userOf(u))
}

func (h *api) patchUser(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	var req struct {
		Role     *string `json:"role"`
		Disabled *bool   `json:"disabled"`
		Password *string `json:"password"`
	}
	if err := decode(w, r, &req); err != nil {
		h.fail(w, r, err)
		return
	}
	if req.Role == nil && req.Disabled == nil && req.Password == nil {
		h.fail(w, r, badData("nothing to change: give role, disabled or password"))
		return
	}
	ctx, actor := r.Context(), h.actor(r)
	if req.Role != nil {
		role, err := access.ParseRole(*req.Role)
		if err != nil {
			h.fail(w, r, badData("%v", err))
			return
		}
		if err := h.a.SetUserRole(ctx, actor, id, role); err != nil {
			h.fail(w, r, err)
			return
		}
	}
	if req.Disabled != nil {
		if err := h.a.SetUserDisabled(ctx, actor, id, *req.Disabled); err != nil {
			h.fail(w, r, err)
			return
		}
	}
	if req.Password != nil {
		if err := h.a.SetUserPassword(ctx, actor, id, *req.Password); err != nil {
			h.fail(w, r, err)
			return
		}
	}
	u, err := h.st.GetUser(ctx, id)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeData(w, http.StatusOK, userOf(u))
}

func (h *api) deleteUser(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if err := h.a.DeleteUser(r.Context(), h.actor(r), id); err != nil {
		h.fail(w, r, err)
		return
	}
	writeData(w, http.StatusOK, struct{}{})
}

// --- endpoints ---

type endpointJSON struct {
	ID         int64  `json:"id"`
	UID        string `json:"uid"`
	Name       string `json:"name"`
	Type       string `json:"type"`
	Env        string `json:"env,omitempty"`
	Site       string `json:"site,omitempty"`
	InstantURL string `json:"instantUrl"`
	RangeURL   string `json:"rangeUrl"`
}

// baseURL is where callers reach this server: the configured external URL,
// else the request's own scheme and host.
func (h *api) baseURL(r *http.Request) string {
	if h.o.ExternalURL != "" {
		return strings.TrimRight(h.o.ExternalURL, "/")
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	} else if h.o.TrustForwardedProto {
		if fp := strings.ToLower(r.Header.Get("X-Forwarded-Proto")); fp == "https" || fp == "http" {
			scheme = fp
		}
	}
	return scheme + "://" + r.Host
}

func (h *api) endpoints(w http.ResponseWriter, r *http.Request) {
	p := access.PrincipalFrom(r.Context())
	out := []endpointJSON{}
	if h.o.DataSources != nil {
		dss, err := h.o.DataSources(r.Context())
		if err != nil {
			h.fail(w, r, fmt.Errorf("list data sources: %w", err))
			return
		}
		base := h.baseURL(r)
		for _, ds := range dss {
			if !p.MayUseDataSource(ds.ID) {
				continue
			}
			api := fmt.Sprintf("%s/api-server/v1/grafana/api/datasources/proxy/%d/api/v1", base, ds.ID)
			out = append(out, endpointJSON{
				ID: ds.ID, UID: ds.UID, Name: ds.Name, Type: ds.Type, Env: ds.Env, Site: ds.Site,
				InstantURL: api + "/query", RangeURL: api + "/query_range",
			})
		}
	}
	writeData(w, http.StatusOK, out)
}

type auditJSON struct {
	ID         int64     `json:"id"`
	At         time.Time `json:"at"`
	Actor      string    `json:"actor"`
	Action     string    `json:"action"`
	Target     string    `json:"target"`
	Detail     string    `json:"detail,omitempty"`
	RemoteAddr string    `json:"remoteAddr,omitempty"`
}

// listAudit returns the newest security events (limit, default 100, at
// most 1000).
func (h *api) listAudit(w http.ResponseWriter, r *http.Request) {
	limit := 100
	if s := r.URL.Query().Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			h.fail(w, r, badData("limit must be a positive number"))
			return
		}
		limit = min(n, 1000)
	}
	events, err := h.st.ListAudit(r.Context(), limit)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out := make([]auditJSON, 0, len(events))
	for _, e := range events {
		out = append(out, auditJSON{ID: e.ID, At: e.At, Actor: e.Actor, Action: e.Action, Target: e.Target, Detail: e.Detail, RemoteAddr: e.RemoteAddr})
	}
	writeData(w, http.StatusOK, out)
}
