// Package mgmtapi is the JSON management API under /api-server/v1/: login,
// logout and me; own and global API credentials; users; data sources and
// their query endpoint URLs; the audit log. It is one mux in the manner of
// Prometheus' web/api/v1: every handler returns its data or an error, and
// one function writes every answer, {"status":"success","data":...} or a
// Prometheus-style {"status":"error","errorType":...,"error":...}.
//
// Sessions (browser) and API credentials may both call it, within their
// role (access.Principal.Can). State-changing session requests need the
// X-CSRF-Token header (enforced by auth.Require). Changes go through
// manage.Manager.
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
	"github.com/promgate/promgate/internal/datasource"
	"github.com/promgate/promgate/internal/manage"
	"github.com/promgate/promgate/internal/promapi"
	"github.com/promgate/promgate/internal/store"
)

// Prefix is the path prefix this handler serves, kept intact when mounted.
const Prefix = "/api-server/v1/"

// DataSourcesPrefix is where the data source endpoints live.
const DataSourcesPrefix = Prefix + "datasources"

const maxBodyBytes = 64 << 10

// Options configures the API.
type Options struct {
	Store  store.Store
	Auth   *auth.Authenticator
	Manage *manage.Manager
	// Sources lists the data sources (the embedded one first, read-only):
	// the same list the Grafana-shaped data source list shows.
	Sources *datasource.Registry
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
	m   *manage.Manager
	log *slog.Logger
	now func() time.Time
}

// result is what a handler answers: data (with status, 200 when zero) or
// err. Handlers never write a body; respond does.
type result struct {
	status int
	data   any
	err    error
}

// apiFunc is a handler. It may set headers and cookies on w (login and
// logout do) but writes no body.
type apiFunc func(w http.ResponseWriter, r *http.Request) result

// New returns the handler for paths under /api-server/v1/ (except
// /api-server/v1/grafana/, which the server routes elsewhere).
func New(o Options) http.Handler {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	h := &api{o: o, st: o.Store, a: o.Auth, m: o.Manage, log: o.Logger, now: o.Now}
	authed := o.Auth.Require(true)
	// open is a handler anyone may call; signedIn needs a caller; need
	// needs a caller who may act.
	open := func(fn apiFunc) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.respond(w, r, fn(w, r)) })
	}
	signedIn := func(fn apiFunc) http.Handler { return authed(open(fn)) }
	need := func(act access.Action, fn apiFunc) http.Handler {
		return signedIn(func(w http.ResponseWriter, r *http.Request) result {
			if !access.PrincipalFrom(r.Context()).Can(act) {
				return result{err: &promapi.Error{Status: http.StatusForbidden, Type: promapi.ErrForbidden,
					Msg: "your role or credential does not allow this (" + act.String() + ")"}}
			}
			return fn(w, r)
		})
	}
	mux := http.NewServeMux()
	mux.Handle("POST "+Prefix+"login", open(h.login))
	mux.Handle("POST "+Prefix+"logout", signedIn(h.logout))
	mux.Handle("GET "+Prefix+"me", signedIn(h.me))

	mux.Handle("GET "+Prefix+"credentials", need(access.ActionListOwnCredentials, h.listOwnCredentials))
	mux.Handle("POST "+Prefix+"credentials", need(access.ActionManageOwnCredentials, h.createOwnCredential))
	mux.Handle("DELETE "+Prefix+"credentials/{id}", need(access.ActionManageOwnCredentials, h.revokeOwnCredential))

	mux.Handle("GET "+Prefix+"global-credentials", need(access.ActionListGlobalCredentials, h.listGlobalCredentials))
	mux.Handle("POST "+Prefix+"global-credentials", need(access.ActionManageGlobalCredentials, h.createGlobalCredential))
	mux.Handle("DELETE "+Prefix+"global-credentials/{id}", need(access.ActionManageGlobalCredentials, h.revokeGlobalCredential))

	mux.Handle("GET "+Prefix+"users", need(access.ActionListUsers, h.listUsers))
	mux.Handle("POST "+Prefix+"users", need(access.ActionManageUsers, h.createUser))
	mux.Handle("PATCH "+Prefix+"users/{id}", need(access.ActionManageUsers, h.patchUser))
	mux.Handle("DELETE "+Prefix+"users/{id}", need(access.ActionManageUsers, h.deleteUser))

	// Every POST, PUT and DELETE on data sources is ActionManageDataSources,
	// which a credential holds only with read and write. A connection test
	// changes no stored state but counts as a change: it makes the server
	// connect to an address the caller names, with the stored secret when
	// "id" is given. Passwords and tokens are write-only: answers say only
	// whether one is set.
	ds := func(fn apiFunc) apiFunc {
		return func(w http.ResponseWriter, r *http.Request) result {
			res := fn(w, r)
			res.err = dataSourceError(res.err)
			return res
		}
	}
	mux.Handle("GET "+DataSourcesPrefix, need(access.ActionQuery, ds(h.listDataSources)))
	mux.Handle("POST "+DataSourcesPrefix, need(access.ActionManageDataSources, ds(h.createDataSource)))
	mux.Handle("POST "+DataSourcesPrefix+"/test", need(access.ActionManageDataSources, ds(h.testUnsaved)))
	mux.Handle("GET "+DataSourcesPrefix+"/{id}", need(access.ActionQuery, ds(h.getDataSource)))
	mux.Handle("PUT "+DataSourcesPrefix+"/{id}", need(access.ActionManageDataSources, ds(h.updateDataSource)))
	mux.Handle("DELETE "+DataSourcesPrefix+"/{id}", need(access.ActionManageDataSources, ds(h.deleteDataSource)))
	mux.Handle("POST "+DataSourcesPrefix+"/{id}/test", need(access.ActionManageDataSources, ds(h.testSaved)))

	mux.Handle("GET "+Prefix+"endpoints", need(access.ActionViewEndpoints, h.endpoints))
	mux.Handle("GET "+Prefix+"audit", need(access.ActionViewAudit, h.listAudit))

	notFound := func(msg string) apiFunc {
		return func(http.ResponseWriter, *http.Request) result {
			return result{err: &promapi.Error{Status: http.StatusNotFound, Type: promapi.ErrNotFound, Msg: msg}}
		}
	}
	// Unknown data source paths answer only a caller, as before the two
	// APIs were one.
	mux.Handle(DataSourcesPrefix, signedIn(notFound("no such data source endpoint or method")))
	mux.Handle(DataSourcesPrefix+"/", signedIn(notFound("no such data source endpoint or method")))
	mux.Handle(Prefix, open(notFound("no such management endpoint or method")))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Responses may carry a fresh token or a CSRF token.
		w.Header().Set("Cache-Control", "no-store")
		mux.ServeHTTP(w, r)
	})
}

