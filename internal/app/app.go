// Package app assembles promgate from its parts: the one place where the
// embedded store, the user store, authentication, data sources, the
// management API and the HTTP server are wired together. `promgate serve`
// and the integration tests both start promgate through it.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/promgate/promgate/internal/auth"
	"github.com/promgate/promgate/internal/config"
	"github.com/promgate/promgate/internal/datadir"
	"github.com/promgate/promgate/internal/datasource"
	"github.com/promgate/promgate/internal/embedded"
	"github.com/promgate/promgate/internal/inprocess"
	"github.com/promgate/promgate/internal/manage"
	"github.com/promgate/promgate/internal/mgmtapi"
	"github.com/promgate/promgate/internal/oidc"
	"github.com/promgate/promgate/internal/querycache"
	"github.com/promgate/promgate/internal/ratelog"
	"github.com/promgate/promgate/internal/server"
	"github.com/promgate/promgate/internal/store"
	"github.com/promgate/promgate/internal/store/storeopen"
	"github.com/promgate/promgate/internal/web"
)

// Config is everything `promgate serve` can be told.
type Config struct {
	DataDir          string
	ExternalURL      string
	StoreURL         string // postgres://...; empty: SQLite in DataDir
	Retention        time.Duration
	OutOfOrderWindow time.Duration
	ScrapeInterval   time.Duration
	QueryTimeout     time.Duration
	MaxSamples       int
	MaxConcurrency   int
	// EvalInterval is the step of subqueries written without one; 0: 1m.
	EvalInterval time.Duration
	// RatePerCredential is requests per second per API credential; 0: none.
	RatePerCredential float64
	// MaxConcurrency also bounds the proxied queries running at once over
	// every data source; PerCaller shares them fairly between callers.
	PerCaller CallerLimits
	// AuthMaxFailures, AuthFailureWindow and AuthLockout configure the
	// failure limiter (auth.Options); zero values take its defaults.
	AuthMaxFailures   int
	AuthFailureWindow time.Duration
	AuthLockout       time.Duration
	// SecretKeyFile holds the key that encrypts data source secrets;
	// empty: <DataDir>/secret.key, created on first start.
	SecretKeyFile string
	OwnerPassword string // for the first OWNER; empty: random, in a file
	// OIDC is the config file's oidc: section (config.LoadOIDC): the
	// OpenID Connect providers people sign in with and machines' bearer
	// JWTs come from.
	OIDC    config.OIDC
	Version string
	Logger  *slog.Logger

	// QueryCache configures the query frontend in front of every data
	// source.
	QueryCache QueryCacheConfig

	// SelfScrapeInProcess makes the self-scrape call our /metrics handler
	// directly instead of through the listener, which may need TLS or a
	// client certificate the scraper does not hold (--web.config.file).
	SelfScrapeInProcess bool
}

// CallerLimits is one caller's share of the query slots: MaxConcurrency
// at once (0: a quarter of Config.MaxConcurrency; negative: no admission
// control), MaxQueued more waiting (0: 4; negative: none) for up to
// QueueTimeout (0: 10s) before 429.
type CallerLimits struct {
	MaxConcurrency int
	MaxQueued      int
	QueueTimeout   time.Duration
}

// QueryCacheConfig configures internal/querycache; zero values take its
// defaults.
type QueryCacheConfig struct {
	Disabled bool
	// MaxBytes bounds the in-memory cache.
	MaxBytes int64
	// Memcached is host:port[,host:port...]; empty: in memory.
	Memcached     string
	SplitInterval time.Duration
	Freshness     time.Duration
	MaxParallel   int
	// EmbeddedNoStepAlign turns step alignment off for the embedded store
	// (remote data sources have it in their settings).
	EmbeddedNoStepAlign bool
}

