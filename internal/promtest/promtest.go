// Package promtest starts a real promgate (the same wiring as `promgate
// serve`) on 127.0.0.1 for tests, with a global API credential ready.
package promtest

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/promgate/promgate/internal/access"
	"github.com/promgate/promgate/internal/app"
	"github.com/promgate/promgate/internal/audit"
	"github.com/promgate/promgate/internal/manage"
	"github.com/promgate/promgate/internal/server"
	"github.com/promgate/promgate/internal/testkit"
)

// OwnerPassword is the password of the "admin" OWNER in every test server.
const OwnerPassword = "promtest-owner-password"

// Server is a running promgate.
type Server struct {
	App *app.App
	// Addr is host:port; URL is http://Addr.
	Addr, URL string
	// Key and Token are a global OWNER credential with read and write scope.
	Key, Token string
	// BaseURL is the embedded data source's proxy base with the credential
	// as userinfo: BaseURL+"/api/v1/query" is a Prometheus API.
	BaseURL string
	logs    *testkit.LogBuffer

	dataDir string
	srv     *http.Server
}

// Option changes the configuration before start.
type Option func(*app.Config)

// WithDataDir reuses a data dir, e.g. to test a restart.
func WithDataDir(dir string) Option { return func(c *app.Config) { c.DataDir = dir } }

// Start starts promgate and stops it when the test ends.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	logs := &testkit.LogBuffer{}
	cfg := app.Config{
		DataDir:          t.TempDir(),
		OutOfOrderWindow: 365 * 24 * time.Hour, // tests backfill history in any order
		ScrapeInterval:   time.Hour,            // one scrape at start is enough
		OwnerPassword:    OwnerPassword,
		Version:          "test",
		Logger:           slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	for _, o := range opts {
		o(&cfg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	a, err := app.New(ctx, cfg)
	if err != nil {
		t.Fatalf("start promgate: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		a.Close()
		t.Fatalf("listen: %v", err)
	}
	s := &Server{App: a, Addr: ln.Addr().String(), URL: "http://" + ln.Addr().String(), logs: logs, dataDir: cfg.DataDir}
	s.srv = &http.Server{Handler: a.Handler, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("serve: %v", err)
		}
	}()
	a.StartSelfScrape(ctx, ln.Addr(), ln.Addr().String())
	t.Cleanup(s.Stop)

	s.Key, s.Token = s.Credential(t, access.RoleOwner, access.ScopeRead|access.ScopeWrite, "")
	u, _ := url.Parse(s.URL + server.ProxyPrefix + "1")
	u.User = url.UserPassword(s.Key, s.Token)
	s.BaseURL = u.String()
	return s
}

// Logs returns everything the server has logged so far (debug and up).
func (s *Server) Logs() string { return s.logs.String() }

// DataDir is the server's data directory.
func (s *Server) DataDir() string { return s.dataDir }

// Stop shuts the server down; safe to call twice.
func (s *Server) Stop() {
	if s.srv == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = s.srv.Shutdown(ctx)
	_ = s.App.Close()
	s.srv = nil
}

// Credential creates a global credential with the given role, scope and
// label selector and returns its key and token.
func (s *Server) Credential(t testing.TB, role access.Role, scope access.Scope, selector string) (key, token string) {
	t.Helper()
	cred, tok, err := s.App.Manage.CreateCredential(context.Background(), audit.Actor{Name: "promtest"}, manage.CredentialSpec{
		Name: "promtest", Role: role, Scope: scope, Selector: selector, CreatedBy: "promtest",
	})
	if err != nil {
		t.Fatalf("create credential: %v", err)
	}
	return cred.Key, tok
}

// Append writes samples of one series (timestamps in milliseconds) straight
// into the embedded store.
func (s *Server) Append(t testing.TB, lbls labels.Labels, ts []int64, vals []float64) {
	t.Helper()
	if len(ts) != len(vals) {
		t.Fatalf("append: %d timestamps but %d values", len(ts), len(vals))
	}
	app := s.App.TSDB.Appender(context.Background())
	for i := range ts {
		if _, err := app.Append(0, lbls, ts[i], vals[i]); err != nil {
			_ = app.Rollback()
			t.Fatalf("append %s @%d: %v", lbls, ts[i], err)
		}
	}
	if err := app.Commit(); err != nil {
		t.Fatalf("commit: %v", err)
	}
}
