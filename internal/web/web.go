// Package web serves promgate's pages: login, API credentials (own and
// global), the User Directory, Data Sources and Explore. Pages are
// html/template shells embedded in the binary; a small plain JavaScript
// file fills them from the JSON management API (/api-server/v1/...), so the
// server never renders a token, a password or a data source secret into
// HTML. Charts use uPlot, vendored from the npm registry under
// static/vendor/uplot with its license. The PromQL editor is Prometheus'
// codemirror-promql, bundled from editor/ into static/editor by go generate
// (see editor/build); the bundle is committed, so go build needs no npm.
package web

//go:generate go run ./editor/build -src editor -out static/editor

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"path"
	"strings"
	"time"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// ContentSecurityPolicy allows scripts, styles and fetches from this origin
// only: no inline script or style, no framing, no plugins.
const ContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; " +
	"img-src 'self' data:; font-src 'self'; connect-src 'self'; form-action 'self'; " +
	"frame-ancestors 'none'; base-uri 'none'; manifest-src 'self'"

// pageCSP is the policy of a rendered page: ContentSecurityPolicy plus a
// fresh nonce for style elements. The PromQL editor (CodeMirror) writes
// its styles into <style> elements; it gives them this nonce
// (EditorView.cspNonce), so no page needs 'unsafe-inline'.
func pageCSP(nonce string) string {
	return strings.Replace(ContentSecurityPolicy, "style-src 'self';", "style-src 'self' 'nonce-"+nonce+"';", 1)
}

// newNonce is 128 random bits, base64: a CSP nonce for one response.
func newNonce() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("read random bytes: %w", err)
	}
	return base64.StdEncoding.EncodeToString(b), nil
}

// Options configures the pages.
type Options struct {
	Logger  *slog.Logger
	Version string // shown in the sidebar; empty: not shown
	// SignIn lists the "Sign in with <Name>" links of the login page.
	SignIn []SignInLink
	// PasswordLoginDisabled says, on the login page, that the password
	// form is for the break-glass account only.
	PasswordLoginDisabled bool
}

// SignInLink is one OpenID provider on the login page.
type SignInLink struct{ Name, URL string }

// Page is one page of the UI.
type Page struct {
	Path  string // URL path
	Name  string // data-page value the script dispatches on, and nav id
	Title string
	File  string // template file under templates/
}

// Pages lists every page, in nav order.
func Pages() []Page {
	return []Page{
		{Path: "/login", Name: "login", Title: "Log in", File: "login.html"},
		{Path: "/explore", Name: "explore", Title: "Explore", File: "explore.html"},
		{Path: "/datasources", Name: "datasources", Title: "Data Sources", File: "datasources.html"},
		{Path: "/settings/api-credentials", Name: "credentials", Title: "API Credentials", File: "credentials.html"},
		{Path: "/settings/global/api-credentials", Name: "global-credentials", Title: "Global API Credentials", File: "credentials.html"},
		{Path: "/settings/users", Name: "users", Title: "User Directory", File: "users.html"},
	}
}

type handler struct {
	log       *slog.Logger
	version   string
	signIn    []SignInLink
	pwOff     bool
	assets    map[string]asset // by path under static/
	pages     map[string]*template.Template
	notFoundT *template.Template
}

type asset struct {
	body  []byte
	etag  string
	hash  string // short content hash, the ?v= of asset URLs
	ctype string
}

// pageData is what the templates see. It never holds a secret.
type pageData struct {
	Page    Page
	Version string
	// Nonce is this response's CSP nonce for style elements. It is put on
	// the editor's script tag, whose nonce property the bundle reads.
	Nonce string
	// SignIn and PasswordLoginDisabled are for the login page.
	SignIn                []SignInLink
	PasswordLoginDisabled bool
}

