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
	"time"

	"github.com/prometheus/common/model"

	"github.com/promgate/promgate/internal/app"
	"github.com/promgate/promgate/internal/config"
	"github.com/promgate/promgate/internal/server"
)

type serveFlags struct {
	listen, dataDir, configFile, externalURL, storeURL string
	secretKeyFile                                      string
	retention                                          model.Duration
	outOfOrderWindow                                   model.Duration
	scrapeInterval                                     time.Duration
	queryTimeout                                       time.Duration
	maxSamples, maxConcurrency                         int
	ratePerCredential                                  float64
	evalInterval                                       time.Duration
	logLevel, logFormat                                string
	shutdownTimeout                                    time.Duration
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
	fs.IntVar(&f.maxSamples, "query.max-samples", 50_000_000, "maximum samples a query may load into memory")
	fs.IntVar(&f.maxConcurrency, "query.max-concurrency", 20, "maximum queries evaluated at once by the embedded engine")
	fs.DurationVar(&f.evalInterval, "query.default-evaluation-interval", time.Minute, "step of a subquery written without one (x[5m:]), as Prometheus' global evaluation_interval")
	fs.Float64Var(&f.ratePerCredential, "rate-limit", 0, "requests per second allowed per API credential on the proxy and write paths (0: unlimited)")
	fs.StringVar(&f.logLevel, "log.level", "info", "debug, info, warn or error")
	fs.StringVar(&f.logFormat, "log.format", "text", "text or json")
	fs.DurationVar(&f.shutdownTimeout, "shutdown-timeout", 30*time.Second, "how long a graceful shutdown waits for requests in flight")
	fs.Usage = func() {
		fmt.Fprint(stderr, "Usage: promgate serve [flags]\n\nRuns the server. Every flag can also be set with PROMGATE_<FLAG> (dots and dashes as _),\nor in the --config.file YAML file.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
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
	if f.evalInterval < time.Millisecond {
		return nil, usageError{fmt.Sprintf("--query.default-evaluation-interval must be at least 1ms, got %s", f.evalInterval)}
	}
	return f, nil
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
		EvalInterval:      f.evalInterval,
		RatePerCredential: f.ratePerCredential,
		OwnerPassword:     os.Getenv("PROMGATE_OWNER_PASSWORD"),
		Version:           version,
		Logger:            logger,
	})
	if err != nil {
		return err
	}
	defer a.Close()

	ln, err := net.Listen("tcp", f.listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", f.listen, err)
	}
	srv := &http.Server{Handler: a.Handler, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn)}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	a.StartSelfScrape(ctx, ln.Addr(), f.listen)
	_, instance := app.SelfScrapeTarget(ln.Addr().(*net.TCPAddr), f.listen)
	logger.Info("promgate listening", "address", ln.Addr().String(), "data_dir", f.dataDir, "version", version,
		"query_url", fmt.Sprintf("http://%s%s1/api/v1/query?query=up", instance, server.ProxyPrefix))

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
