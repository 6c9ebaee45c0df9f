// Package audit writes the security log: who did what to whom, one row per
// event in the store. Authentication records logins and logouts through it;
// the management operations record every change.
package audit

import (
	"context"
	"log/slog"
	"time"

	"github.com/promgate/promgate/internal/access"
	"github.com/promgate/promgate/internal/store"
)

// Actor is who performs an operation, for the audit log.
type Actor struct {
	Name       string // login, "credential:<key>", "cli:<user>" or "system"
	RemoteAddr string
}

// System is the actor of operations the server does on its own behalf.
var System = Actor{Name: "system"}

// ActorOf names a principal for the audit log.
func ActorOf(p *access.Principal, remoteAddr string) Actor {
	switch {
	case p == nil:
		return Actor{Name: "anonymous", RemoteAddr: remoteAddr}
	case p.IsCredential():
		return Actor{Name: "credential:" + p.CredentialKey, RemoteAddr: remoteAddr}
	default:
		return Actor{Name: p.Login, RemoteAddr: remoteAddr}
	}
}

// Log appends audit events to the store. The zero value is not usable; use
// New.
type Log struct {
	st  store.Store
	log *slog.Logger
	now func() time.Time
}

// New returns a Log writing to st. A nil logger discards; a nil now is
// time.Now.
func New(st store.Store, logger *slog.Logger, now func() time.Time) *Log {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if now == nil {
		now = time.Now
	}
	return &Log{st: st, log: logger, now: now}
}

// Write appends one event. The operation it records already happened, so a
// failure is not returned but logged at error level: a lost row must be loud.
func (l *Log) Write(ctx context.Context, actor Actor, action, target, detail string) {
	err := l.st.AppendAudit(ctx, store.AuditEvent{
		At: l.now(), Actor: actor.Name, Action: action, Target: target, Detail: detail, RemoteAddr: actor.RemoteAddr,
	})
	if err != nil {
		l.log.ErrorContext(ctx, "append audit event", "action", action, "target", target, "err", err)
	}
}
