// Package datasource holds the data sources a query can be sent to: the
// embedded store (always id 1) and remote Prometheus-compatible backends.
package datasource

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/promgate/promgate/internal/embedded"
	"github.com/promgate/promgate/internal/promapi"
)

// EmbeddedID and EmbeddedUID name the embedded store.
const (
	EmbeddedID  int64 = 1
	EmbeddedUID       = "embedded"
)

// ErrNotFound is returned when no data source has the id or uid.
var ErrNotFound = errors.New("data source not found")

// Info describes a data source without any of its secrets.
type Info struct {
	ID   int64  `json:"id"`
	UID  string `json:"uid"`
	Name string `json:"name"`
	Type string `json:"type"`
	URL  string `json:"url"`
	Env  string `json:"env"`
	Site string `json:"site,omitempty"`
	// Embedded is true for promgate's own store.
	Embedded bool `json:"embedded"`
}

// DataSource answers canonical Prometheus API requests.
type DataSource interface {
	Info() Info
	// Serve answers req on w. r is the caller's request, for its context
	// only: nothing else of it may reach a backend.
	Serve(w http.ResponseWriter, r *http.Request, req *promapi.Request)
}

// Embedded serves requests from the embedded store.
type Embedded struct {
	store *embedded.Store
}

// NewEmbedded wraps the embedded store as data source 1.
func NewEmbedded(s *embedded.Store) *Embedded { return &Embedded{store: s} }

// Info implements DataSource.
func (e *Embedded) Info() Info {
	return Info{ID: EmbeddedID, UID: EmbeddedUID, Name: "promgate", Type: "prometheus", URL: "embedded", Env: "local", Embedded: true}
}

// Serve implements DataSource by handing a rebuilt request to Prometheus'
// own API handlers in-process.
func (e *Embedded) Serve(w http.ResponseWriter, r *http.Request, req *promapi.Request) {
	hr, err := req.NewHTTPRequest(r.Context(), &url.URL{Path: "/"})
	if err != nil {
		promapi.WriteError(w, http.StatusInternalServerError, promapi.ErrInternal, err.Error())
		return
	}
	e.store.ServeAPI(w, hr)
}

// Remotes looks up remote data sources; the registry asks it for anything
// that is not the embedded store.
type Remotes interface {
	Get(ctx context.Context, id int64) (DataSource, error)
	GetByUID(ctx context.Context, uid string) (DataSource, error)
	List(ctx context.Context) ([]Info, error)
}

// Registry finds data sources by id or uid.
type Registry struct {
	embedded DataSource
	remotes  Remotes // nil: the embedded store only
}

// NewRegistry returns a registry of the embedded data source and remotes.
func NewRegistry(embedded DataSource, remotes Remotes) *Registry {
	return &Registry{embedded: embedded, remotes: remotes}
}

// Lookup finds a data source by the proxy path's identifier: a numeric id,
// or a uid when byUID is set.
func (r *Registry) Lookup(ctx context.Context, ident string, byUID bool) (DataSource, error) {
	if byUID {
		if ident == EmbeddedUID {
			return r.embedded, nil
		}
		if r.remotes == nil {
			return nil, fmt.Errorf("uid %q: %w", ident, ErrNotFound)
		}
		return r.remotes.GetByUID(ctx, ident)
	}
	id, err := strconv.ParseInt(ident, 10, 64)
	if err != nil || id <= 0 || strconv.FormatInt(id, 10) != ident {
		return nil, fmt.Errorf("id %q: %w", ident, ErrNotFound)
	}
	if id == EmbeddedID {
		return r.embedded, nil
	}
	if r.remotes == nil {
		return nil, fmt.Errorf("id %d: %w", id, ErrNotFound)
	}
	return r.remotes.Get(ctx, id)
}

// List returns every data source, the embedded one first.
func (r *Registry) List(ctx context.Context) ([]Info, error) {
	out := []Info{r.embedded.Info()}
	if r.remotes == nil {
		return out, nil
	}
	more, err := r.remotes.List(ctx)
	if err != nil {
		return nil, fmt.Errorf("list remote data sources: %w", err)
	}
	return append(out, more...), nil
}
