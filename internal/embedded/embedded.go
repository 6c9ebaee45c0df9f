// Package embedded is promgate's own metrics store: a Prometheus TSDB, the
// PromQL engine and Prometheus' own HTTP API handlers (web/api/v1) over them,
// so the JSON shape, parameters and errors are Prometheus' by construction.
package embedded

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync/atomic"
	"time"

	"github.com/grafana/regexp"
	remoteapi "github.com/prometheus/client_golang/exp/api/remote"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/route"
	"github.com/prometheus/prometheus/config"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb"
	apiv1 "github.com/prometheus/prometheus/web/api/v1"
)

// Options configures the embedded store.
type Options struct {
	Dir       string        // TSDB directory
	Retention time.Duration // how long samples are kept; 0 means 15 days
	// OutOfOrderWindow accepts samples this much older than the newest one,
	// which backfilling remote_write clients need. 0 keeps Prometheus' default.
	OutOfOrderWindow time.Duration
	QueryTimeout     time.Duration // per query; 0 means 2 minutes
	MaxSamples       int           // per query; 0 means 50 million
	MaxConcurrent    int           // concurrent queries; 0 means 20
	LookbackDelta    time.Duration // 0 means 5 minutes
	Version          string        // reported by /status/buildinfo
	Logger           *slog.Logger
	// Registerer receives the TSDB, engine and remote-write metrics; nil
	// means none are exported.
	Registerer prometheus.Registerer
	// EvalInterval is Prometheus' global evaluation_interval: the step of a
	// subquery written without one (`x[5m:]`); 0 means 1 minute.
	EvalInterval time.Duration
}

// Store is an open embedded store.
type Store struct {
	db       *tsdb.DB
	engine   *promql.Engine
	tracker  *promql.ActiveQueryTracker
	router   *route.Router
	metadata *MetadataStore
	ready    atomic.Bool
	logger   *slog.Logger
	// maxSamples is the engine's per-query sample limit.
	maxSamples int
}

