package auth

import (
	"net/netip"
	"strings"
	"sync"
	"time"
)

// Failure limiting throttles what fails, never a caller that works.
//
// A failed attempt counts in three buckets: its subject (a credential key or
// a login name) from its client address, its subject from all addresses, and
// its address over distinct failing subjects (spraying many keys or login
// names). A bucket that reaches its limit within the window refuses further
// attempts that match it, with 429 and no store lookup, for the lockout.
//
// A refused attempt is answered before anything is verified, so a guess is
// not told apart from the right answer: throttling keeps guessing slow. A
// credential's key and token hash that verified within provenTTL are
// "proven": those are verified as usual even when a bucket they match is
// refusing, so a working credential is never refused for someone else's
// failures (a retrying agent behind the same NAT, or guesses at its key).
// Only the holder of the token can match a proven entry, so it gives an
// attacker nothing. A credential key refused from all addresses together
// (but not from the caller's) is still verified, proven or not: its wrong
// tokens get 429, its right one works. Otherwise anyone knowing a key could
// lock out a credential not yet proven on this process (new, after a
// restart, on another replica) from addresses of their own; the check
// costs one lookup per attempt within each address's own allowance, and
// tokens carry 190 random bits, so it tells a guesser nothing. Passwords have no proven set (it would keep a fast hash
// of them in memory); a login is refused only while its own name is
// throttled, from the guessing address or from everywhere, or while its
// address sprays names. Open sessions are never throttled.

const (
	// defaultLimiterEntries bounds the buckets, and separately the proven
	// credentials: about 150 bytes each.
	defaultLimiterEntries = 100_000
	// allAddressesFactor: a subject is refused from everywhere after this
	// many times the per-address limit of failures from all addresses.
	allAddressesFactor = 10
	// provenTTL is how long a credential stays proven after it last worked.
	provenTTL = 24 * time.Hour
	// provenRefresh: a proven entry's time is rewritten at most this often.
	provenRefresh = time.Minute
)

type subjectKind uint8

const (
	subjectCredential subjectKind = iota + 1
	subjectLogin
)

// subject is what an attempt claims to be. The zero subject stands for
// "any subject" in an address's own bucket.
type subject struct {
	kind subjectKind
	name string
}

// credSubject is a credential key; "" stands for every malformed header.
func credSubject(key string) subject { return subject{subjectCredential, key} }

// loginSubject is a login name, case-folded so that case variants of one
// login share their buckets.
func loginSubject(login string) subject { return subject{subjectLogin, strings.ToLower(login)} }

// bucketKey: addr "" is a subject's all-addresses bucket; the zero subject
// is an address's bucket of distinct failing subjects.
type bucketKey struct {
	addr string
	subj subject
}

type bucket struct {
	windowStart  time.Time
	count        int
	blockedUntil time.Time
	// inAddress (subject-from-address buckets): this subject is counted in
	// its address's bucket of distinct subjects for the current window.
	inAddress bool
}

type limiterConfig struct {
	max             int // failures per window of one subject from one address
	window, lockout time.Duration
	maxEntries      int // bound of the buckets and of the proven credentials
}

type failureLimiter struct {
	cfg limiterConfig

	mu      sync.Mutex
	buckets map[bucketKey]*bucket
	// noRoomUntil: the buckets are full of refusing ones; until then new
	// failures are not tracked, without scanning the map again.
	noRoomUntil time.Time

	provenMu sync.RWMutex
	proven   map[cacheKey]time.Time
}

func newFailureLimiter(cfg limiterConfig) *failureLimiter {
	if cfg.maxEntries <= 0 {
		cfg.maxEntries = defaultLimiterEntries
	}
	return &failureLimiter{cfg: cfg, buckets: make(map[bucketKey]*bucket), proven: make(map[cacheKey]time.Time)}
}

// addressKey groups an IPv6 client's /64, which one client usually holds
// whole, so that changing addresses inside it escapes nothing.
func addressKey(addr string) string {
	ip, err := netip.ParseAddr(addr)
	if err != nil {
		return addr
	}
	ip = ip.Unmap()
	if ip.Is6() {
		if p, err := ip.Prefix(64); err == nil {
			return p.String()
		}
	}
	return ip.String()
}

