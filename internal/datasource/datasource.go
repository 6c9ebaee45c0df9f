// Package datasource holds the data sources a query can be sent to: the
// embedded store (always id 1) and remote Prometheus-compatible backends.
package datasource

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"slices"
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
	// Writable is true when the data source takes remote_write (the
	// embedded store, and a remote one with a remote_write URL).
	Writable bool `json:"writable,omitempty"`
	// Cache is how the query cache treats this data source.
	Cache CacheSettings `json:"cache"`
	// Generation changes whenever the data source's stored settings do:
	// the query cache keys its entries by it, so a change empties them.
	Generation string `json:"-"`
}

// CacheSettings are a data source's query cache settings; the zero value
// is the default (cached, step-aligned).
type CacheSettings struct {
	// Disabled sends every query to the backend as it is.
	Disabled bool `json:"disabled"`
	// NoStepAlign keeps a range query's start and end as asked instead of
	// rounding them down to a multiple of the step (as Grafana does).
	NoStepAlign bool `json:"noStepAlign"`
}

// DataSource answers canonical Prometheus API requests. It is a client:
// the server reads its answer and relays, filters or converts it.
type DataSource interface {
	Info() Info
	// Query sends req and returns the answer: its status, the headers a
	// caller may see, and a body in identity encoding whose Read fails,
	// instead of ending cleanly, when the answer breaks after its header.
	// The caller closes the body. Without an answer the error is a
	// *promapi.Error for the caller (naming the data source, never its
	// secrets), a *panics.Error when code in this process panicked, or
	// ctx's error. Nothing of the caller's request but req may reach a
	// backend.
	Query(ctx context.Context, req *promapi.Request) (*http.Response, error)
}

// NewEmbedded is data source 1: the embedded store, answered by
// Prometheus' own API handlers in-process, so the JSON shape, error types
// and status codes are Prometheus'.
//
// Its cache generation is new on every start: the embedded store's data is
// this process's own, so replicas sharing a Memcached never share its
// entries.
func NewEmbedded(s *embedded.Store, cache CacheSettings) *InProcess {
	return NewInProcess(Info{ID: EmbeddedID, UID: EmbeddedUID, Name: "promgate", Type: "prometheus", URL: "embedded", Env: "local", Embedded: true, Writable: true,
		Cache: cache, Generation: "embedded-" + rand.Text()},
		http.HandlerFunc(s.ServeAPI))
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

// Embedded describes the embedded data source.
func (r *Registry) Embedded() Info { return r.embedded.Info() }

// List returns the data sources may allows (every one when may is nil),
// the embedded one first. It is the one list of data sources: the
// Grafana-shaped list, the management API's list and its endpoint URLs
// all come from it.
func (r *Registry) List(ctx context.Context, may func(id int64) bool) ([]Info, error) {
	out := []Info{r.embedded.Info()}
	if r.remotes != nil {
		more, err := r.remotes.List(ctx)
		if err != nil {
			return nil, fmt.Errorf("list remote data sources: %w", err)
		}
		out = append(out, more...)
	}
	if may != nil {
		out = slices.DeleteFunc(out, func(in Info) bool { return !may(in.ID) })
	}
	return out, nil
}
