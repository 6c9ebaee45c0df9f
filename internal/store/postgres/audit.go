package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/promgate/promgate/internal/store"
	"github.com/promgate/promgate/internal/store/internal/dbutil"
)

// AppendAudit records e; a zero At means now.
func (s *Store) AppendAudit(ctx context.Context, e store.AuditEvent) error {
	if _, err := s.pool.Exec(ctx, `INSERT INTO audit_log(at, actor, action, target, detail, remote_addr) VALUES ($1, $2, $3, $4, $5, $6)`,
		dbutil.NowIfZero(e.At), e.Actor, e.Action, e.Target, e.Detail, e.RemoteAddr); err != nil {
		return fmt.Errorf("append audit event %q: %w", e.Action, err)
	}
	return nil
}

// ListAudit returns the newest limit events, newest first; limit <= 0 means
// all of them.
func (s *Store) ListAudit(ctx context.Context, limit int) ([]store.AuditEvent, error) {
	var lim any // NULL: LIMIT NULL is no limit
	if limit > 0 {
		lim = int64(limit)
	}
	rows, err := s.pool.Query(ctx, `SELECT id, at, actor, action, target, detail, remote_addr FROM audit_log ORDER BY id DESC LIMIT $1`, lim)
	if err != nil {
		return nil, fmt.Errorf("list audit events: %w", err)
	}
	events, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.AuditEvent, error) {
		var e store.AuditEvent
		err := r.Scan(&e.ID, &e.At, &e.Actor, &e.Action, &e.Target, &e.Detail, &e.RemoteAddr)
		e.At = e.At.UTC()
		return e, err
	})
	if err != nil {
		return nil, fmt.Errorf("list audit events: %w", err)
	}
	return nonNil(events), nil
}
