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
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/promgate/promgate/internal/auth"
	"github.com/promgate/promgate/internal/datasource"
	"github.com/promgate/promgate/internal/embedded"
	"github.com/promgate/promgate/internal/mgmtapi"
	"github.com/promgate/promgate/internal/ratelog"
	"github.com/promgate/promgate/internal/secrets"
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
	// RatePerCredential is requests per second per API credential; 0: none.
	RatePerCredential float64
	// SecretKeyFile holds the key that encrypts data source secrets;
	// empty: <DataDir>/secret.key, created on first start.
	SecretKeyFile string
	OwnerPassword string // for the first OWNER; empty: random, in a file
	Version       string
	Logger        *slog.Logger
}

// App is a running promgate, minus its listener.
type App struct {
	cfg      Config
	logger   *slog.Logger
	Registry *prometheus.Registry
	TSDB     *embedded.Store
	Store    store.Store
	Auth     *auth.Authenticator
	Sources  *datasource.Registry
	Handler  http.Handler

	stopScrape context.CancelFunc
	// scraped turns true after the first self-scrape, so /-/ready means
	// the reference's `up` query already has an answer.
	scraped  atomic.Bool
	scrapeWG sync.WaitGroup
	closers  []func() error
}

// New opens the stores and builds the handler. Close releases everything.
func New(ctx context.Context, cfg Config) (a *App, err error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	// A failure that repeats on every request (a full disk, an outage) is
	// logged once per interval with a count, not once per request.
	cfg.Logger = slog.New(ratelog.NewHandler(cfg.Logger.Handler(), ratelog.Interval))
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	a = &App{cfg: cfg, logger: cfg.Logger, Registry: prometheus.NewRegistry()}
	defer func() {
		if err != nil {
			_ = a.Close()
		}
	}()
	a.Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	a.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "promgate_build_info", Help: "promgate's version.", ConstLabels: prometheus.Labels{"version": cfg.Version},
	}, func() float64 { return 1 }))

	a.TSDB, err = embedded.Open(ctx, embedded.Options{
		Dir:              filepath.Join(cfg.DataDir, "tsdb"),
		Retention:        cfg.Retention,
		OutOfOrderWindow: cfg.OutOfOrderWindow,
		QueryTimeout:     cfg.QueryTimeout,
		MaxSamples:       cfg.MaxSamples,
		MaxConcurrent:    cfg.MaxConcurrency,
		Version:          cfg.Version,
		Logger:           cfg.Logger,
		Registerer:       a.Registry,
	})
	if err != nil {
		return nil, err
	}
	a.closers = append(a.closers, a.TSDB.Close)

	if a.Store, err = openStore(ctx, cfg); err != nil {
		return nil, err
	}
	a.closers = append(a.closers, a.Store.Close)
	if err := auth.EnsureInitialOwner(ctx, a.Store, cfg.DataDir, cfg.OwnerPassword, cfg.Logger); err != nil {
		return nil, fmt.Errorf("create initial owner: %w", err)
	}
	a.Auth = auth.New(auth.Options{Store: a.Store, Logger: cfg.Logger})
	a.closers = append(a.closers, a.Auth.Close)

	dsAPI, err := a.remoteDataSources(cfg)
	if err != nil {
		return nil, err
	}
	mgmt := mgmtapi.New(mgmtapi.Options{
		Store:       a.Store,
		Auth:        a.Auth,
		DataSources: a.dataSourceInfos,
		ExternalURL: cfg.ExternalURL,
		Logger:      cfg.Logger,
	})
	a.Handler = server.New(server.Options{
		Logger:            cfg.Logger,
		Registry:          a.Sources,
		Write:             http.HandlerFunc(a.TSDB.ServeAPI),
		Auth:              a.Auth,
		Management:        withDataSourceAPI(dsAPI, mgmt),
		Gatherer:          a.Registry,
		Registerer:        a.Registry,
		Ready:             a.ready,
		RatePerCredential: cfg.RatePerCredential,
		Web:               web.New(web.Options{Logger: cfg.Logger, Version: cfg.Version}),
	})
	return a, nil
}

// StartSelfScrape scrapes our own /metrics, served on addr, into the
// embedded store as job="promgate": once before it returns, so `up` answers
// at once, then every interval until Close.
func (a *App) StartSelfScrape(ctx context.Context, addr net.Addr, listen string) {
	url, instance := SelfScrapeTarget(addr.(*net.TCPAddr), listen)
	scraper := a.TSDB.NewScraper(embedded.ScrapeOptions{URL: url, Job: "promgate", Instance: instance, Interval: a.cfg.ScrapeInterval, Logger: a.logger})
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
// store is open and takes writes, and the first self-scrape is done.
func (a *App) ready() bool { return a.TSDB.Ready() && a.TSDB.Health() == nil && a.scraped.Load() }

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

func (a *App) dataSourceInfos(ctx context.Context) ([]mgmtapi.DataSourceInfo, error) {
	infos, err := a.Sources.List(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]mgmtapi.DataSourceInfo, 0, len(infos))
	for _, in := range infos {
		out = append(out, mgmtapi.DataSourceInfo{ID: in.ID, UID: in.UID, Name: in.Name, Type: in.Type, Env: in.Env, Site: in.Site})
	}
	return out, nil
}

// remoteDataSources sets a.Sources to the embedded store plus the remote
// data sources kept in the store, and returns their management API.
func (a *App) remoteDataSources(cfg Config) (http.Handler, error) {
	keyFile := cfg.SecretKeyFile
	if keyFile == "" {
		keyFile = filepath.Join(cfg.DataDir, secrets.DefaultFileName)
	}
	box, created, err := secrets.LoadOrCreate(keyFile)
	if err != nil {
		return nil, fmt.Errorf("data source secret key: %w", err)
	}
	if created {
		a.logger.Info("generated the key that encrypts data source secrets; back it up with the database", "file", keyFile)
		if cfg.StoreURL != "" {
			a.logger.Warn("with a shared store every replica needs the same --secret-key-file", "file", keyFile)
		}
	}
	codec := datasource.NewCodec(box)
	fwd := datasource.NewForwarder(nil, a.logger, cfg.Version)
	a.closers = append(a.closers, fwd.Close)
	remotes := datasource.NewSources(datasource.SourcesOptions{Store: a.Store, Codec: codec, Forwarder: fwd, Logger: a.logger})
	embeddedDS := datasource.NewEmbedded(a.TSDB)
	a.Sources = datasource.NewRegistry(embeddedDS, remotes)
	return datasource.NewAPI(datasource.APIOptions{
		Manager:  datasource.NewManager(datasource.ManagerOptions{Store: a.Store, Codec: codec, Forwarder: fwd, OnChange: remotes.Invalidate, Logger: a.logger}),
		Auth:     a.Auth,
		Embedded: embeddedDS.Info(),
		Logger:   a.logger,
	}), nil
}

// withDataSourceAPI sends /api-server/v1/datasources[/...] to the data
// source API and the rest of /api-server/v1/ to the management API.
func withDataSourceAPI(dsAPI, mgmt http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle(datasource.APIPrefix, dsAPI)
	mux.Handle(datasource.APIPrefix+"/", dsAPI)
	mux.Handle("/", mgmt)
	return mux
}

func openStore(ctx context.Context, cfg Config) (store.Store, error) {
	st, err := storeopen.Open(ctx, cfg.StoreURL, cfg.DataDir, cfg.Logger)
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	return st, nil
}
