// Package oidc is promgate's OpenID Connect relying party: it verifies the
// JWTs that machines send as bearer tokens against their provider's
// published keys and maps their claims to a principal through the
// provider's rules, and it signs people in with the authorization code
// flow (PKCE, state and nonce). The providers are the `oidc:` section of
// the config file (internal/config).
package oidc

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"

	"github.com/promgate/promgate/internal/access"
	"github.com/promgate/promgate/internal/auth"
	"github.com/promgate/promgate/internal/config"
)

// Options configures a Set.
type Options struct {
	Config config.OIDC
	// Client reaches the providers; default: a client with a 10s timeout.
	Client *http.Client
	Logger *slog.Logger
	Now    func() time.Time
}

// Set is every configured provider. It is safe for concurrent use.
type Set struct {
	providers []*Provider
	byIssuer  map[string]*Provider
	log       *slog.Logger
	// PasswordLoginDisabled: only the initial OWNER signs in with a password.
	PasswordLoginDisabled bool
}

// New compiles every provider's rules; the error lists every mistake.
// Nothing is fetched from the providers yet (see Provider.discover).
func New(o Options) (*Set, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Client == nil {
		o.Client = &http.Client{Timeout: 10 * time.Second}
	}
	o.Client = boundedClient(o.Client, maxProviderAnswer)
	s := &Set{byIssuer: map[string]*Provider{}, log: o.Logger, PasswordLoginDisabled: o.Config.DisablePasswordLogin}
	var errs []error
	for i, pc := range o.Config.Providers {
		rules, err := CompileRules(fmt.Sprintf("oidc.providers[%d]", i), pc)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		p := &Provider{cfg: pc, rules: rules, client: o.Client, log: o.Logger.With("oidc_provider", pc.Name), now: o.Now}
		s.providers = append(s.providers, p)
		s.byIssuer[pc.IssuerURL] = p
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return s, nil
}

// Providers lists the providers in configured order.
func (s *Set) Providers() []*Provider { return slices.Clone(s.providers) }

// Provider returns the provider of this name, or nil.
func (s *Set) Provider(name string) *Provider {
	for _, p := range s.providers {
		if p.cfg.Name == name {
			return p
		}
	}
	return nil
}

// Warm discovers every provider and fetches its keys, so that tokens
// verify from the first request and keep verifying should the provider go
// down later. A provider that cannot be reached is logged and retried on
// first use.
func (s *Set) Warm(ctx context.Context) {
	for _, p := range s.providers {
		d, err := p.discover(ctx)
		if err != nil {
			continue // discover logged it
		}
		if err := d.keys.refresh(ctx); err != nil {
			p.log.WarnContext(ctx, "OpenID provider not reachable at start; its tokens and sign-ins fail until it is", "err", err)
		}
	}
}

// VerifyToken implements auth.TokenVerifier: it finds the provider by the
// token's iss and verifies the token with it.
func (s *Set) VerifyToken(ctx context.Context, raw string) (auth.VerifiedToken, error) {
	iss, err := peekIssuer(raw)
	if err != nil {
		return auth.VerifiedToken{}, fmt.Errorf("%w: %v", auth.ErrInvalidCredentials, err)
	}
	p, ok := s.byIssuer[iss]
	if !ok {
		return auth.VerifiedToken{}, fmt.Errorf("%w: token of an issuer that is not configured", auth.ErrInvalidCredentials)
	}
	return p.VerifyBearer(ctx, raw)
}

// peekIssuer reads iss from a JWT's payload before verification, only to
// choose the provider that verifies it.
func peekIssuer(raw string) (string, error) {
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return "", errors.New("not a signed JWT")
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return "", errors.New("token payload is not base64url")
	}
	var c struct {
		Iss string `json:"iss"`
	}
	if err := json.Unmarshal(payload, &c); err != nil {
		return "", errors.New("token payload is not a JSON object")
	}
	return c.Iss, nil
}

