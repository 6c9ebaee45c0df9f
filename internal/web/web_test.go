package web_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/promgate/promgate/internal/promtest"
	"github.com/promgate/promgate/internal/web"
	"github.com/promgate/promgate/internal/web/editor"
)

func newServer(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(web.New(web.Options{Version: "v-test"}))
	t.Cleanup(srv.Close)
	return srv
}

// noRedirect lets tests see redirects instead of following them.
func noRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

func get(t *testing.T, c *http.Client, url string) (*http.Response, string) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read %s: %v", url, err)
	}
	return resp, string(body)
}

func checkSecurityHeaders(t *testing.T, url string, h http.Header) {
	t.Helper()
	csp := h.Get("Content-Security-Policy")
	for _, want := range []string{"script-src 'self'", "frame-ancestors 'none'", "default-src 'none'", "base-uri 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("%s: CSP %q lacks %q", url, csp, want)
		}
	}
	for _, bad := range []string{"unsafe-inline", "unsafe-eval", "*"} {
		if strings.Contains(csp, bad) {
			t.Errorf("%s: CSP %q allows %q", url, csp, bad)
		}
	}
	if got := h.Get("X-Frame-Options"); got != "DENY" {
		t.Errorf("%s: X-Frame-Options = %q, want DENY", url, got)
	}
	if got := h.Get("X-Content-Type-Options"); got != "nosniff" {
		t.Errorf("%s: X-Content-Type-Options = %q, want nosniff", url, got)
	}
}

// Inline scripts, style attributes and on* handlers would be blocked by
// the CSP, so a page that has them is broken in the browser.
var (
	inlineScript = regexp.MustCompile(`(?i)<script(\s[^>]*)?>`)
	styleAttr    = regexp.MustCompile(`(?i)<[^>]+\sstyle\s*=`)
	handlerAttr  = regexp.MustCompile(`(?i)<[^>]+\son[a-z]+\s*=`)
	assetRef     = regexp.MustCompile(`(?:src|href)="(/static/[^"]+)"`)
)

func TestPages(t *testing.T) {
	srv := newServer(t)
	c := &http.Client{CheckRedirect: noRedirect}
	for _, p := range web.Pages() {
		t.Run(p.Name, func(t *testing.T) {
			resp, body := get(t, c, srv.URL+p.Path)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d, want 200", resp.StatusCode)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
				t.Errorf("Content-Type %q", ct)
			}
			checkSecurityHeaders(t, p.Path, resp.Header)
			if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control %q, want no-store", cc)
			}
			if !strings.Contains(body, "<title>"+p.Title+" · promgate</title>") {
				t.Errorf("no title %q in page", p.Title)
			}
			if !strings.Contains(body, `data-page="`+p.Name+`"`) {
				t.Errorf("no data-page=%q", p.Name)
			}
			for _, m := range inlineScript.FindAllString(body, -1) {
				if !strings.Contains(m, ` src="/static/`) {
					t.Errorf("inline or foreign script tag %s", m)
				}
			}
			if m := styleAttr.FindString(body); m != "" {
				t.Errorf("style attribute (blocked by CSP): %s", m)
			}
			if m := handlerAttr.FindString(body); m != "" {
				t.Errorf("inline event handler (blocked by CSP): %s", m)
			}
			refs := assetRef.FindAllStringSubmatch(body, -1)
			if len(refs) < 3 {
				t.Errorf("page links %d static assets, want icon, style and script", len(refs))
			}
			for _, ref := range refs {
				resp, _ := get(t, c, srv.URL+ref[1])
				if resp.StatusCode != http.StatusOK {
					t.Errorf("asset %s: status %d", ref[1], resp.StatusCode)
				}
			}
			if p.Name != "login" && !strings.Contains(body, "v-test") {
				t.Errorf("version not shown")
			}
		})
	}
}

func TestRoutes(t *testing.T) {
	srv := newServer(t)
	c := &http.Client{CheckRedirect: noRedirect}
	tests := []struct {
		method, path string
		status       int
		location     string // for redirects
		body         string // substring
	}{
		{"GET", "/", http.StatusFound, "/explore", ""},
		{"GET", "/nope", http.StatusNotFound, "", "Page not found"},
		{"GET", "/settings", http.StatusNotFound, "", "Page not found"},
		{"GET", "/explore/", http.StatusNotFound, "", "Page not found"},
		{"GET", "/static/nope.js", http.StatusNotFound, "", "Page not found"},
		{"GET", "/static/", http.StatusNotFound, "", "Page not found"},
		{"HEAD", "/explore", http.StatusOK, "", ""},
		{"POST", "/login", http.StatusMethodNotAllowed, "", "need JavaScript"},
		{"POST", "/settings/api-credentials", http.StatusMethodNotAllowed, "", "need JavaScript"},
		{"DELETE", "/nope", http.StatusMethodNotAllowed, "", ""},
		{"GET", "/favicon.ico", http.StatusFound, "/static/icon.svg?v=", ""},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, srv.URL+tt.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := c.Do(req)
			if err != nil {
				t.Fatalf("%s %s: %v", tt.method, tt.path, err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d; body %.200s", resp.StatusCode, tt.status, body)
			}
			checkSecurityHeaders(t, tt.path, resp.Header)
			if tt.location != "" && !strings.HasPrefix(resp.Header.Get("Location"), tt.location) {
				t.Errorf("Location %q, want prefix %q", resp.Header.Get("Location"), tt.location)
			}
			if !strings.Contains(string(body), tt.body) {
				t.Errorf("body lacks %q: %.300s", tt.body, body)
			}
		})
	}
}

