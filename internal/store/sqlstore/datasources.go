package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/promgate/promgate/internal/store"
	"github.com/promgate/promgate/internal/store/internal/dbutil"
)

func scanDataSource(sc scanner) (store.DataSource, error) {
	var (
		d       store.DataSource
		headers sql.NullString
		timeout int64
	)
	if err := sc.Scan(&d.ID, &d.UID, &d.Name, &d.Type, &d.URL, &d.Env, &d.Site, &d.BasicAuthUser,
		&d.Secrets, &headers, &timeout, timeCol{&d.CreatedAt}); err != nil {
		return store.DataSource{}, err
	}
	var err error
	if d.Headers, err = dbutil.DecodeHeaders(stringPtr(headers)); err != nil {
		return store.DataSource{}, err
	}
	d.Timeout = time.Duration(timeout)
	return d, nil
}

// CreateDataSource inserts d and returns it with its ID (2 or more: 1 is the
// embedded store) and creation time. An empty UID gets a random one, an
// empty Type "prometheus". A taken UID or name is store.ErrConflict. It
// bumps the generation, which other processes' data source lists follow.
func (s *Store) CreateDataSource(ctx context.Context, d store.DataSource) (store.DataSource, error) {
	if d.UID == "" {
		d.UID = dbutil.NewUID()
	}
	if d.Type == "" {
		d.Type = "prometheus"
	}
	d.CreatedAt = dbutil.NowIfZero(d.CreatedAt)
	headers, err := dbutil.EncodeHeaders(d.Headers)
	if err != nil {
		return store.DataSource{}, fmt.Errorf("create data source %q: %w", d.Name, err)
	}
	err = s.write(ctx, fmt.Sprintf("create data source %q", d.Name), func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, s.q.insertDataSource,
			d.UID, d.Name, d.Type, d.URL, d.Env, d.Site, d.BasicAuthUser, d.Secrets, nullString(headers), int64(d.Timeout),
			s.d.timeArg(d.CreatedAt)).Scan(&d.ID); err != nil {
			return err
		}
		return s.bump(ctx, tx) // data source caches follow the generation
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
	headers, err := dbutil.EncodeHeaders(d.Headers)
	if err != nil {
		return fmt.Errorf("update data source %d: %w", d.ID, err)
	}
	return s.write(ctx, fmt.Sprintf("update data source %d", d.ID), func(tx *sql.Tx) error {
		if err := execOne(ctx, tx, s.q.updateDataSource,
			d.UID, d.Name, d.Type, d.URL, d.Env, d.Site, d.BasicAuthUser, d.Secrets, nullString(headers), int64(d.Timeout), d.ID); err != nil {
			return err
		}
		return s.bump(ctx, tx)
	})
}

// GetDataSource returns the stored data source with the given ID.
func (s *Store) GetDataSource(ctx context.Context, id int64) (store.DataSource, error) {
	d, err := scanDataSource(s.r.QueryRowContext(ctx, s.q.dataSourceByID, id))
	if err != nil {
		return store.DataSource{}, fmt.Errorf("get data source %d: %w", id, s.mapErr(err))
	}
	return d, nil
}

// GetDataSourceByUID returns the stored data source with the given UID.
func (s *Store) GetDataSourceByUID(ctx context.Context, uid string) (store.DataSource, error) {
	d, err := scanDataSource(s.r.QueryRowContext(ctx, s.q.dataSourceByUID, uid))
	if err != nil {
		return store.DataSource{}, fmt.Errorf("get data source %q: %w", uid, s.mapErr(err))
	}
	return d, nil
}

// ListDataSources returns the stored data sources by ID.
func (s *Store) ListDataSources(ctx context.Context) ([]store.DataSource, error) {
	return collect(ctx, s.r, "list data sources", scanDataSource, s.q.listDataSources)
}

// DeleteDataSource removes a data source and bumps the generation. Its ID
// is never reused, so credentials that listed it simply lose it.
func (s *Store) DeleteDataSource(ctx context.Context, id int64) error {
	return s.write(ctx, fmt.Sprintf("delete data source %d", id), func(tx *sql.Tx) error {
		if err := execOne(ctx, tx, s.q.deleteDataSource, id); err != nil {
			return err
		}
		return s.bump(ctx, tx)
	})
}
