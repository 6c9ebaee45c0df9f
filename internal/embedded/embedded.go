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
	"sync"
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

	"github.com/promgate/promgate/internal/inprocess"
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
	dir      string
	tsdbOpts func() *tsdb.Options
	reg      *tsdbRegisterer
	tsdbLog  *slog.Logger
	engine   *promql.Engine
	tracker  *promql.ActiveQueryTracker
	router   *route.Router
	metadata *MetadataStore
	logger   *slog.Logger
	// maxSamples is the engine's per-query sample limit.
	maxSamples int

	mu sync.Mutex
	// cur is the open TSDB; nil while it is reopened or after Close.
	cur *handle
	// unwritable is nil while writes are taken; see guard.go.
	unwritable error

	wakec     chan struct{} // the store turned unwritable
	stopc     chan struct{}
	donec     chan struct{} // recoverLoop ended
	closeOnce sync.Once
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

	s := &Store{
		dir: opts.Dir,
		tsdbOpts: func() *tsdb.Options {
			o := tsdb.DefaultOptions()
			o.RetentionDuration = opts.Retention.Milliseconds()
			o.EnableExemplarStorage = true
			o.MaxExemplars = 100_000
			o.OutOfOrderTimeWindow = opts.OutOfOrderWindow.Milliseconds()
			return o
		},
		reg:        newTSDBRegisterer(reg),
		tsdbLog:    opts.Logger.With("component", "tsdb"),
		metadata:   NewMetadataStore(),
		logger:     opts.Logger,
		maxSamples: opts.MaxSamples,
		wakec:      make(chan struct{}, 1),
		stopc:      make(chan struct{}),
		donec:      make(chan struct{}),
	}
	h, err := s.openTSDB()
	if err != nil {
		return nil, err
	}

	tracker, err := promql.NewActiveQueryTracker(opts.Dir, opts.MaxConcurrent, opts.Logger.With("component", "query-tracker"))
	if err != nil {
		h.db.Close()
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

	s.engine, s.tracker, s.cur = engine, tracker, h
	api := apiv1.NewAPI(
		engine,
		s,
		metadataRecorder{AppendableV2: s, meta: s.metadata},
		s,
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
	go s.recoverLoop()
	return s, nil
}

// openTSDB opens the TSDB under s.dir, after putting back what an
// interrupted WAL repair left aside. Without room for a WAL repair it does
// not try: the TSDB's WAL replay writes head chunks, and a chunk write
// that fails stops the process.
func (s *Store) openTSDB() (*handle, error) {
	s.reg.unregisterAll()
	if err := restoreInterruptedRepairs(s.dir, s.logger); err != nil {
		return nil, fmt.Errorf("open tsdb at %s: %w", s.dir, err)
	}
	if err := checkRoom(s.dir); err != nil {
		return nil, fmt.Errorf("open tsdb at %s: %w", s.dir, err)
	}
	db, err := tsdb.Open(s.dir, s.tsdbLog, s.reg, s.tsdbOpts(), nil)
	if err != nil {
		s.reg.unregisterAll()
		return nil, fmt.Errorf("open tsdb at %s: %w", s.dir, explainNoSpace(s.dir, err))
	}
	return &handle{db: db}, nil
}

func (s *Store) readyHandler(f http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !s.Ready() {
			writeUnavailable(w, fmt.Errorf("%w: its TSDB is being reopened", errUnavailable))
			return
		}
		f(w, r)
	}
}

// ServeAPI serves one Prometheus API request whose URL path is
// /api/v1/<endpoint>. Callers decide which endpoints reach it; metadata is
// answered here because Prometheus reads it from scrape targets we lack.
func (s *Store) ServeAPI(w http.ResponseWriter, r *http.Request) {
	switch strings.TrimSuffix(r.URL.Path, "/") {
	case "/api/v1/metadata":
		s.metadata.ServeHTTP(w, r)
	case "/api/v1/write":
		s.serveWrite(w, r)
	default:
		s.router.ServeHTTP(w, r)
	}
}

// serveWrite hands remote_write to Prometheus' receiver, unless the store
// refuses writes: then, and when a write fails because it just turned
// unwritable, the answer is 503 with Retry-After, which senders retry,
// instead of the receiver's 500.
func (s *Store) serveWrite(w http.ResponseWriter, r *http.Request) {
	if err := s.Health(); err != nil {
		writeUnavailable(w, err)
		return
	}
	// The receiver's answer is small: hold it until the store has decided
	// whether it stands.
	buf := inprocess.NewBuffer()
	s.router.ServeHTTP(buf, r)
	if buf.Status() >= 500 {
		if err := s.Health(); err != nil {
			writeUnavailable(w, err)
			return
		}
	}
	buf.WriteTo(w)
}

// Engine is the PromQL engine, for callers that evaluate queries directly.
func (s *Store) Engine() *promql.Engine { return s.engine }

// MaxSamples is the most samples one query may load into memory.
func (s *Store) MaxSamples() int { return s.maxSamples }

// Queryable is the TSDB as a storage.Queryable.
func (s *Store) Queryable() storage.Queryable { return s }

// Metadata is the metric metadata the store has seen.
func (s *Store) Metadata() *MetadataStore { return s.metadata }

// Close stops reopening, flushes and closes the TSDB.
func (s *Store) Close() error {
	s.closeOnce.Do(func() { close(s.stopc) })
	<-s.donec
	s.mu.Lock()
	h := s.cur
	s.cur = nil
	s.unwritable = fmt.Errorf("%w: it is closed", errUnavailable)
	s.mu.Unlock()

	var errs []error
	if err := s.tracker.Close(); err != nil {
		errs = append(errs, fmt.Errorf("close query tracker: %w", err))
	}
	if h != nil {
		h.refs.Wait()
		if err := h.db.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close tsdb: %w", err))
		}
	}
	return errors.Join(errs...)
}
