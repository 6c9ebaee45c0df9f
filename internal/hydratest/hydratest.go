// Package hydratest runs a real Ory Hydra v2 (PROMGATE_TEST_HYDRA_BIN,
// built by .ci/hydra.sh) on 127.0.0.1 for tests, with JWT access tokens,
// and a small app on 127.0.0.1 that answers Hydra's login and consent
// steps and its token hook through Hydra's admin API, as a real
// deployment's login UI would, with the subject and claims a test chose.
package hydratest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/promgate/promgate/internal/testkit"
	"github.com/promgate/promgate/internal/testpeer"
)

// EnvBin names the Hydra binary.
const EnvBin = "PROMGATE_TEST_HYDRA_BIN"

// Audience is the audience tests ask client-credentials tokens for.
const Audience = "promgate"

// Hydra is a running Hydra and its login, consent and token-hook app.
type Hydra struct {
	// Public and Admin are the base URLs of Hydra's two ports; Issuer is
	// the iss of its tokens, as its discovery document says it.
	Public, Admin, Issuer string

	t      testing.TB
	bin    string
	cfg    string
	logs   *testkit.LogBuffer
	cmd    *exec.Cmd
	app    *http.Server
	client *http.Client

	mu sync.Mutex
	// claims are added to the tokens of a client (token hook), by client id.
	claims map[string]map[string]any
	// user is who the login step signs in, with the ID token's claims.
	subject    string
	userClaims map[string]any
	// refuseLogin makes the login step reject the sign-in.
	refuseLogin bool
}

