package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/promgate/promgate/internal/store"
	"github.com/promgate/promgate/internal/store/internal/dbutil"
)

// CreateSession stores a session. A session for a missing user is
// store.ErrNotFound; a taken ID hash is store.ErrConflict.
func (s *Store) CreateSession(ctx context.Context, sess store.Session) error {
	if len(sess.IDHash) == 0 {
		return errors.New("create session: empty id hash")
	}
	return s.write(ctx, fmt.Sprintf("create session for user %d", sess.UserID), func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO sessions(id_hash, user_id, csrf_token, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)`,
			sess.IDHash, sess.UserID, sess.CSRFToken, dbutil.NowIfZero(sess.CreatedAt), dbutil.Micro(sess.ExpiresAt))
		return err
	})
}

// GetSession returns a session by the hash of its cookie value. Expired
// sessions are returned too: the caller compares ExpiresAt with its clock.
func (s *Store) GetSession(ctx context.Context, idHash []byte) (store.Session, error) {
	var sess store.Session
	err := s.pool.QueryRow(ctx, `SELECT id_hash, user_id, csrf_token, created_at, expires_at FROM sessions WHERE id_hash = $1`, idHash).
		Scan(&sess.IDHash, &sess.UserID, &sess.CSRFToken, &sess.CreatedAt, &sess.ExpiresAt)
	if err != nil {
		return store.Session{}, fmt.Errorf("get session: %w", mapErr(err))
	}
	sess.CreatedAt, sess.ExpiresAt = sess.CreatedAt.UTC(), sess.ExpiresAt.UTC()
	return sess, nil
}

// DeleteSession removes a session; store.ErrNotFound if there was none.
func (s *Store) DeleteSession(ctx context.Context, idHash []byte) error {
	if err := execOne(ctx, s.pool, `DELETE FROM sessions WHERE id_hash = $1`, idHash); err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	return nil
}

// DeleteUserSessions removes every session of a user; none (or no such
// user) is not an error.
func (s *Store) DeleteUserSessions(ctx context.Context, userID int64) error {
	if err := deleteUserSessions(ctx, s.pool, userID); err != nil {
		return fmt.Errorf("delete sessions of user %d: %w", userID, err)
	}
	return nil
}

// deleteUserSessions removes a user's sessions through db (a transaction
// or the pool).
func deleteUserSessions(ctx context.Context, db execer, userID int64) error {
	if _, err := db.Exec(ctx, `DELETE FROM sessions WHERE user_id = $1`, userID); err != nil {
		return fmt.Errorf("delete sessions: %w", err)
	}
	return nil
}

// DeleteExpiredSessions removes sessions whose ExpiresAt is at or before now.
func (s *Store) DeleteExpiredSessions(ctx context.Context, now time.Time) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM sessions WHERE expires_at <= $1`, dbutil.Micro(now)); err != nil {
		return fmt.Errorf("delete expired sessions: %w", err)
	}
	return nil
}
