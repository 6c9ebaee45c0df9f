// Package manage changes who may do what: users, API credentials and
// remote data sources, with their validation, the rule that an enabled
// OWNER always remains, and an audit row for every change. The JSON
// management API and the admin CLI both call it; neither changes those
// rows in the store any other way.
package manage

import (
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/promgate/promgate/internal/audit"
	"github.com/promgate/promgate/internal/datasource"
	"github.com/promgate/promgate/internal/store"
)

// Options configures New. Only Store is required.
type Options struct {
	Store  store.Store
	Logger *slog.Logger
	Now    func() time.Time
	// AccessChanged is called after every change that can take access
	// away (revoke, demote, disable, delete, new password), so that this
	// process applies it to the very next request: the authenticator's
	// cache invalidation. Other processes notice through store.Generation.
	AccessChanged func()
	// Codec seals and opens data source secrets; nil refuses the data
	// source operations (the user and credential commands need no key).
	Codec *datasource.Codec
	// Forwarder runs connection tests; nil: a fresh one when first needed.
	Forwarder *datasource.Forwarder
	// DataSourcesChanged is called after a data source is created,
	// changed or deleted (e.g. datasource.Sources.Invalidate).
	DataSourcesChanged func()
}

// Manager performs management operations. It is safe for concurrent use.
type Manager struct {
	st    store.Store
	log   *slog.Logger
	now   func() time.Time
	audit *audit.Log
	cdc   *datasource.Codec

	accessChanged      func()
	dataSourcesChanged func()

	fwdOnce sync.Once
	fwd     *datasource.Forwarder

	userMu sync.Mutex // serialises last-OWNER checks with the change
}

// New returns a Manager.
func New(o Options) *Manager {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.AccessChanged == nil {
		o.AccessChanged = func() {}
	}
	if o.DataSourcesChanged == nil {
		o.DataSourcesChanged = func() {}
	}
	return &Manager{
		st: o.Store, log: o.Logger, now: o.Now, audit: audit.New(o.Store, o.Logger, o.Now), cdc: o.Codec,
		accessChanged: o.AccessChanged, dataSourcesChanged: o.DataSourcesChanged, fwd: o.Forwarder,
	}
}

// errNoCodec is a wiring mistake: a Manager built without a secret key was
// asked for data sources.
var errNoCodec = errors.New("data source operations need the secret key (manage.Options.Codec)")

func (m *Manager) dataSourceCodec() (*datasource.Codec, error) {
	if m.cdc == nil {
		return nil, errNoCodec
	}
	return m.cdc, nil
}

func (m *Manager) forwarder() *datasource.Forwarder {
	m.fwdOnce.Do(func() {
		if m.fwd == nil {
			m.fwd = datasource.NewForwarder(m.log, "")
		}
	})
	return m.fwd
}
