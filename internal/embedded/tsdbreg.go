package embedded

import (
	"errors"
	"strconv"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// failedWriteMetrics count the write-ahead log writes that failed. A failed
// write can leave a torn record behind, and every record after it would be
// cut at the next start; the WBL's failures are not even reported to the
// appender, so these counters are how the store learns of them.
var failedWriteMetrics = []string{
	"prometheus_tsdb_wal_writes_failed_total",
	"prometheus_tsdb_out_of_order_wbl_writes_failed_total",
}

// tsdbRegisterer passes the TSDB's metrics on to the real registerer and
// keeps what one opening of the TSDB registered, so that a reopen can
// unregister it first (the TSDB does not unregister its metrics on Close)
// and so that the store can read the WAL's failed-write counters.
type tsdbRegisterer struct {
	outer prometheus.Registerer

	mu         sync.Mutex
	registered []prometheus.Collector
	failures   []prometheus.Collector // collectors of failedWriteMetrics
}

func newTSDBRegisterer(outer prometheus.Registerer) *tsdbRegisterer {
	return &tsdbRegisterer{outer: outer}
}

// Register implements prometheus.Registerer.
func (r *tsdbRegisterer) Register(c prometheus.Collector) error {
	if err := r.outer.Register(c); err != nil {
		existing, ok := errors.AsType[prometheus.AlreadyRegisteredError](err)
		if !ok {
			return err
		}
		// Left over from an earlier opening: the new one replaces it.
		r.outer.Unregister(existing.ExistingCollector)
		if err := r.outer.Register(c); err != nil {
			return err
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.registered = append(r.registered, c)
	if describes(c, failedWriteMetrics) {
		r.failures = append(r.failures, c)
	}
	return nil
}

// MustRegister implements prometheus.Registerer.
func (r *tsdbRegisterer) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := r.Register(c); err != nil {
			panic(err)
		}
	}
}

// Unregister implements prometheus.Registerer.
func (r *tsdbRegisterer) Unregister(c prometheus.Collector) bool {
	return r.outer.Unregister(c)
}

// unregisterAll removes everything registered so far, before the TSDB is
// opened again.
func (r *tsdbRegisterer) unregisterAll() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range r.registered {
		r.outer.Unregister(c)
	}
	r.registered, r.failures = nil, nil
}

// failedWrites is the number of WAL and WBL writes that failed since the
// TSDB was last opened.
func (r *tsdbRegisterer) failedWrites() float64 {
	r.mu.Lock()
	cs := r.failures
	r.mu.Unlock()
	total := 0.0
	for _, c := range cs {
		ch := make(chan prometheus.Metric, 4)
		go func() {
			c.Collect(ch)
			close(ch)
		}()
		for m := range ch {
			var pb dto.Metric
			if m.Write(&pb) == nil && pb.GetCounter() != nil {
				total += pb.GetCounter().GetValue()
			}
		}
	}
	return total
}

// describes reports whether c describes a metric with one of the names.
func describes(c prometheus.Collector, names []string) bool {
	ch := make(chan *prometheus.Desc, 16)
	go func() {
		c.Describe(ch)
		close(ch)
	}()
	found := false
	for d := range ch {
		for _, n := range names {
			if descName(d) == n {
				found = true
			}
		}
	}
	return found
}

// descName reads the metric name out of a Desc, which has no accessor for
// it; its String form is `Desc{fqName: "name", ...}`.
func descName(d *prometheus.Desc) string {
	s, ok := strings.CutPrefix(d.String(), `Desc{fqName: `)
	if !ok {
		return ""
	}
	end := strings.Index(s, `", `)
	if end < 0 {
		return ""
	}
	name, err := strconv.Unquote(s[:end+1])
	if err != nil {
		return ""
	}
	return name
}
