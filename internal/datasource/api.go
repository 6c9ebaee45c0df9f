package datasource

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"time"

	"github.com/promgate/promgate/internal/access"
	"github.com/promgate/promgate/internal/audit"
	"github.com/promgate/promgate/internal/auth"
	"github.com/promgate/promgate/internal/promapi"
	"github.com/promgate/promgate/internal/store"
)

// APIPrefix is where the data source management API lives.
const APIPrefix = "/api-server/v1/datasources"

const maxAPIBody = 64 << 10

// Authenticator is the part of auth.Authenticator the API needs.
type Authenticator interface {
	Require(allowSession bool) func(http.Handler) http.Handler
	ClientIP(r *http.Request) string
}

// APIOptions configures NewAPI.
type APIOptions struct {
	Manager  *Manager
	Auth     Authenticator
	Embedded Info // listed first, read-only
	Logger   *slog.Logger
}

type api struct {
	m        *Manager
	a        Authenticator
	embedded Info
	log      *slog.Logger
}

// NewAPI returns the JSON API for data sources:
//
//	GET    /api-server/v1/datasources            list (anyone who may query; details for OWNERs)
//	POST   /api-server/v1/datasources            create (OWNER)
//	POST   /api-server/v1/datasources/test       test unsaved settings (OWNER)
//	GET    /api-server/v1/datasources/{id}       one
//	PUT    /api-server/v1/datasources/{id}       replace (OWNER); omitted secrets are kept
//	DELETE /api-server/v1/datasources/{id}       remove (OWNER)
//	POST   /api-server/v1/datasources/{id}/test  test saved settings (OWNER)
//
// Every POST, PUT and DELETE is ActionManageDataSources, which a credential
// holds only with read and write. A connection test changes no stored state
// but counts as a change: it makes the server connect to an address the
// caller names, with the stored secret when "id" is given.
//
// Passwords and tokens are write-only: answers say only whether one is
// set. Sessions need X-CSRF-Token on POST, PUT and DELETE (auth.Require).
func NewAPI(o APIOptions) http.Handler {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	h := &api{m: o.Manager, a: o.Auth, embedded: o.Embedded, log: o.Logger}
	need := func(act access.Action, fn http.HandlerFunc) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !access.PrincipalFrom(r.Context()).Can(act) {
				auth.WriteError(w, http.StatusForbidden, "forbidden", "your role or credential does not allow this ("+act.String()+")")
				return
			}
			fn(w, r)
		})
	}
	mux := http.NewServeMux()
	mux.Handle("GET "+APIPrefix, need(access.ActionQuery, h.list))
	mux.Handle("POST "+APIPrefix, need(access.ActionManageDataSources, h.create))
	mux.Handle("POST "+APIPrefix+"/test", need(access.ActionManageDataSources, h.testUnsaved))
	mux.Handle("GET "+APIPrefix+"/{id}", need(access.ActionQuery, h.get))
	mux.Handle("PUT "+APIPrefix+"/{id}", need(access.ActionManageDataSources, h.update))
	mux.Handle("DELETE "+APIPrefix+"/{id}", need(access.ActionManageDataSources, h.delete))
	mux.Handle("POST "+APIPrefix+"/{id}/test", need(access.ActionManageDataSources, h.testSaved))
	notFound := func(w http.ResponseWriter, _ *http.Request) {
		auth.WriteError(w, http.StatusNotFound, "not_found", "no such data source endpoint or method")
	}
	mux.HandleFunc(APIPrefix, notFound)
	mux.HandleFunc(APIPrefix+"/", notFound)
	authed := o.Auth.Require(true)(mux)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		authed.ServeHTTP(w, r)
	})
}

// View is a data source as the API shows it. The fields after Embedded are
// only shown to those who may manage data sources.
type View struct {
	ID       int64  `json:"id"`
	UID      string `json:"uid"`
	Name     string `json:"name"`
	Type     string `json:"type"`
	Env      string `json:"env"`
	Site     string `json:"site,omitempty"`
	Embedded bool   `json:"embedded"`

	URL                  string            `json:"url,omitempty"`
	BasicAuthUser        string            `json:"basicAuthUser,omitempty"`
	HasBasicAuthPassword *bool             `json:"hasBasicAuthPassword,omitempty"`
	HasBearerToken       *bool             `json:"hasBearerToken,omitempty"`
	Headers              map[string]string `json:"headers,omitempty"`
	TimeoutSeconds       float64           `json:"timeoutSeconds,omitempty"`
	CreatedAt            *time.Time        `json:"createdAt,omitempty"`
	Problem              string            `json:"problem,omitempty"`
}

