package server_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/prompb"
	"gopkg.in/yaml.v3"

	"github.com/promgate/promgate/internal/app"
	"github.com/promgate/promgate/internal/audit"
	"github.com/promgate/promgate/internal/config"
	"github.com/promgate/promgate/internal/hydratest"
	"github.com/promgate/promgate/internal/promtest"
	"github.com/promgate/promgate/internal/server"
	"github.com/promgate/promgate/internal/store"
	"github.com/promgate/promgate/internal/testpeer"
)

// oidcProvider is the provider config of these tests: groups map to roles
// and selectors, a tenant claim is templated into a selector.
func oidcProvider(h *hydratest.Hydra) config.OIDCProvider {
	return config.OIDCProvider{
		Name: "Hydra", IssuerURL: h.Issuer, ClientID: hydratest.Audience, Audience: hydratest.Audience,
		Scopes: []string{"openid"}, LoginClaim: "email", GroupsClaim: "groups",
		ReadScope: "read", WriteScope: "write", ClockSkew: 0, DefaultRole: "VIEWER",
		RoleRules: []config.RoleRule{
			{ClaimMatch: config.ClaimMatch{Group: "metrics-admins"}, Role: "OWNER"},
			{ClaimMatch: config.ClaimMatch{Group: "writers"}, Role: "EDITOR"},
		},
		SelectorRules: []config.SelectorRule{
			{ClaimMatch: config.ClaimMatch{Group: "prod-readers"}, Selector: `{asserts_env="prod"}`},
			{ClaimMatch: config.ClaimMatch{Claim: "tenant"}, Selector: `{team="{{ .tenant }}"}`},
			{ClaimMatch: config.ClaimMatch{Group: "metrics-admins"}, Selector: ""},
		},
	}
}

func startOIDC(t *testing.T, h *hydratest.Hydra, edit ...func(*config.OIDCProvider)) *promtest.Server {
	t.Helper()
	p := oidcProvider(h)
	for _, e := range edit {
		e(&p)
	}
	// Through the config file loader, as `promgate serve` reads it.
	o := loadOIDC(t, p)
	return promtest.Start(t, func(c *app.Config) { c.OIDC = o })
}

// loadOIDC writes the provider as an oidc: section and reads it back with
// config.LoadOIDC, so defaults and checks are the real ones.
func loadOIDC(t *testing.T, p config.OIDCProvider) config.OIDC {
	t.Helper()
	text, err := yaml.Marshal(map[string]any{"oidc": config.OIDC{Providers: []config.OIDCProvider{p}}})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "promgate.yml")
	if err := os.WriteFile(path, text, 0o600); err != nil {
		t.Fatal(err)
	}
	o, err := config.LoadOIDC(path)
	if err != nil {
		t.Fatalf("load %s: %v", text, err)
	}
	return o
}

func bearer(tok string) func(*http.Request) {
	return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) }
}

func getWith(t *testing.T, u string, authorize func(*http.Request)) (int, apiBody) {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx(t), "GET", u, nil)
	authorize(req)
	return send(t, req)
}

// TestOIDCBearerProxyAndPolicies: client-credentials JWTs from a real Hydra
// read through the proxy path with the role, scope and selector their
// claims map to; a group rule confines every read endpoint (the attack
// table); a token no rule grants anything gets 403.
func TestOIDCBearerProxyAndPolicies(t *testing.T) {
	h := hydratest.Start(t)
	s := startOIDC(t, h)
	now := time.Now().Truncate(time.Second)
	twoTenants(t, s, now)

	admin := h.CreateClient("read", "write")
	h.SetClientClaims(admin.ID, map[string]any{"groups": []string{"metrics-admins"}})
	prod := h.CreateClient("read")
	h.SetClientClaims(prod.ID, map[string]any{"groups": []string{"prod-readers"}})
	tenant := h.CreateClient("read")
	h.SetClientClaims(tenant.ID, map[string]any{"tenant": "dev-team"})
	stranger := h.CreateClient("read")
	h.SetClientClaims(stranger.ID, map[string]any{"groups": []string{"nobody"}})
	noScope := h.CreateClient("read", "openid")

	q := s.URL + server.ProxyPrefix + "1/api/v1/query?query=" + "count%28http_requests_total%29"
	tests := []struct {
		name   string
		token  string
		status int
		want   string
	}{
		{"unconfined admin sees both", h.Token(admin, "read"), 200, `"2"`},
		{"group rule confines", h.Token(prod, "read"), 200, `"1"`},
		{"templated tenant confines", h.Token(tenant, "read"), 200, `"1"`},
		{"no rule matches", h.Token(stranger, "read"), 403, ""},
		{"no read scope", h.Token(noScope, "openid"), 403, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, b := getWith(t, q, bearer(tt.token))
			if code != tt.status || !strings.Contains(string(b.Data), tt.want) {
				t.Fatalf("got %d %s %s, want %d with %s", code, b.Data, b.Error, tt.status, tt.want)
			}
		})
	}
	// The tenant's selector is its claim as a value: only dev-team's series.
	code, b := getWith(t, s.URL+server.ProxyPrefix+"1/api/v1/series?match[]=http_requests_total", bearer(h.Token(tenant, "read")))
	if code != 200 || !strings.Contains(string(b.Data), "dev-team") || strings.Contains(string(b.Data), "prod-team") {
		t.Fatalf("tenant series: %d %s", code, b.Data)
	}
	// A provider's token reaches the proxy path and remote_write only.
	code, _ = getWith(t, s.URL+"/api-server/v1/users", bearer(h.Token(admin, "read")))
	if code != http.StatusForbidden && code != http.StatusUnauthorized {
		t.Fatalf("management API with a token: %d, want 401 or 403", code)
	}

	t.Run("attack table", func(t *testing.T) {
		labelPolicyAttacks(t, s, now, bearer(h.Token(prod, "read")))
	})
}

