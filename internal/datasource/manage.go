package datasource

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/promgate/promgate/internal/audit"
	"github.com/promgate/promgate/internal/store"
)

// Manager changes remote data sources in the store, with audit events. The
// management API and the admin CLI both go through it.
type Manager struct {
	st       store.Store
	codec    *Codec
	fwd      *Forwarder
	onChange func() // e.g. Sources.Invalidate; nil: nothing
	logger   *slog.Logger
	auditLog *audit.Log
	now      func() time.Time
}

// ManagerOptions configures NewManager.
type ManagerOptions struct {
	Store     store.Store
	Codec     *Codec
	Forwarder *Forwarder // for Test; nil: a fresh one
	OnChange  func()
	Logger    *slog.Logger
	Now       func() time.Time
}

// NewManager returns a Manager.
func NewManager(o ManagerOptions) *Manager {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.OnChange == nil {
		o.OnChange = func() {}
	}
	if o.Forwarder == nil {
		o.Forwarder = NewForwarder(nil, o.Logger, "")
	}
	return &Manager{st: o.Store, codec: o.Codec, fwd: o.Forwarder, onChange: o.OnChange, logger: o.Logger, now: o.Now,
		auditLog: audit.New(o.Store, o.Logger, o.Now)}
}

// ErrEmbedded refuses changes to data source 1.
var ErrEmbedded = &ValidationError{Msg: "data source 1 is promgate's embedded store: it cannot be changed or removed"}

// Stored is a data source as the store has it, decoded. SecretsError is
// set when its secrets do not decrypt (they are then empty here).
type Stored struct {
	Settings
	SecretsError error
}

// Create validates s and stores it with a new uid unless one is given.
func (m *Manager) Create(ctx context.Context, actor audit.Actor, s Settings) (Settings, error) {
	s.ID = 0
	if err := s.Normalize(); err != nil {
		return Settings{}, err
	}
	if s.UID == "" {
		s.UID = NewUID()
	}
	row, err := m.codec.ToRow(s)
	if err != nil {
		return Settings{}, err
	}
	row.CreatedAt = m.now().UTC()
	created, err := m.st.CreateDataSource(ctx, row)
	if err != nil {
		return Settings{}, fmt.Errorf("create data source %q: %w", s.Name, err)
	}
	s.ID, s.CreatedAt = created.ID, created.CreatedAt
	m.onChange()
	m.audit(ctx, actor, "datasource.create", s, describeAuth(s))
	return s, nil
}

// Get returns a stored data source.
func (m *Manager) Get(ctx context.Context, id int64) (Stored, error) {
	if id == EmbeddedID {
		return Stored{}, ErrEmbedded
	}
	row, err := m.st.GetDataSource(ctx, id)
	if err != nil {
		return Stored{}, fmt.Errorf("get data source %d: %w", id, err)
	}
	set, err := m.codec.FromRow(row)
	return Stored{Settings: set, SecretsError: err}, nil
}

// GetByUID returns a stored data source by uid.
func (m *Manager) GetByUID(ctx context.Context, uid string) (Stored, error) {
	row, err := m.st.GetDataSourceByUID(ctx, uid)
	if err != nil {
		return Stored{}, fmt.Errorf("get data source %q: %w", uid, err)
	}
	set, err := m.codec.FromRow(row)
	return Stored{Settings: set, SecretsError: err}, nil
}

// List returns every stored remote data source.
func (m *Manager) List(ctx context.Context) ([]Stored, error) {
	rows, err := m.st.ListDataSources(ctx)
	if err != nil {
		return nil, fmt.Errorf("list data sources: %w", err)
	}
	out := make([]Stored, 0, len(rows))
	for _, row := range rows {
		set, err := m.codec.FromRow(row)
		out = append(out, Stored{Settings: set, SecretsError: err})
	}
	return out, nil
}

// Update replaces data source s.ID's settings (its uid and creation time
// stay) and re-seals the secrets for the new URL and user.
func (m *Manager) Update(ctx context.Context, actor audit.Actor, s Settings) (Settings, error) {
	if s.ID == EmbeddedID {
		return Settings{}, ErrEmbedded
	}
	old, err := m.Get(ctx, s.ID)
	if err != nil {
		return Settings{}, err
	}
	if s.UID != "" && s.UID != old.UID {
		return Settings{}, invalid("uid cannot be changed (dashboards and URLs refer to it)")
	}
	s.UID, s.CreatedAt = old.UID, old.CreatedAt
	if err := s.Normalize(); err != nil {
		return Settings{}, err
	}
	row, err := m.codec.ToRow(s)
	if err != nil {
		return Settings{}, err
	}
	if err := m.st.UpdateDataSource(ctx, row); err != nil {
		return Settings{}, fmt.Errorf("update data source %d: %w", s.ID, err)
	}
	m.onChange()
	detail := describeAuth(s)
	if old.URL != s.URL {
		detail += " url_changed_from=" + old.URL
	}
	if old.BasicAuthPassword != s.BasicAuthPassword || old.BearerToken != s.BearerToken {
		detail += " secrets_changed"
	}
	m.audit(ctx, actor, "datasource.update", s, detail)
	return s, nil
}

// Delete removes a data source.
func (m *Manager) Delete(ctx context.Context, actor audit.Actor, id int64) error {
	if id == EmbeddedID {
		return ErrEmbedded
	}
	row, err := m.st.GetDataSource(ctx, id)
	if err != nil {
		return fmt.Errorf("get data source %d: %w", id, err)
	}
	if err := m.st.DeleteDataSource(ctx, id); err != nil {
		return fmt.Errorf("delete data source %d: %w", id, err)
	}
	m.onChange()
	m.audit(ctx, actor, "datasource.delete", Settings{ID: row.ID, UID: row.UID, Name: row.Name, URL: row.URL}, "")
	return nil
}

// Test tries settings (saved or not) against their backend.
func (m *Manager) Test(ctx context.Context, s Settings) (TestResult, error) {
	if err := s.Normalize(); err != nil {
		return TestResult{}, err
	}
	rm, err := m.fwd.NewRemote(s)
	if err != nil {
		return TestResult{}, err
	}
	return rm.Test(ctx), nil
}

func (m *Manager) audit(ctx context.Context, actor audit.Actor, action string, s Settings, detail string) {
	d := strings.TrimSpace(fmt.Sprintf("name=%q url=%s %s", s.Name, s.URL, detail))
	m.auditLog.Write(ctx, actor, action, fmt.Sprintf("datasource:%d:%s", s.ID, s.UID), d)
}

// describeAuth names the kind of credentials, never their value.
func describeAuth(s Settings) string {
	switch {
	case s.BearerToken != "":
		return "auth=bearer"
	case s.BasicAuthUser != "":
		return "auth=basic user=" + s.BasicAuthUser
	}
	return "auth=none"
}

// IsNotFound reports whether err means no such data source.
func IsNotFound(err error) bool {
	return errors.Is(err, store.ErrNotFound) || errors.Is(err, ErrNotFound)
}