// ViewOf shows a stored data source; full adds what only OWNERs see.
func ViewOf(s Stored, full bool) View {
	v := View{ID: s.ID, UID: s.UID, Name: s.Name, Type: "prometheus", Env: s.Env, Site: s.Site}
	if !full {
		return v
	}
	hasPW, hasTok := s.BasicAuthPassword != "", s.BearerToken != ""
	created := s.CreatedAt
	v.URL, v.BasicAuthUser, v.Headers = s.URL, s.BasicAuthUser, s.Headers
	v.HasBasicAuthPassword, v.HasBearerToken = &hasPW, &hasTok
	v.TimeoutSeconds = s.Timeout.Seconds()
	v.CreatedAt = &created
	if s.SecretsError != nil {
		v.Problem = "stored secrets do not decrypt with this server's secret key"
	}
	return v
}

func (h *api) embeddedView(full bool) View {
	v := View{ID: h.embedded.ID, UID: h.embedded.UID, Name: h.embedded.Name, Type: "prometheus", Env: h.embedded.Env, Site: h.embedded.Site, Embedded: true}
	if full {
		v.URL = h.embedded.URL
	}
	return v
}

// Input is the body of create, update and test. Secrets are pointers: on
// update, an omitted one keeps the stored value and "" removes it.
type Input struct {
	UID               string            `json:"uid"`
	Name              string            `json:"name"`
	URL               string            `json:"url"`
	Env               string            `json:"env"`
	Site              string            `json:"site"`
	BasicAuthUser     string            `json:"basicAuthUser"`
	BasicAuthPassword *string           `json:"basicAuthPassword"`
	BearerToken       *string           `json:"bearerToken"`
	Headers           map[string]string `json:"headers"`
	TimeoutSeconds    *float64          `json:"timeoutSeconds"`
}

// Apply lays in over base (the stored settings, or zero for a new one).
// Switching the kind of auth drops the other kind's stored secret.
func (in Input) Apply(base Settings) (Settings, error) {
	s := base
	s.UID, s.Name, s.URL, s.Env, s.Site = in.UID, in.Name, in.URL, in.Env, in.Site
	s.BasicAuthUser, s.Headers = in.BasicAuthUser, in.Headers
	if in.BasicAuthPassword != nil {
		s.BasicAuthPassword = *in.BasicAuthPassword
	}
	if in.BearerToken != nil {
		s.BearerToken = *in.BearerToken
	}
	if in.BearerToken != nil && *in.BearerToken != "" && in.BasicAuthPassword == nil {
		s.BasicAuthPassword = ""
	}
	if in.BasicAuthPassword != nil && *in.BasicAuthPassword != "" && in.BearerToken == nil {
		s.BearerToken = ""
	}
	if s.BasicAuthUser == "" && in.BasicAuthPassword == nil {
		s.BasicAuthPassword = ""
	}
	s.Timeout = 0
	if in.TimeoutSeconds != nil {
		t := *in.TimeoutSeconds
		if math.IsNaN(t) || t < 1 || t > MaxTimeout.Seconds() {
			return Settings{}, invalid("timeoutSeconds must be between 1 and %d", int(MaxTimeout.Seconds()))
		}
		s.Timeout = time.Duration(t * float64(time.Second))
	}
	return s, nil
}

func (h *api) list(w http.ResponseWriter, r *http.Request) {
	p := access.PrincipalFrom(r.Context())
	full := p.Can(access.ActionViewDataSourceSettings)
	out := []View{}
	if p.MayUseDataSource(h.embedded.ID) {
		out = append(out, h.embeddedView(full))
	}
	all, err := h.m.List(r.Context())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	for _, s := range all {
		if s.ID != EmbeddedID && p.MayUseDataSource(s.ID) {
			out = append(out, ViewOf(s, full))
		}
	}
	writeData(w, http.StatusOK, out)
}

func (h *api) get(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	p := access.PrincipalFrom(r.Context())
	if !p.MayUseDataSource(id) {
		h.fail(w, r, fmt.Errorf("data source %d: %w", id, ErrNotFound))
		return
	}
	full := p.Can(access.ActionViewDataSourceSettings)
	if id == EmbeddedID {
		writeData(w, http.StatusOK, h.embeddedView(full))
		return
	}
	s, err := h.m.Get(r.Context(), id)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeData(w, http.StatusOK, ViewOf(s, full))
}

