package oidc

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"

	"github.com/promgate/promgate/internal/access"
	"github.com/promgate/promgate/internal/auth"
	"github.com/promgate/promgate/internal/config"
	"github.com/promgate/promgate/internal/store"
	"github.com/promgate/promgate/internal/store/sqlstore"
)

const benchIssuer = "http://127.0.0.1:4444"

// cachedKeySet returns a Set of one provider whose discovery is done and
// whose keys are cached, as after the first token: verifying then needs
// no request to the provider, which is what this measures.
func cachedKeySet(tb testing.TB, key *rsa.PrivateKey, kid string) *Set {
	tb.Helper()
	cfg := config.OIDCProvider{
		Name: "Bench", IssuerURL: benchIssuer, ClientID: "promgate", Audience: "promgate",
		GroupsClaim: "groups", ReadScope: "read", WriteScope: "write", ClockSkew: 30_000_000_000,
		DefaultRole: "VIEWER",
		SelectorRules: []config.SelectorRule{
			{ClaimMatch: config.ClaimMatch{Group: "payments"}, Selector: `{team="payments"}`},
			{ClaimMatch: config.ClaimMatch{Claim: "tenant"}, Selector: `{tenant="{{ .tenant }}"}`},
		},
	}
	set, err := New(Options{Config: config.OIDC{Providers: []config.OIDCProvider{cfg}}})
	if err != nil {
		tb.Fatal(err)
	}
	p := set.providers[0]
	ks := newKeySet(benchIssuer+"/.well-known/jwks.json", http.DefaultClient, []jose.SignatureAlgorithm{jose.RS256}, time.Now)
	keys := []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: kid, Algorithm: "RS256", Use: "sig"}}
	ks.keys.Store(&keys)
	p.disc = &discovered{keys: ks,
		bearer: gooidc.NewVerifier(benchIssuer, ks, &gooidc.Config{ClientID: "promgate", SupportedSigningAlgs: []string{"RS256"}, SkipExpiryCheck: true})}
	return set
}

func benchToken(tb testing.TB, key *rsa.PrivateKey, kid string) string {
	tb.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: key, KeyID: kid}}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		tb.Fatal(err)
	}
	now := time.Now()
	// Shaped like a Hydra client-credentials access token.
	payload, _ := json.Marshal(map[string]any{
		"iss": benchIssuer, "aud": []string{"promgate"}, "sub": "3f6c9a52-bench-client", "client_id": "3f6c9a52-bench-client",
		"exp": now.Add(time.Hour).Unix(), "iat": now.Unix(), "nbf": now.Unix(), "jti": "0b7c1e5e-8f7e-4c1a-9d7e-000000000000",
		"scp": []string{"read"}, "groups": []string{"payments"}, "ext": map[string]any{"groups": []string{"payments"}},
	})
	obj, err := signer.Sign(payload)
	if err != nil {
		tb.Fatal(err)
	}
	s, err := obj.CompactSerialize()
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// BenchmarkBearerVsKeyToken measures, in one run, the cached key:token
// check every credential request pays (the baseline) against a provider's
// JWT: verified in full on every request with the keys cached (signature,
// iss, aud, exp/nbf, claims through the rules into a parsed policy), and
// through the Authenticator, which caches a verified token like a
// credential. TestBearerBenchRatios prints the ratios.
func BenchmarkBearerVsKeyToken(b *testing.B) {
	for _, c := range bearerBenchCases(b) {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := c.run(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

type benchCase struct {
	name string
	run  func() error
}

func bearerBenchCases(tb testing.TB) []benchCase {
	tb.Helper()
	ctx := context.Background()
	st, err := sqlstore.OpenSQLite(ctx, filepath.Join(tb.TempDir(), "promgate.db"), nil)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = st.Close() })
	u, err := st.CreateUser(ctx, store.User{Login: "bench", Role: access.RoleEditor.String()})
	if err != nil {
		tb.Fatal(err)
	}
	k, tok, err := auth.GenerateCredential()
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := st.CreateCredential(ctx, store.Credential{Key: k, TokenHash: auth.HashToken(tok), Name: "b", UserID: &u.ID, CreatedAt: time.Now(), Scope: "read"}); err != nil {
		tb.Fatal(err)
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		tb.Fatal(err)
	}
	set := cachedKeySet(tb, key, "bench-kid")
	jwt := benchToken(tb, key, "bench-kid")
	a := auth.New(auth.Options{Store: st, Tokens: set})
	tb.Cleanup(func() { _ = a.Close() })

	parts := strings.Split(jwt, ".")
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		tb.Fatal(err)
	}
	credReq, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1/api/v1/query", nil)
	credReq.SetBasicAuth(k, tok)
	jwtReq, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1/api/v1/query", nil)
	jwtReq.Header.Set("Authorization", "Bearer "+jwt)
	return []benchCase{
		{"key_token_cached", func() error { _, err := a.Authenticate(credReq); return err }},
		{"jwt_verify_cached_keys", func() error {
			vt, err := set.VerifyToken(ctx, jwt)
			if err == nil && vt.Principal.Selector != `{team="payments"}` {
				err = fmt.Errorf("selector %q", vt.Principal.Selector)
			}
			return err
		}},
		{"jwt_authenticate_cached", func() error { _, err := a.Authenticate(jwtReq); return err }},
		// The floor of a full verification: crypto/rsa checking the one
		// RS256 signature, nothing else.
		{"rs256_signature_only", func() error { return rsa.VerifyPKCS1v15(&key.PublicKey, crypto.SHA256, digest[:], sig) }},
	}
}

// TestBearerBenchRatios runs the three cases alternately and prints each
// one's time and its ratio to the cached key:token check (go test -run
// TestBearerBenchRatios -v -bench-ratios). Skipped unless asked for: it
// takes a few seconds and asserts the targets only as a log line.
func TestBearerBenchRatios(t *testing.T) {
	if testing.Short() || !*benchRatios {
		t.Skip("run with -args -bench-ratios to measure")
	}
	cases := bearerBenchCases(t)
	best := make([]float64, len(cases))
	for round := 0; round < 5; round++ {
		for i, c := range cases {
			r := testing.Benchmark(func(b *testing.B) {
				for b.Loop() {
					if err := c.run(); err != nil {
						b.Fatal(err)
					}
				}
			})
			ns := float64(r.T.Nanoseconds()) / float64(r.N)
			if round == 0 || ns < best[i] {
				best[i] = ns
			}
		}
	}
	for i, c := range cases {
		t.Logf("%-26s %9.0f ns/op  ratio to key_token_cached %.2f", c.name, best[i], best[i]/best[0])
	}
}

var benchRatios = flag.Bool("bench-ratios", false, "run TestBearerBenchRatios")