// App is a running promgate, minus its listener.
type App struct {
	cfg      Config
	logger   *slog.Logger
	Registry *prometheus.Registry
	TSDB     *embedded.Store
	Store    store.Store
	Auth     *auth.Authenticator
	Manage   *manage.Manager // changes users, credentials and data sources
	Sources  *datasource.Registry
	OIDC     *oidc.Set // the configured OpenID Connect providers (maybe none)
	// QueryCache is nil when the query cache is off.
	QueryCache *querycache.Frontend
	Handler    http.Handler

	stopScrape context.CancelFunc
	// scraped turns true after the first self-scrape, so /-/ready means
	// the reference's `up` query already has an answer.
	scraped  atomic.Bool
	scrapeWG sync.WaitGroup
	closers  []func() error
}

// New opens the stores and builds the handler. Close releases everything.
// On error, everything opened so far is closed again, and the error says
// what failed and what to do.
func New(ctx context.Context, cfg Config) (_ *App, err error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	// A failure that repeats on every request (a full disk, an outage) is
	// logged once per interval with a count, not once per request.
	cfg.Logger = slog.New(ratelog.NewHandler(cfg.Logger.Handler(), ratelog.Interval))
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	// Checked first: a mistake in the oidc: section stops the start
	// before anything is opened.
	providers, err := oidc.New(oidc.Options{Config: cfg.OIDC, Logger: cfg.Logger})
	if err != nil {
		return nil, fmt.Errorf("config file: %w", err)
	}
	// Not the named result: `return nil, err` must not leave the deferred
	// Close a nil App.
	a := &App{cfg: cfg, logger: cfg.Logger, Registry: prometheus.NewRegistry(), OIDC: providers}
	defer func() {
		if err != nil {
			if cerr := a.Close(); cerr != nil {
				cfg.Logger.Warn("close after a failed start", "err", cerr)
			}
		}
	}()
	// The lock comes before anything else: a second promgate on this data
	// dir must not touch it.
	lock, err := datadir.Acquire(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	a.closers = append(a.closers, lock.Release)
	// Looked at before the TSDB opens, which creates its WAL.
	earlier, err := datadir.EarlierState(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	if err := checkStoreBeforeOpen(cfg, earlier); err != nil {
		return nil, err
	}
	a.Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	a.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "promgate_build_info", Help: "promgate's version.", ConstLabels: prometheus.Labels{"version": cfg.Version},
	}, func() float64 { return 1 }))

	a.TSDB, err = embedded.Open(ctx, embedded.Options{
		Dir:              filepath.Join(cfg.DataDir, datadir.TSDB),
		Retention:        cfg.Retention,
		OutOfOrderWindow: cfg.OutOfOrderWindow,
		QueryTimeout:     cfg.QueryTimeout,
		MaxSamples:       cfg.MaxSamples,
		MaxConcurrent:    cfg.MaxConcurrency,
		EvalInterval:     cfg.EvalInterval,
		Version:          cfg.Version,
		Logger:           cfg.Logger,
		Registerer:       a.Registry,
	})
	if err != nil {
		return nil, fmt.Errorf("%w (check that the data dir is writable and has free space)", err)
	}
	a.closers = append(a.closers, a.TSDB.Close)
	a.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "promgate_query_max_samples", Help: "Most samples one query on the embedded store may load into memory (--query.max-samples).",
	}, func() float64 { return float64(a.TSDB.MaxSamples()) }))

	if a.Store, err = openStore(ctx, cfg.StoreURL, cfg.DataDir, cfg.Logger); err != nil {
		return nil, err
	}
	a.closers = append(a.closers, a.Store.Close)
	if err := checkStoreNotEmpty(ctx, a.Store, cfg, earlier); err != nil {
		return nil, err
	}
	var tokens auth.TokenVerifier
	if len(providers.Providers()) > 0 {
		tokens = providers
		providers.Warm(ctx)
	}
	pwOnly := ""
	if providers.PasswordLoginDisabled {
		pwOnly = manage.InitialOwnerLogin // the break-glass account
	}
	a.Auth = auth.New(auth.Options{Store: a.Store, Logger: cfg.Logger, Tokens: tokens, PasswordLoginOnly: pwOnly,
		MaxFailures: cfg.AuthMaxFailures, FailureWindow: cfg.AuthFailureWindow, Lockout: cfg.AuthLockout})
	a.closers = append(a.closers, a.Auth.Close)

	if err := a.dataSources(ctx, cfg); err != nil {
		return nil, err
	}
	if err := a.Manage.EnsureInitialOwner(ctx, cfg.DataDir, cfg.OwnerPassword); err != nil {
		return nil, fmt.Errorf("create initial owner: %w", err)
	}
	if a.QueryCache, err = newQueryCache(cfg, a.Registry); err != nil {
		return nil, err
	}
	a.closers = append(a.closers, a.QueryCache.Close)
	mgmt := mgmtapi.New(mgmtapi.Options{
		Store:         a.Store,
		Auth:          a.Auth,
		Manage:        a.Manage,
		Sources:       a.Sources,
		ExternalURL:   cfg.ExternalURL,
		Logger:        cfg.Logger,
		EndSessionURL: providers.EndSessionURL,
	})
	var signIn http.Handler
	var links []web.SignInLink
	if len(providers.Providers()) > 0 {
		signIn = oidc.SignInHandler(oidc.SignInOptions{Set: providers, Auth: a.Auth, Manage: a.Manage, Store: a.Store, ExternalURL: cfg.ExternalURL, Logger: cfg.Logger})
		for _, o := range providers.LoginOptions() {
			links = append(links, web.SignInLink{Name: o.Name, URL: o.URL})
		}
	}
	a.Handler = server.New(server.Options{
		Logger:            cfg.Logger,
		Registry:          a.Sources,
		Write:             http.HandlerFunc(a.TSDB.ServeAPI),
		Auth:              a.Auth,
		Management:        mgmt,
		Gatherer:          a.Registry,
		Registerer:        a.Registry,
		Ready:             a.ready,
		RatePerCredential: cfg.RatePerCredential,
		Queries:           queryLimits(cfg),
		QueryCache:        a.QueryCache,
		Web:               web.New(web.Options{Logger: cfg.Logger, Version: cfg.Version, SignIn: links, PasswordLoginDisabled: providers.PasswordLoginDisabled}),
		SignIn:            signIn,
	})
	return a, nil
}

