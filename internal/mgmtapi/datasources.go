package mgmtapi

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"time"

	"github.com/prometheus/common/config"

	"github.com/promgate/promgate/internal/access"
	"github.com/promgate/promgate/internal/datasource"
	"github.com/promgate/promgate/internal/manage"
	"github.com/promgate/promgate/internal/promapi"
	"github.com/promgate/promgate/internal/store"
)

// The data source endpoints:
//
//	GET    /api-server/v1/datasources            list (anyone who may query; details for OWNERs)
//	POST   /api-server/v1/datasources            create (OWNER)
//	POST   /api-server/v1/datasources/test       test unsaved settings (OWNER)
//	GET    /api-server/v1/datasources/{id}       one
//	PUT    /api-server/v1/datasources/{id}       replace (OWNER); omitted secrets are kept
//	DELETE /api-server/v1/datasources/{id}       remove (OWNER)
//	POST   /api-server/v1/datasources/{id}/test  test saved settings (OWNER)

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
	// Writable: remote_write can be sent to ProxyPrefix{id}/api/v1/write.
	Writable bool `json:"writable"`
	// Cache is the query cache's settings (for the embedded store, from
	// the serve flags).
	Cache *datasource.CacheSettings `json:"cache,omitempty"`

	URL                   string            `json:"url,omitempty"`
	WriteURL              string            `json:"writeUrl,omitempty"`
	BasicAuthUser         string            `json:"basicAuthUser,omitempty"`
	HasBasicAuthPassword  *bool             `json:"hasBasicAuthPassword,omitempty"`
	HasBearerToken        *bool             `json:"hasBearerToken,omitempty"`
	OAuth2ClientID        string            `json:"oauth2ClientId,omitempty"`
	HasOAuth2ClientSecret *bool             `json:"hasOAuth2ClientSecret,omitempty"`
	OAuth2TokenURL        string            `json:"oauth2TokenUrl,omitempty"`
	OAuth2Scopes          []string          `json:"oauth2Scopes,omitempty"`
	TLSCACert             string            `json:"tlsCACert,omitempty"`
	TLSClientCert         string            `json:"tlsClientCert,omitempty"`
	HasTLSClientKey       *bool             `json:"hasTLSClientKey,omitempty"`
	TLSServerName         string            `json:"tlsServerName,omitempty"`
	TLSSkipVerify         bool              `json:"tlsSkipVerify,omitempty"`
	ProxyURL              string            `json:"proxyUrl,omitempty"`
	Headers               map[string]string `json:"headers,omitempty"`
	TimeoutSeconds        float64           `json:"timeoutSeconds,omitempty"`
	CreatedAt             *time.Time        `json:"createdAt,omitempty"`
	Problem               string            `json:"problem,omitempty"`
}

// ViewOf shows a stored data source; full adds what only OWNERs see. Of a
// secret it shows only whether one is set.
func ViewOf(s manage.StoredDataSource, full bool) View {
	v := View{ID: s.ID, UID: s.UID, Name: s.Name, Type: "prometheus", Env: s.Env, Site: s.Site, Writable: s.WriteURL != ""}
	if !full {
		return v
	}
	hasPW, hasTok, hasCS, hasKey := s.BasicAuthPassword() != "", s.BearerToken() != "", s.OAuth2ClientSecret() != "", s.HTTP.TLSConfig.Key != ""
	created := s.CreatedAt
	v.URL, v.WriteURL, v.BasicAuthUser, v.Headers = s.URL, s.WriteURL, s.BasicAuthUser(), s.Headers()
	v.HasBasicAuthPassword, v.HasBearerToken = &hasPW, &hasTok
	if o := s.HTTP.OAuth2; o != nil {
		v.OAuth2ClientID, v.OAuth2TokenURL, v.OAuth2Scopes, v.HasOAuth2ClientSecret = o.ClientID, o.TokenURL, o.Scopes, &hasCS
	}
	t := s.HTTP.TLSConfig
	v.TLSCACert, v.TLSClientCert, v.TLSServerName, v.TLSSkipVerify = t.CA, t.Cert, t.ServerName, t.InsecureSkipVerify
	if hasKey || t.Cert != "" {
		v.HasTLSClientKey = &hasKey
	}
	if s.HTTP.ProxyURL.URL != nil {
		v.ProxyURL = s.HTTP.ProxyURL.String()
	}
	v.TimeoutSeconds = s.Timeout.Seconds()
	v.CreatedAt = &created
	cache := s.Cache
	v.Cache = &cache
	if s.SecretsError != nil {
		v.Problem = "stored secrets do not decrypt with this server's secret key"
	}
	return v
}

