package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/common/model"
	"github.com/prometheus/common/promslog"
	promslogflag "github.com/prometheus/common/promslog/flag"

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
	log                                                promslog.Config
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

	oidc config.OIDC // the config file's oidc: section (applyConfigFile)
}

const serveHelp = `Runs the server: the embedded TSDB, the data source proxy, the management API
and the pages, on --listen.

Every flag can also be set with the PROMGATE_* variable shown beside it, or in
the YAML file of --config.file, whose keys are the flag names:

  listen: 127.0.0.1:8030
  query.timeout: 1m

The command line wins over the environment, the environment over the file.
The file's oidc: section configures single sign-on with OpenID Connect
providers (README: "Single sign-on").
`

// addServe defines `promgate serve` and its flags: the one place a new
// server flag goes (then into app.Config in runServe).
func (c *cli) addServe() {
	cmd := c.app.Command("serve", "Run the server (embedded TSDB, proxy, pages) on :8030.").HelpLong(serveHelp)
	f := &serveFlags{}
	c.serve = f
	flag := func(name, help string) *kingpin.FlagClause {
		return cmd.Flag(name, help).Envar(config.EnvName(name))
	}
	flag("listen", "Address to listen on.").Default(":8030").StringVar(&f.listen)
	flag("data-dir", "Directory for the TSDB, the SQLite database and the secret key.").Default("./data").StringVar(&f.dataDir)
	c.configFlag = flag("config.file", "YAML file whose keys are these flag names, and whose oidc: section configures single sign-on (README: \"Single sign-on\").").PlaceHolder("FILE")
	c.configFlag.StringVar(&f.configFile)
	flag("external-url", "URL users reach promgate at, for the endpoint URLs shown (default: from each request).").PlaceHolder("URL").StringVar(&f.externalURL)
	flag("store.url", "postgres://... to keep users, credentials and data sources in PostgreSQL (default: SQLite in the data dir).").PlaceHolder("URL").StringVar(&f.storeURL)
	c.alias(cmd, "store-url", "store.url", stringValue{&f.storeURL})
	flag("secret-key-file", "32-byte key that encrypts data source secrets at rest (default: <data-dir>/secret.key, created on first start).").PlaceHolder("FILE").StringVar(&f.secretKeyFile)
	flag("retention", "How long the embedded store keeps samples (e.g. 15d, 36h).").Default("15d").SetValue(&f.retention)
	flag("out-of-order-window", "Accept samples this much older than the newest (for backfilling remote_write); 0 disables.").Default("0s").SetValue(&f.outOfOrderWindow)
	flag("scrape-interval", "How often promgate scrapes its own /metrics into the embedded store.").Default("15s").DurationVar(&f.scrapeInterval)
	flag("query.timeout", "Maximum time a query may take.").Default("2m").DurationVar(&f.queryTimeout)
	flag("query.max-samples", "Maximum samples a query on the embedded store may load into memory; a query over it fails with 422 (as in Prometheus).").Default("50000000").IntVar(&f.maxSamples)
	flag("query.max-concurrency", "Maximum queries run at once, over all data sources (and by the embedded engine).").Default("20").IntVar(&f.maxConcurrency)
	flag("query.max-concurrency-per-caller", "Maximum queries one caller (a global credential, or a user with all their sessions and credentials) runs at once (0: a quarter of --query.max-concurrency; -1: no limit and no fair queueing).").Default("0").IntVar(&f.maxPerCaller)
	flag("query.max-queued-per-caller", "Queries of one caller that may wait for a slot beyond its share; more get 429 at once.").Default("4").IntVar(&f.maxQueuedPerCaller)
	flag("query.queue-timeout", "How long a queued query waits for a slot before 429.").Default("10s").DurationVar(&f.queueTimeout)
	flag("query.default-evaluation-interval", "Step of a subquery written without one (x[5m:]), as Prometheus' global evaluation_interval.").Default("1m").DurationVar(&f.evalInterval)
	flag("rate-limit", "Requests per second allowed per API credential on the proxy and write paths (0: unlimited).").Default("0").Float64Var(&f.ratePerCredential)
	flag("auth.max-failures", "Failed authentications of one credential key or login from one address within --auth.failure-window before further ones are refused (10x that from all addresses; that many distinct failing keys or logins from one address); a credential that worked in the last 24h is never refused.").Default(strconv.Itoa(auth.DefaultMaxFailures)).IntVar(&f.authMaxFailures)
	flag("auth.failure-window", "Window in which failed authentications are counted.").Default(auth.DefaultFailureWindow.String()).DurationVar(&f.authFailureWindow)
	flag("auth.lockout", "How long refused authentication attempts stay refused (429 with Retry-After).").Default(auth.DefaultLockout.String()).DurationVar(&f.authLockout)
	flag("query-cache.enabled", "Answer query_range (split, step-aligned) and old instant queries through the results cache; a data source can turn it off in its settings (--no-query-cache.enabled: off everywhere).").Default("true").BoolVar(&f.queryCache)
	flag("query-cache.max-bytes", "Size bound of the in-memory results cache in bytes (not used with --query-cache.memcached).").Default(strconv.Itoa(querycache.DefaultMaxBytes)).Int64Var(&f.queryCacheMaxBytes)
	flag("query-cache.memcached", "host:port[,host:port...] of Memcached servers to keep the results cache in, shared by replicas (default: in memory).").PlaceHolder("HOST:PORT,...").StringVar(&f.queryCacheMemcached)
	flag("query-cache.split-interval", "Range queries are cut at multiples of this interval; each part is cached and fetched on its own.").Default(querycache.DefaultSplitInterval.String()).DurationVar(&f.queryCacheSplit)
	flag("query-cache.freshness", "Results for steps newer than this are never cached (data may still arrive).").Default(querycache.DefaultFreshness.String()).DurationVar(&f.queryCacheFreshness)
	flag("query-cache.max-parallel", "Backend requests one range query may run at once.").Default(strconv.Itoa(querycache.DefaultMaxParallel)).IntVar(&f.queryCacheParallel)
	flag("query-cache.embedded-step-align", "Round range queries on the embedded store down to a multiple of their step (remote data sources have this in their settings).").Default("true").BoolVar(&f.queryCacheEmbeddedAlign)
	// promslog's names, help and values, as every Prometheus server has.
	f.log.Level, f.log.Format = promslog.NewLevel(), promslog.NewFormat()
	flag(promslogflag.LevelFlagName, promslogflag.LevelFlagHelp).Default("info").HintOptions(promslog.LevelFlagOptions...).SetValue(f.log.Level)
	flag(promslogflag.FormatFlagName, promslogflag.FormatFlagHelp).Default("logfmt").HintOptions(promslog.FormatFlagOptions...).SetValue(logFormat{f.log.Format})
	flag("web.config.file", "Prometheus web config file (exporter-toolkit): TLS, client certificates, HTTP/2, response headers; re-read on each new connection.").PlaceHolder("FILE").StringVar(&f.webConfigFile)
	flag("shutdown-timeout", "How long a graceful shutdown waits for requests in flight.").Default("30s").DurationVar(&f.shutdownTimeout)
	c.runners["serve"] = func(ctx context.Context) error { return c.runServe(ctx, f) }
}

