package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/prometheus/common/model"

	"github.com/promgate/promgate/internal/app"
	"github.com/promgate/promgate/internal/auth"
	"github.com/promgate/promgate/internal/config"
	"github.com/promgate/promgate/internal/querycache"
	"github.com/promgate/promgate/internal/server"
	"github.com/promgate/promgate/internal/webconfig"
)

type serveFlags struct {
	listen, dataDir, configFile, externalURL, storeURL string
	secretKeyFile                                      string
	retention                                          model.Duration
	outOfOrderWindow                                   model.Duration
	scrapeInterval                                     time.Duration
	queryTimeout                                       time.Duration
	maxSamples, maxConcurrency                         int
	maxPerCaller, maxQueuedPerCaller                   int
	queueTimeout                                       time.Duration
	ratePerCredential                                  float64
	evalInterval                                       time.Duration
	logLevel, logFormat                                string
	shutdownTimeout                                    time.Duration

	queryCache                           bool
	queryCacheMaxBytes                   int64
	queryCacheMemcached                  string
	queryCacheSplit, queryCacheFreshness time.Duration
	queryCacheParallel                   int
	queryCacheEmbeddedAlign              bool

	webConfigFile                  string
	authMaxFailures                int
	authFailureWindow, authLockout time.Duration
}

