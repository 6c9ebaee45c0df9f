package auth

import (
	"sync"
	"time"
)

// maxLimiterEntries bounds memory under a flood from many addresses; past it
// new addresses are not tracked until pruning frees room.
const maxLimiterEntries = 100_000

// failureLimiter refuses a client address for lockout after max failures
// within window. It is checked before any store lookup, so a brute-force
// attempt costs the store nothing once refused.
type failureLimiter struct {
	max     int
	window  time.Duration
	lockout time.Duration

	mu      sync.Mutex
	clients map[string]*failures
}

type failures struct {
	windowStart  time.Time
	count        int
	blockedUntil time.Time
}

func newFailureLimiter(max int, window, lockout time.Duration) *failureLimiter {
	return &failureLimiter{max: max, window: window, lockout: lockout, clients: make(map[string]*failures)}
}

// blocked returns how long ip is still refused, or 0.
func (l *failureLimiter) blocked(ip string, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	f, ok := l.clients[ip]
	if !ok || !now.Before(f.blockedUntil) {
		return 0
	}
	return f.blockedUntil.Sub(now)
}

// fail records a failure and reports whether ip is now refused.
func (l *failureLimiter) fail(ip string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	f, ok := l.clients[ip]
	if !ok {
		if len(l.clients) >= maxLimiterEntries {
			return false
		}
		f = &failures{windowStart: now}
		l.clients[ip] = f
	}
	if now.Sub(f.windowStart) >= l.window {
		f.windowStart, f.count = now, 0
	}
	f.count++
	if f.count >= l.max {
		f.blockedUntil = now.Add(l.lockout)
		f.windowStart, f.count = now, 0
		return true
	}
	return false
}

func (l *failureLimiter) prune(now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for ip, f := range l.clients {
		if now.Sub(f.windowStart) >= l.window && !now.Before(f.blockedUntil) {
			delete(l.clients, ip)
		}
	}
}
