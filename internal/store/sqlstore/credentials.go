package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/promgate/promgate/internal/store"
	"github.com/promgate/promgate/internal/store/internal/dbutil"
)

// scanCredential reads a row of credentialCols.
func (s *Store) scanCredential(sc scanner) (store.Credential, error) {
	var (
		c      store.Credential
		userID sql.NullInt64
		ids    sql.NullString
	)
	if err := sc.Scan(&c.ID, &c.Key, &c.TokenHash, &c.Name, &userID, &c.Role, &c.CreatedBy, timeCol{&c.CreatedAt},
		nullTimeCol{&c.LastUsedAt}, nullTimeCol{&c.ExpiresAt}, nullTimeCol{&c.RevokedAt}, &c.Scope, &ids, &c.Selector); err != nil {
		return store.Credential{}, err
	}
	if userID.Valid {
		c.UserID = &userID.Int64
	}
	var err error
	if c.DataSourceIDs, err = s.d.decodeIDs(stringPtr(ids)); err != nil {
		return store.Credential{}, err
	}
	return c, nil
}

// nullTime binds an optional time.
func (s *Store) nullTime(t *time.Time) any {
	if t == nil {
		return nil
	}
	return s.d.timeArg(*t)
}

// CreateCredential inserts c and returns it with its ID and creation time.
// A user credential whose user does not exist is store.ErrNotFound; a taken
// key is store.ErrConflict.
func (s *Store) CreateCredential(ctx context.Context, c store.Credential) (store.Credential, error) {
	if c.Key == "" {
		return store.Credential{}, errors.New("create credential: empty key")
	}
	c.CreatedAt = dbutil.NowIfZero(c.CreatedAt)
	c.LastUsedAt = dbutil.MicroPtr(c.LastUsedAt)
	c.ExpiresAt = dbutil.MicroPtr(c.ExpiresAt)
	c.RevokedAt = dbutil.MicroPtr(c.RevokedAt)
	ids, err := s.d.idsArg(c.DataSourceIDs)
	if err != nil {
		return store.Credential{}, fmt.Errorf("create credential %q: %w", c.Key, err)
	}
	var userID any
	if c.UserID != nil {
		userID = *c.UserID
	}
	tokenHash := c.TokenHash
	if tokenHash == nil {
		tokenHash = []byte{} // NOT NULL column
	}
	err = s.write(ctx, fmt.Sprintf("create credential %q", c.Key), func(tx *sql.Tx) error {
		return tx.QueryRowContext(ctx, s.q.insertCredential,
			c.Key, tokenHash, c.Name, userID, c.Role, c.CreatedBy, s.d.timeArg(c.CreatedAt),
			s.nullTime(c.LastUsedAt), s.nullTime(c.ExpiresAt), s.nullTime(c.RevokedAt), c.Scope, ids, c.Selector).Scan(&c.ID)
	})
	if err != nil {
		return store.Credential{}, err
	}
	return c, nil
}

// GetCredentialByKey returns the credential with the given public key,
// revoked or expired ones included: the caller decides.
func (s *Store) GetCredentialByKey(ctx context.Context, key string) (store.Credential, error) {
	c, err := s.scanCredential(s.readRow(ctx, s.hot.credentialByKey, s.q.credentialByKey, key))
	if err != nil {
		return store.Credential{}, fmt.Errorf("get credential %q: %w", key, s.mapErr(err))
	}
	return c, nil
}

// GetCredential returns the credential with the given ID.
func (s *Store) GetCredential(ctx context.Context, id int64) (store.Credential, error) {
	c, err := s.scanCredential(s.r.QueryRowContext(ctx, s.q.credentialByID, id))
	if err != nil {
		return store.Credential{}, fmt.Errorf("get credential %d: %w", id, s.mapErr(err))
	}
	return c, nil
}

// ListCredentials returns the credentials matching every condition of f,
// oldest first.
func (s *Store) ListCredentials(ctx context.Context, f store.CredentialFilter) ([]store.Credential, error) {
	var (
		conds []string
		args  []any
	)
	if f.UserID != nil {
		conds = append(conds, `user_id = ?`)
		args = append(args, *f.UserID)
	}
	if f.Global {
		conds = append(conds, `user_id IS NULL`)
	}
	if !f.IncludeRevoked {
		conds = append(conds, `revoked_at IS NULL`)
	}
	q := s.q.listCredentials
	if len(conds) > 0 {
		q += ` WHERE ` + s.d.rebind(strings.Join(conds, ` AND `))
	}
	q += ` ORDER BY id`
	return collect(ctx, s.r, "list credentials", s.scanCredential, q, args...)
}

// RevokeCredential marks a credential revoked at at and bumps the
// generation. Revoking twice keeps the first time; a zero at means now.
func (s *Store) RevokeCredential(ctx context.Context, id int64, at time.Time) error {
	return s.write(ctx, fmt.Sprintf("revoke credential %d", id), func(tx *sql.Tx) error {
		if err := execOne(ctx, tx, s.q.revokeCredential, s.d.timeArg(dbutil.NowIfZero(at)), id); err != nil {
			return err
		}
		return s.bump(ctx, tx)
	})
}

// TouchCredential records a use of the credential. It never moves
// last_used_at backwards, so concurrent requests may touch in any order.
// It is a single statement outside a transaction: it is on the request path
// and takes nothing away.
func (s *Store) TouchCredential(ctx context.Context, id int64, at time.Time) error {
	v := s.d.timeArg(dbutil.Micro(at))
	if err := execOne(ctx, s.w, s.q.touchCredential, v, v, id); err != nil {
		return fmt.Errorf("touch credential %d: %w", id, err)
	}
	return nil
}