// Start runs Hydra and stops it when the test ends. Without
// PROMGATE_TEST_HYDRA_BIN the test skips (fails under CI=true).
func Start(t testing.TB) *Hydra {
	t.Helper()
	bin := os.Getenv(EnvBin)
	if bin == "" {
		testpeer.Missing(t, testpeer.Hydra, `PROMGATE_TEST_HYDRA_BIN is not set; build it with: eval "$(bash .ci/hydra.sh)"`)
	}
	h := &Hydra{t: t, bin: bin, logs: &testkit.LogBuffer{}, client: testkit.HTTPClient(), claims: map[string]map[string]any{}}
	appLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	appURL := "http://" + appLn.Addr().String()
	h.app = &http.Server{Handler: h.routes(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = h.app.Serve(appLn) }()
	t.Cleanup(func() { _ = h.app.Close() })

	public, admin := testkit.FreeAddr(t), testkit.FreeAddr(t)
	h.Public, h.Admin = "http://"+public, "http://"+admin
	pubHost, pubPort, _ := net.SplitHostPort(public)
	admHost, admPort, _ := net.SplitHostPort(admin)
	h.cfg = filepath.Join(t.TempDir(), "hydra.yml")
	// Extra claims of the token hook go into the JWT's ext claim; the
	// allowed top-level ones also at the top, where providers usually put
	// groups.
	cfg := fmt.Sprintf(`dsn: memory
serve:
  public: {host: %s, port: %s}
  admin: {host: %s, port: %s}
urls:
  self: {issuer: %s}
  login: %s/login
  consent: %s/consent
  logout: %s/logout
secrets:
  system: [promgate-hydratest-system-secret-0123456789]
strategies:
  access_token: jwt
oauth2:
  token_hook: %s/token-hook
  allowed_top_level_claims: [groups, tenant, email]
ttl:
  access_token: 1h
log:
  level: warn
`, pubHost, pubPort, admHost, admPort, h.Public, appURL, appURL, appURL, appURL)
	if err := os.WriteFile(h.cfg, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	h.start()
	t.Cleanup(h.Stop)
	return h
}

func (h *Hydra) start() {
	h.t.Helper()
	cmd := exec.Command(h.bin, "serve", "all", "--dev", "--sqa-opt-out", "-c", h.cfg)
	cmd.Env = append(os.Environ(), "DSN=memory")
	cmd.Stdout, cmd.Stderr = h.logs, h.logs
	if err := cmd.Start(); err != nil {
		h.t.Fatalf("start hydra: %v", err)
	}
	h.cmd = cmd
	deadline := time.Now().Add(60 * time.Second)
	ready := func(base string) bool {
		resp, err := h.client.Get(base + "/health/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}
	// Hydra opens its admin and public ports one after the other: wait
	// for both.
	for !ready(h.Admin) || !ready(h.Public) {
		if time.Now().After(deadline) {
			h.Stop()
			h.t.Fatalf("hydra not ready after 60s:\n%s", h.logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	resp, err := h.client.Get(h.Public + "/.well-known/openid-configuration")
	if err != nil {
		h.t.Fatalf("hydra discovery: %v\n%s", err, h.logs.String())
	}
	defer resp.Body.Close()
	var disc struct {
		Issuer string `json:"issuer"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&disc); err != nil || resp.StatusCode != http.StatusOK || disc.Issuer == "" {
		h.t.Fatalf("hydra discovery: %s %v\n%s", resp.Status, err, h.logs.String())
	}
	h.Issuer = disc.Issuer
}

// Stop ends Hydra (safe to call twice); the provider is then down.
func (h *Hydra) Stop() {
	if h.cmd == nil {
		return
	}
	_ = h.cmd.Process.Kill()
	_ = h.cmd.Wait()
	h.cmd = nil
}

// Logs is what Hydra printed.
func (h *Hydra) Logs() string { return h.logs.String() }

// SetClientClaims makes the token hook add claims to the tokens of a client.
func (h *Hydra) SetClientClaims(clientID string, claims map[string]any) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.claims[clientID] = claims
}

// SetUser makes the login step sign in subject, with claims in the ID
// token (and, through the consent, in the access token).
func (h *Hydra) SetUser(subject string, claims map[string]any) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.subject, h.userClaims, h.refuseLogin = subject, claims, false
}

// RefuseLogin makes the login step reject every sign-in.
func (h *Hydra) RefuseLogin() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.refuseLogin = true
}

// AdminJSON sends a JSON request to Hydra's admin API and decodes the
// answer into out (nil: discard); a status over 299 fails the test.
func (h *Hydra) AdminJSON(method, path string, in, out any) {
	h.t.Helper()
	if err := h.adminJSON(context.Background(), method, path, in, out); err != nil {
		h.t.Fatal(err)
	}
}

func (h *Hydra) adminJSON(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, h.Admin+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := h.client.Do(req)
	if err != nil {
		return fmt.Errorf("hydra admin %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode > 299 {
		return fmt.Errorf("hydra admin %s %s: %s: %s", method, path, resp.Status, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("hydra admin %s %s: decode %s: %w", method, path, b, err)
		}
	}
	return nil
}

// Client is an OAuth 2.0 client registered in Hydra.
type Client struct {
	ID     string `json:"client_id"`
	Secret string `json:"client_secret"`
}

// CreateClient registers a client for the client-credentials grant that
// may ask for scopes and the promgate audience.
func (h *Hydra) CreateClient(scopes ...string) Client {
	h.t.Helper()
	var c Client
	h.AdminJSON(http.MethodPost, "/admin/clients", map[string]any{
		"grant_types":                []string{"client_credentials"},
		"scope":                      strings.Join(scopes, " "),
		"audience":                   []string{Audience},
		"token_endpoint_auth_method": "client_secret_post",
	}, &c)
	return c
}

// CreateWebClient registers a client for the authorization code flow with
// one redirect URL (promgate's sign-in callback).
func (h *Hydra) CreateWebClient(redirectURL string) Client {
	h.t.Helper()
	var c Client
	h.AdminJSON(http.MethodPost, "/admin/clients", map[string]any{
		"grant_types":                []string{"authorization_code", "refresh_token"},
		"response_types":             []string{"code"},
		"scope":                      "openid email profile groups",
		"redirect_uris":              []string{redirectURL},
		"post_logout_redirect_uris":  []string{strings.TrimSuffix(redirectURL, "/callback") + "/signed-out"},
		"token_endpoint_auth_method": "client_secret_basic",
	}, &c)
	return c
}

// Token gets a JWT access token for c with the client-credentials grant.
func (h *Hydra) Token(c Client, scopes ...string) string {
	h.t.Helper()
	form := url.Values{
		"grant_type":    {"client_credentials"},
		"client_id":     {c.ID},
		"client_secret": {c.Secret},
		"audience":      {Audience},
		"scope":         {strings.Join(scopes, " ")},
	}
	resp, err := h.client.PostForm(h.Public+"/oauth2/token", form)
	if err != nil {
		h.t.Fatalf("hydra token: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(b, &tok) != nil || tok.AccessToken == "" {
		h.t.Fatalf("hydra token: %s: %s\n%s", resp.Status, b, h.Logs())
	}
	return tok.AccessToken
}

// routes is the login, consent, logout and token-hook app.
func (h *Hydra) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /login", h.login)
	mux.HandleFunc("GET /consent", h.consent)
	mux.HandleFunc("GET /logout", h.logout)
	mux.HandleFunc("POST /token-hook", h.tokenHook)
	return mux
}

func (h *Hydra) redirect(w http.ResponseWriter, r *http.Request, method, path string, body any) {
	var out struct {
		RedirectTo string `json:"redirect_to"`
	}
	if err := h.adminJSON(r.Context(), method, path, body, &out); err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	http.Redirect(w, r, out.RedirectTo, http.StatusFound)
}

func (h *Hydra) login(w http.ResponseWriter, r *http.Request) {
	ch := url.QueryEscape(r.URL.Query().Get("login_challenge"))
	h.mu.Lock()
	subject, refuse := h.subject, h.refuseLogin
	h.mu.Unlock()
	if refuse || subject == "" {
		h.redirect(w, r, http.MethodPut, "/admin/oauth2/auth/requests/login/reject?login_challenge="+ch,
			map[string]any{"error": "access_denied", "error_description": "the test refused this sign-in"})
		return
	}
	h.redirect(w, r, http.MethodPut, "/admin/oauth2/auth/requests/login/accept?login_challenge="+ch,
		map[string]any{"subject": subject, "remember": false})
}

func (h *Hydra) consent(w http.ResponseWriter, r *http.Request) {
	ch := url.QueryEscape(r.URL.Query().Get("consent_challenge"))
	var req struct {
		RequestedScope    []string `json:"requested_scope"`
		RequestedAudience []string `json:"requested_access_token_audience"`
	}
	if err := h.adminJSON(r.Context(), http.MethodGet, "/admin/oauth2/auth/requests/consent?consent_challenge="+ch, nil, &req); err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	h.mu.Lock()
	claims := h.userClaims
	h.mu.Unlock()
	h.redirect(w, r, http.MethodPut, "/admin/oauth2/auth/requests/consent/accept?consent_challenge="+ch, map[string]any{
		"grant_scope":                 req.RequestedScope,
		"grant_access_token_audience": req.RequestedAudience,
		"remember":                    false,
		"session":                     map[string]any{"id_token": claims, "access_token": claims},
	})
}

func (h *Hydra) logout(w http.ResponseWriter, r *http.Request) {
	ch := url.QueryEscape(r.URL.Query().Get("logout_challenge"))
	h.redirect(w, r, http.MethodPut, "/admin/oauth2/auth/requests/logout/accept?logout_challenge="+ch, nil)
}

// tokenHook adds the claims set for the client to its tokens.
func (h *Hydra) tokenHook(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Request struct {
			ClientID string `json:"client_id"`
		} `json:"request"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	h.mu.Lock()
	claims, ok := h.claims[req.Request.ClientID]
	h.mu.Unlock()
	if !ok {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"session": map[string]any{"access_token": claims, "id_token": claims}})
}