// Provider is one configured OpenID provider.
type Provider struct {
	cfg    config.OIDCProvider
	rules  *Rules
	client *http.Client
	log    *slog.Logger
	now    func() time.Time

	mu      sync.Mutex
	disc    *discovered
	lastTry time.Time
	lastErr error
}

// discovered is what the provider's discovery document said.
type discovered struct {
	op         *gooidc.Provider
	keys       *keySet
	bearer     *gooidc.IDTokenVerifier // aud: the configured audience
	idToken    *gooidc.IDTokenVerifier // aud: the client id
	endSession string
}

// Name is the provider's configured name.
func (p *Provider) Name() string { return p.cfg.Name }

// rediscoverAfter is how long a failed discovery is remembered before the
// next attempt, so that a provider that is down is not asked per request.
const rediscoverAfter = 10 * time.Second

// asymmetric are the signature algorithms a token may use: public-key
// ones only, so a token cannot pick HMAC with the public key as secret.
var asymmetric = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}

// discover reads the provider's discovery document once (go-oidc checks
// that it names the configured issuer); a failure is retried after
// rediscoverAfter.
func (p *Provider) discover(ctx context.Context) (*discovered, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.disc != nil {
		return p.disc, nil
	}
	if !p.lastTry.IsZero() && p.now().Sub(p.lastTry) < rediscoverAfter {
		return nil, p.lastErr
	}
	p.lastTry = p.now()
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	op, err := gooidc.NewProvider(gooidc.ClientContext(dctx, p.client), p.cfg.IssuerURL)
	if err != nil {
		p.lastErr = fmt.Errorf("discover OpenID provider %s at %s: %w", p.cfg.Name, p.cfg.IssuerURL, err)
		// Logged once per attempt (at most one per rediscoverAfter), not
		// per request: anyone can send a token naming a public issuer.
		p.log.WarnContext(ctx, "OpenID provider discovery failed; its tokens and sign-ins fail until it succeeds", "err", p.lastErr, "retry_after", rediscoverAfter)
		return nil, p.lastErr
	}
	var meta struct {
		JWKSURI    string   `json:"jwks_uri"`
		Algs       []string `json:"id_token_signing_alg_values_supported"`
		EndSession string   `json:"end_session_endpoint"`
	}
	if err := op.Claims(&meta); err != nil || meta.JWKSURI == "" {
		p.lastErr = fmt.Errorf("OpenID provider %s: discovery document has no jwks_uri", p.cfg.Name)
		p.log.WarnContext(ctx, "OpenID provider discovery failed; its tokens and sign-ins fail until it succeeds", "err", p.lastErr, "retry_after", rediscoverAfter)
		return nil, p.lastErr
	}
	var algs []string
	for _, a := range meta.Algs {
		if slices.Contains(asymmetric, a) {
			algs = append(algs, a)
		}
	}
	if len(algs) == 0 {
		algs = []string{"RS256"}
	}
	joseAlgs := make([]jose.SignatureAlgorithm, len(algs))
	for i, a := range algs {
		joseAlgs[i] = jose.SignatureAlgorithm(a)
	}
	keys := newKeySet(meta.JWKSURI, p.client, joseAlgs, p.now)
	// Expiry is checked by checkTimes, with the configured clock skew.
	p.disc = &discovered{
		op:         op,
		keys:       keys,
		bearer:     gooidc.NewVerifier(p.cfg.IssuerURL, keys, &gooidc.Config{ClientID: p.cfg.Audience, SupportedSigningAlgs: algs, SkipExpiryCheck: true}),
		idToken:    gooidc.NewVerifier(p.cfg.IssuerURL, keys, &gooidc.Config{ClientID: p.cfg.ClientID, SupportedSigningAlgs: algs, SkipExpiryCheck: true}),
		endSession: meta.EndSession,
	}
	p.lastErr = nil
	return p.disc, nil
}

