package datasource

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/promgate/promgate/internal/promapi"
	"github.com/promgate/promgate/internal/store"
)

// DefaultCacheTTL bounds how long a data source change made by another
// process (the admin CLI, another replica) takes to reach this one.
// Changes made through this server's API apply to the next request.
const DefaultCacheTTL = time.Second

// Sources implements Remotes over the store: every request looks its data
// source up in an in-memory snapshot of the decoded rows, reloaded when it
// is older than the TTL or after a change made through this server.
type Sources struct {
	st     store.Store
	codec  *Codec
	fwd    *Forwarder
	logger *slog.Logger
	ttl    time.Duration
	now    func() time.Time

	snap     atomic.Pointer[snapshot]
	reloadMu sync.Mutex
	warnMu   sync.Mutex
	warned   map[int64]bool // unusable rows already logged
}

type snapshot struct {
	at    time.Time
	byID  map[int64]DataSource
	byUID map[string]DataSource
	infos []Info
}

// SourcesOptions configures NewSources.
type SourcesOptions struct {
	Store     store.Store
	Codec     *Codec
	Forwarder *Forwarder
	Logger    *slog.Logger
	CacheTTL  time.Duration // 0: DefaultCacheTTL
	Now       func() time.Time
}

// NewSources returns the store-backed Remotes.
func NewSources(o SourcesOptions) *Sources {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.CacheTTL <= 0 {
		o.CacheTTL = DefaultCacheTTL
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Forwarder == nil {
		o.Forwarder = NewForwarder(nil, o.Logger, "")
	}
	return &Sources{st: o.Store, codec: o.Codec, fwd: o.Forwarder, logger: o.Logger, ttl: o.CacheTTL, now: o.Now, warned: map[int64]bool{}}
}

// Forwarder returns the shared forwarder (for connection tests).
func (s *Sources) Forwarder() *Forwarder { return s.fwd }

// Invalidate drops the snapshot: the next request reads the store.
func (s *Sources) Invalidate() { s.snap.Store(nil) }

// Get implements Remotes.
func (s *Sources) Get(ctx context.Context, id int64) (DataSource, error) {
	snap, err := s.current(ctx)
	if err != nil {
		return nil, err
	}
	if ds, ok := snap.byID[id]; ok {
		return ds, nil
	}
	// Maybe created elsewhere since the snapshot: creations do not bump
	// the store's generation, so ask once.
	row, err := s.st.GetDataSource(ctx, id)
	return s.fromLookup(row, err, fmt.Sprintf("id %d", id))
}

// GetByUID implements Remotes.
func (s *Sources) GetByUID(ctx context.Context, uid string) (DataSource, error) {
	snap, err := s.current(ctx)
	if err != nil {
		return nil, err
	}
	if ds, ok := snap.byUID[uid]; ok {
		return ds, nil
	}
	if !validUID(uid) {
		return nil, fmt.Errorf("uid %q: %w", uid, ErrNotFound)
	}
	row, err := s.st.GetDataSourceByUID(ctx, uid)
	return s.fromLookup(row, err, fmt.Sprintf("uid %q", uid))
}

// List implements Remotes.
func (s *Sources) List(ctx context.Context) ([]Info, error) {
	snap, err := s.current(ctx)
	if err != nil {
		return nil, err
	}
	return append([]Info(nil), snap.infos...), nil
}

func (s *Sources) fromLookup(row store.DataSource, err error, what string) (DataSource, error) {
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%s: %w", what, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("look up data source %s: %w", what, err)
	}
	return s.build(row), nil
}

func (s *Sources) current(ctx context.Context) (*snapshot, error) {
	if snap := s.snap.Load(); snap != nil && s.now().Sub(snap.at) < s.ttl {
		return snap, nil
	}
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	if snap := s.snap.Load(); snap != nil && s.now().Sub(snap.at) < s.ttl {
		return snap, nil // another request reloaded it meanwhile
	}
	at := s.now()
	rows, err := s.st.ListDataSources(ctx)
	if err != nil {
		return nil, fmt.Errorf("list data sources: %w", err)
	}
	snap := &snapshot{at: at, byID: make(map[int64]DataSource, len(rows)), byUID: make(map[string]DataSource, len(rows))}
	for _, row := range rows {
		if row.ID == EmbeddedID {
			continue
		}
		ds := s.build(row)
		snap.byID[row.ID] = ds
		snap.byUID[row.UID] = ds
		snap.infos = append(snap.infos, ds.Info())
	}
	s.snap.Store(snap)
	return snap, nil
}

// build decodes a row. A row that does not decode still becomes a data
// source, one that answers 500, so that a wrong key file is reported on
// use instead of the request going out without credentials.
func (s *Sources) build(row store.DataSource) DataSource {
	info := Info{ID: row.ID, UID: row.UID, Name: row.Name, Type: "prometheus", URL: row.URL, Env: row.Env, Site: row.Site}
	set, err := s.codec.FromRow(row)
	if err == nil {
		var rm *Remote
		if rm, err = s.fwd.NewRemote(set); err == nil {
			return rm
		}
	}
	s.warnMu.Lock()
	first := !s.warned[row.ID]
	s.warned[row.ID] = true
	s.warnMu.Unlock()
	if first { // once per row, not once per reload
		s.logger.Error("data source unusable", "datasource", row.Name, "id", row.ID, "err", err)
	}
	return &broken{info: info, msg: fmt.Sprintf("data source %q cannot be used: its stored secrets do not decrypt with this server's secret key (check --secret-key-file)", row.Name)}
}

// broken is a data source whose settings cannot be used.
type broken struct {
	info Info
	msg  string
}

func (b *broken) Info() Info { return b.info }

// Query implements DataSource.
func (b *broken) Query(context.Context, *promapi.Request) (*http.Response, error) {
	return nil, &promapi.Error{Status: http.StatusInternalServerError, Type: promapi.ErrInternal, Msg: b.msg}
}