func embeddedView(info datasource.Info, full bool) View {
	cache := info.Cache
	v := View{ID: info.ID, UID: info.UID, Name: info.Name, Type: "prometheus", Env: info.Env, Site: info.Site, Embedded: true, Writable: true, Cache: &cache}
	if full {
		v.URL = info.URL
	}
	return v
}

// Input is the body of create, update and test. Secrets are pointers: on
// update, an omitted one keeps the stored value and "" removes it. The
// TLS certificates and key are PEM text, stored (the key sealed), not file
// paths: replicas share the store, not a file system.
type Input struct {
	UID                string            `json:"uid"`
	Name               string            `json:"name"`
	URL                string            `json:"url"`
	WriteURL           string            `json:"writeUrl"`
	Env                string            `json:"env"`
	Site               string            `json:"site"`
	BasicAuthUser      string            `json:"basicAuthUser"`
	BasicAuthPassword  *string           `json:"basicAuthPassword"`
	BearerToken        *string           `json:"bearerToken"`
	OAuth2ClientID     string            `json:"oauth2ClientId"`
	OAuth2ClientSecret *string           `json:"oauth2ClientSecret"`
	OAuth2TokenURL     string            `json:"oauth2TokenUrl"`
	OAuth2Scopes       []string          `json:"oauth2Scopes"`
	TLSCACert          string            `json:"tlsCACert"`
	TLSClientCert      string            `json:"tlsClientCert"`
	TLSClientKey       *string           `json:"tlsClientKey"`
	TLSServerName      string            `json:"tlsServerName"`
	TLSSkipVerify      bool              `json:"tlsSkipVerify"`
	ProxyURL           string            `json:"proxyUrl"`
	Headers            map[string]string `json:"headers"`
	TimeoutSeconds     *float64          `json:"timeoutSeconds"`
	// CacheDisabled and NoStepAlign are the query cache settings; omitted:
	// cached and step-aligned.
	CacheDisabled bool `json:"cacheDisabled"`
	NoStepAlign   bool `json:"noStepAlign"`
}

// givesSecret says whether in sets any secret (kept or removed).
func (in Input) givesSecret() bool {
	return in.BasicAuthPassword != nil || in.BearerToken != nil || in.OAuth2ClientSecret != nil || in.TLSClientKey != nil
}

