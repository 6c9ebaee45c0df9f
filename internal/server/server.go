// Package server wires promgate's HTTP routes: the Grafana-style data source
// proxy, remote_write, the management API, the pages, /metrics and health.
// A query's path through it: canonical path check → authenticate → find
// the data source → read the request once (promapi) → may they (access) →
// confine to their label policy (enforce) → the data source answers.
package server

import (
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/promgate/promgate/internal/access"
	"github.com/promgate/promgate/internal/datasource"
	"github.com/promgate/promgate/internal/promapi"
	"github.com/promgate/promgate/internal/querycache"
	"github.com/promgate/promgate/internal/ratelog"
)

// ProxyPrefix is the reference's data source proxy path.
const ProxyPrefix = "/api-server/v1/grafana/api/datasources/proxy/"

// Authenticator puts the caller's access.Principal into the request
// context, or answers 401/429 itself.
type Authenticator interface {
	Require(allowSession bool) func(http.Handler) http.Handler
}

// Options are the parts the server mounts.
type Options struct {
	Logger   *slog.Logger
	Registry *datasource.Registry
	// Write receives remote_write bodies (the embedded store's API).
	Write      http.Handler
	Auth       Authenticator
	Management http.Handler // JSON API under /api-server/v1/; nil: none
	Web        http.Handler // pages at /; nil: none
	// SignIn serves /oidc/: people's sign-in with OpenID Connect
	// providers; nil: none configured.
	SignIn     http.Handler
	Gatherer   prometheus.Gatherer
	Registerer prometheus.Registerer
	Ready      func() bool
	// RatePerCredential limits each credential's requests per second on the
	// proxy and write paths; 0 means unlimited. Burst is twice the rate.
	RatePerCredential float64
	// Queries bounds the proxied queries running at once, in total and per
	// caller, so that no caller can take every slot.
	Queries QueryLimits
	// QueryCache answers query and query_range through its cache; nil:
	// every query goes to its data source as it is.
	QueryCache *querycache.Frontend
	// MaxWriteBytes bounds a remote_write body as sent (snappy-compressed);
	// 0 means 32 MiB.
	MaxWriteBytes int64
}

// Server is promgate's HTTP handler.
type Server struct {
	opts Options
	mux  *http.ServeMux
	// proxyRoutes serves every path under ProxyPrefix (see New).
	proxyRoutes http.Handler
	limiter     *rateLimiter
	metrics     *httpMetrics
	// admission is nil when query admission is off.
	admission    *admission
	queryMetrics *queryMetrics
	panics       prometheus.Counter
	// decodeBufs are the buffers label-limited remote_write bodies are
	// decompressed into (*[]byte).
	decodeBufs sync.Pool
}