// Open opens (or creates) the TSDB under opts.Dir and builds the API over it.
// The store is ready to serve when Open returns.
func Open(ctx context.Context, opts Options) (*Store, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Retention <= 0 {
		opts.Retention = 15 * 24 * time.Hour
	}
	if opts.QueryTimeout <= 0 {
		opts.QueryTimeout = 2 * time.Minute
	}
	if opts.MaxSamples <= 0 {
		opts.MaxSamples = 50_000_000
	}
	if opts.MaxConcurrent <= 0 {
		opts.MaxConcurrent = 20
	}
	if opts.LookbackDelta <= 0 {
		opts.LookbackDelta = 5 * time.Minute
	}
	if opts.EvalInterval <= 0 {
		opts.EvalInterval = time.Minute
	}
	subqueryStep := max(1, opts.EvalInterval.Milliseconds())
	reg := opts.Registerer
	if reg == nil {
		reg = prometheus.NewRegistry() // metrics go nowhere, but registration stays valid
	}
	if err := os.MkdirAll(opts.Dir, 0o750); err != nil {
		return nil, fmt.Errorf("create tsdb dir: %w", err)
	}

	tsdbOpts := tsdb.DefaultOptions()
	tsdbOpts.RetentionDuration = opts.Retention.Milliseconds()
	tsdbOpts.EnableExemplarStorage = true
	tsdbOpts.MaxExemplars = 100_000
	tsdbOpts.OutOfOrderTimeWindow = opts.OutOfOrderWindow.Milliseconds()
	db, err := tsdb.Open(opts.Dir, opts.Logger.With("component", "tsdb"), reg, tsdbOpts, nil)
	if err != nil {
		return nil, fmt.Errorf("open tsdb at %s: %w", opts.Dir, err)
	}

	tracker, err := promql.NewActiveQueryTracker(opts.Dir, opts.MaxConcurrent, opts.Logger.With("component", "query-tracker"))
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open active query tracker: %w", err)
	}
	engine := promql.NewEngine(promql.EngineOpts{
		Logger:             opts.Logger.With("component", "promql"),
		Reg:                reg,
		MaxSamples:         opts.MaxSamples,
		Timeout:            opts.QueryTimeout,
		ActiveQueryTracker: tracker,
		LookbackDelta:      opts.LookbackDelta,
		EnableAtModifier:   true,
		// Negative offsets are on in Prometheus 3 by default.
		EnableNegativeOffset: true,
		// Unset, the engine dereferences nil on every `x[5m:]`.
		NoStepSubqueryIntervalFn: func(int64) int64 { return subqueryStep },
	})

	s := &Store{
		db:       db,
		engine:   engine,
		tracker:  tracker,
		metadata: NewMetadataStore(),
		logger:   opts.Logger,

		maxSamples: opts.MaxSamples,
	}
	api := apiv1.NewAPI(
		engine,
		db,
		metadataRecorder{AppendableV2: db, meta: s.metadata},
		db,
		nil, nil, nil, // scrape pools, targets, alertmanagers: not served
		func() config.Config { return config.DefaultConfig },
		nil,
		apiv1.GlobalURLOptions{},
		s.readyHandler,
		nil, // TSDB admin stats: admin and status/tsdb are not routed
		opts.Dir,
		false, // admin APIs stay off
		false, 0,
		opts.Logger.With("component", "api"),
		nil,
		0, 0, 0,
		false,
		regexp.MustCompile(`^$`), // no cross-origin access
		nil,
		&apiv1.PrometheusVersion{
			Version:   opts.Version,
			Branch:    "promgate",
			GoVersion: runtime.Version(),
		},
		nil, nil,
		prometheus.NewRegistry(),
		reg,
		nil,
		true, // remote_write receiver
		remoteapi.MessageTypes{remoteapi.WriteV1MessageType, remoteapi.WriteV2MessageType},
		false, false, false,
		opts.LookbackDelta,
		false,
		true, // pass remote_write metadata down to the appender
		nil,
		nil,
		apiv1.OpenAPIOptions{},
		nil,
		false,
		opts.QueryTimeout,
	)
	s.router = route.New()
	api.Register(s.router.WithPrefix("/api/v1"))
	s.ready.Store(true)
	return s, nil
}

func (s *Store) readyHandler(f http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !s.ready.Load() {
			http.Error(w, "Service Unavailable", http.StatusServiceUnavailable)
			return
		}
		f(w, r)
	}
}

// Ready reports whether the store serves queries.
func (s *Store) Ready() bool { return s.ready.Load() }

// ServeAPI serves one Prometheus API request whose URL path is
// /api/v1/<endpoint>. Callers decide which endpoints reach it; metadata is
// answered here because Prometheus reads it from scrape targets we lack.
func (s *Store) ServeAPI(w http.ResponseWriter, r *http.Request) {
	if strings.TrimSuffix(r.URL.Path, "/") == "/api/v1/metadata" {
		s.metadata.ServeHTTP(w, r)
		return
	}
	s.router.ServeHTTP(w, r)
}

// Engine is the PromQL engine, for callers that evaluate queries directly.
func (s *Store) Engine() *promql.Engine { return s.engine }

// MaxSamples is the most samples one query may load into memory.
func (s *Store) MaxSamples() int { return s.maxSamples }

// Queryable is the TSDB as a storage.Queryable.
func (s *Store) Queryable() storage.Queryable { return s.db }

// Appender appends samples directly (the self-scraper uses it).
func (s *Store) Appender(ctx context.Context) storage.Appender { return s.db.Appender(ctx) }

// Metadata is the metric metadata the store has seen.
func (s *Store) Metadata() *MetadataStore { return s.metadata }

// Close flushes and closes the TSDB.
func (s *Store) Close() error {
	s.ready.Store(false)
	var errs []error
	if err := s.tracker.Close(); err != nil {
		errs = append(errs, fmt.Errorf("close query tracker: %w", err))
	}
	if err := s.db.Close(); err != nil {
		errs = append(errs, fmt.Errorf("close tsdb: %w", err))
	}
	return errors.Join(errs...)
}
