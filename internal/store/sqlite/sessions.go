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

// CreateSession stores a session. A session for a missing user is
// store.ErrNotFound; a taken ID hash is store.ErrConflict.
func (s *Store) CreateSession(ctx context.Context, sess store.Session) error {
	if len(sess.IDHash) == 0 {
		return errors.New("create session: empty id hash")
	}
	created := dbutil.NowIfZero(sess.CreatedAt)
	return s.write(ctx, fmt.Sprintf("create session for user %d", sess.UserID), func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO sessions(id_hash, user_id, csrf_token, created_at, expires_at) VALUES (?, ?, ?, ?, ?)`,
			sess.IDHash, sess.UserID, sess.CSRFToken, created.UnixMicro(), dbutil.Micro(sess.ExpiresAt).UnixMicro())
		return err
	})
}

// GetSession returns a session by the hash of its cookie value. Expired
// sessions are returned too: the caller compares ExpiresAt with its clock.
func (s *Store) GetSession(ctx context.Context, idHash []byte) (store.Session, error) {
	var (
		sess             store.Session
		created, expires int64
	)
	err := s.r.QueryRowContext(ctx, `SELECT id_hash, user_id, csrf_token, created_at, expires_at FROM sessions WHERE id_hash = ?`, idHash).
		Scan(&sess.IDHash, &sess.UserID, &sess.CSRFToken, &created, &expires)
	if err != nil {
		return store.Session{}, fmt.Errorf("get session: %w", mapErr(err))
	}
	sess.CreatedAt = time.UnixMicro(created).UTC()
	sess.ExpiresAt = time.UnixMicro(expires).UTC()
	return sess, nil
}

// DeleteSession removes a session; store.ErrNotFound if there was none.
func (s *Store) DeleteSession(ctx context.Context, idHash []byte) error {
	return s.write(ctx, "delete session", func(tx *sql.Tx) error {
		return execOne(ctx, tx, `DELETE FROM sessions WHERE id_hash = ?`, idHash)
	})
}

// DeleteUserSessions removes every session of a user; none (or no such
// user) is not an error.
func (s *Store) DeleteUserSessions(ctx context.Context, userID int64) error {
	return s.write(ctx, fmt.Sprintf("delete sessions of user %d", userID), func(tx *sql.Tx) error {
		return deleteUserSessions(ctx, tx, userID)
	})
}

// deleteUserSessions removes a user's sessions inside tx.
func deleteUserSessions(ctx context.Context, tx *sql.Tx, userID int64) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE user_id = ?`, userID); err != nil {
		return fmt.Errorf("delete sessions: %w", err)
	}
	return nil
}

// DeleteExpiredSessions removes sessions whose ExpiresAt is at or before now.
func (s *Store) DeleteExpiredSessions(ctx context.Context, now time.Time) error {
	if _, err := s.w.ExecContext(ctx, `DELETE FROM sessions WHERE expires_at <= ?`, dbutil.Micro(now).UnixMicro()); err != nil {
		return fmt.Errorf("delete expired sessions: %w", err)
	}
	return nil
}