// New builds the handler.
func New(opts Options) *Server {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.MaxWriteBytes <= 0 {
		opts.MaxWriteBytes = 32 << 20
	}
	if opts.Ready == nil {
		opts.Ready = func() bool { return true }
	}
	s := &Server{opts: opts, mux: http.NewServeMux(), limiter: newRateLimiter(opts.RatePerCredential), metrics: newHTTPMetrics(opts.Registerer)}
	s.admission = newAdmission(opts.Queries)
	s.queryMetrics = newQueryMetrics(opts.Registerer, s.admission)
	s.panics = newPanicCounter(opts.Registerer)
	m := s.mux

	proxy := opts.Auth.Require(true)(s.metrics.instrument("proxy", s.rateLimit(http.HandlerFunc(s.serveProxy))))
	m.Handle("GET /api-server/v1/grafana/api/datasources", opts.Auth.Require(true)(s.metrics.instrument("datasources", http.HandlerFunc(s.serveDataSourceList))))
	// remote_write: never with the session cookie (a page could post
	// across sites), only with a credential.
	m.Handle("/api/v1/write", opts.Auth.Require(false)(s.metrics.instrument("write", s.rateLimit(http.HandlerFunc(s.serveWrite)))))
	dsWrite := opts.Auth.Require(false)(s.metrics.instrument("write", s.rateLimit(http.HandlerFunc(s.serveDataSourceWrite))))
	// Everything under ProxyPrefix is routed here, without ServeMux: its
	// matching allocates at every node where a literal segment fails (16
	// allocations per proxied query). The data source write routes, with
	// wildcards, sit on a mux of their own, with the proxy as its
	// fallback, which only paths ending in the write path consult; it
	// routes those exactly as one mux holding all three patterns would.
	writes := http.NewServeMux()
	writes.Handle(ProxyPrefix, proxy)
	writes.Handle(ProxyPrefix+"{id}/api/v1/write", dsWrite)
	writes.Handle(ProxyPrefix+"uid/{uid}/api/v1/write", dsWrite)
	s.proxyRoutes = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/api/v1/write") {
			writes.ServeHTTP(w, r)
			return
		}
		r.Pattern = ProxyPrefix // as ServeMux would set it
		proxy.ServeHTTP(w, r)
	})
	m.Handle(ProxyPrefix, s.proxyRoutes)
	// Prometheus' read API lives under the data source proxy; whoever asks
	// for it at the root, as of a Prometheus, is told where.
	m.Handle("/api/v1/", s.metrics.instrument("web", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		promapi.WriteError(w, http.StatusNotFound, promapi.ErrNotFound,
			"promgate serves the Prometheus API under "+ProxyPrefix+"ID/api/v1/... (data source 1 is the embedded store: "+ProxyPrefix+"1/api/v1/query); GET /api-server/v1/grafana/api/datasources lists the data sources you may use")
	})))

	if opts.Management != nil {
		m.Handle("/api-server/v1/", s.metrics.instrument("management", opts.Management))
	}
	if opts.SignIn != nil {
		m.Handle("/oidc/", s.metrics.instrument("web", opts.SignIn))
	}
	if opts.Web != nil {
		m.Handle("/", s.metrics.instrument("web", opts.Web))
	}
	if opts.Gatherer != nil {
		m.Handle("GET /metrics", promhttp.HandlerFor(opts.Gatherer, promhttp.HandlerOpts{}))
	}
	m.HandleFunc("GET /-/healthy", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("promgate is Healthy.\n"))
	})
	m.HandleFunc("GET /-/ready", func(w http.ResponseWriter, _ *http.Request) {
		if !opts.Ready() {
			http.Error(w, "promgate is not ready.", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("promgate is Ready.\n"))
	})
	return s
}

// ServeHTTP refuses non-canonical paths before any routing: ServeMux would
// redirect them, and a proxy must never act on a path it did not match
// segment by segment.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
	if !canonicalPath(r.URL.Path) || strings.Contains(strings.ToLower(r.URL.RawPath), "%2f") || strings.Contains(strings.ToLower(r.URL.RawPath), "%5c") {
		promapi.WriteError(rec, http.StatusBadRequest, promapi.ErrBadData, "non-canonical request path")
	} else if strings.HasPrefix(r.URL.RawQuery, "?") {
		// "path??a=b": some servers read the second ? as part of the path.
		promapi.WriteError(rec, http.StatusBadRequest, promapi.ErrBadData, "a second ? in the request URL")
	} else {
		s.serveRecovered(rec, r)
	}
	s.logRequest(r, rec.status, time.Since(start))
}

func (s *Server) logRequest(r *http.Request, status int, took time.Duration) {
	level := slog.LevelDebug
	if status >= 500 {
		level = slog.LevelWarn
	}
	if !s.opts.Logger.Enabled(r.Context(), level) {
		return // keep the hot path free of attribute building
	}
	attrs := []any{"method", r.Method, "path", r.URL.Path, "status", status, "duration", took}
	ctx := r.Context()
	if status >= 500 {
		// Repeats are logged once per route and status and interval (when
		// the logger is a ratelog.Handler, as promgate's is).
		ctx = ratelog.WithKey(ctx, r.Method+" "+r.Pattern+" "+strconv.Itoa(status))
	}
	// Only the path: query strings hold PromQL, never secrets (credentials
	// travel in headers), but they can be long.
	s.opts.Logger.Log(ctx, level, "http request", attrs...)
}

func principalName(p *access.Principal) string {
	if p.IsCredential() {
		return "credential:" + p.CredentialKey
	}
	return p.Login
}

// canonicalPath reports whether p has no empty, "." or ".." segments.
func canonicalPath(p string) bool {
	if p == "" || p[0] != '/' {
		return false
	}
	if strings.Contains(p, "//") || strings.Contains(p, "\\") {
		return false
	}
	for seg := range strings.SplitSeq(p, "/") {
		if seg == "." || seg == ".." {
			return false
		}
	}
	return true
}

type statusRecorder struct {
	http.ResponseWriter
	status      int
	wroteHeader bool
}

func (r *statusRecorder) WriteHeader(code int) {
	if !r.wroteHeader {
		r.status, r.wroteHeader = code, true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	r.wroteHeader = true
	return r.ResponseWriter.Write(b)
}

// Flush lets streamed responses through the recorder.
func (r *statusRecorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the connection.
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
