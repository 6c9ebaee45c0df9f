package auth

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/promgate/promgate/internal/access"
	"github.com/promgate/promgate/internal/store"
)

// ErrForbidden is a valid bearer token that its provider's rules grant no
// access (no role, no scope or no selector rule): 403, not 401.
var ErrForbidden = errors.New("token grants no access")

// MaxBearerTokenLen caps the Authorization header when it carries a JWT;
// providers' access tokens with a few group claims are 1 to 3 KiB.
const MaxBearerTokenLen = 8192

// TokenVerifier verifies the JWT of a configured OpenID Connect provider
// (internal/oidc). Errors wrap ErrInvalidCredentials (it does not verify)
// or ErrForbidden (it verifies but grants nothing).
type TokenVerifier interface {
	VerifyToken(ctx context.Context, raw string) (VerifiedToken, error)
}

// VerifiedToken is what a verified JWT grants: a principal of kind
// access.KindToken, and who it names at which provider until when.
type VerifiedToken struct {
	Principal *access.Principal
	Provider  string
	Subject   string
	Expiry    time.Time
}

// jwtCacheKey marks cache entries of JWTs: no credential key is empty.
const jwtCacheKey = ""

// bearerJWT returns the JWT of an "Authorization: Bearer <JWT>" header; ok
// is false for anything else (key:token included), which the credential
// path then judges.
func bearerJWT(r *http.Request) (string, bool) {
	vals := r.Header.Values("Authorization")
	if len(vals) != 1 || len(vals[0]) > MaxBearerTokenLen {
		return "", false
	}
	scheme, rest, _ := cutSpace(vals[0])
	if !equalFoldASCII(scheme, "Bearer") || strings.Count(rest, ".") != 2 || strings.ContainsAny(rest, ": ") {
		return "", false
	}
	return rest, true
}

// verifyToken resolves a bearer JWT to a principal. A verified token is
// cached under its hash like a credential (until CacheTTL or its exp, and
// dropped by every invalidation), so the signature is checked once per
// token and not per request. A token whose subject signed in to promgate
// as a user acts as that user, never above the user's current role, and
// is refused while the user is disabled.
func (a *Authenticator) verifyToken(ctx context.Context, raw string) (*access.Principal, error) {
	if a.opts.Tokens == nil {
		return nil, ErrInvalidCredentials
	}
	now := a.now()
	ck := cacheKey{key: jwtCacheKey, hash: sha256.Sum256([]byte(raw))}
	if a.opts.CacheTTL > 0 {
		if p, ok := a.cache.get(ck, now); ok {
			return p, nil
		}
	}
	epoch := a.cache.currentEpoch()
	vt, err := a.opts.Tokens.VerifyToken(ctx, raw)
	if err != nil {
		return nil, err
	}
	p := vt.Principal
	u, err := a.st.GetUserBySubject(ctx, vt.Provider, vt.Subject)
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return nil, fmt.Errorf("look up token's user: %w", err)
	case u.Disabled:
		return nil, fmt.Errorf("%w: user %q is disabled", ErrInvalidCredentials, u.Login)
	default:
		role, err := access.ParseRole(u.Role)
		if err != nil {
			return nil, fmt.Errorf("%w: user %d has an unreadable role", ErrInvalidCredentials, u.ID)
		}
		p.UserID, p.Login = u.ID, u.Login
		p.Role = min(p.Role, role)
	}
	if a.opts.CacheTTL > 0 {
		a.cache.put(ck, p, now.Add(a.opts.CacheTTL), vt.Expiry, epoch)
	}
	return clonePrincipal(p), nil
}