func parseServeFlags(args []string, stderr io.Writer) (*serveFlags, error) {
	f := &serveFlags{retention: model.Duration(15 * 24 * time.Hour)}
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&f.listen, "listen", ":8030", "address to listen on")
	fs.StringVar(&f.dataDir, "data-dir", "./data", "directory for the TSDB and the SQLite database")
	fs.StringVar(&f.configFile, "config.file", "", "optional YAML file whose keys are these flag names")
	fs.StringVar(&f.externalURL, "external-url", "", "URL users reach promgate at, for the endpoint URLs shown (default: from each request)")
	fs.StringVar(&f.storeURL, "store.url", "", "postgres://... to keep users, credentials and data sources in PostgreSQL (default: SQLite in the data dir)")
	fs.StringVar(&f.secretKeyFile, "secret-key-file", "", "32-byte key that encrypts data source secrets at rest (default: <data-dir>/secret.key, created on first start)")
	fs.Var(&f.retention, "retention", "how long the embedded store keeps samples (e.g. 15d, 36h)")
	fs.Var(&f.outOfOrderWindow, "out-of-order-window", "accept samples this much older than the newest (for backfilling remote_write); 0 disables")
	fs.DurationVar(&f.scrapeInterval, "scrape-interval", 15*time.Second, "how often promgate scrapes its own /metrics into the embedded store")
	fs.DurationVar(&f.queryTimeout, "query.timeout", 2*time.Minute, "maximum time a query may take")
	fs.IntVar(&f.maxSamples, "query.max-samples", 50_000_000, "maximum samples a query on the embedded store may load into memory; a query over it fails with 422 (as in Prometheus)")
	fs.IntVar(&f.maxConcurrency, "query.max-concurrency", 20, "maximum queries run at once, over all data sources (and by the embedded engine)")
	fs.IntVar(&f.maxPerCaller, "query.max-concurrency-per-caller", 0, "maximum queries one caller (a global credential, or a user with all their sessions and credentials) runs at once (0: a quarter of --query.max-concurrency; -1: no limit and no fair queueing)")
	fs.IntVar(&f.maxQueuedPerCaller, "query.max-queued-per-caller", 4, "queries of one caller that may wait for a slot beyond its share; more get 429 at once")
	fs.DurationVar(&f.queueTimeout, "query.queue-timeout", 10*time.Second, "how long a queued query waits for a slot before 429")
	fs.DurationVar(&f.evalInterval, "query.default-evaluation-interval", time.Minute, "step of a subquery written without one (x[5m:]), as Prometheus' global evaluation_interval")
	fs.Float64Var(&f.ratePerCredential, "rate-limit", 0, "requests per second allowed per API credential on the proxy and write paths (0: unlimited)")
	fs.IntVar(&f.authMaxFailures, "auth.max-failures", auth.DefaultMaxFailures, "failed authentications of one credential key or login from one address within --auth.failure-window before further ones are refused (10x that from all addresses; that many distinct failing keys or logins from one address); a credential that worked in the last 24h is never refused")
	fs.DurationVar(&f.authFailureWindow, "auth.failure-window", auth.DefaultFailureWindow, "window in which failed authentications are counted")
	fs.DurationVar(&f.authLockout, "auth.lockout", auth.DefaultLockout, "how long refused authentication attempts stay refused (429 with Retry-After)")
	fs.BoolVar(&f.queryCache, "query-cache.enabled", true, "answer query_range (split, step-aligned) and old instant queries through the results cache; a data source can turn it off in its settings")
	fs.Int64Var(&f.queryCacheMaxBytes, "query-cache.max-bytes", querycache.DefaultMaxBytes, "size bound of the in-memory results cache in bytes (not used with --query-cache.memcached)")
	fs.StringVar(&f.queryCacheMemcached, "query-cache.memcached", "", "host:port[,host:port...] of Memcached servers to keep the results cache in, shared by replicas (default: in memory)")
	fs.DurationVar(&f.queryCacheSplit, "query-cache.split-interval", querycache.DefaultSplitInterval, "range queries are cut at multiples of this interval; each part is cached and fetched on its own")
	fs.DurationVar(&f.queryCacheFreshness, "query-cache.freshness", querycache.DefaultFreshness, "results for steps newer than this are never cached (data may still arrive)")
	fs.IntVar(&f.queryCacheParallel, "query-cache.max-parallel", querycache.DefaultMaxParallel, "backend requests one range query may run at once")
	fs.BoolVar(&f.queryCacheEmbeddedAlign, "query-cache.embedded-step-align", true, "round range queries on the embedded store down to a multiple of their step (remote data sources have this in their settings)")
	fs.StringVar(&f.logLevel, "log.level", "info", "debug, info, warn or error")
	fs.StringVar(&f.logFormat, "log.format", "text", "text or json")
	fs.StringVar(&f.webConfigFile, "web.config.file", "", "Prometheus web config file (exporter-toolkit): TLS, client certificates, HTTP/2, response headers; re-read on each new connection")
	fs.DurationVar(&f.shutdownTimeout, "shutdown-timeout", 30*time.Second, "how long a graceful shutdown waits for requests in flight")
	fs.Usage = func() {
		fmt.Fprint(stderr, "Usage: promgate serve [flags]\n\nRuns the server. Every flag can also be set with PROMGATE_<FLAG> (dots and dashes as _),\nor in the --config.file YAML file.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args, "serve"); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, usageError{fmt.Sprintf("serve takes no arguments, got %q", fs.Args())}
	}
	configFile := f.configFile
	if configFile == "" {
		configFile = os.Getenv(config.EnvName("config.file"))
	}
	if err := config.Apply(fs, configFile, os.LookupEnv); err != nil {
		return nil, usageError{err.Error()}
	}
	if err := f.checkQueryLimits(); err != nil {
		return nil, usageError{err.Error()}
	}
	if _, _, err := net.SplitHostPort(f.listen); err != nil {
		return nil, usageError{fmt.Sprintf("--listen %q: want host:port, e.g. :8030 (every address) or 127.0.0.1:8030 (this machine only)", f.listen)}
	}
	if f.authMaxFailures < 1 || f.authFailureWindow <= 0 || f.authLockout <= 0 {
		return nil, usageError{"--auth.max-failures must be at least 1, --auth.failure-window and --auth.lockout positive"}
	}
	if f.queryCacheSplit < time.Minute || f.queryCacheFreshness < 0 || f.queryCacheParallel < 1 || f.queryCacheMaxBytes <= 0 {
		return nil, usageError{"--query-cache.split-interval must be at least 1m, --query-cache.freshness not negative, --query-cache.max-parallel and --query-cache.max-bytes positive"}
	}
	if f.evalInterval < time.Millisecond {
		return nil, usageError{fmt.Sprintf("--query.default-evaluation-interval must be at least 1ms, got %s", f.evalInterval)}
	}
	return f, nil
}

func (f *serveFlags) checkQueryLimits() error {
	switch {
	case f.maxSamples <= 0:
		return fmt.Errorf("--query.max-samples must be positive, got %d", f.maxSamples)
	case f.maxConcurrency <= 0:
		return fmt.Errorf("--query.max-concurrency must be positive, got %d", f.maxConcurrency)
	case f.maxPerCaller < -1:
		return fmt.Errorf("--query.max-concurrency-per-caller must be positive, 0 (default) or -1 (off), got %d", f.maxPerCaller)
	case f.maxQueuedPerCaller < 0:
		return fmt.Errorf("--query.max-queued-per-caller must not be negative, got %d", f.maxQueuedPerCaller)
	case f.queueTimeout <= 0:
		return fmt.Errorf("--query.queue-timeout must be positive, got %s", f.queueTimeout)
	}
	return nil
}