// Apply lays in over base (the stored settings, or zero for a new one).
// Switching the kind of auth drops the other kind's stored secret.
func (in Input) Apply(base datasource.Settings) (datasource.Settings, error) {
	s := base
	s.UID, s.Name, s.URL, s.WriteURL, s.Env, s.Site = in.UID, in.Name, in.URL, in.WriteURL, in.Env, in.Site
	pw, tok, cs, key := base.BasicAuthPassword(), base.BearerToken(), base.OAuth2ClientSecret(), string(base.HTTP.TLSConfig.Key)
	for _, f := range []struct {
		in  *string
		out *string
	}{{in.BasicAuthPassword, &pw}, {in.BearerToken, &tok}, {in.OAuth2ClientSecret, &cs}, {in.TLSClientKey, &key}} {
		if f.in != nil {
			*f.out = *f.in
		}
	}
	if in.BearerToken != nil && *in.BearerToken != "" && in.BasicAuthPassword == nil {
		pw = ""
	}
	if in.BasicAuthPassword != nil && *in.BasicAuthPassword != "" && in.BearerToken == nil {
		tok = ""
	}
	if in.OAuth2ClientID != "" {
		if in.BasicAuthPassword == nil {
			pw = ""
		}
		if in.BearerToken == nil {
			tok = ""
		}
	} else if in.OAuth2ClientSecret == nil {
		cs = ""
	}
	if in.BasicAuthUser == "" && in.BasicAuthPassword == nil {
		pw = ""
	}
	if in.TLSClientCert == "" && in.TLSClientKey == nil {
		key = ""
	}
	s.HTTP = config.HTTPClientConfig{}
	s.SetBasicAuth(in.BasicAuthUser, pw)
	s.SetBearerToken(tok)
	if in.OAuth2ClientID != "" || in.OAuth2TokenURL != "" || cs != "" {
		s.HTTP.OAuth2 = &config.OAuth2{ClientID: in.OAuth2ClientID, ClientSecret: config.Secret(cs), TokenURL: in.OAuth2TokenURL, Scopes: in.OAuth2Scopes}
	}
	s.HTTP.TLSConfig = config.TLSConfig{CA: in.TLSCACert, Cert: in.TLSClientCert, Key: config.Secret(key), ServerName: in.TLSServerName, InsecureSkipVerify: in.TLSSkipVerify}
	if in.ProxyURL != "" {
		u, err := url.Parse(in.ProxyURL)
		if err != nil {
			return datasource.Settings{}, badData("proxyUrl does not parse")
		}
		s.HTTP.ProxyURL = config.URL{URL: u}
	}
	s.SetHeaders(in.Headers)
	s.Cache = datasource.CacheSettings{Disabled: in.CacheDisabled, NoStepAlign: in.NoStepAlign}
	s.Timeout = 0
	if in.TimeoutSeconds != nil {
		t := *in.TimeoutSeconds
		if math.IsNaN(t) || t < 1 || t > datasource.MaxTimeout.Seconds() {
			return datasource.Settings{}, badData("timeoutSeconds must be between 1 and %d", int(datasource.MaxTimeout.Seconds()))
		}
		s.Timeout = time.Duration(t * float64(time.Second))
	}
	return s, nil
}

// dataSources lists the data sources p may use, the embedded one first:
// the registry's list, the one behind the Grafana-shaped list too.
func (h *api) dataSources(r *http.Request, p *access.Principal) ([]datasource.Info, error) {
	return h.o.Sources.List(r.Context(), p.MayUseDataSource)
}

func (h *api) listDataSources(w http.ResponseWriter, r *http.Request) result {
	p := access.PrincipalFrom(r.Context())
	full := p.Can(access.ActionViewDataSourceSettings)
	infos, err := h.dataSources(r, p)
	if err != nil {
		return result{err: err}
	}
	stored := map[int64]manage.StoredDataSource{}
	if full { // only OWNERs see the settings, read from the store
		all, err := h.m.DataSources(r.Context())
		if err != nil {
			return result{err: err}
		}
		for _, s := range all {
			stored[s.ID] = s
		}
	}
	out := []View{}
	for _, in := range infos {
		s, ok := stored[in.ID]
		switch {
		case in.Embedded:
			out = append(out, embeddedView(in, full))
		case ok:
			out = append(out, ViewOf(s, true))
		case !full:
			v := ViewOf(manage.StoredDataSource{Settings: datasource.Settings{ID: in.ID, UID: in.UID, Name: in.Name, Env: in.Env, Site: in.Site}}, false)
			v.Writable = in.Writable
			out = append(out, v)
		}
	}
	return result{data: out}
}

func (h *api) getDataSource(w http.ResponseWriter, r *http.Request) result {
	id, err := pathID(r)
	if err != nil {
		return result{err: err}
	}
	p := access.PrincipalFrom(r.Context())
	if !p.MayUseDataSource(id) {
		return result{err: fmt.Errorf("data source %d: %w", id, datasource.ErrNotFound)}
	}
	full := p.Can(access.ActionViewDataSourceSettings)
	if id == datasource.EmbeddedID {
		return result{data: embeddedView(h.o.Sources.Embedded(), full)}
	}
	s, err := h.m.DataSource(r.Context(), id)
	if err != nil {
		return result{err: err}
	}
	return result{data: ViewOf(s, full)}
}