// respond writes a handler's result: the one place this API answers.
func (h *api) respond(w http.ResponseWriter, r *http.Request, res result) {
	if res.err != nil {
		h.respondError(w, r, res.err)
		return
	}
	status := res.status
	if status == 0 {
		status = http.StatusOK
	}
	promapi.WriteData(w, status, res.data)
}

// respondError turns an error into its answer. A *promapi.Error carries its
// own status and type; the store's sentinels and a cancelled request map to
// theirs; anything else is promapi.WriteServerError's (503 with Retry-After
// while the store is unreachable, else 500), logged, its text not shown.
func (h *api) respondError(w http.ResponseWriter, r *http.Request, err error) {
	var (
		pe *promapi.Error
		rl *auth.RateLimitedError
	)
	switch {
	case errors.As(err, &pe):
		pe.Write(w)
	case errors.As(err, &rl):
		auth.WriteTooManyRequests(w, auth.RetryAfterOf(err))
	case errors.Is(err, store.ErrConflict):
		promapi.WriteError(w, http.StatusConflict, promapi.ErrConflict, "already exists")
	case errors.Is(err, store.ErrNotFound), errors.Is(err, datasource.ErrNotFound):
		promapi.WriteError(w, http.StatusNotFound, promapi.ErrNotFound, "not found")
	case errors.Is(err, context.Canceled):
		promapi.WriteError(w, 499, promapi.ErrCanceled, "request canceled")
	default:
		if !promapi.WriteServerError(w, err, "internal error") {
			h.log.ErrorContext(r.Context(), "management request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		}
	}
}

func badData(format string, args ...any) error { return promapi.BadData(format, args...) }

func forbidden(format string, args ...any) error {
	return &promapi.Error{Status: http.StatusForbidden, Type: promapi.ErrForbidden, Msg: fmt.Sprintf(format, args...)}
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

func (h *api) login(w http.ResponseWriter, r *http.Request) result {
	// A JSON content type cannot be sent cross-site without a CORS
	// preflight, which blocks login CSRF from plain HTML forms.
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return result{err: &promapi.Error{Status: http.StatusUnsupportedMediaType, Type: promapi.ErrBadData, Msg: "Content-Type must be application/json"}}
	}
	var req loginRequest
	if err := decode(w, r, &req); err != nil {
		return result{err: err}
	}
	p, csrf, err := h.a.Login(r.Context(), w, r, req.Login, req.Password)
	switch {
	case errors.Is(err, auth.ErrLoginFailed):
		// No WWW-Authenticate: this is a form login, not basic auth.
		return result{err: &promapi.Error{Status: http.StatusUnauthorized, Type: promapi.ErrUnauthorized, Msg: "invalid login or password"}}
	case err != nil:
		return result{err: err}
	}
	return result{data: meOf(p, csrf)}
}

func (h *api) logout(w http.ResponseWriter, r *http.Request) result {
	if access.PrincipalFrom(r.Context()).IsCredential() {
		// A credential has no session to end, and it must not end one whose
		// cookie came along with it.
		return result{err: &promapi.Error{Status: http.StatusBadRequest, Type: promapi.ErrBadData, Msg: "logout ends a browser session; an API credential has none (revoke it instead)"}}
	}
	if err := h.a.Logout(r.Context(), w, r); err != nil {
		return result{err: err}
	}
	return result{data: struct{}{}}
}

func (h *api) me(w http.ResponseWriter, r *http.Request) result {
	return result{data: meOf(access.PrincipalFrom(r.Context()), auth.CSRFTokenFrom(r.Context()))}
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

func (h *api) listUsers(w http.ResponseWriter, r *http.Request) result {
	users, err := h.st.ListUsers(r.Context())
	if err != nil {
		return result{err: err}
	}
	out := make([]userJSON, 0, len(users))
	for _, u := range users {
		out = append(out, userOf(u))
	}
	return result{data: out}
}

func (h *api) createUser(w http.ResponseWriter, r *http.Request) result {
	var req struct {
		Login    string `json:"login"`
		Password string `json:"password"`
		Role     string `json:"role"`
	}
	if err := decode(w, r, &req); err != nil {
		return result{err: err}
	}
	role := access.RoleViewer // later users are VIEWERs unless told otherwise
	if req.Role != "" {
		var err error
		if role, err = access.ParseRole(req.Role); err != nil {
			return result{err: badData("%v", err)}
		}
	}
	u, err := h.m.CreateUser(r.Context(), h.actor(r), req.Login, req.Password, role)
	if err != nil {
		return result{err: err}
	}
	return result{status: http.StatusCreated, data: userOf(u)}
}

func (h *api) patchUser(w http.ResponseWriter, r *http.Request) result {
	id, err := pathID(r)
	if err != nil {
		return result{err: err}
	}
	var req struct {
		Role     *string `json:"role"`
		Disabled *bool   `json:"disabled"`
		Password *string `json:"password"`
	}
	if err := decode(w, r, &req); err != nil {
		return result{err: err}
	}
	if req.Role == nil && req.Disabled == nil && req.Password == nil {
		return result{err: badData("nothing to change: give role, disabled or password")}
	}
	ctx, actor := r.Context(), h.actor(r)
	if req.Role != nil {
		role, err := access.ParseRole(*req.Role)
		if err != nil {
			return result{err: badData("%v", err)}
		}
		if err := h.m.SetUserRole(ctx, actor, id, role); err != nil {
			return result{err: err}
		}
	}
	if req.Disabled != nil {
		if err := h.m.SetUserDisabled(ctx, actor, id, *req.Disabled); err != nil {
			return result{err: err}
		}
	}
	if req.Password != nil {
		if err := h.m.SetUserPassword(ctx, actor, id, *req.Password); err != nil {
			return result{err: err}
		}
	}
	u, err := h.st.GetUser(ctx, id)
	if err != nil {
		return result{err: err}
	}
	return result{data: userOf(u)}
}

func (h *api) deleteUser(w http.ResponseWriter, r *http.Request) result {
	id, err := pathID(r)
	if err != nil {
		return result{err: err}
	}
	if err := h.m.DeleteUser(r.Context(), h.actor(r), id); err != nil {
		return result{err: err}
	}
	return result{data: struct{}{}}
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
	// WriteURL is where remote_write to the data source goes; only for
	// data sources that take it.
	WriteURL string `json:"writeUrl,omitempty"`
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

func (h *api) endpoints(w http.ResponseWriter, r *http.Request) result {
	p := access.PrincipalFrom(r.Context())
	dss, err := h.dataSources(r, p)
	if err != nil {
		return result{err: err}
	}
	base := h.baseURL(r)
	out := []endpointJSON{}
	for _, ds := range dss {
		api := fmt.Sprintf("%s/api-server/v1/grafana/api/datasources/proxy/%d/api/v1", base, ds.ID)
		ep := endpointJSON{
			ID: ds.ID, UID: ds.UID, Name: ds.Name, Type: ds.Type, Env: ds.Env, Site: ds.Site,
			InstantURL: api + "/query", RangeURL: api + "/query_range",
		}
		if ds.Writable {
			ep.WriteURL = api + "/write"
		}
		out = append(out, ep)
	}
	return result{data: out}
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
func (h *api) listAudit(w http.ResponseWriter, r *http.Request) result {
	limit := 100
	if s := r.URL.Query().Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			return result{err: badData("limit must be a positive number")}
		}
		limit = min(n, 1000)
	}
	events, err := h.st.ListAudit(r.Context(), limit)
	if err != nil {
		return result{err: err}
	}
	out := make([]auditJSON, 0, len(events))
	for _, e := range events {
		out = append(out, auditJSON{ID: e.ID, At: e.At, Actor: e.Actor, Action: e.Action, Target: e.Target, Detail: e.Detail, RemoteAddr: e.RemoteAddr})
	}
	return result{data: out}
}