// reachable asks the provider for its discovery document, briefly.
func (p *Provider) reachable(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	u := strings.TrimSuffix(p.cfg.IssuerURL, "/") + "/.well-known/openid-configuration"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return fmt.Errorf("reach OpenID provider %s: %w", p.cfg.Name, err)
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return fmt.Errorf("reach OpenID provider %s: %w", p.cfg.Name, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("reach OpenID provider %s: %s", p.cfg.Name, resp.Status)
	}
	return nil
}

// MaxSubjectLen bounds the sub claim promgate keeps.
const MaxSubjectLen = 255

// VerifyBearer verifies a machine's JWT (signature, iss, aud, exp, nbf)
// and maps its claims to a principal through the provider's rules.
func (p *Provider) VerifyBearer(ctx context.Context, raw string) (auth.VerifiedToken, error) {
	d, err := p.discover(ctx)
	if err != nil {
		// Not logged here nor passed on whole (it may quote the provider's
		// answer): discover logs each failed attempt once.
		return auth.VerifiedToken{}, fmt.Errorf("%w: OpenID provider %s unavailable", auth.ErrInvalidCredentials, p.cfg.Name)
	}
	claims, exp, err := p.verify(ctx, d.bearer, raw)
	if err != nil {
		return auth.VerifiedToken{}, err
	}
	sub, _ := claims.String("sub")
	g, err := p.rules.Evaluate(claims)
	if err != nil {
		return auth.VerifiedToken{}, fmt.Errorf("%w: %v", auth.ErrForbidden, err)
	}
	pr := &access.Principal{
		Kind:           access.KindToken,
		Role:           g.Role,
		Scope:          g.Scope,
		DataSourceIDs:  g.DataSourceIDs,
		CredentialKey:  "oidc:" + p.cfg.Name + ":" + sub,
		CredentialName: p.cfg.Name,
	}
	pr.SetPolicy(g.Policy)
	return auth.VerifiedToken{Principal: pr, Provider: p.cfg.Name, Subject: sub, Expiry: exp}, nil
}

// verify checks a token with v and the times with the provider's clock
// skew; every failure wraps auth.ErrInvalidCredentials.
func (p *Provider) verify(ctx context.Context, v *gooidc.IDTokenVerifier, raw string) (Claims, time.Time, error) {
	invalid := func(err error) (Claims, time.Time, error) {
		return nil, time.Time{}, fmt.Errorf("%w: %v", auth.ErrInvalidCredentials, err)
	}
	tok, err := v.Verify(ctx, raw)
	if err != nil {
		return invalid(err)
	}
	var c Claims
	if err := tok.Claims(&c); err != nil {
		return invalid(err)
	}
	exp, err := checkTimes(c, p.now(), time.Duration(p.cfg.ClockSkew))
	if err != nil {
		return invalid(err)
	}
	if sub, ok := c.String("sub"); !ok || sub == "" || len(sub) > MaxSubjectLen {
		return invalid(errors.New("token has no usable sub"))
	}
	return c, exp, nil
}

// checkTimes requires exp, and nbf when present, to hold within skew.
func checkTimes(c Claims, now time.Time, skew time.Duration) (time.Time, error) {
	expV, ok := c.Lookup("exp")
	expF, isNum := expV.(float64)
	if !ok || !isNum {
		return time.Time{}, errors.New("token has no exp")
	}
	exp := time.Unix(int64(expF), 0)
	if !now.Before(exp.Add(skew)) {
		return time.Time{}, fmt.Errorf("token expired at %s", exp.UTC().Format(time.RFC3339))
	}
	if nbfV, ok := c.Lookup("nbf"); ok {
		nbfF, isNum := nbfV.(float64)
		if !isNum {
			return time.Time{}, errors.New("token has a malformed nbf")
		}
		if nbf := time.Unix(int64(nbfF), 0); now.Add(skew).Before(nbf) {
			return time.Time{}, fmt.Errorf("token not valid before %s", nbf.UTC().Format(time.RFC3339))
		}
	}
	return exp, nil
}
