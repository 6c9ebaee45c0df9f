package sqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/promgate/promgate/internal/store"
	"github.com/promgate/promgate/internal/store/internal/dbutil"
)

// AppendAudit records e; a zero At means now.
func (s *Store) AppendAudit(ctx context.Context, e store.AuditEvent) error {
	at := dbutil.NowIfZero(e.At)
	if _, err := s.w.ExecContext(ctx, `INSERT INTO audit_log(at, actor, action, target, detail, remote_addr) VALUES (?, ?, ?, ?, ?, ?)`,
		at.UnixMicro(), e.Actor, e.Action, e.Target, e.Detail, e.RemoteAddr); err != nil {
		return fmt.Errorf("append audit event %q: %w", e.Action, err)
	}
	return nil
}

// ListAudit returns the newest limit events, newest first; limit <= 0 means
// all of them.
func (s *Store) ListAudit(ctx context.Context, limit int) ([]store.AuditEvent, error) {
	if limit <= 0 {
		limit = -1 // SQLite: no limit
	}
	rows, err := s.r.QueryContext(ctx, `SELECT id, at, actor, action, target, detail, remote_addr FROM audit_log ORDER BY id DESC LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("list audit events: %w", err)
	}
	defer func() { _ = rows.Close() }()
	events := []store.AuditEvent{}
	for rows.Next() {
		var (
			e  store.AuditEvent
			at int64
		)
		if err := rows.Scan(&e.ID, &at, &e.Actor, &e.Action, &e.Target, &e.Detail, &e.RemoteAddr); err != nil {
			return nil, fmt.Errorf("list audit events: %w", err)
		}
		e.At = time.UnixMicro(at).UTC()
		events = append(events, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list audit events: %w", err)
	}
	return events, nil
}