// retryAfter returns how long an unproven attempt by s from addr is still
// refused, or 0.
func (l *failureLimiter) retryAfter(addr string, s subject, now time.Time) time.Duration {
	a := addressKey(addr)
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.refusedFor(a, s, now)
}

// fail records a failed attempt by s from addr and reports whether it made
// a bucket start refusing.
func (l *failureLimiter) fail(addr string, s subject, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.countAll(addressKey(addr), s, now).tripped()
}

// reservation is an attempt counted as failed before it was checked.
type reservation struct {
	addr   string
	subj   subject
	counts countedAll
}

// reserve counts an attempt by s from addr as failed before it is checked,
// so that attempts in flight at once cannot overshoot the limit, or returns
// how long it is refused. Passwords use it: their check is slow and they
// may be guessable. (Credentials count after the check: a fresh agent's
// burst of valid requests must not be refused, and their tokens carry 190
// random bits, so a few guesses in flight change nothing.)
func (l *failureLimiter) reserve(addr string, s subject, now time.Time) (reservation, time.Duration) {
	a := addressKey(addr)
	l.mu.Lock()
	defer l.mu.Unlock()
	if d := l.refusedFor(a, s, now); d > 0 {
		return reservation{}, d
	}
	return reservation{addr: a, subj: s, counts: l.countAll(a, s, now)}, 0
}

// giveBack undoes what r counted: the attempt did not fail (or failed on
// our side, e.g. the store). With succeeded, it also forgets the failures
// of its subject from its address: someone who just proved they know the
// secret gets their full allowance back there.
func (l *failureLimiter) giveBack(r reservation, succeeded bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	live := func(c counted) bool {
		// Not evicted, and not counting afresh since.
		return c.b != nil && l.buckets[c.key] == c.b && c.b.windowStart.Equal(c.window)
	}
	for i, c := range r.counts {
		if !live(c) {
			continue
		}
		c.b.count--
		if c.trip {
			c.b.blockedUntil = time.Time{}
		}
		if i == 2 && live(r.counts[0]) {
			r.counts[0].b.inAddress = false
		}
	}
	if pair := r.counts[0]; succeeded && live(pair) && pair.b.blockedUntil.IsZero() {
		pair.b.count = 0
	}
}

// refusedFor is retryAfter for an address key. Caller holds mu.
func (l *failureLimiter) refusedFor(a string, s subject, now time.Time) time.Duration {
	return max(l.refusedIn(now, bucketKey{a, s}, bucketKey{a, subject{}}), l.refusedIn(now, bucketKey{"", s}))
}

// refusedIn is how long the longest refusing bucket of keys still refuses.
// Caller holds mu.
func (l *failureLimiter) refusedIn(now time.Time, keys ...bucketKey) time.Duration {
	var d time.Duration
	for _, k := range keys {
		if b, ok := l.buckets[k]; ok && now.Before(b.blockedUntil) {
			d = max(d, b.blockedUntil.Sub(now))
		}
	}
	return d
}

// credentialRefusal splits retryAfter for a credential key: here is how
// long the caller's own address is refused (its failures with this key, or
// its spray of keys), everywhere how long the key is refused from all
// addresses together. Only failures from the caller's address may refuse
// it before its token is checked: anyone who knows a key (keys are not
// secret) can trip the key's all-addresses bucket from addresses of their
// own, and that must not lock out the holder.
func (l *failureLimiter) credentialRefusal(addr, key string, now time.Time) (here, everywhere time.Duration) {
	a, s := addressKey(addr), credSubject(key)
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.refusedIn(now, bucketKey{a, s}, bucketKey{a, subject{}}), l.refusedIn(now, bucketKey{"", s})
}

// counted is one bucket's share of a failure, enough to give it back.
type counted struct {
	key    bucketKey
	b      *bucket   // nil: not tracked (no room)
	window time.Time // the bucket's window when counted
	trip   bool      // this failure made the bucket refuse
}

type countedAll [3]counted

func (c countedAll) tripped() bool { return c[0].trip || c[1].trip || c[2].trip }

// countAll counts a failure of s from address key a in its three buckets.
// The address's bucket counts distinct subjects: a client retrying one bad
// credential is one subject, however often it retries. Caller holds mu.
func (l *failureLimiter) countAll(a string, s subject, now time.Time) countedAll {
	var out countedAll
	out[0] = l.count(bucketKey{a, s}, now, l.cfg.max)
	out[1] = l.count(bucketKey{"", s}, now, l.cfg.max*allAddressesFactor)
	if pair := out[0].b; pair == nil || !pair.inAddress {
		out[2] = l.count(bucketKey{a, subject{}}, now, l.cfg.max)
		if pair != nil {
			pair.inAddress = true
		}
	}
	return out
}

