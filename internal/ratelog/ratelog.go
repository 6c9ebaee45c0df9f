// Package ratelog keeps a failure that repeats on every request from
// flooding the log: one line per kind of failure and interval, and the
// next line that gets through says how many were left out.
package ratelog

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Interval is how often a repeated warning or error is logged.
const Interval = 10 * time.Second

// maxKeys bounds the memory a limiter keeps; keys are kinds of failure
// (messages, routes), not callers, so real use stays far below it.
const maxKeys = 1024

// Limiter lets one event per key through per interval and counts the rest.
type Limiter struct {
	interval time.Duration
	now      func() time.Time

	mu   sync.Mutex
	keys map[string]*window
}

type window struct {
	until      time.Time // events before this are held back
	suppressed int
}

// NewLimiter returns a limiter with the given interval.
func NewLimiter(interval time.Duration) *Limiter {
	return &Limiter{interval: interval, now: time.Now, keys: map[string]*window{}}
}

// Allow reports whether an event of this key may be logged now and, if so,
// how many of its events were held back since the last one that was.
func (l *Limiter) Allow(key string) (ok bool, suppressed int) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	w := l.keys[key]
	if w == nil {
		if len(l.keys) >= maxKeys {
			l.prune(now)
		}
		if len(l.keys) >= maxKeys {
			return true, 0 // too many kinds to track: log rather than lose
		}
		w = &window{}
		l.keys[key] = w
	}
	if now.Before(w.until) {
		w.suppressed++
		return false, 0
	}
	suppressed = w.suppressed
	w.until, w.suppressed = now.Add(l.interval), 0
	return true, suppressed
}

// prune forgets keys whose interval is over and that held nothing back.
func (l *Limiter) prune(now time.Time) {
	for k, w := range l.keys {
		if !now.Before(w.until) && w.suppressed == 0 {
			delete(l.keys, k)
		}
	}
}

type keyCtx struct{}

// WithKey makes the Handler limit a record logged with this context by
// key instead of by its message, for lines that share a message but not
// a cause (one "http request" line per route and status).
func WithKey(ctx context.Context, key string) context.Context {
	return context.WithValue(ctx, keyCtx{}, key)
}

// Handler limits warnings and errors: one line per level and message (or
// WithKey's key) per interval; the next line that gets through carries
// suppressed=N. Records below slog.LevelWarn pass untouched.
type Handler struct {
	next    slog.Handler
	limiter *Limiter
}

// NewHandler wraps next.
func NewHandler(next slog.Handler, interval time.Duration) *Handler {
	return &Handler{next: next, limiter: NewLimiter(interval)}
}

// Enabled implements slog.Handler.
func (h *Handler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.next.Enabled(ctx, level)
}

// Handle implements slog.Handler.
func (h *Handler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level < slog.LevelWarn {
		return h.next.Handle(ctx, r)
	}
	key, ok := ctx.Value(keyCtx{}).(string)
	if !ok {
		key = r.Message
	}
	allow, suppressed := h.limiter.Allow(r.Level.String() + " " + key)
	if !allow {
		return nil
	}
	if suppressed > 0 {
		r = r.Clone()
		r.AddAttrs(slog.Int("suppressed", suppressed))
	}
	return h.next.Handle(ctx, r)
}

// WithAttrs implements slog.Handler; the derived handler shares the limits.
func (h *Handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &Handler{next: h.next.WithAttrs(attrs), limiter: h.limiter}
}

// WithGroup implements slog.Handler; the derived handler shares the limits.
func (h *Handler) WithGroup(name string) slog.Handler {
	return &Handler{next: h.next.WithGroup(name), limiter: h.limiter}
}