// New returns the handler for the pages and /static/. Templates and assets
// are embedded, so a broken one is a build mistake: New panics on it.
func New(opts Options) http.Handler {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	h := &handler{log: opts.Logger, version: opts.Version, signIn: opts.SignIn, pwOff: opts.PasswordLoginDisabled, pages: map[string]*template.Template{}}
	var err error
	if h.assets, err = loadAssets(); err != nil {
		panic(fmt.Errorf("web: load static assets: %w", err))
	}
	funcs := template.FuncMap{"asset": h.assetURL}
	parse := func(file string) *template.Template {
		return template.Must(template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/"+file))
	}
	mux := http.NewServeMux()
	for _, p := range Pages() {
		h.pages[p.Name] = parse(p.File)
		mux.HandleFunc("GET "+p.Path, func(w http.ResponseWriter, r *http.Request) { h.render(w, r, http.StatusOK, p) })
	}
	h.notFoundT = parse("notfound.html")
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/explore", http.StatusFound)
	})
	mux.HandleFunc("GET /static/{file...}", h.serveAsset)
	mux.HandleFunc("GET /favicon.ico", func(w http.ResponseWriter, r *http.Request) {
		u, _ := h.assetURL("icon.svg")
		http.Redirect(w, r, u, http.StatusFound)
	})
	mux.HandleFunc("/", h.notFound)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		setSecurityHeaders(w.Header())
		mux.ServeHTTP(w, r)
	})
}

func setSecurityHeaders(hd http.Header) {
	hd.Set("Content-Security-Policy", ContentSecurityPolicy)
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("X-Content-Type-Options", "nosniff")
	// The pages link to the proxy; no page URL carries a secret, but there
	// is no reason to tell other sites which page someone was on.
	hd.Set("Referrer-Policy", "same-origin")
	hd.Set("Cross-Origin-Opener-Policy", "same-origin")
	hd.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
}

func (h *handler) render(w http.ResponseWriter, r *http.Request, status int, p Page) {
	t := h.pages[p.Name]
	if t == nil {
		t = h.notFoundT
	}
	nonce, err := newNonce()
	if err != nil {
		h.log.ErrorContext(r.Context(), "render page", "page", p.Name, "err", err)
		http.Error(w, "internal error rendering the page", http.StatusInternalServerError)
		return
	}
	var buf bytes.Buffer
	if err := t.Execute(&buf, pageData{Page: p, Version: h.version, Nonce: nonce, SignIn: h.signIn, PasswordLoginDisabled: h.pwOff}); err != nil {
		h.log.ErrorContext(r.Context(), "render page", "page", p.Name, "err", err)
		http.Error(w, "internal error rendering the page", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Security-Policy", pageCSP(nonce))
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	// The shells hold nothing private, but a page that showed a new token
	// must not come back from the back/forward cache with it.
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

func (h *handler) notFound(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		// Forms post through the script; a plain POST means no JavaScript.
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "405 method not allowed: promgate's pages need JavaScript to submit forms", http.StatusMethodNotAllowed)
		return
	}
	h.render(w, r, http.StatusNotFound, Page{Name: "notfound", Title: "Page not found"})
}

func (h *handler) serveAsset(w http.ResponseWriter, r *http.Request) {
	a, ok := h.assets[r.PathValue("file")]
	if !ok {
		h.notFound(w, r)
		return
	}
	w.Header().Set("Content-Type", a.ctype)
	w.Header().Set("ETag", a.etag)
	if r.URL.Query().Get("v") == a.hash {
		// The URL names this exact content, so it never changes.
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		w.Header().Set("Cache-Control", "no-cache")
	}
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.body))
}

// assetURL is the URL of a static file with its content hash, so browsers
// may cache it for good and still see a new release at once.
func (h *handler) assetURL(name string) (string, error) {
	a, ok := h.assets[name]
	if !ok {
		return "", fmt.Errorf("no static asset %q", name)
	}
	return "/static/" + name + "?v=" + a.hash, nil
}

func loadAssets() (map[string]asset, error) {
	out := map[string]asset{}
	err := fs.WalkDir(staticFS, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := staticFS.ReadFile(p)
		if err != nil {
			return fmt.Errorf("read %s: %w", p, err)
		}
		sum := sha256.Sum256(body)
		hash := hex.EncodeToString(sum[:8])
		out[strings.TrimPrefix(p, "static/")] = asset{body: body, etag: `"` + hash + `"`, hash: hash, ctype: contentType(p)}
		return nil
	})
	return out, err
}

func contentType(p string) string {
	switch path.Ext(p) {
	case ".js":
		return "text/javascript; charset=utf-8"
	case ".css":
		return "text/css; charset=utf-8"
	case ".svg":
		return "image/svg+xml"
	case ".png":
		return "image/png"
	}
	return "text/plain; charset=utf-8"
}