// count adds a failure to bucket k (limit: failures in a window before it
// refuses). Caller holds mu.
func (l *failureLimiter) count(k bucketKey, now time.Time, limit int) counted {
	b, ok := l.buckets[k]
	if !ok {
		if !l.makeRoom(now) {
			return counted{key: k}
		}
		b = &bucket{windowStart: now}
		l.buckets[k] = b
	}
	if !b.blockedUntil.IsZero() && !now.Before(b.blockedUntil) {
		// The lockout is over: a fresh allowance.
		b.windowStart, b.count, b.blockedUntil, b.inAddress = now, 0, time.Time{}, false
	}
	if now.Sub(b.windowStart) >= l.cfg.window {
		b.windowStart, b.count, b.inAddress = now, 0, false
	}
	b.count++
	c := counted{key: k, b: b, window: b.windowStart}
	if b.count >= limit && b.blockedUntil.IsZero() {
		b.blockedUntil = now.Add(l.cfg.lockout)
		c.trip = true
	}
	return c
}

// makeRoom reports whether a new bucket fits, evicting when the map is full:
// first buckets whose window is over, then others that are not refusing
// (map order is random), an eighth of the bound at a time so that the scan
// is paid rarely. Refusing buckets are never evicted: a flood of new keys
// must not free the ones it is refused on. Caller holds mu.
func (l *failureLimiter) makeRoom(now time.Time) bool {
	if len(l.buckets) < l.cfg.maxEntries {
		return true
	}
	if now.Before(l.noRoomUntil) {
		return false
	}
	want := max(1, l.cfg.maxEntries/8)
	freed := 0
	for k, b := range l.buckets {
		if now.Sub(b.windowStart) >= l.cfg.window && !now.Before(b.blockedUntil) {
			delete(l.buckets, k)
			freed++
		}
	}
	for k, b := range l.buckets {
		if freed >= want {
			break
		}
		if !now.Before(b.blockedUntil) {
			delete(l.buckets, k)
			freed++
		}
	}
	if freed == 0 {
		l.noRoomUntil = now.Add(time.Second)
		return false
	}
	return true
}

// isProven reports whether the credential k worked within provenTTL.
func (l *failureLimiter) isProven(k cacheKey, now time.Time) bool {
	l.provenMu.RLock()
	t, ok := l.proven[k]
	l.provenMu.RUnlock()
	return ok && now.Sub(t) < provenTTL
}

// prove records that the credential k worked.
func (l *failureLimiter) prove(k cacheKey, now time.Time) {
	l.provenMu.RLock()
	t, ok := l.proven[k]
	l.provenMu.RUnlock()
	if ok && now.Sub(t) < provenRefresh {
		return
	}
	l.provenMu.Lock()
	defer l.provenMu.Unlock()
	if _, ok := l.proven[k]; !ok && len(l.proven) >= l.cfg.maxEntries {
		// Only working tokens get here, so this is many credentials, not an
		// attack: drop the stalest-looking (random) eighth.
		n := 0
		for pk, pt := range l.proven {
			if now.Sub(pt) >= provenTTL || n < l.cfg.maxEntries/8 {
				delete(l.proven, pk)
				n++
			}
		}
	}
	l.proven[k] = now
}

// forget drops k from the proven credentials (it failed: revoked, expired,
// its user disabled).
func (l *failureLimiter) forget(k cacheKey) {
	l.provenMu.Lock()
	delete(l.proven, k)
	l.provenMu.Unlock()
}

// size is the number of buckets held.
func (l *failureLimiter) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}

func (l *failureLimiter) prune(now time.Time) {
	l.mu.Lock()
	for k, b := range l.buckets {
		if now.Sub(b.windowStart) >= l.cfg.window && !now.Before(b.blockedUntil) {
			delete(l.buckets, k)
		}
	}
	l.mu.Unlock()
	l.provenMu.Lock()
	for k, t := range l.proven {
		if now.Sub(t) >= provenTTL {
			delete(l.proven, k)
		}
	}
	l.provenMu.Unlock()
}