func (h *api) create(w http.ResponseWriter, r *http.Request) {
	var in Input
	if err := decode(w, r, &in); err != nil {
		h.fail(w, r, err)
		return
	}
	s, err := in.Apply(Settings{})
	if err != nil {
		h.fail(w, r, err)
		return
	}
	s, err = h.m.Create(r.Context(), h.actor(r), s)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeData(w, http.StatusCreated, ViewOf(Stored{Settings: s}, true))
}

func (h *api) update(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	var in Input
	if err := decode(w, r, &in); err != nil {
		h.fail(w, r, err)
		return
	}
	old, err := h.m.Get(r.Context(), id)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if old.SecretsError != nil && in.BasicAuthPassword == nil && in.BearerToken == nil {
		// Keeping them would silently drop them: they cannot be read.
		h.fail(w, r, invalid("the stored secrets do not decrypt with this server's key: give basicAuthPassword or bearerToken again (\"\" for none)"))
		return
	}
	s, err := in.Apply(old.Settings)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	s.ID = id
	if s, err = h.m.Update(r.Context(), h.actor(r), s); err != nil {
		h.fail(w, r, err)
		return
	}
	writeData(w, http.StatusOK, ViewOf(Stored{Settings: s}, true))
}

func (h *api) delete(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if err := h.m.Delete(r.Context(), h.actor(r), id); err != nil {
		h.fail(w, r, err)
		return
	}
	writeData(w, http.StatusOK, struct{}{})
}

func (h *api) testSaved(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if id == EmbeddedID {
		writeData(w, http.StatusOK, TestResult{OK: true, Message: "Data source is working: promgate's embedded store"})
		return
	}
	s, err := h.m.Get(r.Context(), id)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if s.SecretsError != nil {
		writeData(w, http.StatusOK, TestResult{Message: "The stored password or token does not decrypt with this server's secret key (check --secret-key-file)"})
		return
	}
	h.runTest(w, r, s.Settings)
}

// testUnsaved tests the settings in the body. With "id", omitted secrets
// are taken from that stored data source, as when editing a form whose
// password field is left blank.
func (h *api) testUnsaved(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Input
		ID int64 `json:"id"`
	}
	if err := decode(w, r, &in); err != nil {
		h.fail(w, r, err)
		return
	}
	var base Settings
	if in.ID != 0 {
		old, err := h.m.Get(r.Context(), in.ID)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		base = old.Settings
		if in.UID == "" {
			in.UID = old.UID
		}
	}
	s, err := in.Input.Apply(base)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.runTest(w, r, s)
}

func (h *api) runTest(w http.ResponseWriter, r *http.Request, s Settings) {
	res, err := h.m.Test(r.Context(), s)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeData(w, http.StatusOK, res)
}

func (h *api) actor(r *http.Request) audit.Actor {
	return audit.ActorOf(access.PrincipalFrom(r.Context()), h.a.ClientIP(r))
}

// fail maps an error to a response; unexpected ones are logged, not shown.
func (h *api) fail(w http.ResponseWriter, r *http.Request, err error) {
	var ve *ValidationError
	switch {
	case errors.As(err, &ve):
		auth.WriteError(w, http.StatusBadRequest, "bad_data", ve.Msg)
	case errors.Is(err, store.ErrConflict):
		auth.WriteError(w, http.StatusConflict, "conflict", "a data source with this name or uid already exists")
	case IsNotFound(err):
		auth.WriteError(w, http.StatusNotFound, "not_found", "data source not found")
	default:
		if !promapi.WriteServerError(w, err, "internal error") {
			h.log.ErrorContext(r.Context(), "data source management request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		}
	}
}

func writeData(w http.ResponseWriter, status int, data any) {
	promapi.WriteData(w, status, data)
}

// decode reads one strict JSON object: unknown fields are errors, so a typo
// such as "password" for "basicAuthPassword" is not silently dropped.
func decode(w http.ResponseWriter, r *http.Request, v any) error {
	if err := promapi.DecodeJSON(w, r, v, maxAPIBody); err != nil {
		return invalid("%v", err)
	}
	return nil
}

func pathID(r *http.Request) (int64, error) {
	id, err := promapi.PathID(r)
	if err != nil {
		return 0, invalid("%v", err)
	}
	return id, nil
}