func TestStaticAssets(t *testing.T) {
	srv := newServer(t)
	c := &http.Client{}
	_, page := get(t, c, srv.URL+"/explore")
	tests := []struct {
		name, ctype string
	}{
		{"app.js", "text/javascript; charset=utf-8"},
		{"style.css", "text/css; charset=utf-8"},
		{"vendor/uplot/uPlot.iife.min.js", "text/javascript; charset=utf-8"},
		{"vendor/uplot/uPlot.min.css", "text/css; charset=utf-8"},
		{"editor/promql-editor.js", "text/javascript; charset=utf-8"},
		{"icon.svg", "image/svg+xml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := regexp.MustCompile(`"(/static/` + regexp.QuoteMeta(tt.name) + `\?v=[0-9a-f]+)"`).FindStringSubmatch(page)
			if tt.name != "icon.svg" && m == nil {
				t.Fatalf("explore page does not link %s with a version", tt.name)
			}
			if m != nil {
				resp, _ := get(t, c, srv.URL+m[1])
				if cc := resp.Header.Get("Cache-Control"); !strings.Contains(cc, "immutable") {
					t.Errorf("versioned URL Cache-Control %q, want immutable", cc)
				}
			}
			resp, body := get(t, c, srv.URL+"/static/"+tt.name)
			if resp.StatusCode != http.StatusOK || len(body) == 0 {
				t.Fatalf("status %d, %d bytes", resp.StatusCode, len(body))
			}
			if ct := resp.Header.Get("Content-Type"); ct != tt.ctype {
				t.Errorf("Content-Type %q, want %q", ct, tt.ctype)
			}
			if cc := resp.Header.Get("Cache-Control"); cc != "no-cache" {
				t.Errorf("unversioned URL Cache-Control %q, want no-cache", cc)
			}
			req, _ := http.NewRequest("GET", srv.URL+"/static/"+tt.name, nil)
			req.Header.Set("If-None-Match", resp.Header.Get("ETag"))
			resp2, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp2.Body.Close()
			if resp2.StatusCode != http.StatusNotModified {
				t.Errorf("conditional GET: status %d, want 304", resp2.StatusCode)
			}
		})
	}
}

// CodeMirror writes its styles into <style> elements. Each page allows
// style elements only with a nonce of its own, fresh per response, that it
// hands the editor on the script tag; never 'unsafe-inline'.
func TestPageStyleNonce(t *testing.T) {
	srv := newServer(t)
	c := &http.Client{}
	cspNonce := regexp.MustCompile(`style-src 'self' 'nonce-([A-Za-z0-9+/]{22}==)';`)
	seen := map[string]bool{}
	for range 2 {
		for _, p := range web.Pages() {
			resp, body := get(t, c, srv.URL+p.Path)
			csp := resp.Header.Get("Content-Security-Policy")
			m := cspNonce.FindStringSubmatch(csp)
			if m == nil {
				t.Fatalf("%s: CSP %q has no style nonce", p.Path, csp)
			}
			if seen[m[1]] {
				t.Errorf("%s: nonce %s was already used for another response", p.Path, m[1])
			}
			seen[m[1]] = true
			if p.Name != "explore" {
				continue
			}
			// html/template writes + as &#43; in attributes.
			tag := regexp.MustCompile(`<script src="/static/editor/promql-editor.js\?v=[0-9a-f]+" nonce="([^"]+)" defer></script>`).FindStringSubmatch(body)
			if tag == nil {
				t.Fatalf("explore page has no editor script tag with a nonce")
			}
			if got := strings.ReplaceAll(tag[1], "&#43;", "+"); got != m[1] {
				t.Errorf("editor script nonce %q, CSP nonce %q", got, m[1])
			}
		}
	}
	// Assets are not documents: they keep the constant policy.
	resp, _ := get(t, c, srv.URL+"/static/app.js")
	if got := resp.Header.Get("Content-Security-Policy"); got != web.ContentSecurityPolicy {
		t.Errorf("asset CSP %q", got)
	}
}

