// Package auth decides who is calling: API credentials (key:token via HTTP
// basic auth or a bearer header), browser login sessions, and passwords. It
// resolves every caller to an access.Principal from the store's current
// state and keeps a short-lived cache of verified credentials. Changing
// users and credentials is internal/manage's; it calls Invalidate after a
// change, so that the cache drops it at once in this process.
//
// Staleness bound: a change made through this process (the management API,
// through manage.Manager) applies to the very next request. A change made
// by another process or replica (the admin CLI, another promgate on the same
// PostgreSQL) is noticed when store.Generation is next polled, so a revoked
// credential may still be accepted for at most min(CacheTTL, GenerationPoll)
// plus one store round trip: 1s with the defaults.
package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/promgate/promgate/internal/access"
	"github.com/promgate/promgate/internal/audit"
	"github.com/promgate/promgate/internal/ratelog"
	"github.com/promgate/promgate/internal/store"
)

// Errors of Authenticate. Callers map them to 401 (no or invalid
// credentials) or, through promapi.WriteServerError, 503 (the store is
// unreachable) or 500 (anything else).
var (
	ErrNoCredentials      = errors.New("no credentials")
	ErrInvalidCredentials = errors.New("invalid credentials")
	// ErrSessionInvalid is an unknown, expired or logged-out session. It
	// gets a 401 but does not count as a failed attempt: session ids are
	// unguessable, and a browser with a stale cookie must not lock out its IP.
	ErrSessionInvalid = errors.New("session expired or invalid")
)

// Defaults for Options.
const (
	DefaultCacheTTL       = 2 * time.Second
	DefaultGenerationPoll = time.Second
	DefaultTouchInterval  = time.Minute
	DefaultMaxFailures    = 10
	DefaultFailureWindow  = time.Minute
	DefaultLockout        = time.Minute
	DefaultSessionTTL     = 24 * time.Hour
	DefaultCookieName     = "promgate_session"
	// MaxAuthorizationLen caps the Authorization header we look at; a
	// well-formed one is about 90 bytes.
	MaxAuthorizationLen = 1024

	maxCacheEntries = 100_000
)

// Options configures an Authenticator. Zero values take the defaults.
type Options struct {
	Store  store.Store
	Logger *slog.Logger
	Now    func() time.Time
	// CacheTTL is how long a verified credential is reused without a store
	// round trip. Negative disables the cache.
	CacheTTL time.Duration
	// GenerationPoll is how often store.Generation is read to notice changes
	// made by other processes. Negative disables polling (then only CacheTTL
	// bounds staleness across processes).
	GenerationPoll time.Duration
	// TouchInterval throttles last-used-at updates per credential.
	TouchInterval time.Duration
	// MaxFailures failed attempts within FailureWindow refuse further
	// attempts with 429 for Lockout: of one credential key or login name
	// from one client address; of one key or login from all addresses
	// (10*MaxFailures); of distinct keys or logins from one address. A
	// credential that worked recently is never refused (see limiter.go).
	MaxFailures   int
	FailureWindow time.Duration
	Lockout       time.Duration
	SessionTTL    time.Duration
	CookieName    string
	// ClientIP returns the client address used for failure limiting. The
	// default is the host part of r.RemoteAddr; set it when behind a proxy
	// you trust to report the client.
	ClientIP func(r *http.Request) string
	// PasswordLoginOnly, when set, is the one login that may still sign in
	// with a password (the initial OWNER, as a break-glass account): the
	// deployment signs people in with its OpenID providers.
	PasswordLoginOnly string
	// Tokens verifies "Authorization: Bearer <JWT>" of the configured
	// OpenID Connect providers; nil: only key:token and sessions.
	Tokens TokenVerifier
	// TrustForwardedProto makes X-Forwarded-Proto: https count as TLS when
	// deciding the session cookie's Secure flag.
	TrustForwardedProto bool
}

// Authenticator verifies callers. It is safe for concurrent use. Call Close
// to stop its background goroutines.
type Authenticator struct {
	st     store.Store
	log    *slog.Logger
	now    func() time.Time
	opts   Options
	limit  *failureLimiter
	cache  *credCache
	touchQ chan touchReq

	touchMu   sync.Mutex
	lastTouch map[int64]time.Time

	audit *audit.Log

	userMu sync.Mutex // serialises last-OWNER checks with the change

	dummyOnce sync.Once
	dummyHash string

	stop   context.CancelFunc
	stopWG sync.WaitGroup

	// storeErr is the error of the last generation poll, nil when it
	// succeeded: whether the store can be reached, for readiness.
	storeErr atomic.Pointer[error]
	// gen is the store generation last polled (0 before the first poll).
	gen atomic.Int64
}

