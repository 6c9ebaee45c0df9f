package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/promgate/promgate/internal/store"
	"github.com/promgate/promgate/internal/store/internal/dbutil"
)

const dataSourceCols = `id, uid, name, type, url, env, site, basic_auth_user, secrets, headers::text, timeout_ns, created_at`

func scanDataSource(row pgx.Row) (store.DataSource, error) {
	var (
		d       store.DataSource
		headers *string
		timeout int64
	)
	if err := row.Scan(&d.ID, &d.UID, &d.Name, &d.Type, &d.URL, &d.Env, &d.Site, &d.BasicAuthUser,
		&d.Secrets, &headers, &timeout, &d.CreatedAt); err != nil {
		return store.DataSource{}, err
	}
	var err error
	if d.Headers, err = dbutil.DecodeHeaders(headers); err != nil {
		return store.DataSource{}, err
	}
	d.Timeout = time.Duration(timeout)
	d.CreatedAt = d.CreatedAt.UTC()
	return d, nil
}

// headersArg encodes headers for the JSONB column; nil stays NULL.
func headersArg(h map[string]string) (any, error) {
	s, err := dbutil.EncodeHeaders(h)
	if err != nil || s == nil {
		return nil, err
	}
	return *s, nil
}

// CreateDataSource inserts d and returns it with its ID (2 or more: 1 is the
// embedded store) and creation time. An empty UID gets a random one, an
// empty Type "prometheus". A taken UID or name is store.ErrConflict.
func (s *Store) CreateDataSource(ctx context.Context, d store.DataSource) (store.DataSource, error) {
	if d.UID == "" {
		d.UID = dbutil.NewUID()
	}
	if d.Type == "" {
		d.Type = "prometheus"
	}
	d.CreatedAt = dbutil.NowIfZero(d.CreatedAt)
	headers, err := headersArg(d.Headers)
	if err != nil {
		return store.DataSource{}, fmt.Errorf("create data source %q: %w", d.Name, err)
	}
	err = s.write(ctx, fmt.Sprintf("create data source %q", d.Name), func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `INSERT INTO data_sources(uid, name, type, url, env, site, basic_auth_user, secrets, headers, timeout_ns, created_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, $10, $11) RETURNING id`,
			d.UID, d.Name, d.Type, d.URL, d.Env, d.Site, d.BasicAuthUser, d.Secrets, headers, int64(d.Timeout), d.CreatedAt).Scan(&d.ID); err != nil {
			return err
		}
		return bump(ctx, tx) // data source caches follow the generation
	})
	if err != nil {
		return store.DataSource{}, err
	}
	return d, nil
}

// UpdateDataSource replaces every field of data source d.ID but its ID and
// creation time (an empty UID or Type keeps the stored one) and bumps the
// generation: a new URL or secret changes what a credential reaches.
func (s *Store) UpdateDataSource(ctx context.Context, d store.DataSource) error {
	headers, err := headersArg(d.Headers)
	if err != nil {
		return fmt.Errorf("update data source %d: %w", d.ID, err)
	}
	return s.write(ctx, fmt.Sprintf("update data source %d", d.ID), func(tx pgx.Tx) error {
		if err := execOne(ctx, tx, `UPDATE data_sources SET uid = COALESCE(NULLIF($1, ''), uid), name = $2, type = COALESCE(NULLIF($3, ''), type),
	url = $4, env = $5, site = $6, basic_auth_user = $7, secrets = $8, headers = $9::jsonb, timeout_ns = $10 WHERE id = $11`,
			d.UID, d.Name, d.Type, d.URL, d.Env, d.Site, d.BasicAuthUser, d.Secrets, headers, int64(d.Timeout), d.ID); err != nil {
			return err
		}
		return bump(ctx, tx)
	})
}

// GetDataSource returns the stored data source with the given ID.
func (s *Store) GetDataSource(ctx context.Context, id int64) (store.DataSource, error) {
	d, err := scanDataSource(s.pool.QueryRow(ctx, `SELECT `+dataSourceCols+` FROM data_sources WHERE id = $1`, id))
	if err != nil {
		return store.DataSource{}, fmt.Errorf("get data source %d: %w", id, mapErr(err))
	}
	return d, nil
}

// GetDataSourceByUID returns the stored data source with the given UID.
func (s *Store) GetDataSourceByUID(ctx context.Context, uid string) (store.DataSource, error) {
	d, err := scanDataSource(s.pool.QueryRow(ctx, `SELECT `+dataSourceCols+` FROM data_sources WHERE uid = $1`, uid))
	if err != nil {
		return store.DataSource{}, fmt.Errorf("get data source %q: %w", uid, mapErr(err))
	}
	return d, nil
}

// ListDataSources returns the stored data sources by ID.
func (s *Store) ListDataSources(ctx context.Context) ([]store.DataSource, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+dataSourceCols+` FROM data_sources ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("list data sources: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.DataSource, error) { return scanDataSource(r) })
	if err != nil {
		return nil, fmt.Errorf("list data sources: %w", err)
	}
	return nonNil(out), nil
}

// DeleteDataSource removes a data source and bumps the generation. Its ID
// is never reused, so credentials that listed it simply lose it.
func (s *Store) DeleteDataSource(ctx context.Context, id int64) error {
	return s.write(ctx, fmt.Sprintf("delete data source %d", id), func(tx pgx.Tx) error {
		if err := execOne(ctx, tx, `DELETE FROM data_sources WHERE id = $1`, id); err != nil {
			return err
		}
		return bump(ctx, tx)
	})
}