// newQueryCache builds the query frontend: nil when it is off.
func newQueryCache(cfg Config, reg prometheus.Registerer) (*querycache.Frontend, error) {
	qc := cfg.QueryCache
	if qc.Disabled {
		return nil, nil
	}
	var st querycache.Store
	if qc.Memcached != "" {
		mc, err := querycache.NewMemcached(qc.Memcached, time.Second, 7*24*time.Hour)
		if err != nil {
			return nil, fmt.Errorf("query cache: %w (check --query-cache.memcached)", err)
		}
		st = mc
	} else {
		maxBytes := qc.MaxBytes
		if maxBytes == 0 {
			maxBytes = querycache.DefaultMaxBytes
		}
		m, err := querycache.NewMemory(maxBytes)
		if err != nil {
			return nil, fmt.Errorf("%w (check --query-cache.max-bytes)", err)
		}
		st = m
	}
	return querycache.New(querycache.Config{
		Store: st, SplitInterval: qc.SplitInterval, Freshness: qc.Freshness, MaxParallel: qc.MaxParallel,
		Registerer: reg, Logger: cfg.Logger,
	})
}

func queryLimits(cfg Config) server.QueryLimits {
	return server.QueryLimits{
		Total: cfg.MaxConcurrency, PerCaller: cfg.PerCaller.MaxConcurrency,
		Queue: cfg.PerCaller.MaxQueued, MaxWait: cfg.PerCaller.QueueTimeout,
	}
}

