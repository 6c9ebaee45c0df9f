package mgmtapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/promgate/promgate/internal/access"
	"github.com/promgate/promgate/internal/audit"
	"github.com/promgate/promgate/internal/datasource"
	"github.com/promgate/promgate/internal/manage"
	"github.com/promgate/promgate/internal/store"
)

// credentialJSON is a credential as listed. Token is set only in the
// response that creates it; the hash is never sent.
type credentialJSON struct {
	ID            int64      `json:"id"`
	Key           string     `json:"key"`
	Token         string     `json:"token,omitempty"`
	Name          string     `json:"name"`
	Kind          string     `json:"kind"` // "user" or "global"
	UserID        *int64     `json:"userId,omitempty"`
	Role          string     `json:"role,omitempty"` // global credentials only
	CreatedBy     string     `json:"createdBy"`
	CreatedAt     time.Time  `json:"createdAt"`
	LastUsedAt    *time.Time `json:"lastUsedAt"`
	ExpiresAt     *time.Time `json:"expiresAt"`
	RevokedAt     *time.Time `json:"revokedAt,omitempty"`
	Scope         string     `json:"scope"`
	DataSourceIDs []int64    `json:"dataSourceIds"` // null: every data source
	Selector      string     `json:"selector"`
}

func credentialOf(c store.Credential) credentialJSON {
	kind := "user"
	if c.UserID == nil {
		kind = "global"
	}
	return credentialJSON{
		ID: c.ID, Key: c.Key, Name: c.Name, Kind: kind, UserID: c.UserID, Role: c.Role,
		CreatedBy: c.CreatedBy, CreatedAt: c.CreatedAt, LastUsedAt: c.LastUsedAt, ExpiresAt: c.ExpiresAt,
		RevokedAt: c.RevokedAt, Scope: c.Scope, DataSourceIDs: c.DataSourceIDs, Selector: c.Selector,
	}
}

type createCredentialRequest struct {
	Name string `json:"name"`
	// ExpiresIn is a Go duration ("720h") or a number of days ("30d").
	ExpiresIn string     `json:"expiresIn"`
	ExpiresAt *time.Time `json:"expiresAt"`
	// Scope is "read", "write", "read,write" or a list of those.
	Scope         json.RawMessage `json:"scope"`
	DataSourceIDs []int64         `json:"dataSourceIds"`
	Selector      string          `json:"selector"`
	Role          string          `json:"role"` // global credentials only
}

// ParseExpiresIn reads a Go duration or a whole number of days ("30d").
func ParseExpiresIn(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n <= 0 || n > 100*365 {
			return 0, fmt.Errorf("bad number of days %q", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("bad duration %q: want e.g. 720h or 30d", s)
	}
	if d <= 0 {
		return 0, fmt.Errorf("duration %q must be positive", s)
	}
	return d, nil
}

func parseScopeJSON(raw json.RawMessage) (access.Scope, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return access.ScopeRead, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return access.ParseScope(s)
	}
	var list []string
	if err := json.Unmarshal(raw, &list); err != nil {
		return 0, errors.New(`scope must be "read", "write", "read,write" or a list of those`)
	}
	return access.ParseScope(strings.Join(list, ","))
}

// specFrom turns a create request into a spec within the creator's limits:
// a credential can never mint one that reaches further than itself.
func (h *api) specFrom(r *http.Request, req createCredentialRequest) (manage.CredentialSpec, error) {
	p := access.PrincipalFrom(r.Context())
	spec := manage.CredentialSpec{Name: req.Name, Selector: req.Selector, CreatedBy: audit.ActorOf(p, "").Name}

	switch {
	case req.ExpiresIn != "" && req.ExpiresAt != nil:
		return spec, badData("give expiresIn or expiresAt, not both")
	case req.ExpiresIn != "":
		d, err := ParseExpiresIn(req.ExpiresIn)
		if err != nil {
			return spec, badData("expiresIn: %v", err)
		}
		t := h.now().Add(d)
		spec.ExpiresAt = &t
	case req.ExpiresAt != nil:
		t := *req.ExpiresAt
		spec.ExpiresAt = &t
	}

	scope, err := parseScopeJSON(req.Scope)
	if err != nil {
		return spec, badData("scope: %v", err)
	}
	spec.Scope = scope

	if req.DataSourceIDs != nil {
		if len(req.DataSourceIDs) == 0 {
			return spec, badData("dataSourceIds must not be empty; omit it for every data source")
		}
		if err := h.checkDataSources(r, req.DataSourceIDs); err != nil {
			return spec, err
		}
		for _, id := range req.DataSourceIDs {
			if !p.MayUseDataSource(id) {
				return spec, forbidden("you may not use data source %d", id)
			}
		}
		spec.DataSourceIDs = req.DataSourceIDs
	} else if p.DataSourceIDs != nil {
		spec.DataSourceIDs = slices.Clone(p.DataSourceIDs)
	}

	if p.IsCredential() {
		if !p.Scope.Has(spec.Scope) {
			return spec, forbidden("scope %q is wider than this credential's %q", spec.Scope, p.Scope)
		}
		if exp, err := h.callerExpiry(r, p); err != nil {
			return spec, err
		} else if exp != nil && (spec.ExpiresAt == nil || spec.ExpiresAt.After(*exp)) {
			// Never outlive the credential that made it.
			t := *exp
			spec.ExpiresAt = &t
		}
	}
	return spec, nil
}