type touchReq struct {
	id int64
	at time.Time
}

// New returns an Authenticator and starts its background work (generation
// polling, last-used updates, pruning). Call Close when done.
func New(o Options) *Authenticator {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.CacheTTL == 0 {
		o.CacheTTL = DefaultCacheTTL
	}
	if o.GenerationPoll == 0 {
		o.GenerationPoll = DefaultGenerationPoll
	}
	if o.TouchInterval <= 0 {
		o.TouchInterval = DefaultTouchInterval
	}
	if o.MaxFailures <= 0 {
		o.MaxFailures = DefaultMaxFailures
	}
	if o.FailureWindow <= 0 {
		o.FailureWindow = DefaultFailureWindow
	}
	if o.Lockout <= 0 {
		o.Lockout = DefaultLockout
	}
	if o.SessionTTL <= 0 {
		o.SessionTTL = DefaultSessionTTL
	}
	if o.CookieName == "" {
		o.CookieName = DefaultCookieName
	}
	if o.ClientIP == nil {
		o.ClientIP = remoteHost
	}
	a := &Authenticator{
		st:        o.Store,
		log:       o.Logger,
		now:       o.Now,
		opts:      o,
		limit:     newFailureLimiter(limiterConfig{max: o.MaxFailures, window: o.FailureWindow, lockout: o.Lockout}),
		cache:     newCredCache(),
		touchQ:    make(chan touchReq, 256),
		lastTouch: make(map[int64]time.Time),
		audit:     audit.New(o.Store, o.Logger, o.Now),
	}
	ctx, cancel := context.WithCancel(context.Background())
	a.stop = cancel
	a.stopWG.Add(2)
	go a.pollLoop(ctx)
	go a.touchLoop(ctx)
	return a
}

// Close stops the background goroutines. It does not close the store.
func (a *Authenticator) Close() error {
	a.stop()
	a.stopWG.Wait()
	return nil
}

// StoreError is the error of the last store.Generation poll (once a
// second by default), or nil when it succeeded: non-nil while the store
// cannot be reached. Always nil with polling disabled.
func (a *Authenticator) StoreError() error {
	if p := a.storeErr.Load(); p != nil {
		return *p
	}
	return nil
}

// Invalidate drops every cached verification at once. The management
// operations call it themselves; call it after changing access-relevant
// state in the store by other means (e.g. a data source change).
func (a *Authenticator) Invalidate() { a.cache.invalidate() }

// Generation is the store generation this server last polled. Other
// caches of store rows (the data sources) follow it the way the credential
// cache does: one poll, one notion of "changed elsewhere".
func (a *Authenticator) Generation() int64 { return a.gen.Load() }