// check refuses values the flag types let through.
func (f *serveFlags) check() error {
	if err := f.checkQueryLimits(); err != nil {
		return usageError{err.Error()}
	}
	if _, _, err := net.SplitHostPort(f.listen); err != nil {
		return usageError{fmt.Sprintf("--listen %q: want host:port, e.g. :8030 (every address) or 127.0.0.1:8030 (this machine only)", f.listen)}
	}
	if f.authMaxFailures < 1 || f.authFailureWindow <= 0 || f.authLockout <= 0 {
		return usageError{"--auth.max-failures must be at least 1, --auth.failure-window and --auth.lockout positive"}
	}
	if f.queryCacheSplit < time.Minute || f.queryCacheFreshness < 0 || f.queryCacheParallel < 1 || f.queryCacheMaxBytes <= 0 {
		return usageError{"--query-cache.split-interval must be at least 1m, --query-cache.freshness not negative, --query-cache.max-parallel and --query-cache.max-bytes positive"}
	}
	if f.evalInterval < time.Millisecond {
		return usageError{fmt.Sprintf("--query.default-evaluation-interval must be at least 1ms, got %s", f.evalInterval)}
	}
	return nil
}

// logFormat is promslog's format, also taking "text", the name this flag's
// logfmt had before promslog.
type logFormat struct{ *promslog.Format }

func (f logFormat) Set(s string) error {
	if s == "text" {
		s = "logfmt"
	}
	return f.Format.Set(s)
}

// stringValue lets a deprecated alias set a string flag's variable.
type stringValue struct{ p *string }

func (v stringValue) Set(s string) error { *v.p = s; return nil }
func (v stringValue) String() string     { return *v.p }

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

func (c *cli) runServe(ctx context.Context, f *serveFlags) error {
	if err := f.check(); err != nil {
		return err
	}
	f.log.Writer = c.stderr
	logger := promslog.New(&f.log)
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
		OIDC:              f.oidc,
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
