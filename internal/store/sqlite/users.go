package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/promgate/promgate/internal/store"
	"github.com/promgate/promgate/internal/store/internal/dbutil"
)

const userCols = `id, login, password_hash, role, disabled, created_at, provider, subject`

func scanUser(sc scanner) (store.User, error) {
	var (
		u        store.User
		disabled int64
		created  int64
	)
	if err := sc.Scan(&u.ID, &u.Login, &u.PasswordHash, &u.Role, &disabled, &created, &u.Provider, &u.Subject); err != nil {
		return store.User{}, err
	}
	u.Disabled = disabled != 0
	u.CreatedAt = time.UnixMicro(created).UTC()
	return u, nil
}

// CreateUser inserts u and returns it with its ID and creation time. A login
// differing from an existing one only in case is a conflict.
func (s *Store) CreateUser(ctx context.Context, u store.User) (store.User, error) {
	if u.Login == "" {
		return store.User{}, errors.New("create user: empty login")
	}
	u.CreatedAt = dbutil.NowIfZero(u.CreatedAt)
	err := s.write(ctx, fmt.Sprintf("create user %q", u.Login), func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx,
			`INSERT INTO users(login, login_key, password_hash, role, disabled, created_at, provider, subject) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			u.Login, dbutil.LoginKey(u.Login), u.PasswordHash, u.Role, boolInt(u.Disabled), u.CreatedAt.UnixMicro(), u.Provider, u.Subject)
		if err != nil {
			return err
		}
		u.ID, err = res.LastInsertId()
		return err
	})
	if err != nil {
		return store.User{}, err
	}
	return u, nil
}

// GetUser returns the user with the given ID.
func (s *Store) GetUser(ctx context.Context, id int64) (store.User, error) {
	u, err := scanUser(s.r.QueryRowContext(ctx, `SELECT `+userCols+` FROM users WHERE id = ?`, id))
	if err != nil {
		return store.User{}, fmt.Errorf("get user %d: %w", id, mapErr(err))
	}
	return u, nil
}

// GetUserByLogin finds a user by login, ignoring case.
func (s *Store) GetUserByLogin(ctx context.Context, login string) (store.User, error) {
	u, err := scanUser(s.r.QueryRowContext(ctx, `SELECT `+userCols+` FROM users WHERE login_key = ?`, dbutil.LoginKey(login)))
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
	u, err := scanUser(s.r.QueryRowContext(ctx, `SELECT `+userCols+` FROM users WHERE provider = ? AND subject = ?`, provider, subject))
	if err != nil {
		return store.User{}, fmt.Errorf("get user of %s subject %q: %w", provider, subject, mapErr(err))
	}
	return u, nil
}

// ListUsers returns every user, oldest first.
func (s *Store) ListUsers(ctx context.Context) ([]store.User, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+userCols+` FROM users ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	defer func() { _ = rows.Close() }()
	users := []store.User{}
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, fmt.Errorf("list users: %w", err)
		}
		users = append(users, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	return users, nil
}

// CountUsers returns the number of users.
func (s *Store) CountUsers(ctx context.Context) (int, error) {
	var n int
	if err := s.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM users`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count users: %w", err)
	}
	return n, nil
}

// SetUserRole changes a user's role and bumps the generation.
func (s *Store) SetUserRole(ctx context.Context, id int64, role string) error {
	return s.write(ctx, fmt.Sprintf("set role of user %d", id), func(tx *sql.Tx) error {
		if err := execOne(ctx, tx, `UPDATE users SET role = ? WHERE id = ?`, role, id); err != nil {
			return err
		}
		return bump(ctx, tx)
	})
}

// SetUserDisabled disables or enables a user, deletes the user's sessions
// and bumps the generation, in one transaction. Write transactions are
// serialized (BEGIN IMMEDIATE), so a concurrent CreateSession commits
// wholly before (and its session is deleted here) or wholly after.
func (s *Store) SetUserDisabled(ctx context.Context, id int64, disabled bool) error {
	return s.write(ctx, fmt.Sprintf("set disabled of user %d", id), func(tx *sql.Tx) error {
		if err := execOne(ctx, tx, `UPDATE users SET disabled = ? WHERE id = ?`, boolInt(disabled), id); err != nil {
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
// locks someone out), in one transaction.
func (s *Store) SetUserPassword(ctx context.Context, id int64, passwordHash string) error {
	return s.write(ctx, fmt.Sprintf("set password of user %d", id), func(tx *sql.Tx) error {
		if err := execOne(ctx, tx, `UPDATE users SET password_hash = ? WHERE id = ?`, passwordHash, id); err != nil {
			return err
		}
		if err := deleteUserSessions(ctx, tx, id); err != nil {
			return err
		}
		return bump(ctx, tx)
	})
}

// DeleteUser removes a user with their sessions and credentials and bumps
// the generation.
func (s *Store) DeleteUser(ctx context.Context, id int64) error {
	return s.write(ctx, fmt.Sprintf("delete user %d", id), func(tx *sql.Tx) error {
		// The foreign keys cascade too; deleting explicitly keeps the
		// promise even on a connection where foreign_keys is off (say, an
		// operator's sqlite3 shell having recreated a table).
		if err := deleteUserSessions(ctx, tx, id); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM credentials WHERE user_id = ?`, id); err != nil {
			return err
		}
		if err := execOne(ctx, tx, `DELETE FROM users WHERE id = ?`, id); err != nil {
			return err
		}
		return bump(ctx, tx)
	})
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}