func remoteHost(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// ClientIP is the address failures are counted against.
func (a *Authenticator) ClientIP(r *http.Request) string { return a.opts.ClientIP(r) }

// Authenticate verifies the API credential of r (basic auth key:token or
// Authorization: Bearer key:token). Sessions do not count; see
// AuthenticateRequest.
func (a *Authenticator) Authenticate(r *http.Request) (*access.Principal, error) {
	p, _, err := a.authenticate(r, false)
	return p, err
}

// AuthenticateRequest is Authenticate, also accepting the session cookie
// when allowSession is true. An Authorization header, when present, wins.
func (a *Authenticator) AuthenticateRequest(r *http.Request, allowSession bool) (*access.Principal, error) {
	p, _, err := a.authenticate(r, allowSession)
	return p, err
}

// RateLimitedError is a refusal by the failure limiter; it matches
// ErrRateLimited with errors.Is.
type RateLimitedError struct {
	// RetryAfter is how long the attempt will still be refused.
	RetryAfter time.Duration
}

func (e *RateLimitedError) Error() string { return ErrRateLimited.Error() }

// Is makes errors.Is(err, ErrRateLimited) hold.
func (e *RateLimitedError) Is(target error) bool { return target == ErrRateLimited }

// RetryAfterOf returns how long a refusal by the failure limiter lasts, or
// 0 when err is not one.
func RetryAfterOf(err error) time.Duration {
	var rl *RateLimitedError
	if errors.As(err, &rl) {
		return max(rl.RetryAfter, time.Second)
	}
	return 0
}

// authenticate returns the principal and, for sessions, the CSRF token.
// Credentials go through the failure limiter; sessions do not (their ids
// are unguessable, and an invalid one is not counted).
func (a *Authenticator) authenticate(r *http.Request, allowSession bool) (*access.Principal, string, error) {
	if raw, ok := bearerJWT(r); ok && a.opts.Tokens != nil {
		// Not through the failure limiter: a signature cannot be guessed,
		// verifying one is cheap, and an unknown kid refetches the
		// provider's keys at most every oidc.MinKeyRefresh.
		p, err := a.verifyToken(r.Context(), raw)
		return p, "", err
	}
	key, token, present, err := credentialFromHeader(r)
	if present {
		p, err := a.verifyLimited(r, key, token, err)
		return p, "", err
	}
	if err != nil {
		return nil, "", err
	}
	if allowSession {
		if c, err := r.Cookie(a.opts.CookieName); err == nil && c.Value != "" {
			return a.verifySession(r.Context(), c.Value)
		}
	}
	return nil, "", ErrNoCredentials
}

// credentialFromHeader reads key and token from the Authorization header.
// present is false when there is no Authorization header at all.
func credentialFromHeader(r *http.Request) (key, token string, present bool, err error) {
	vals := r.Header.Values("Authorization")
	if len(vals) == 0 {
		return "", "", false, nil
	}
	if len(vals) > 1 || len(vals[0]) > MaxAuthorizationLen {
		return "", "", true, ErrInvalidCredentials
	}
	h := vals[0]
	scheme, rest, _ := cutSpace(h)
	switch {
	case equalFoldASCII(scheme, "Basic"):
		// net/http's parser is what curl's key:token@host talks to.
		k, t, ok := r.BasicAuth()
		if !ok {
			return "", "", true, ErrInvalidCredentials
		}
		key, token = k, t
	case equalFoldASCII(scheme, "Bearer"):
		k, t, ok := cutColon(rest)
		if !ok {
			return "", "", true, ErrInvalidCredentials
		}
		key, token = k, t
	default:
		return "", "", true, ErrInvalidCredentials
	}
	if ValidateCredential(key, token) != nil {
		return "", "", true, ErrInvalidCredentials
	}
	return key, token, true, nil
}

func cutSpace(s string) (before, after string, found bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == ' ' {
			return s[:i], trimSpaces(s[i+1:]), true
		}
	}
	return s, "", false
}

func trimSpaces(s string) string {
	for len(s) > 0 && s[0] == ' ' {
		s = s[1:]
	}
	for len(s) > 0 && s[len(s)-1] == ' ' {
		s = s[:len(s)-1]
	}
	return s
}

func cutColon(s string) (string, string, bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == ':' {
			return s[:i], s[i+1:], true
		}
	}
	return "", "", false
}

