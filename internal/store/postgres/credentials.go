package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/promgate/promgate/internal/store"
	"github.com/promgate/promgate/internal/store/internal/dbutil"
)

const credentialCols = `id, key, token_hash, name, user_id, role, created_by, created_at,
	last_used_at, expires_at, revoked_at, scope, data_source_ids, selector`

func scanCredential(row pgx.Row) (store.Credential, error) {
	var c store.Credential
	if err := row.Scan(&c.ID, &c.Key, &c.TokenHash, &c.Name, &c.UserID, &c.Role, &c.CreatedBy, &c.CreatedAt,
		&c.LastUsedAt, &c.ExpiresAt, &c.RevokedAt, &c.Scope, &c.DataSourceIDs, &c.Selector); err != nil {
		return store.Credential{}, err
	}
	c.CreatedAt = c.CreatedAt.UTC()
	c.LastUsedAt, c.ExpiresAt, c.RevokedAt = utc(c.LastUsedAt), utc(c.ExpiresAt), utc(c.RevokedAt)
	return c, nil
}

// idsArg passes a DataSourceIDs list so that nil (no restriction) becomes
// NULL and an empty list '{}': the two mean every data source and none.
func idsArg(ids []int64) any {
	if ids == nil {
		return nil
	}
	return ids
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
	tokenHash := c.TokenHash
	if tokenHash == nil {
		tokenHash = []byte{} // NOT NULL column
	}
	err := s.write(ctx, fmt.Sprintf("create credential %q", c.Key), func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `INSERT INTO credentials(key, token_hash, name, user_id, role, created_by, created_at,
	last_used_at, expires_at, revoked_at, scope, data_source_ids, selector)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING id`,
			c.Key, tokenHash, c.Name, c.UserID, c.Role, c.CreatedBy, c.CreatedAt,
			c.LastUsedAt, c.ExpiresAt, c.RevokedAt, c.Scope, idsArg(c.DataSourceIDs), c.Selector).Scan(&c.ID)
	})
	if err != nil {
		return store.Credential{}, err
	}
	return c, nil
}

// GetCredentialByKey returns the credential with the given public key,
// revoked or expired ones included: the caller decides.
func (s *Store) GetCredentialByKey(ctx context.Context, key string) (store.Credential, error) {
	c, err := scanCredential(s.pool.QueryRow(ctx, `SELECT `+credentialCols+` FROM credentials WHERE key = $1`, key))
	if err != nil {
		return store.Credential{}, fmt.Errorf("get credential %q: %w", key, mapErr(err))
	}
	return c, nil
}

// GetCredential returns the credential with the given ID.
func (s *Store) GetCredential(ctx context.Context, id int64) (store.Credential, error) {
	c, err := scanCredential(s.pool.QueryRow(ctx, `SELECT `+credentialCols+` FROM credentials WHERE id = $1`, id))
	if err != nil {
		return store.Credential{}, fmt.Errorf("get credential %d: %w", id, mapErr(err))
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
		args = append(args, *f.UserID)
		conds = append(conds, fmt.Sprintf(`user_id = $%d`, len(args)))
	}
	if f.Global {
		conds = append(conds, `user_id IS NULL`)
	}
	if !f.IncludeRevoked {
		conds = append(conds, `revoked_at IS NULL`)
	}
	q := `SELECT ` + credentialCols + ` FROM credentials`
	if len(conds) > 0 {
		q += ` WHERE ` + strings.Join(conds, ` AND `)
	}
	q += ` ORDER BY id`
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list credentials: %w", err)
	}
	creds, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Credential, error) { return scanCredential(r) })
	if err != nil {
		return nil, fmt.Errorf("list credentials: %w", err)
	}
	return nonNil(creds), nil
}

// RevokeCredential marks a credential revoked at at and bumps the
// generation. Revoking twice keeps the first time; a zero at means now.
func (s *Store) RevokeCredential(ctx context.Context, id int64, at time.Time) error {
	return s.write(ctx, fmt.Sprintf("revoke credential %d", id), func(tx pgx.Tx) error {
		if err := execOne(ctx, tx, `UPDATE credentials SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2`,
			dbutil.NowIfZero(at), id); err != nil {
			return err
		}
		return bump(ctx, tx)
	})
}

// TouchCredential records a use of the credential. It never moves
// last_used_at backwards (GREATEST ignores NULL), so concurrent requests may
// touch in any order. It is a single statement outside an explicit
// transaction: it is on the request path and takes nothing away.
func (s *Store) TouchCredential(ctx context.Context, id int64, at time.Time) error {
	if err := execOne(ctx, s.pool, `UPDATE credentials SET last_used_at = GREATEST(last_used_at, $1) WHERE id = $2`,
		dbutil.Micro(at), id); err != nil {
		return fmt.Errorf("touch credential %d: %w", id, err)
	}
	return nil
}