// The committed bundle must be built from the committed sources: its
// first comment records their hash (see editor/build).
func TestEditorBundleIsCurrent(t *testing.T) {
	want, err := editor.InputsHash(os.DirFS("editor"))
	if err != nil {
		t.Fatal(err)
	}
	bundle, err := os.ReadFile("static/editor/promql-editor.js")
	if err != nil {
		t.Fatal(err)
	}
	first, _, _ := strings.Cut(string(bundle), "\n")
	_, got, ok := strings.Cut(first, editor.HashMarker)
	if !ok {
		t.Fatalf("bundle's first line %.200q records no %s", first, editor.HashMarker)
	}
	if got = strings.TrimSuffix(strings.TrimSpace(got), " */"); got != want {
		t.Errorf("static/editor/promql-editor.js was built from other sources (%s) than internal/web/editor has now (%s): run go generate ./internal/web", got, want)
	}
}

// Every bundled package's licence ships beside the bundle, Prometheus'
// editor at the version package.json pins.
func TestEditorLicences(t *testing.T) {
	lic, err := os.ReadFile("static/editor/THIRD_PARTY_LICENSES.txt")
	if err != nil {
		t.Fatal(err)
	}
	var pj struct{ Dependencies map[string]string }
	raw, err := os.ReadFile("editor/package.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &pj); err != nil {
		t.Fatal(err)
	}
	for name, version := range pj.Dependencies {
		if !strings.Contains(string(lic), "\n"+name+" "+version+" (") {
			t.Errorf("THIRD_PARTY_LICENSES.txt has no entry for %s %s", name, version)
		}
	}
	for _, want := range []string{"Apache License", "MIT", "Blue Oak", "\nesbuild "} {
		if !strings.Contains(string(lic), want) {
			t.Errorf("THIRD_PARTY_LICENSES.txt lacks %q", want)
		}
	}
}

// The script must not build HTML from strings: every text goes in through
// textContent, so no API value can become markup.
func TestScriptAvoidsHTMLInjection(t *testing.T) {
	srv := newServer(t)
	_, js := get(t, &http.Client{}, srv.URL+"/static/app.js")
	for _, bad := range []string{"innerHTML", "outerHTML =", "insertAdjacentHTML", "document.write", "eval(", "new Function"} {
		if strings.Contains(js, bad) {
			t.Errorf("app.js uses %s", bad)
		}
	}
}

// A token (and a data source secret, where the server can store one) is
// never in any page or asset the server sends, even to its creator.
func TestNoSecretsInServedPages(t *testing.T) {
	s := promtest.Start(t)
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	csrf := login(t, c, s.URL, "admin", promtest.OwnerPassword)

	var cred struct{ Key, Token string }
	postJSON(t, c, s.URL+"/api-server/v1/global-credentials", csrf, `{"name":"secret-check","role":"VIEWER"}`, http.StatusCreated, &cred)
	secrets := []string{cred.Token, s.Token}

	// The data source API may not be on every build yet; when it is, its
	// secrets must not come back either.
	const dsSecret = "ds-password-never-shown-4711"
	resp := postJSONStatus(t, c, s.URL+"/api-server/v1/datasources", csrf,
		`{"name":"secret-check","url":"http://127.0.0.1:1","env":"test","basicAuthUser":"u","basicAuthPassword":"`+dsSecret+`"}`)
	switch resp {
	case http.StatusCreated:
		secrets = append(secrets, dsSecret)
	case http.StatusNotFound:
		t.Log("no data source API on this build: checking credential tokens only")
	default:
		t.Logf("creating a data source answered %d; checking credential tokens only", resp)
	}

	urls := []string{"/", "/nope", "/static/app.js", "/static/style.css"}
	for _, p := range web.Pages() {
		urls = append(urls, p.Path)
	}
	for _, u := range urls {
		_, body := get(t, c, s.URL+u)
		for _, secret := range secrets {
			if strings.Contains(body, secret) {
				t.Errorf("%s contains a secret", u)
			}
		}
	}
}

func login(t *testing.T, c *http.Client, base, user, password string) (csrf string) {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"login": user, "password": password})
	var me struct {
		CSRFToken string `json:"csrfToken"`
	}
	postJSON(t, c, base+"/api-server/v1/login", "", string(body), http.StatusOK, &me)
	if me.CSRFToken == "" {
		t.Fatal("login returned no CSRF token")
	}
	return me.CSRFToken
}

func postJSONStatus(t *testing.T, c *http.Client, url, csrf, body string) int {
	t.Helper()
	req, err := http.NewRequest("POST", url, bytes.NewBufferString(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if csrf != "" {
		req.Header.Set("X-CSRF-Token", csrf)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func postJSON(t *testing.T, c *http.Client, url, csrf, body string, want int, out any) {
	t.Helper()
	req, err := http.NewRequest("POST", url, bytes.NewBufferString(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if csrf != "" {
		req.Header.Set("X-CSRF-Token", csrf)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("POST %s: status %d, want %d: %s", url, resp.StatusCode, want, raw)
	}
	env := struct{ Data json.RawMessage }{}
	if err := json.Unmarshal(raw, &env); err != nil {
		t.Fatalf("POST %s: bad JSON %s: %v", url, raw, err)
	}
	if out != nil {
		if err := json.Unmarshal(env.Data, out); err != nil {
			t.Fatalf("POST %s: decode data %s: %v", url, env.Data, err)
		}
	}
}
