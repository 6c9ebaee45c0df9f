package sqlite

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

const credentialCols = `id, key, token_hash, name, user_id, role, created_by, created_at,
	last_used_at, expires_at, revoked_at, scope, data_source_ids, selector`

func scanCredential(sc scanner) (store.Credential, error) {
	var (
		c                        store.Credential
		userID                   sql.NullInt64
		created                  int64
		lastUsed, expires, revok sql.NullInt64
		ids                      sql.NullString
	)
	if err := sc.Scan(&c.ID, &c.Key, &c.TokenHash, &c.Name, &userID, &c.Role, &c.CreatedBy, &created,
		&lastUsed, &expires, &revok, &c.Scope, &ids, &c.Selector); err != nil {
		return store.Credential{}, err
	}
	if userID.Valid {
		c.UserID = &userID.Int64
	}
	c.CreatedAt = time.UnixMicro(created).UTC()
	c.LastUsedAt = fromMicros(lastUsed)
	c.ExpiresAt = fromMicros(expires)
	c.RevokedAt = fromMicros(revok)
	var err error
	if c.DataSourceIDs, err = dbutil.DecodeIDs(stringPtr(ids)); err != nil {
		return store.Credential{}, err
	}
	return c, nil
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
	ids, err := dbutil.EncodeIDs(c.DataSourceIDs)
	if err != nil {
		return store.Credential{}, fmt.Errorf("create credential %q: %w", c.Key, err)
	}
	var userID any
	if c.UserID != nil {
		userID = *c.UserID
	}
	err = s.write(ctx, fmt.Sprintf("create credential %q", c.Key), func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO credentials(key, token_hash, name, user_id, role, created_by, created_at,
	last_used_at, expires_at, revoked_at, scope, data_source_ids, selector) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			c.Key, nonNilBytes(c.TokenHash), c.Name, userID, c.Role, c.CreatedBy, c.CreatedAt.UnixMicro(),
			micros(c.LastUsedAt), micros(c.ExpiresAt), micros(c.RevokedAt), c.Scope, nullString(ids), c.Selector)
		if err != nil {
			return err
		}
		c.ID, err = res.LastInsertId()
		return err
	})
	if err != nil {
		return store.Credential{}, err
	}
	return c, nil
}

// GetCredentialByKey returns the credential with the given public key,
// revoked or expired ones included: the caller decides.
func (s *Store) GetCredentialByKey(ctx context.Context, key string) (store.Credential, error) {
	c, err := scanCredential(s.r.QueryRowContext(ctx, `SELECT `+credentialCols+` FROM credentials WHERE key = ?`, key))
	if err != nil {
		return store.Credential{}, fmt.Errorf("get credential %q: %w", key, mapErr(err))
	}
	return c, nil
}

// GetCredential returns the credential with the given ID.
func (s *Store) GetCredential(ctx context.Context, id int64) (store.Credential, error) {
	c, err := scanCredential(s.r.QueryRowContext(ctx, `SELECT `+credentialCols+` FROM credentials WHERE id = ?`, id))
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
		conds = append(conds, `user_id = ?`)
		args = append(args, *f.UserID)
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
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list credentials: %w", err)
	}
	defer func() { _ = rows.Close() }()
	creds := []store.Credential{}
	for rows.Next() {
		c, err := scanCredential(rows)
		if err != nil {
			return nil, fmt.Errorf("list credentials: %w", err)
		}
		creds = append(creds, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list credentials: %w", err)
	}
	return creds, nil
}

// RevokeCredential marks a credential revoked at at and bumps the
// generation. Revoking twice keeps the first time; a zero at means now.
func (s *Store) RevokeCredential(ctx context.Context, id int64, at time.Time) error {
	return s.write(ctx, fmt.Sprintf("revoke credential %d", id), func(tx *sql.Tx) error {
		if err := execOne(ctx, tx, `UPDATE credentials SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?`,
			dbutil.NowIfZero(at).UnixMicro(), id); err != nil {
			return err
		}
		return bump(ctx, tx)
	})
}

// TouchCredential records a use of the credential. It never moves
// last_used_at backwards, so concurrent requests may touch in any order.
// It is a single statement outside a transaction: it is on the request path
// and takes nothing away.
func (s *Store) TouchCredential(ctx context.Context, id int64, at time.Time) error {
	v := dbutil.Micro(at).UnixMicro()
	res, err := s.w.ExecContext(ctx, `UPDATE credentials SET last_used_at = MAX(COALESCE(last_used_at, ?), ?) WHERE id = ?`, v, v, id)
	if err != nil {
		return fmt.Errorf("touch credential %d: %w", id, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("touch credential %d: %w", id, err)
	}
	if n == 0 {
		return fmt.Errorf("touch credential %d: %w", id, store.ErrNotFound)
	}
	return nil
}

// nonNilBytes keeps a NOT NULL BLOB column from receiving NULL for a nil
// slice.
func nonNilBytes(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}