// noneIfZero maps a flag's 0 ("none") to app.Config's "none" (negative);
// there 0 means the default.
func noneIfZero(n int) int {
	if n == 0 {
		return -1
	}
	return n
}

func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, usageError{fmt.Sprintf("bad --log.level %q", level)}
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, usageError{fmt.Sprintf("bad --log.format %q: want text or json", format)}
}

func runServe(ctx context.Context, args []string, stderr io.Writer) error {
	f, err := parseServeFlags(args, stderr)
	if err != nil {
		return err
	}
	logger, err := newLogger(stderr, f.logLevel, f.logFormat)
	if err != nil {
		return err
	}
	// Checked before anything is opened: a bad file is a quick, clear stop.
	web, err := webconfig.Load(f.webConfigFile)
	if err != nil {
		return err
	}
	// Bound before anything is opened: an address in use is reported at
	// once, not after the stores have opened.
	ln, err := net.Listen("tcp", f.listen)
	if err != nil {
		return startError{fmt.Errorf("listen on %s: %w: choose another --listen address or stop what uses this one", f.listen, err)}
	}
	defer ln.Close()
	a, err := app.New(ctx, app.Config{
		DataDir:           f.dataDir,
		ExternalURL:       f.externalURL,
		StoreURL:          f.storeURL,
		SecretKeyFile:     f.secretKeyFile,
		Retention:         time.Duration(f.retention),
		OutOfOrderWindow:  time.Duration(f.outOfOrderWindow),
		ScrapeInterval:    f.scrapeInterval,
		QueryTimeout:      f.queryTimeout,
		MaxSamples:        f.maxSamples,
		MaxConcurrency:    f.maxConcurrency,
		PerCaller:         app.CallerLimits{MaxConcurrency: f.maxPerCaller, MaxQueued: noneIfZero(f.maxQueuedPerCaller), QueueTimeout: f.queueTimeout},
		EvalInterval:      f.evalInterval,
		RatePerCredential: f.ratePerCredential,
		AuthMaxFailures:   f.authMaxFailures,
		AuthFailureWindow: f.authFailureWindow,
		AuthLockout:       f.authLockout,
		OwnerPassword:     os.Getenv("PROMGATE_OWNER_PASSWORD"),
		Version:           version,
		Logger:            logger,

		QueryCache: app.QueryCacheConfig{
			Disabled: !f.queryCache, MaxBytes: f.queryCacheMaxBytes, Memcached: f.queryCacheMemcached,
			SplitInterval: f.queryCacheSplit, Freshness: f.queryCacheFreshness, MaxParallel: f.queryCacheParallel,
			EmbeddedNoStepAlign: !f.queryCacheEmbeddedAlign,
		},

		SelfScrapeInProcess: web.File != "",
	})
	if err != nil {
		return startError{err}
	}
	defer a.Close()

	srv := &http.Server{Handler: a.Handler, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn)}
	serveErr := make(chan error, 1)
	go func() { serveErr <- web.Serve(ln, srv, logger) }()
	web.WarnIfPlaintext(logger, ln.Addr())
	a.StartSelfScrape(ctx, ln.Addr(), f.listen)
	_, instance := app.SelfScrapeTarget(ln.Addr().(*net.TCPAddr), f.listen)
	logger.Info("promgate listening", "address", ln.Addr().String(), "data_dir", f.dataDir, "version", version,
		"query_url", fmt.Sprintf("%s://%s%s1/api/v1/query?query=up", web.Scheme(), instance, server.ProxyPrefix))

	select {
	case err := <-serveErr:
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}
	logger.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), f.shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("graceful shutdown: %w", err)
	}
	return nil
}

// startError is a failed start, said on one line: `promgate: <what failed>:
// <why>: <what to do>` (some drivers join several errors with newlines).
type startError struct{ err error }

func (e startError) Error() string {
	return strings.NewReplacer("\r\n", "; ", "\n", "; ", "\t", "").Replace(e.err.Error())
}

func (e startError) Unwrap() error { return e.err }
