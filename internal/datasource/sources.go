package datasource

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/promgate/promgate/internal/promapi"
	"github.com/promgate/promgate/internal/secrets"
	"github.com/promgate/promgate/internal/store"
)

// Sources implements Remotes over the store: every request looks its data
// source up in an in-memory snapshot of the decoded rows, reloaded when the
// store's generation moves (every data source change bumps it, so a change
// made by another process or replica applies once this server polls the
// generation, as for credentials) or after a change made through this
// server.
type Sources struct {
	st         store.Store
	codec      *Codec
	fwd        *Forwarder
	logger     *slog.Logger
	generation func() int64

	snap     atomic.Pointer[snapshot]
	reloadMu sync.Mutex
	warnMu   sync.Mutex
	warned   map[int64]bool // unusable rows already logged
}

type snapshot struct {
	gen   int64 // the generation seen before the rows were read
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
	// Generation is the store generation as last polled (the
	// Authenticator's); nil: changes made elsewhere are not noticed.
	Generation func() int64
}

// NewSources returns the store-backed Remotes.
func NewSources(o SourcesOptions) *Sources {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Generation == nil {
		o.Generation = func() int64 { return 0 }
	}
	if o.Forwarder == nil {
		o.Forwarder = NewForwarder(o.Logger, "")
	}
	return &Sources{st: o.Store, codec: o.Codec, fwd: o.Forwarder, logger: o.Logger, generation: o.Generation, warned: map[int64]bool{}}
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
	// Maybe created elsewhere since the last generation poll: ask once.
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
	gen := s.generation()
	if snap := s.snap.Load(); snap != nil && snap.gen == gen {
		return snap, nil
	}
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	if snap := s.snap.Load(); snap != nil && snap.gen == gen {
		return snap, nil // another request reloaded it meanwhile
	}
	rows, err := s.st.ListDataSources(ctx)
	if err != nil {
		return nil, fmt.Errorf("list data sources: %w", err)
	}
	snap := &snapshot{gen: gen, byID: make(map[int64]DataSource, len(rows)), byUID: make(map[string]DataSource, len(rows))}
	inUse := map[[sha256.Size]byte]bool{}
	for _, row := range rows {
		if row.ID == EmbeddedID {
			continue
		}
		ds := s.build(row)
		snap.byID[row.ID] = ds
		snap.byUID[row.UID] = ds
		snap.infos = append(snap.infos, ds.Info())
		if rm, ok := ds.(*Remote); ok {
			inUse[rm.rtKey] = true
		}
	}
	s.snap.Store(snap)
	// Settings that changed or went away leave their connections behind.
	s.fwd.retain(inUse)
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
			rm.info.Generation = rowGeneration(row)
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
	msg := fmt.Sprintf("data source %q cannot be used: its stored secrets do not decrypt with this server's secret key (check --secret-key-file)", row.Name)
	if !errors.Is(err, secrets.ErrDecrypt) {
		msg = fmt.Sprintf("data source %q cannot be used: its stored HTTP client settings do not work; save them again", row.Name)
	}
	return &broken{info: info, msg: msg}
}

// rowGeneration digests a stored row: any saved change gives a new value
// (sealed settings are sealed with a fresh nonce on every save), the same
// on every replica, and nothing of the secrets can be read back from it.
func rowGeneration(row store.DataSource) string {
	h := sha256.New()
	headers := make([]string, 0, len(row.Headers))
	for k, v := range row.Headers {
		headers = append(headers, k+"\x00"+v)
	}
	slices.Sort(headers)
	fmt.Fprintf(h, "%d\x00%s\x00%s\x00%s\x00%s\x00%d\x00%q\x00", row.ID, row.UID, row.URL, row.BasicAuthUser, row.Type, row.Timeout, headers)
	h.Write(row.Secrets)
	return hex.EncodeToString(h.Sum(nil)[:12])
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

// Write implements Writer: a data source whose settings cannot be used
// takes no writes either (500, which senders retry until it is fixed).
func (b *broken) Write(context.Context, *WriteRequest) (*WriteAnswer, error) {
	return nil, &promapi.Error{Status: http.StatusInternalServerError, Type: promapi.ErrInternal, Msg: b.msg}
}