func equalFoldASCII(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// verifyLimited verifies key:token, or counts the malformed header parseErr,
// within the failure limiter. An unproven attempt that a refusing bucket
// matches is answered before any lookup; a proven one is always verified.
func (a *Authenticator) verifyLimited(r *http.Request, key, token string, parseErr error) (*access.Principal, error) {
	ip, now := a.ClientIP(r), a.now()
	if parseErr != nil {
		// Every malformed header is one subject: a client that keeps
		// sending one is throttled, its address is not.
		subj := credSubject("")
		if d := a.limit.retryAfter(ip, subj, now); d > 0 {
			return nil, &RateLimitedError{RetryAfter: d}
		}
		a.failed(r, ip, subj, now)
		return nil, parseErr
	}
	subj := credSubject(key)
	var ck cacheKey
	ck.key = key
	copy(ck.hash[:], HashToken(token))
	here, everywhere := a.limit.credentialRefusal(ip, key, now)
	if here > 0 && !a.limit.isProven(ck, now) {
		return nil, &RateLimitedError{RetryAfter: here}
	}
	p, err := a.verifyCredential(r.Context(), key, token)
	switch {
	case err == nil:
		a.limit.prove(ck, now)
	case errors.Is(err, ErrInvalidCredentials):
		a.limit.forget(ck)
		a.failed(r, ip, subj, now)
		if everywhere > 0 {
			// Guesses spread over addresses stay refused; only the
			// right token gets through (see credentialRefusal).
			return nil, &RateLimitedError{RetryAfter: everywhere}
		}
	}
	return p, err
}

// failed counts a failed attempt and logs when it starts a refusal. Keys
// are public identifiers; login names are not logged (people type
// passwords into login fields).
func (a *Authenticator) failed(r *http.Request, ip string, s subject, now time.Time) {
	if !a.limit.fail(ip, s, now) {
		return
	}
	attrs := []any{"client", ip}
	limitKey := "auth refusal " + ip
	if s.kind == subjectCredential {
		attrs = append(attrs, "key", s.name)
		limitKey += " " + s.name
	}
	// Each refusal is its own event for the rate-limited log: keyed by the
	// message alone, one attacker's refusals would hide everyone else's.
	ctx := ratelog.WithKey(r.Context(), limitKey)
	a.log.WarnContext(ctx, "further failing attempts refused for a while", attrs...)
}

// verifyCredential resolves a well-formed key:token to a principal.
func (a *Authenticator) verifyCredential(ctx context.Context, key, token string) (*access.Principal, error) {
	now := a.now()
	var ck cacheKey
	ck.key = key
	copy(ck.hash[:], HashToken(token))

	if a.opts.CacheTTL > 0 {
		if p, ok := a.cache.get(ck, now); ok {
			a.touch(p.CredentialID, now)
			return p, nil
		}
	}
	// Read the epoch before the store so that an invalidation racing with
	// this lookup keeps its (possibly stale) result out of the cache.
	epoch := a.cache.currentEpoch()

	c, err := a.st.GetCredentialByKey(ctx, key)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrInvalidCredentials
	}
	if err != nil {
		return nil, fmt.Errorf("look up credential: %w", err)
	}
	if !EqualHash(c.TokenHash, ck.hash[:]) {
		return nil, ErrInvalidCredentials
	}
	if c.RevokedAt != nil || (c.ExpiresAt != nil && !now.Before(*c.ExpiresAt)) {
		return nil, ErrInvalidCredentials
	}
	scope, err := access.ParseScope(c.Scope)
	if err != nil {
		a.log.ErrorContext(ctx, "credential has an unreadable scope", "key", c.Key, "err", err)
		return nil, ErrInvalidCredentials
	}
	p := &access.Principal{
		CredentialID:   c.ID,
		CredentialKey:  c.Key,
		CredentialName: c.Name,
		Scope:          scope,
		DataSourceIDs:  slices.Clone(c.DataSourceIDs),
	}
	p.SetSelector(c.Selector) // parsed once here, not on every request
	if c.UserID != nil {
		u, err := a.st.GetUser(ctx, *c.UserID)
		if errors.Is(err, store.ErrNotFound) {
			return nil, ErrInvalidCredentials
		}
		if err != nil {
			return nil, fmt.Errorf("look up credential's user: %w", err)
		}
		if u.Disabled {
			return nil, ErrInvalidCredentials
		}
		role, err := access.ParseRole(u.Role)
		if err != nil {
			a.log.ErrorContext(ctx, "user has an unreadable role", "user_id", u.ID, "err", err)
			return nil, ErrInvalidCredentials
		}
		p.Kind, p.UserID, p.Login, p.Role = access.KindUserCredential, u.ID, u.Login, role
	} else {
		role, err := access.ParseRole(c.Role)
		if err != nil {
			a.log.ErrorContext(ctx, "global credential has an unreadable role", "key", c.Key, "err", err)
			return nil, ErrInvalidCredentials
		}
		p.Kind, p.Role = access.KindGlobalCredential, role
	}
	if a.opts.CacheTTL > 0 {
		var exp time.Time
		if c.ExpiresAt != nil {
			exp = *c.ExpiresAt
		}
		a.cache.put(ck, p, now.Add(a.opts.CacheTTL), exp, epoch)
	}
	a.touch(c.ID, now)
	return clonePrincipal(p), nil
}

func clonePrincipal(p *access.Principal) *access.Principal {
	q := *p
	q.DataSourceIDs = slices.Clone(p.DataSourceIDs)
	return &q
}

// touch queues a last-used-at update at most once per TouchInterval per
// credential, without ever blocking the request.
func (a *Authenticator) touch(id int64, now time.Time) {
	a.touchMu.Lock()
	last, ok := a.lastTouch[id]
	if ok && now.Sub(last) < a.opts.TouchInterval {
		a.touchMu.Unlock()
		return
	}
	a.lastTouch[id] = now
	a.touchMu.Unlock()
	select {
	case a.touchQ <- touchReq{id: id, at: now}:
	default: // queue full: skip this update, a later request will retry
		a.touchMu.Lock()
		delete(a.lastTouch, id)
		a.touchMu.Unlock()
	}
}

