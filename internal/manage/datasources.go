package manage

import (
	"context"
	"fmt"
	"strings"

	"github.com/promgate/promgate/internal/audit"
	"github.com/promgate/promgate/internal/datasource"
	"github.com/promgate/promgate/internal/promapi"
)

// ErrEmbedded refuses changes to data source 1.
var ErrEmbedded = promapi.BadData("data source 1 is promgate's embedded store: it cannot be changed or removed")

// StoredDataSource is a remote data source as the store has it, decoded.
// SecretsError is set when its secrets do not decrypt (they are then empty
// here).
type StoredDataSource struct {
	datasource.Settings
	SecretsError error
}

// CreateDataSource validates s and stores it with a new uid unless one is given.
func (m *Manager) CreateDataSource(ctx context.Context, actor audit.Actor, s datasource.Settings) (datasource.Settings, error) {
	cdc, err := m.dataSourceCodec()
	if err != nil {
		return datasource.Settings{}, err
	}
	s.ID = 0
	if err := s.Normalize(); err != nil {
		return datasource.Settings{}, err
	}
	if s.UID == "" {
		s.UID = datasource.NewUID()
	}
	row, err := cdc.ToRow(s)
	if err != nil {
		return datasource.Settings{}, err
	}
	row.CreatedAt = m.now().UTC()
	created, err := m.st.CreateDataSource(ctx, row)
	if err != nil {
		return datasource.Settings{}, fmt.Errorf("create data source %q: %w", s.Name, err)
	}
	s.ID, s.CreatedAt = created.ID, created.CreatedAt
	m.dataSourcesChanged()
	m.auditDataSource(ctx, actor, "datasource.create", s, describeAuth(s))
	return s, nil
}

// DataSource returns a stored data source.
func (m *Manager) DataSource(ctx context.Context, id int64) (StoredDataSource, error) {
	if id == datasource.EmbeddedID {
		return StoredDataSource{}, ErrEmbedded
	}
	cdc, err := m.dataSourceCodec()
	if err != nil {
		return StoredDataSource{}, err
	}
	row, err := m.st.GetDataSource(ctx, id)
	if err != nil {
		return StoredDataSource{}, fmt.Errorf("get data source %d: %w", id, err)
	}
	set, err := cdc.FromRow(row)
	return StoredDataSource{Settings: set, SecretsError: err}, nil
}

// DataSourceByUID returns a stored data source by uid.
func (m *Manager) DataSourceByUID(ctx context.Context, uid string) (StoredDataSource, error) {
	cdc, err := m.dataSourceCodec()
	if err != nil {
		return StoredDataSource{}, err
	}
	row, err := m.st.GetDataSourceByUID(ctx, uid)
	if err != nil {
		return StoredDataSource{}, fmt.Errorf("get data source %q: %w", uid, err)
	}
	set, err := cdc.FromRow(row)
	return StoredDataSource{Settings: set, SecretsError: err}, nil
}

// DataSources returns every stored remote data source.
func (m *Manager) DataSources(ctx context.Context) ([]StoredDataSource, error) {
	cdc, err := m.dataSourceCodec()
	if err != nil {
		return nil, err
	}
	rows, err := m.st.ListDataSources(ctx)
	if err != nil {
		return nil, fmt.Errorf("list data sources: %w", err)
	}
	out := make([]StoredDataSource, 0, len(rows))
	for _, row := range rows {
		set, err := cdc.FromRow(row)
		out = append(out, StoredDataSource{Settings: set, SecretsError: err})
	}
	return out, nil
}

// UpdateDataSource replaces data source s.ID's settings (its uid and creation time
// stay) and re-seals the secrets for the new URL and user.
func (m *Manager) UpdateDataSource(ctx context.Context, actor audit.Actor, s datasource.Settings) (datasource.Settings, error) {
	if s.ID == datasource.EmbeddedID {
		return datasource.Settings{}, ErrEmbedded
	}
	old, err := m.DataSource(ctx, s.ID)
	if err != nil {
		return datasource.Settings{}, err
	}
	if s.UID != "" && s.UID != old.UID {
		return datasource.Settings{}, promapi.BadData("uid cannot be changed (dashboards and URLs refer to it)")
	}
	s.UID, s.CreatedAt = old.UID, old.CreatedAt
	if err := s.Normalize(); err != nil {
		return datasource.Settings{}, err
	}
	cdc, err := m.dataSourceCodec()
	if err != nil {
		return datasource.Settings{}, err
	}
	row, err := cdc.ToRow(s)
	if err != nil {
		return datasource.Settings{}, err
	}
	if err := m.st.UpdateDataSource(ctx, row); err != nil {
		return datasource.Settings{}, fmt.Errorf("update data source %d: %w", s.ID, err)
	}
	m.dataSourcesChanged()
	detail := describeAuth(s)
	if old.URL != s.URL {
		detail += " url_changed_from=" + old.URL
	}
	if old.WriteURL != s.WriteURL {
		detail += " write_url_changed_from=" + old.WriteURL
	}
	if old.BasicAuthPassword() != s.BasicAuthPassword() || old.BearerToken() != s.BearerToken() ||
		old.OAuth2ClientSecret() != s.OAuth2ClientSecret() || old.HTTP.TLSConfig.Key != s.HTTP.TLSConfig.Key {
		detail += " secrets_changed"
	}
	m.auditDataSource(ctx, actor, "datasource.update", s, detail)
	return s, nil
}

// DeleteDataSource removes a data source.
func (m *Manager) DeleteDataSource(ctx context.Context, actor audit.Actor, id int64) error {
	if id == datasource.EmbeddedID {
		return ErrEmbedded
	}
	row, err := m.st.GetDataSource(ctx, id)
	if err != nil {
		return fmt.Errorf("get data source %d: %w", id, err)
	}
	if err := m.st.DeleteDataSource(ctx, id); err != nil {
		return fmt.Errorf("delete data source %d: %w", id, err)
	}
	m.dataSourcesChanged()
	m.auditDataSource(ctx, actor, "datasource.delete", datasource.Settings{ID: row.ID, UID: row.UID, Name: row.Name, URL: row.URL}, "")
	return nil
}

// TestDataSource tries settings (saved or not) against their backend.
func (m *Manager) TestDataSource(ctx context.Context, s datasource.Settings) (datasource.TestResult, error) {
	if err := s.Normalize(); err != nil {
		return datasource.TestResult{}, err
	}
	return m.forwarder().Test(ctx, s)
}

func (m *Manager) auditDataSource(ctx context.Context, actor audit.Actor, action string, s datasource.Settings, detail string) {
	d := strings.TrimSpace(fmt.Sprintf("name=%q url=%s %s", s.Name, s.URL, detail))
	m.audit.Write(ctx, actor, action, fmt.Sprintf("datasource:%d:%s", s.ID, s.UID), d)
}

// describeAuth names the kind of credentials, never their value.
func describeAuth(s datasource.Settings) string {
	d := "auth=" + s.AuthKind()
	if s.WriteURL != "" {
		d += " write_url=" + s.WriteURL
	}
	if s.HTTP.BasicAuth != nil {
		d += " user=" + s.BasicAuthUser()
	}
	if s.HTTP.TLSConfig.Cert != "" {
		d += " tls_client_cert"
	}
	return d
}