// StartSelfScrape scrapes our own /metrics, served on addr, into the
// embedded store as job="promgate": once before it returns, so `up` answers
// at once, then every interval until Close.
func (a *App) StartSelfScrape(ctx context.Context, addr net.Addr, listen string) {
	url, instance := SelfScrapeTarget(addr.(*net.TCPAddr), listen)
	opts := embedded.ScrapeOptions{URL: url, Job: "promgate", Instance: instance, Interval: a.cfg.ScrapeInterval, Logger: a.logger}
	if a.cfg.SelfScrapeInProcess {
		opts.Transport = inprocess.New(a.Handler)
	}
	scraper := a.TSDB.NewScraper(opts)
	if err := scraper.ScrapeOnce(ctx); err != nil {
		a.logger.Warn("first self-scrape failed", "url", url, "err", err)
	}
	a.scraped.Store(true)
	loopCtx, cancel := context.WithCancel(context.Background())
	a.stopScrape = cancel
	a.scrapeWG.Add(1)
	go func() {
		defer a.scrapeWG.Done()
		scraper.Loop(loopCtx)
	}()
}

// ready reports whether promgate answers queries with its own data: the
// store is open and takes writes, the first self-scrape is done, and the
// user store can be reached, without which no credential can be checked.
func (a *App) ready() bool {
	return a.TSDB.Ready() && a.TSDB.Health() == nil && a.scraped.Load() && a.Auth.StoreError() == nil
}

// SelfScrapeTarget is the loopback URL of our own /metrics and the instance
// label for it (host:port as a user would write it).
func SelfScrapeTarget(addr *net.TCPAddr, listen string) (url, instance string) {
	host := "127.0.0.1"
	if addr.IP != nil && !addr.IP.IsUnspecified() {
		host = addr.IP.String()
	}
	hostPort := net.JoinHostPort(host, fmt.Sprint(addr.Port))
	instance = hostPort
	if h, _, err := net.SplitHostPort(listen); err == nil && h == "" {
		instance = net.JoinHostPort("localhost", fmt.Sprint(addr.Port))
	}
	return "http://" + hostPort + "/metrics", instance
}

// Close stops the scraper and closes the stores, last opened first.
func (a *App) Close() error {
	if a.stopScrape != nil {
		a.stopScrape()
		a.scrapeWG.Wait()
	}
	var errs []error
	for i := len(a.closers) - 1; i >= 0; i-- {
		if err := a.closers[i](); err != nil {
			errs = append(errs, err)
		}
	}
	a.closers = nil
	return errors.Join(errs...)
}

// keyNotLost refuses a missing secret key file while the store holds data
// source secrets: a new key would never decrypt them, and writing it would
// make restoring the old one harder. A store without secrets (a first
// start) may get a new key.
func keyNotLost(ctx context.Context, st store.Store, keyFile string) error {
	if _, err := os.Stat(keyFile); !errors.Is(err, os.ErrNotExist) {
		return nil // present, or unreadable: LoadOrCreate says which
	}
	stored, err := st.ListDataSources(ctx)
	if err != nil {
		return fmt.Errorf("list data sources: %w", err)
	}
	n := 0
	for _, ds := range stored {
		if len(ds.Secrets) > 0 {
			n++
		}
	}
	if n == 0 {
		return nil
	}
	what := "1 data source"
	if n > 1 {
		what = fmt.Sprintf("%d data sources", n)
	}
	return fmt.Errorf("secret key file %s is missing, but the store holds secrets of %s encrypted with it: restore the key file from your backup (or point --secret-key-file at it); a new key would never decrypt them", keyFile, what)
}