func (h *api) createDataSource(w http.ResponseWriter, r *http.Request) result {
	var in Input
	if err := decode(w, r, &in); err != nil {
		return result{err: err}
	}
	s, err := in.Apply(datasource.Settings{})
	if err != nil {
		return result{err: err}
	}
	s, err = h.m.CreateDataSource(r.Context(), h.actor(r), s)
	if err != nil {
		return result{err: err}
	}
	return result{status: http.StatusCreated, data: ViewOf(manage.StoredDataSource{Settings: s}, true)}
}

func (h *api) updateDataSource(w http.ResponseWriter, r *http.Request) result {
	id, err := pathID(r)
	if err != nil {
		return result{err: err}
	}
	var in Input
	if err := decode(w, r, &in); err != nil {
		return result{err: err}
	}
	old, err := h.m.DataSource(r.Context(), id)
	if err != nil {
		return result{err: err}
	}
	if old.SecretsError != nil && !in.givesSecret() {
		// Keeping them would silently drop them: they cannot be read.
		return result{err: badData("the stored secrets do not decrypt with this server's key: give basicAuthPassword, bearerToken, oauth2ClientSecret or tlsClientKey again (\"\" for none)")}
	}
	s, err := in.Apply(old.Settings)
	if err != nil {
		return result{err: err}
	}
	s.ID = id
	if s, err = h.m.UpdateDataSource(r.Context(), h.actor(r), s); err != nil {
		return result{err: err}
	}
	return result{data: ViewOf(manage.StoredDataSource{Settings: s}, true)}
}

func (h *api) deleteDataSource(w http.ResponseWriter, r *http.Request) result {
	id, err := pathID(r)
	if err != nil {
		return result{err: err}
	}
	if err := h.m.DeleteDataSource(r.Context(), h.actor(r), id); err != nil {
		return result{err: err}
	}
	return result{data: struct{}{}}
}

func (h *api) testSaved(w http.ResponseWriter, r *http.Request) result {
	id, err := pathID(r)
	if err != nil {
		return result{err: err}
	}
	if id == datasource.EmbeddedID {
		return result{data: datasource.TestResult{OK: true, Message: "Data source is working: promgate's embedded store"}}
	}
	s, err := h.m.DataSource(r.Context(), id)
	if err != nil {
		return result{err: err}
	}
	if s.SecretsError != nil {
		return result{data: datasource.TestResult{Message: "The stored password or token does not decrypt with this server's secret key (check --secret-key-file)"}}
	}
	return h.runTest(r, s.Settings)
}

// testUnsaved tests the settings in the body. With "id", omitted secrets
// are taken from that stored data source, as when editing a form whose
// password field is left blank.
func (h *api) testUnsaved(w http.ResponseWriter, r *http.Request) result {
	var in struct {
		Input
		ID int64 `json:"id"`
	}
	if err := decode(w, r, &in); err != nil {
		return result{err: err}
	}
	var base datasource.Settings
	if in.ID != 0 {
		old, err := h.m.DataSource(r.Context(), in.ID)
		if err != nil {
			return result{err: err}
		}
		base = old.Settings
		if in.UID == "" {
			in.UID = old.UID
		}
	}
	s, err := in.Input.Apply(base)
	if err != nil {
		return result{err: err}
	}
	return h.runTest(r, s)
}

func (h *api) runTest(r *http.Request, s datasource.Settings) result {
	res, err := h.m.TestDataSource(r.Context(), s)
	if err != nil {
		return result{err: err}
	}
	return result{data: res}
}

// dataSourceError gives the store's sentinels a data source's words.
func dataSourceError(err error) error {
	switch {
	case errors.Is(err, store.ErrConflict):
		return &promapi.Error{Status: http.StatusConflict, Type: promapi.ErrConflict, Msg: "a data source with this name or uid already exists"}
	case errors.Is(err, store.ErrNotFound), errors.Is(err, datasource.ErrNotFound):
		return &promapi.Error{Status: http.StatusNotFound, Type: promapi.ErrNotFound, Msg: "data source not found"}
	}
	return err
}
