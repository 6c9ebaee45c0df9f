package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/promgate/promgate/internal/store"
	"github.com/promgate/promgate/internal/store/internal/dbutil"
)

func scanUser(sc scanner) (store.User, error) {
	var u store.User
	// disabled is an INTEGER 0/1 in SQLite and a BOOLEAN in PostgreSQL;
	// database/sql reads both into a bool.
	if err := sc.Scan(&u.ID, &u.Login, &u.PasswordHash, &u.Role, &u.Disabled, timeCol{&u.CreatedAt}); err != nil {
		return store.User{}, err
	}
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
		return tx.QueryRowContext(ctx, s.q.insertUser,
			u.Login, dbutil.LoginKey(u.Login), u.PasswordHash, u.Role, u.Disabled, s.d.timeArg(u.CreatedAt)).Scan(&u.ID)
	})
	if err != nil {
		return store.User{}, err
	}
	return u, nil
}

// GetUser returns the user with the given ID.
func (s *Store) GetUser(ctx context.Context, id int64) (store.User, error) {
	u, err := scanUser(s.readRow(ctx, s.hot.userByID, s.q.userByID, id))
	if err != nil {
		return store.User{}, fmt.Errorf("get user %d: %w", id, s.mapErr(err))
	}
	return u, nil
}

// GetUserByLogin finds a user by login, ignoring case.
func (s *Store) GetUserByLogin(ctx context.Context, login string) (store.User, error) {
	u, err := scanUser(s.r.QueryRowContext(ctx, s.q.userByLogin, dbutil.LoginKey(login)))
	if err != nil {
		return store.User{}, fmt.Errorf("get user %q: %w", login, s.mapErr(err))
	}
	return u, nil
}

// ListUsers returns every user, oldest first.
func (s *Store) ListUsers(ctx context.Context) ([]store.User, error) {
	return collect(ctx, s.r, "list users", scanUser, s.q.listUsers)
}

// CountUsers returns the number of users.
func (s *Store) CountUsers(ctx context.Context) (int, error) {
	var n int
	if err := s.r.QueryRowContext(ctx, s.q.countUsers).Scan(&n); err != nil {
		return 0, fmt.Errorf("count users: %w", err)
	}
	return n, nil
}

// SetUserRole changes a user's role and bumps the generation.
func (s *Store) SetUserRole(ctx context.Context, id int64, role string) error {
	return s.write(ctx, fmt.Sprintf("set role of user %d", id), func(tx *sql.Tx) error {
		if err := execOne(ctx, tx, s.q.setRole, role, id); err != nil {
			return err
		}
		return s.bump(ctx, tx)
	})
}

// SetUserDisabled disables or enables a user, deletes the user's sessions
// and bumps the generation, in one transaction (see lockUser).
func (s *Store) SetUserDisabled(ctx context.Context, id int64, disabled bool) error {
	return s.write(ctx, fmt.Sprintf("set disabled of user %d", id), func(tx *sql.Tx) error {
		return s.changeUser(ctx, tx, id, s.q.setDisabled, disabled)
	})
}

// SetUserPassword replaces a user's password hash, deletes the user's
// sessions and bumps the generation (a password change may be how an owner
// locks someone out), in one transaction (see lockUser).
func (s *Store) SetUserPassword(ctx context.Context, id int64, passwordHash string) error {
	return s.write(ctx, fmt.Sprintf("set password of user %d", id), func(tx *sql.Tx) error {
		return s.changeUser(ctx, tx, id, s.q.setPassword, passwordHash)
	})
}

// changeUser sets one column of user id (update takes the value and the
// id), deletes the user's sessions and bumps the generation inside tx.
func (s *Store) changeUser(ctx context.Context, tx *sql.Tx, id int64, update string, value any) error {
	if err := s.lockUser(ctx, tx, id); err != nil {
		return err
	}
	if err := execOne(ctx, tx, update, value, id); err != nil {
		return err
	}
	if err := s.deleteUserSessions(ctx, tx, id); err != nil {
		return err
	}
	return s.bump(ctx, tx)
}

// lockUser orders a change of the user with a concurrent CreateSession for
// them (no such user: sql.ErrNoRows, which write maps to
// store.ErrNotFound).
//
// On PostgreSQL it locks the user's row FOR UPDATE until tx ends. Inserting
// a session takes FOR KEY SHARE on the same row (the foreign key check),
// which conflicts with FOR UPDATE but not with the FOR NO KEY UPDATE a
// plain UPDATE takes. So a concurrent CreateSession either commits first,
// and the DELETE that follows (a new statement, with a new snapshot under
// READ COMMITTED) sees its row, or waits for this transaction and commits
// after it, when a re-read of the user shows the change. Without the lock,
// a session inserted while this transaction runs could outlive it.
//
// On SQLite write transactions are serialized whole (BEGIN IMMEDIATE), so
// the same holds without a lock and this only checks that the user exists.
func (s *Store) lockUser(ctx context.Context, tx *sql.Tx, id int64) error {
	var one int
	if err := tx.QueryRowContext(ctx, s.q.lockUser, id).Scan(&one); err != nil {
		return fmt.Errorf("lock user: %w", err)
	}
	return nil
}

// DeleteUser removes a user with their sessions and credentials and bumps
// the generation.
func (s *Store) DeleteUser(ctx context.Context, id int64) error {
	return s.write(ctx, fmt.Sprintf("delete user %d", id), func(tx *sql.Tx) error {
		// The foreign keys cascade too; deleting explicitly keeps the
		// promise should a constraint ever be altered by hand, or on a
		// SQLite connection where foreign_keys is off (say, an operator's
		// sqlite3 shell having recreated a table).
		if err := s.deleteUserSessions(ctx, tx, id); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, s.q.deleteUserCredentials, id); err != nil {
			return err
		}
		if err := execOne(ctx, tx, s.q.deleteUser, id); err != nil {
			return err
		}
		return s.bump(ctx, tx)
	})
}