func (a *Authenticator) touchLoop(ctx context.Context) {
	defer a.stopWG.Done()
	for {
		select {
		case <-ctx.Done():
			return
		case t := <-a.touchQ:
			tctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			err := a.st.TouchCredential(tctx, t.id, t.at)
			cancel()
			if err != nil && !errors.Is(err, store.ErrNotFound) && ctx.Err() == nil {
				a.log.Warn("update credential last-used time", "credential_id", t.id, "err", err)
			}
		}
	}
}

// pollLoop watches store.Generation and prunes expired state.
func (a *Authenticator) pollLoop(ctx context.Context) {
	defer a.stopWG.Done()
	interval := a.opts.GenerationPoll
	if interval < 0 {
		interval = 10 * time.Second // still prune
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	lastGen := int64(-1)
	lastPrune, lastSessionGC := time.Time{}, time.Time{}
	for {
		if a.opts.GenerationPoll > 0 {
			gctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			gen, err := a.st.Generation(gctx)
			cancel()
			if err != nil && ctx.Err() == nil {
				// Cannot see other processes' changes: drop the cache
				// rather than trust it past the documented bound.
				a.cache.invalidate()
				// Logged when it starts and ends, not every poll.
				if a.storeErr.Swap(&err) == nil {
					a.log.Error("store unreachable: requests that need it answer 503 and /-/ready answers 503 until it is back", "err", err)
				}
			} else if err == nil && a.storeErr.Swap(nil) != nil {
				a.log.Info("store reachable again")
			}
			switch {
			case err != nil:
			case gen != lastGen:
				if lastGen != -1 {
					a.log.Debug("store generation changed; credential cache dropped", "generation", gen)
				}
				a.cache.invalidate()
				lastGen = gen
				a.gen.Store(gen)
			}
		}
		now := a.now()
		if now.Sub(lastPrune) > 10*time.Second {
			lastPrune = now
			a.cache.prune(now)
			a.limit.prune(now)
			a.touchMu.Lock()
			for id, t := range a.lastTouch {
				if now.Sub(t) > a.opts.TouchInterval {
					delete(a.lastTouch, id)
				}
			}
			a.touchMu.Unlock()
		}
		if now.Sub(lastSessionGC) > 10*time.Minute {
			lastSessionGC = now
			sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			if err := a.st.DeleteExpiredSessions(sctx, now); err != nil && ctx.Err() == nil {
				a.log.Warn("delete expired sessions", "err", err)
			}
			cancel()
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// credCache holds verified credentials keyed by key and token hash, so a
// wrong token for a known key never hits.
type credCache struct {
	mu      sync.RWMutex
	epoch   uint64
	entries map[cacheKey]cacheEntry
}

type cacheKey struct {
	key  string
	hash [32]byte
}

type cacheEntry struct {
	p          *access.Principal
	validUntil time.Time
	credExpiry time.Time // zero: never
}

func newCredCache() *credCache {
	return &credCache{entries: make(map[cacheKey]cacheEntry)}
}

func (c *credCache) get(k cacheKey, now time.Time) (*access.Principal, bool) {
	c.mu.RLock()
	e, ok := c.entries[k]
	c.mu.RUnlock()
	if !ok || !now.Before(e.validUntil) || (!e.credExpiry.IsZero() && !now.Before(e.credExpiry)) {
		return nil, false
	}
	return clonePrincipal(e.p), true
}

func (c *credCache) currentEpoch() uint64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.epoch
}

// put stores an entry unless the cache was invalidated since epoch was read.
func (c *credCache) put(k cacheKey, p *access.Principal, validUntil, credExpiry time.Time, epoch uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.epoch != epoch {
		return
	}
	if len(c.entries) >= maxCacheEntries {
		clear(c.entries)
	}
	c.entries[k] = cacheEntry{p: clonePrincipal(p), validUntil: validUntil, credExpiry: credExpiry}
}

func (c *credCache) invalidate() {
	c.mu.Lock()
	c.epoch++
	clear(c.entries)
	c.mu.Unlock()
}

func (c *credCache) prune(now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, e := range c.entries {
		if !now.Before(e.validUntil) {
			delete(c.entries, k)
		}
	}
}
