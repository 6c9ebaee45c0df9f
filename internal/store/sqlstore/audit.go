package sqlstore

import (
	"context"
	"fmt"

	"github.com/promgate/promgate/internal/store"
	"github.com/promgate/promgate/internal/store/internal/dbutil"
)

// AppendAudit records e; a zero At means now.
func (s *Store) AppendAudit(ctx context.Context, e store.AuditEvent) error {
	if _, err := s.w.ExecContext(ctx, s.q.insertAudit,
		s.d.timeArg(dbutil.NowIfZero(e.At)), e.Actor, e.Action, e.Target, e.Detail, e.RemoteAddr); err != nil {
		return fmt.Errorf("append audit event %q: %w", e.Action, err)
	}
	return nil
}

// ListAudit returns the newest limit events, newest first; limit <= 0 means
// all of them.
func (s *Store) ListAudit(ctx context.Context, limit int) ([]store.AuditEvent, error) {
	q, args := s.q.listAudit, []any(nil)
	if limit > 0 {
		q, args = s.q.listAuditLimit, []any{int64(limit)}
	}
	return collect(ctx, s.r, "list audit events", scanAudit, q, args...)
}

func scanAudit(sc scanner) (store.AuditEvent, error) {
	var e store.AuditEvent
	err := sc.Scan(&e.ID, timeCol{&e.At}, &e.Actor, &e.Action, &e.Target, &e.Detail, &e.RemoteAddr)
	return e, err
}
