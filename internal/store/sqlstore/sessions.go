package sqlstore

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
		_, err := tx.ExecContext(ctx, s.q.insertSession,
			sess.IDHash, sess.UserID, sess.CSRFToken, s.d.timeArg(created), s.d.timeArg(dbutil.Micro(sess.ExpiresAt)))
		return err
	})
}

// GetSession returns a session by the hash of its cookie value. Expired
// sessions are returned too: the caller compares ExpiresAt with its clock.
func (s *Store) GetSession(ctx context.Context, idHash []byte) (store.Session, error) {
	var sess store.Session
	err := s.r.QueryRowContext(ctx, s.q.getSession, idHash).
		Scan(&sess.IDHash, &sess.UserID, &sess.CSRFToken, timeCol{&sess.CreatedAt}, timeCol{&sess.ExpiresAt})
	if err != nil {
		return store.Session{}, fmt.Errorf("get session: %w", s.mapErr(err))
	}
	return sess, nil
}

// DeleteSession removes a session; store.ErrNotFound if there was none.
func (s *Store) DeleteSession(ctx context.Context, idHash []byte) error {
	return s.write(ctx, "delete session", func(tx *sql.Tx) error {
		return execOne(ctx, tx, s.q.deleteSession, idHash)
	})
}

// DeleteUserSessions removes every session of a user; none (or no such
// user) is not an error.
func (s *Store) DeleteUserSessions(ctx context.Context, userID int64) error {
	return s.write(ctx, fmt.Sprintf("delete sessions of user %d", userID), func(tx *sql.Tx) error {
		return s.deleteUserSessions(ctx, tx, userID)
	})
}

// deleteUserSessions removes a user's sessions inside tx.
func (s *Store) deleteUserSessions(ctx context.Context, tx *sql.Tx, userID int64) error {
	if _, err := tx.ExecContext(ctx, s.q.deleteUserSessions, userID); err != nil {
		return fmt.Errorf("delete sessions: %w", err)
	}
	return nil
}

// DeleteExpiredSessions removes sessions whose ExpiresAt is at or before now.
func (s *Store) DeleteExpiredSessions(ctx context.Context, now time.Time) error {
	if _, err := s.w.ExecContext(ctx, s.q.deleteExpiredSessions, s.d.timeArg(dbutil.Micro(now))); err != nil {
		return fmt.Errorf("delete expired sessions: %w", err)
	}
	return nil
}
