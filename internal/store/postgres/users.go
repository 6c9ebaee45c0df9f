package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/promgate/promgate/internal/store"
	"github.com/promgate/promgate/internal/store/internal/dbutil"
)

const userCols = `id, login, password_hash, role, disabled, created_at, provider, subject`

func scanUser(row pgx.Row) (store.User, error) {
	var u store.User
	if err := row.Scan(&u.ID, &u.Login, &u.PasswordHash, &u.Role, &u.Disabled, &u.CreatedAt, &u.Provider, &u.Subject); err != nil {
		return store.User{}, err
	}
	u.CreatedAt = u.CreatedAt.UTC()
	return u, nil
}

// CreateUser inserts u and returns it with its ID and creation time. A login
// differing from an existing one only in case is a conflict.
func (s *Store) CreateUser(ctx context.Context, u store.User) (store.User, error) {
	if u.Login == "" {
		return store.User{}, errors.New("create user: empty login")
	}
	u.CreatedAt = dbutil.NowIfZero(u.CreatedAt)
	err := s.write(ctx, fmt.Sprintf("create user %q", u.Login), func(tx pgx.Tx) error {
		return tx.QueryRow(ctx,
			`INSERT INTO users(login, login_key, password_hash, role, disabled, created_at, provider, subject) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id`,
			u.Login, dbutil.LoginKey(u.Login), u.PasswordHash, u.Role, u.Disabled, u.CreatedAt, u.Provider, u.Subject).Scan(&u.ID)
	})
	if err != nil {
		return store.User{}, err
	}
	return u, nil
}

// GetUser returns the user with the given ID.
func (s *Store) GetUser(ctx context.Context, id int64) (store.User, error) {
	u, err := scanUser(s.pool.QueryRow(ctx, `SELECT `+userCols+` FROM users WHERE id = $1`, id))
	if err != nil {
		return store.User{}, fmt.Errorf("get user %d: %w", id, mapErr(err))
	}
	return u, nil
}

// GetUserByLogin finds a user by login, ignoring case.
func (s *Store) GetUserByLogin(ctx context.Context, login string) (store.User, error) {
	u, err := scanUser(s.pool.QueryRow(ctx, `SELECT `+userCols+` FROM users WHERE login_key = $1`, dbutil.LoginKey(login)))
	if err != nil {
		return store.User{}, fmt.Errorf("get user %q: %w", login, mapErr(err))
	}
	return u, nil
}

// GetUserBySubject finds the user a provider's subject signed in as.
func (s *Store) GetUserBySubject(ctx context.Context, provider, subject string) (store.User, error) {
	if provider == "" {
		return store.User{}, fmt.Errorf("get user by subject: %w", store.ErrNotFound)
	}
	u, err := scanUser(s.pool.QueryRow(ctx, `SELECT `+userCols+` FROM users WHERE provider = $1 AND subject = $2`, provider, subject))
	if err != nil {
		return store.User{}, fmt.Errorf("get user of %s subject %q: %w", provider, subject, mapErr(err))
	}
	return u, nil
}

// ListUsers returns every user, oldest first.
func (s *Store) ListUsers(ctx context.Context) ([]store.User, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+userCols+` FROM users ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	users, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.User, error) { return scanUser(r) })
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	return nonNil(users), nil
}

// CountUsers returns the number of users.
func (s *Store) CountUsers(ctx context.Context) (int, error) {
	var n int
	if err := s.pool.QueryRow(ctx, `SELECT COUNT(*) FROM users`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count users: %w", err)
	}
	return n, nil
}

// SetUserRole changes a user's role and bumps the generation.
func (s *Store) SetUserRole(ctx context.Context, id int64, role string) error {
	return s.write(ctx, fmt.Sprintf("set role of user %d", id), func(tx pgx.Tx) error {
		if err := execOne(ctx, tx, `UPDATE users SET role = $1 WHERE id = $2`, role, id); err != nil {
			return err
		}
		return bump(ctx, tx)
	})
}

// SetUserDisabled disables or enables a user, deletes the user's sessions
// and bumps the generation, in one transaction (see lockUserSessions).
func (s *Store) SetUserDisabled(ctx context.Context, id int64, disabled bool) error {
	return s.write(ctx, fmt.Sprintf("set disabled of user %d", id), func(tx pgx.Tx) error {
		if err := lockUserSessions(ctx, tx, id); err != nil {
			return err
		}
		if err := execOne(ctx, tx, `UPDATE users SET disabled = $1 WHERE id = $2`, disabled, id); err != nil {
			return err
		}
		if err := deleteUserSessions(ctx, tx, id); err != nil {
			return err
		}
		return bump(ctx, tx)
	})
}

// SetUserPassword replaces a user's password hash, deletes the user's
// sessions and bumps the generation (a password change may be how an owner
// locks someone out), in one transaction (see lockUserSessions).
func (s *Store) SetUserPassword(ctx context.Context, id int64, passwordHash string) error {
	return s.write(ctx, fmt.Sprintf("set password of user %d", id), func(tx pgx.Tx) error {
		if err := lockUserSessions(ctx, tx, id); err != nil {
			return err
		}
		if err := execOne(ctx, tx, `UPDATE users SET password_hash = $1 WHERE id = $2`, passwordHash, id); err != nil {
			return err
		}
		if err := deleteUserSessions(ctx, tx, id); err != nil {
			return err
		}
		return bump(ctx, tx)
	})
}

// lockUserSessions locks the user's row FOR UPDATE until tx ends (no such
// user: pgx.ErrNoRows, which write maps to store.ErrNotFound). Inserting a
// session takes FOR KEY SHARE on the same row (the foreign key check), which
// conflicts with FOR UPDATE but not with the FOR NO KEY UPDATE a plain
// UPDATE takes. So a
// concurrent CreateSession either commits first, and the DELETE that
// follows here (a new statement, with a new snapshot under READ COMMITTED)
// sees its row, or waits for this transaction and commits after it, when a
// re-read of the user shows the change. Without the lock, a session
// inserted while this transaction runs could outlive it.
func lockUserSessions(ctx context.Context, tx pgx.Tx, id int64) error {
	var one int
	if err := tx.QueryRow(ctx, `SELECT 1 FROM users WHERE id = $1 FOR UPDATE`, id).Scan(&one); err != nil {
		return fmt.Errorf("lock user: %w", err)
	}
	return nil
}

// DeleteUser removes a user with their sessions and credentials and bumps
// the generation.
func (s *Store) DeleteUser(ctx context.Context, id int64) error {
	return s.write(ctx, fmt.Sprintf("delete user %d", id), func(tx pgx.Tx) error {
		// The foreign keys cascade too; deleting explicitly keeps the
		// promise should a constraint ever be altered by hand.
		if err := deleteUserSessions(ctx, tx, id); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM credentials WHERE user_id = $1`, id); err != nil {
			return err
		}
		if err := execOne(ctx, tx, `DELETE FROM users WHERE id = $1`, id); err != nil {
			return err
		}
		return bump(ctx, tx)
	})
}

// nonNil makes an empty result an empty slice, which JSON-encodes as []
// rather than null, as the SQLite store's lists do.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