func (h *api) callerExpiry(r *http.Request, p *access.Principal) (*time.Time, error) {
	c, err := h.st.GetCredential(r.Context(), p.CredentialID)
	if err != nil {
		return nil, fmt.Errorf("look up calling credential: %w", err)
	}
	return c.ExpiresAt, nil
}

func (h *api) checkDataSources(r *http.Request, ids []int64) error {
	dss, err := h.o.Sources.List(r.Context(), nil)
	if err != nil {
		return err
	}
	for _, id := range ids {
		if !slices.ContainsFunc(dss, func(d datasource.Info) bool { return d.ID == id }) {
			return badData("unknown data source id %d", id)
		}
	}
	return nil
}

func (h *api) createCredential(w http.ResponseWriter, r *http.Request, global bool) result {
	var req createCredentialRequest
	if err := decode(w, r, &req); err != nil {
		return result{err: err}
	}
	spec, err := h.specFrom(r, req)
	if err != nil {
		return result{err: err}
	}
	p := access.PrincipalFrom(r.Context())
	if global {
		if req.Role == "" {
			return result{err: badData("role is required for a global credential")}
		}
		if spec.Role, err = access.ParseRole(req.Role); err != nil {
			return result{err: badData("%v", err)}
		}
	} else {
		if req.Role != "" {
			return result{err: badData("a user credential acts with your role; it takes no role")}
		}
		uid := p.UserID
		spec.UserID = &uid
	}
	c, token, err := h.m.CreateCredential(r.Context(), h.actor(r), spec)
	if err != nil {
		return result{err: err}
	}
	out := credentialOf(c)
	out.Token = token
	return result{status: http.StatusCreated, data: out}
}

func (h *api) listCredentials(w http.ResponseWriter, r *http.Request, f store.CredentialFilter) result {
	f.IncludeRevoked = r.URL.Query().Get("includeRevoked") == "true"
	creds, err := h.st.ListCredentials(r.Context(), f)
	if err != nil {
		return result{err: err}
	}
	out := make([]credentialJSON, 0, len(creds))
	for _, c := range creds {
		out = append(out, credentialOf(c))
	}
	return result{data: out}
}

// revoke revokes credential {id} if belongs says it is in reach; other ids
// are 404, so that callers cannot probe for others' credentials.
func (h *api) revoke(w http.ResponseWriter, r *http.Request, belongs func(store.Credential) bool) result {
	id, err := pathID(r)
	if err != nil {
		return result{err: err}
	}
	c, err := h.st.GetCredential(r.Context(), id)
	if err != nil {
		return result{err: err}
	}
	if !belongs(c) {
		return result{err: store.ErrNotFound}
	}
	if err := h.m.RevokeCredential(r.Context(), h.actor(r), id); err != nil {
		return result{err: err}
	}
	return result{data: struct{}{}}
}

func (h *api) listOwnCredentials(w http.ResponseWriter, r *http.Request) result {
	uid := access.PrincipalFrom(r.Context()).UserID
	return h.listCredentials(w, r, store.CredentialFilter{UserID: &uid})
}

func (h *api) createOwnCredential(w http.ResponseWriter, r *http.Request) result {
	return h.createCredential(w, r, false)
}

func (h *api) revokeOwnCredential(w http.ResponseWriter, r *http.Request) result {
	uid := access.PrincipalFrom(r.Context()).UserID
	return h.revoke(w, r, func(c store.Credential) bool { return c.UserID != nil && *c.UserID == uid })
}

func (h *api) listGlobalCredentials(w http.ResponseWriter, r *http.Request) result {
	return h.listCredentials(w, r, store.CredentialFilter{Global: true})
}

func (h *api) createGlobalCredential(w http.ResponseWriter, r *http.Request) result {
	return h.createCredential(w, r, true)
}

func (h *api) revokeGlobalCredential(w http.ResponseWriter, r *http.Request) result {
	return h.revoke(w, r, func(c store.Credential) bool { return c.UserID == nil })
}
