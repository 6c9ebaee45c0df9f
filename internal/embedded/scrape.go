package embedded

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/metadata"
	"github.com/prometheus/prometheus/model/value"
)

// ScrapeOptions configures the self-scrape.
type ScrapeOptions struct {
	URL      string        // the /metrics URL to scrape
	Job      string        // job label, "promgate"
	Instance string        // instance label, host:port
	Interval time.Duration // 0 means 15s
	Timeout  time.Duration // 0 means 10s
	Logger   *slog.Logger

	// Transport fetches URL; nil: over the network (http.DefaultTransport).
	Transport http.RoundTripper
}

// Scraper scrapes one target into the store, the way a Prometheus scrape
// would: target labels, the synthetic up/scrape_* series and staleness
// markers for series that disappear.
type Scraper struct {
	store  *Store
	opts   ScrapeOptions
	client *http.Client
	// previous holds the series written by the last scrape, by their hash,
	// so vanished ones get a staleness marker. Only Run's goroutine uses it.
	previous map[uint64]labels.Labels
}

// NewScraper returns a scraper writing into s.
func (s *Store) NewScraper(opts ScrapeOptions) *Scraper {
	if opts.Interval <= 0 {
		opts.Interval = 15 * time.Second
	}
	if opts.Timeout <= 0 || opts.Timeout > opts.Interval {
		opts.Timeout = min(10*time.Second, opts.Interval)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Scraper{store: s, opts: opts, client: &http.Client{Timeout: opts.Timeout, Transport: opts.Transport}, previous: map[uint64]labels.Labels{}}
}

// Run scrapes at once and then every interval until ctx ends.
func (sc *Scraper) Run(ctx context.Context) {
	sc.scrapeAndLog(ctx)
	sc.Loop(ctx)
}

// Loop scrapes every interval, starting one interval from now, until ctx
// ends.
func (sc *Scraper) Loop(ctx context.Context) {
	ticker := time.NewTicker(sc.opts.Interval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
			sc.scrapeAndLog(ctx)
		}
	}
}

func (sc *Scraper) scrapeAndLog(ctx context.Context) {
	if err := sc.ScrapeOnce(ctx); err != nil && ctx.Err() == nil {
		sc.opts.Logger.Warn("self-scrape failed", "url", sc.opts.URL, "err", err)
	}
}

// ScrapeOnce performs one scrape and appends its samples. A failed scrape
// still records up=0.
func (sc *Scraper) ScrapeOnce(ctx context.Context) error {
	if err := sc.store.Health(); err != nil {
		// Nothing would be written; keep the staleness bookkeeping as is.
		return fmt.Errorf("self-scrape skipped: %w", err)
	}
	start := time.Now()
	families, scrapeErr := sc.fetch(ctx)
	ts := start.UnixMilli()

	app := sc.store.Appender(ctx)
	current := map[uint64]labels.Labels{}
	samples := 0
	if scrapeErr == nil {
		vec, err := expfmt.ExtractSamples(&expfmt.DecodeOptions{Timestamp: model.TimeFromUnixNano(start.UnixNano())}, families...)
		if err != nil {
			scrapeErr = fmt.Errorf("extract samples: %w", err)
		}
		for _, s := range vec {
			lbls := sc.targetLabels(s.Metric)
			if _, err := app.Append(0, lbls, ts, float64(s.Value)); err != nil {
				sc.opts.Logger.Debug("self-scrape sample rejected", "series", lbls.String(), "err", err)
				continue
			}
			current[lbls.Hash()] = lbls
			samples++
		}
		for _, f := range families {
			sc.store.metadata.Set(f.GetName(), metadata.Metadata{Type: familyType(f.GetType()), Help: f.GetHelp(), Unit: f.GetUnit()})
		}
	}
	// Series gone since the last scrape end now, as in Prometheus.
	for h, lbls := range sc.previous {
		if _, ok := current[h]; !ok {
			_, _ = app.Append(0, lbls, ts, math.Float64frombits(value.StaleNaN))
		}
	}
	sc.previous = current

	up := 1.0
	if scrapeErr != nil {
		up = 0
	}
	for name, v := range map[string]float64{
		"up":                      up,
		"scrape_duration_seconds": time.Since(start).Seconds(),
		"scrape_samples_scraped":  float64(samples),
	} {
		lbls := labels.FromStrings(labels.MetricName, name, "job", sc.opts.Job, "instance", sc.opts.Instance)
		if _, err := app.Append(0, lbls, ts, v); err != nil {
			_ = app.Rollback()
			return fmt.Errorf("append %s: %w", name, err)
		}
	}
	if err := app.Commit(); err != nil {
		return fmt.Errorf("commit scrape: %w", err)
	}
	return scrapeErr
}

func (sc *Scraper) fetch(ctx context.Context) ([]*dto.MetricFamily, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, sc.opts.URL, nil)
	if err != nil {
		return nil, fmt.Errorf("build scrape request: %w", err)
	}
	req.Header.Set("Accept", string(expfmt.NewFormat(expfmt.TypeTextPlain)))
	resp, err := sc.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", sc.opts.URL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("scrape %s: HTTP %s", sc.opts.URL, resp.Status)
	}
	dec := expfmt.NewDecoder(io.LimitReader(resp.Body, 64<<20), expfmt.ResponseFormat(resp.Header))
	var families []*dto.MetricFamily
	for {
		var f dto.MetricFamily
		if err := dec.Decode(&f); err != nil {
			if err == io.EOF {
				return families, nil
			}
			return nil, fmt.Errorf("parse scrape of %s: %w", sc.opts.URL, err)
		}
		families = append(families, &f)
	}
}

// targetLabels adds job and instance, keeping a clashing exposed label as
// exported_<name> the way Prometheus does without honor_labels.
func (sc *Scraper) targetLabels(m model.Metric) labels.Labels {
	b := labels.NewScratchBuilder(len(m) + 2)
	for k, v := range m {
		name := string(k)
		if name == "job" || name == "instance" {
			name = "exported_" + name
		}
		b.Add(name, string(v))
	}
	b.Add("job", sc.opts.Job)
	b.Add("instance", sc.opts.Instance)
	b.Sort()
	return b.Labels()
}

func familyType(t dto.MetricType) model.MetricType {
	switch t {
	case dto.MetricType_COUNTER:
		return model.MetricTypeCounter
	case dto.MetricType_GAUGE:
		return model.MetricTypeGauge
	case dto.MetricType_SUMMARY:
		return model.MetricTypeSummary
	case dto.MetricType_HISTOGRAM:
		return model.MetricTypeHistogram
	case dto.MetricType_GAUGE_HISTOGRAM:
		return model.MetricTypeGaugeHistogram
	}
	return model.MetricTypeUnknown
}