// TestOIDCBearerClients: a JWT from the client-credentials grant used by
// curl, by the reference Python script (token in the header) and by
// promtool (authorization in its HTTP config), for queries and for
// remote_write.
func TestOIDCBearerClients(t *testing.T) {
	h := hydratest.Start(t)
	s := startOIDC(t, h)
	writer := h.CreateClient("read", "write")
	h.SetClientClaims(writer.ID, map[string]any{"groups": []string{"writers", "metrics-admins"}})
	tok := h.Token(writer, "read", "write")
	base := s.URL + server.ProxyPrefix + "1"

	t.Run("curl", func(t *testing.T) {
		out, err := exec.CommandContext(ctx(t), "curl", "-sS", "--fail-with-body", "-H", "Authorization: Bearer "+tok,
			base+"/api/v1/query?query=up").CombinedOutput()
		if err != nil || !strings.Contains(string(out), `"job":"promgate"`) {
			t.Fatalf("curl: %v\n%s", err, out)
		}
		out, _ = exec.CommandContext(ctx(t), "curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-H", "Authorization: Bearer "+tok+"x",
			base+"/api/v1/query?query=up").CombinedOutput()
		if string(out) != "401" {
			t.Fatalf("curl with a broken token: %s, want 401", out)
		}
	})

	t.Run("reference python script", func(t *testing.T) {
		py := "/usr/bin/python3"
		if out, err := exec.Command(py, "-c", "import requests").CombinedOutput(); err != nil {
			testpeer.Missing(t, testpeer.PythonReq, "python3 cannot import requests ("+strings.TrimSpace(string(out))+"); install it with: apt-get install -y python3-requests")
		}
		script, err := filepath.Abs("testdata/reference_query_csv_bearer.py")
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.CommandContext(ctx(t), py, script, `up{job="promgate"}`)
		cmd.Env = append(os.Environ(), "PROMGATE_URL="+base, "PROMGATE_TOKEN="+tok)
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.HasPrefix(string(out), "name,timestamp,value,") || !strings.Contains(string(out), "\nup,") {
			t.Fatalf("script: %v\n%s", err, out)
		}
	})

	t.Run("promtool query", func(t *testing.T) {
		bin := promtoolBin(t)
		cfg := filepath.Join(t.TempDir(), "http.yml")
		if err := os.WriteFile(cfg, []byte("authorization:\n  type: Bearer\n  credentials: "+tok+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		out, err := exec.CommandContext(ctx(t), bin, "query", "instant", "--http.config.file="+cfg, base, `up{job="promgate"}`).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "up{instance=") {
			t.Fatalf("promtool query: %v\n%s", err, out)
		}
	})

	t.Run("promtool remote_write", func(t *testing.T) {
		bin := promtoolBin(t)
		metrics := filepath.Join(t.TempDir(), "m.prom")
		if err := os.WriteFile(metrics, []byte("# TYPE oidc_pushed gauge\noidc_pushed{asserts_env=\"prod\"} 42\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg := filepath.Join(t.TempDir(), "http.yml")
		if err := os.WriteFile(cfg, []byte("authorization:\n  type: Bearer\n  credentials: "+tok+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		// The URL is the base: promtool adds --remote-write.path (/api/v1/write).
		out, err := exec.CommandContext(ctx(t), bin, "push", "--http.config.file="+cfg, "metrics", s.URL, metrics).CombinedOutput()
		if err != nil {
			t.Fatalf("promtool push metrics: %v\n%s", err, out)
		}
		code, b := getWith(t, base+"/api/v1/query?query=oidc_pushed", bearer(tok))
		if code != 200 || !strings.Contains(string(b.Data), `"42"`) {
			t.Fatalf("pushed sample not readable: %d %s", code, b.Data)
		}
	})

	t.Run("remote_write confined and scoped", func(t *testing.T) {
		confined := h.CreateClient("write")
		h.SetClientClaims(confined.ID, map[string]any{"groups": []string{"writers", "prod-readers"}})
		ctok := h.Token(confined, "write")
		readOnly := h.Token(h.CreateClient("read"), "read")
		body := func(env string) []byte {
			wr := prompb.WriteRequest{Timeseries: []prompb.TimeSeries{{
				Labels:  []prompb.Label{{Name: "__name__", Value: "oidc_written"}, {Name: "asserts_env", Value: env}},
				Samples: []prompb.Sample{{Timestamp: time.Now().UnixMilli(), Value: 1}},
			}}}
			raw, _ := wr.Marshal()
			return snappy.Encode(nil, raw)
		}
		for _, c := range []struct {
			name, token, env string
			want             int
		}{
			{"inside the selector", ctok, "prod", http.StatusNoContent},
			{"outside the selector", ctok, "dev", http.StatusForbidden},
			{"no write scope", readOnly, "prod", http.StatusForbidden},
		} {
			req, _ := http.NewRequestWithContext(ctx(t), "POST", s.URL+"/api/v1/write", bytes.NewReader(body(c.env)))
			req.Header.Set("Content-Type", "application/x-protobuf")
			req.Header.Set("Content-Encoding", "snappy")
			bearer(c.token)(req)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != c.want {
				t.Errorf("%s: %d, want %d", c.name, resp.StatusCode, c.want)
			}
		}
	})
}

// hydraKey is the private key Hydra signs access tokens with, read from its
// admin API, so that the test can sign tokens Hydra's JWKS vouches for
// with claims of its choosing (expired, wrong audience...).
func hydraKey(t *testing.T, h *hydratest.Hydra) jose.JSONWebKey {
	t.Helper()
	// Hydra makes the key when it first signs an access token.
	_ = h.Token(h.CreateClient("read"), "read")
	var set jose.JSONWebKeySet
	h.AdminJSON(http.MethodGet, "/admin/keys/hydra.jwt.access-token", nil, &set)
	for _, k := range set.Keys {
		if !k.IsPublic() && k.Use == "sig" {
			return k
		}
	}
	t.Fatalf("no private signing key in hydra.jwt.access-token: %+v", set.Keys)
	return jose.JSONWebKey{}
}

func signJWT(t *testing.T, key jose.JSONWebKey, alg jose.SignatureAlgorithm, claims map[string]any) string {
	t.Helper()
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(claims)
	obj, err := sig.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	s, err := obj.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// TestOIDCBearerRefusals: tokens that must not verify get 401, each for its
// own reason, while the same claims signed properly get through; a user
// disabled in promgate is refused at once; with Hydra down, the cached keys
// keep verifying.
func TestOIDCBearerRefusals(t *testing.T) {
	h := hydratest.Start(t)
	s := startOIDC(t, h)
	key := hydraKey(t, h)
	q := s.URL + server.ProxyPrefix + "1/api/v1/query?query=up"
	now := time.Now()
	claims := func(edit func(map[string]any)) map[string]any {
		c := map[string]any{
			"iss": h.Issuer, "aud": []string{hydratest.Audience}, "sub": "crafted",
			"exp": now.Add(time.Hour).Unix(), "iat": now.Unix(), "nbf": now.Unix(),
			"scp": []string{"read"}, "groups": []string{"metrics-admins"},
		}
		if edit != nil {
			edit(c)
		}
		return c
	}
	good := signJWT(t, key, jose.RS256, claims(nil))
	if code, b := getWith(t, q, bearer(good)); code != 200 {
		t.Fatalf("a crafted token signed with Hydra's key must pass: %d %s", code, b.Error)
	}
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pubDER, _ := x509.MarshalPKIXPublicKey(key.Public().Key)
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	hs256 := func(secret []byte) string {
		head := b64([]byte(`{"alg":"HS256","typ":"JWT","kid":"` + key.KeyID + `"}`))
		payload, _ := json.Marshal(claims(nil))
		in := head + "." + b64(payload)
		m := hmac.New(sha256.New, secret)
		m.Write([]byte(in))
		return in + "." + b64(m.Sum(nil))
	}
	parts := strings.Split(h.Token(h.CreateClient("read"), "read"), ".")
	tamperedPayload, _ := json.Marshal(claims(nil))
	tests := []struct{ name, token string }{
		{"expired", signJWT(t, key, jose.RS256, claims(func(c map[string]any) {
			c["exp"], c["iat"], c["nbf"] = now.Add(-time.Hour).Unix(), now.Add(-2*time.Hour).Unix(), now.Add(-2*time.Hour).Unix()
		}))},
		{"not yet valid", signJWT(t, key, jose.RS256, claims(func(c map[string]any) { c["nbf"] = now.Add(10 * time.Minute).Unix() }))},
		{"wrong audience", signJWT(t, key, jose.RS256, claims(func(c map[string]any) { c["aud"] = []string{"someone-else"} }))},
		{"wrong issuer", signJWT(t, key, jose.RS256, claims(func(c map[string]any) { c["iss"] = "http://127.0.0.1:1" }))},
		{"issuer with a trailing slash", signJWT(t, key, jose.RS256, claims(func(c map[string]any) { c["iss"] = h.Issuer + "/" }))},
		{"no exp", signJWT(t, key, jose.RS256, claims(func(c map[string]any) { delete(c, "exp") }))},
		{"alg none", b64([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + b64(mustJSON(claims(nil))) + "."},
		{"HS256 with the public key as PEM", hs256(pubPEM)},
		{"HS256 with the public key as DER", hs256(pubDER)},
		{"unknown kid", signJWT(t, jose.JSONWebKey{Key: other, KeyID: "not-at-hydra", Algorithm: "RS256", Use: "sig"}, jose.RS256, claims(nil))},
		{"right kid, other key", signJWT(t, jose.JSONWebKey{Key: other, KeyID: key.KeyID, Algorithm: "RS256", Use: "sig"}, jose.RS256, claims(nil))},
		{"tampered payload", parts[0] + "." + b64(tamperedPayload) + "." + parts[2]},
		{"tampered signature", parts[0] + "." + parts[1] + "." + flipLast(parts[2])},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if code, b := getWith(t, q, bearer(tt.token)); code != http.StatusUnauthorized {
				t.Fatalf("got %d %s, want 401", code, b.Error)
			}
		})
	}
	if strings.Contains(s.Logs(), good) {
		t.Error("a token reached the log")
	}

	t.Run("disabled user", func(t *testing.T) {
		c := h.CreateClient("read")
		h.SetClientClaims(c.ID, map[string]any{"groups": []string{"metrics-admins"}})
		tok := h.Token(c, "read")
		u, err := s.App.Store.CreateUser(context.Background(), store.User{Login: "svc-" + c.ID, Role: "VIEWER", Provider: "Hydra", Subject: c.ID})
		if err != nil {
			t.Fatal(err)
		}
		if code, b := getWith(t, q, bearer(tok)); code != 200 {
			t.Fatalf("before disabling: %d %s", code, b.Error)
		}
		if err := s.App.Manage.SetUserDisabled(context.Background(), audit.Actor{Name: "test"}, u.ID, true); err != nil {
			t.Fatal(err)
		}
		if code, _ := getWith(t, q, bearer(tok)); code != http.StatusUnauthorized {
			t.Fatalf("after disabling: %d, want 401 at once", code)
		}
	})

	t.Run("provider down, cached keys keep verifying", func(t *testing.T) {
		c := h.CreateClient("read")
		h.SetClientClaims(c.ID, map[string]any{"groups": []string{"prod-readers"}})
		tok := h.Token(c, "read")
		h.Stop()
		// Another token than any cached verification: the keys are what
		// is cached, not this token's result.
		if code, b := getWith(t, q, bearer(tok)); code != 200 {
			t.Fatalf("with Hydra down: %d %s", code, b.Error)
		}
		fresh := signJWT(t, key, jose.RS256, claims(func(c map[string]any) { c["sub"] = "while-down" }))
		if code, b := getWith(t, q, bearer(fresh)); code != 200 {
			t.Fatalf("new token with Hydra down: %d %s", code, b.Error)
		}
		unknown := signJWT(t, jose.JSONWebKey{Key: other, KeyID: "still-unknown", Algorithm: "RS256", Use: "sig"}, jose.RS256, claims(nil))
		if code, _ := getWith(t, q, bearer(unknown)); code != http.StatusUnauthorized {
			t.Fatalf("unknown kid with Hydra down: %d, want 401", code)
		}
	})
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

func flipLast(s string) string {
	b := []byte(s)
	if b[len(b)-2] == 'A' {
		b[len(b)-2] = 'B'
	} else {
		b[len(b)-2] = 'A'
	}
	return string(b)
}
