package querycache

import (
	"log/slog"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/promgate/promgate/internal/promapi"
)

type metrics struct {
	hits, misses prometheus.Counter
	requests     *prometheus.CounterVec
	backendReqs  *prometheus.CounterVec
	storeErrors  *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer, st Store) *metrics {
	m := &metrics{
		hits: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "promgate_query_cache_hits_total",
			Help: "Query parts (a split interval of a range query, or an instant query) answered from the query cache alone.",
		}),
		misses: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "promgate_query_cache_misses_total",
			Help: "Query parts for which the query cache asked the data source (for all of the part or the steps it lacked).",
		}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "promgate_query_cache_requests_total",
			Help: "Queries through the query cache by data source, endpoint and outcome (hit: no backend request; partial: some parts from the cache; miss; bypass: sent as it is; error).",
		}, []string{"datasource_id", "endpoint", "outcome"}),
		backendReqs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "promgate_query_cache_backend_requests_total",
			Help: "Query requests the query cache sent to each data source.",
		}, []string{"datasource_id"}),
		storeErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "promgate_query_cache_store_errors_total",
			Help: "Failed reads and writes of the query cache's store (Memcached); a failure costs a backend request, never an answer.",
		}, []string{"op"}),
	}
	if reg != nil {
		reg.MustRegister(m.hits, m.misses, m.requests, m.backendReqs, m.storeErrors,
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "promgate_query_cache_bytes",
				Help: "Bytes held by the in-memory query cache (0 with Memcached, which keeps its own account).",
			}, func() float64 { return float64(st.Bytes()) }))
	}
	return m
}

func (m *metrics) parts(hits, misses int) {
	m.hits.Add(float64(hits))
	m.misses.Add(float64(misses))
}

func (m *metrics) request(id int64, e promapi.Endpoint, outcome string) {
	m.requests.WithLabelValues(strconv.FormatInt(id, 10), string(e), outcome).Inc()
}

func (m *metrics) backend(id int64) {
	m.backendReqs.WithLabelValues(strconv.FormatInt(id, 10)).Inc()
}

func (m *metrics) storeErr(op string, err error, logger *slog.Logger) {
	if err == nil {
		return
	}
	m.storeErrors.WithLabelValues(op).Inc()
	logger.Warn("query cache store failed", "op", op, "err", err)
}