// dataSources sets a.Sources to the embedded store plus the remote data
// sources kept in the store, and a.Manage to the manager that changes
// them (and users and credentials).
func (a *App) dataSources(ctx context.Context, cfg Config) error {
	key, err := openSecretKey(ctx, a.Store, cfg.DataDir, cfg.SecretKeyFile)
	if err != nil {
		return err
	}
	if key.created {
		a.logger.Info("generated the key that encrypts data source secrets; back it up with the database", "file", key.file)
		if cfg.StoreURL != "" {
			a.logger.Warn("with a shared store every replica needs the same --secret-key-file", "file", key.file)
		}
	}
	codec := key.codec
	fwd := datasource.NewForwarder(a.logger, cfg.Version)
	a.closers = append(a.closers, fwd.Close)
	remotes := datasource.NewSources(datasource.SourcesOptions{Store: a.Store, Codec: codec, Forwarder: fwd, Logger: a.logger, Generation: a.Auth.Generation})
	embeddedDS := datasource.NewEmbedded(a.TSDB, datasource.CacheSettings{Disabled: cfg.QueryCache.Disabled, NoStepAlign: cfg.QueryCache.EmbeddedNoStepAlign})
	a.Sources = datasource.NewRegistry(embeddedDS, remotes)
	a.Manage = manage.New(manage.Options{
		Store: a.Store, Logger: a.logger, AccessChanged: a.Auth.Invalidate,
		Codec: codec, Forwarder: fwd, DataSourcesChanged: remotes.Invalidate,
	})
	return nil
}

// openStore opens the user store, for serve and admin alike: SQLite in
// dataDir, or PostgreSQL at storeURL.
func openStore(ctx context.Context, storeURL, dataDir string, logger *slog.Logger) (store.Store, error) {
	st, err := storeopen.Open(ctx, storeURL, dataDir, logger)
	switch {
	case err == nil:
		return st, nil
	case errors.Is(err, store.ErrUnavailable):
		return nil, fmt.Errorf("open store: %w: is PostgreSQL running and reachable from here? check --store.url", err)
	case errors.Is(err, store.ErrCorrupt):
		return nil, fmt.Errorf("%w: restore the last backup (README: \"Backups and restore\"); promgate has not changed the file", err)
	}
	return nil, fmt.Errorf("open store: %w", err)
}

// checkStoreBeforeOpen refuses, before anything is opened, a store URL of
// an unknown kind and an SQLite file that is missing or empty while the
// data dir shows earlier runs: opening would make a new, empty store.
func checkStoreBeforeOpen(cfg Config, earlier []string) error {
	if cfg.StoreURL != "" {
		return storeopen.CheckURL(cfg.StoreURL)
	}
	if len(earlier) == 0 {
		return nil
	}
	path := filepath.Join(cfg.DataDir, storeopen.SQLiteFile)
	fi, err := os.Stat(path)
	if err == nil && fi.Size() > 0 {
		return nil // opening runs quick_check on it
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("open store: %w", err)
	}
	if err != nil {
		return emptyStoreError(path, "is missing", cfg, earlier)
	}
	return emptyStoreError(path, "is empty", cfg, earlier)
}

// checkStoreNotEmpty refuses a store without users while the data dir
// shows earlier runs: a database that was emptied, or a --store.url that
// names the wrong one. Starting would create a new OWNER on it.
func checkStoreNotEmpty(ctx context.Context, st store.Store, cfg Config, earlier []string) error {
	if len(earlier) == 0 {
		return nil
	}
	n, err := st.CountUsers(ctx)
	if err != nil {
		return fmt.Errorf("open store: count users: %w", err)
	}
	if n > 0 {
		return nil
	}
	what := filepath.Join(cfg.DataDir, storeopen.SQLiteFile)
	if cfg.StoreURL != "" {
		what = "the PostgreSQL database of --store.url"
	}
	return emptyStoreError(what, "has no users", cfg, earlier)
}

func emptyStoreError(what, state string, cfg Config, earlier []string) error {
	storeFlag := ""
	if cfg.StoreURL != "" {
		storeFlag = " --store.url URL"
	}
	return fmt.Errorf("store %s %s, but the data dir %s shows that promgate ran here before (%s): "+
		"promgate will not start this as a new install. Restore the last backup (README: \"Backups and restore\"), "+
		"or, to start over without users, create the first OWNER yourself: promgate admin user add --data-dir %s%s --login admin --role OWNER --password-stdin",
		what, state, cfg.DataDir, strings.Join(earlier, ", "), cfg.DataDir, storeFlag)
}
